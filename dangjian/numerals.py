"""Turn the number part of a Chinese quantity into a float.

Arabic digits (half- or full-width, with thousands separators), the multipliers 十/百/千/万/亿
in either script, and Chinese numerals (``三千``, ``两``, ``一百二十``, ``百分之九十``,
``三点五万``). The core of the conversion is cn2an; this module only cleans its input, because
cn2an raises on separators, full-width points, a decimal followed by a multiplier and anything
carrying 余/多/百分之. The internal 余/多 of ``2.1万余``/``三千多`` say "more than", which is the
extractor's qualifier, not part of the value, so they are dropped here.
"""
from __future__ import annotations

import math
import re

import cn2an

FULLWIDTH = str.maketrans("０１２３４５６７８９．，", "0123456789.,")
TRADITIONAL = str.maketrans({"萬": "万", "億": "亿", "兩": "两", "參": "三", "叁": "三"})
CHINESE_DIGITS = "零〇一二两三四五六七八九"
CHINESE_UNITS = "十百千万亿"
CHINESE_NUMERAL_CHARS = CHINESE_DIGITS + CHINESE_UNITS + "萬億兩点"
MULTIPLIERS = {"十": 10.0, "百": 100.0, "千": 1e3, "万": 1e4, "亿": 1e8}
_ARABIC = re.compile(r"^(\d+(?:\.\d+)?)([十百千万亿]*)$")
# 三点五万: cn2an reads 三点五 but not a decimal followed by a multiplier.
_CHINESE_DECIMAL = re.compile(r"^(.+点[零〇一二三四五六七八九]+)([万亿]+)$")
_INTERNAL = re.compile(r"(?<=[\d零〇一二两三四五六七八九十百千万亿])[余多]")
_SEPARATORS = re.compile(r"[,\s\u00a0]")
#: Plain ASCII digits with an optional decimal part: most numbers, read without the general path.
_PLAIN = re.compile(r"[0-9]+(?:\.[0-9]+)?")
#: Values (or error messages) of numbers read before: a text repeats its numbers, and the
#: general path (cn2an) is slow. Bounded: cleared when full.
_SEEN: dict[str, float | str] = {}
_SEEN_MAX = 100_000


class NumeralError(ValueError):
    """The string is not a number this module can read."""


def normalize(core: str) -> str:
    """Half-width digits, simplified multipliers, no separators or spaces."""
    text = core.translate(FULLWIDTH).translate(TRADITIONAL)
    return _SEPARATORS.sub("", text)


def parse_number(core: str) -> float:
    """Value of a bare number such as ``56.1万``, ``1,300``, ``三千``, ``百分之九十``.

    Raises NumeralError for anything else; never another exception type, never inf or nan.
    """
    # ASCII digits alone (most numbers) are told apart by two string methods, faster than the
    # pattern; str.isdigit alone would also take full-width and other Unicode digits.
    if (core.isdigit() and core.isascii()) or _PLAIN.fullmatch(core):
        value = float(core)
        if math.isfinite(value):
            return value
    seen = _SEEN.get(core)
    if seen is None:
        try:
            seen = _parse(core)
        except NumeralError as exc:
            seen = str(exc)
        if len(_SEEN) >= _SEEN_MAX:
            _SEEN.clear()
        _SEEN[core] = seen
    if isinstance(seen, str):
        raise NumeralError(seen)
    return seen


def _parse(core: str) -> float:
    text = _INTERNAL.sub("", normalize(core))
    if text.startswith("百分之"):  # once only: 百分之百分之九 is not a number
        text = text[3:]
        if text == "百":  # 百分之百: here the lone 百 is the number 100
            return 100.0
    if not text:
        raise NumeralError("empty number")
    value = _parse_clean(text, core)
    if not math.isfinite(value):
        raise NumeralError(f"not a finite number: {core[:40]!r}")
    return value


def _parse_clean(text: str, core: str) -> float:
    """Value of a normalized number (no separators, no 余/多, no 百分之)."""
    match = _ARABIC.match(text)
    if match:
        value = float(match.group(1))
        for char in match.group(2):
            value *= MULTIPLIERS[char]
        return value
    decimal = _CHINESE_DECIMAL.match(text)
    if decimal:
        value = _parse_clean(decimal.group(1), core)
        for char in decimal.group(2):
            value *= MULTIPLIERS[char]
        return value
    if text.startswith("点") or text.endswith("点"):
        raise NumeralError(f"dangling decimal point: {core!r}")
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
    """Chinese numeral for a non-negative integer (used to test the round trip).

    cn2an leaves out the 零 that marks a skipped 万 section before a thousands digit: it writes
    一亿一千 for 100001000, which reads as 一亿一千万 and which :func:`parse_number` refuses as
    ambiguous. The 零 is put back (一亿零一千).
    """
    text = cn2an.an2cn(number, "low")
    if number >= 10 ** 8 and (number // 10 ** 4) % 10 ** 4 == 0 and number % 10 ** 4 >= 1000:
        head, _, tail = text.rpartition("亿")
        text = f"{head}亿零{tail}"
    return text
