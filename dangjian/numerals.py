"""Turn the number part of a Chinese quantity into a float.

Arabic digits (half- or full-width, with thousands separators), the multipliers 十/百/千/万/亿
in either script, and Chinese numerals (``三千``, ``两``, ``一百二十``, ``百分之九十``). The
core of the conversion is cn2an; this module only cleans its input, because cn2an raises on
separators, full-width points and anything carrying 余/多/百分之.
"""
from __future__ import annotations

import re

import cn2an

FULLWIDTH = str.maketrans("０１２３４５６７８９．，", "0123456789.,")
TRADITIONAL = str.maketrans({"萬": "万", "億": "亿", "兩": "两", "參": "三", "叁": "三"})
CHINESE_DIGITS = "零〇一二两三四五六七八九"
CHINESE_UNITS = "十百千万亿"
CHINESE_NUMERAL_CHARS = CHINESE_DIGITS + CHINESE_UNITS + "萬億兩点"
MULTIPLIERS = {"十": 10.0, "百": 100.0, "千": 1e3, "万": 1e4, "亿": 1e8}
_ARABIC = re.compile(r"^(\d+(?:\.\d+)?)([十百千万亿]*)$")


class NumeralError(ValueError):
    """The string is not a number this module can read."""


def normalize(core: str) -> str:
    """Half-width digits, simplified multipliers, no separators or spaces."""
    text = core.translate(FULLWIDTH).translate(TRADITIONAL)
    return re.sub(r"[,\s\u00a0]", "", text)


def parse_number(core: str) -> float:
    """Value of a bare number such as ``56.1万``, ``1,300``, ``三千``, ``百分之九十``.

    Raises NumeralError for anything else; never another exception type.
    """
    text = normalize(core)
    if not text:
        raise NumeralError("empty number")
    if text.startswith("百分之"):
        return parse_number(text[3:])
    match = _ARABIC.match(text)
    if match:
        value = float(match.group(1))
        for char in match.group(2):
            value *= MULTIPLIERS[char]
        return value
    if not all(char in CHINESE_NUMERAL_CHARS or char.isdigit() or char == "." for char in text):
        raise NumeralError(f"not a number: {core!r}")
    if text in CHINESE_UNITS:  # a lone 十/百/千 is a word, not a number
        if text != "十":
            raise NumeralError(f"bare multiplier: {core!r}")
    try:
        value = cn2an.cn2an(text, "smart")
    except Exception as exc:  # cn2an raises bare ValueError and friends on odd input
        raise NumeralError(f"not a number: {core!r}") from exc
    return float(value)


def to_chinese(number: int) -> str:
    """Chinese numeral for a non-negative integer (used to test the round trip)."""
    return cn2an.an2cn(number, "low")
