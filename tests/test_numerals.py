"""parse_number: every way a Chinese text writes the number part of a quantity."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dangjian.numerals import NumeralError, parse_number, to_chinese

VALID = [
    # Arabic digits, separators, decimals
    ("0", 0), ("7", 7), ("32037", 32037), ("1,300", 1300), ("1,234,567", 1234567), ("7.5", 7.5),
    ("0.7", 0.7), ("1.64", 1.64),
    # full-width digits, point and comma
    ("３２０３７", 32037), ("１，３００", 1300), ("１．５", 1.5), ("９９", 99),
    # multipliers, both scripts, and mixed forms
    ("56.1万", 561000), ("1.3亿", 130000000), ("3千", 3000), ("3千万", 30000000),
    ("1.2万亿", 1.2e12), ("3萬", 30000), ("1.3億", 130000000), ("５万", 50000), ("2百", 200),
    # internal 余/多 belong to the qualifier, not the value
    ("1600多万", 16000000), ("2.1万余", 21000), ("300余", 300), ("三千余", 3000), ("二十多", 20),
    # Chinese numerals
    ("十", 10), ("十二", 12), ("二十", 20), ("一百二十", 120), ("一百零一", 101), ("三千", 3000),
    ("两", 2), ("两千", 2000), ("两万", 20000), ("兩萬", 20000), ("三百万", 3000000),
    ("一万亿", 1e12), ("零", 0), ("三点五", 3.5), ("三点五万", 35000), ("一点五亿", 150000000),
    ("二〇二一", 2021),
    # 百分之 (the percent sign is the unit, the value is the number after it)
    ("百分之九十", 90), ("百分之99", 99), ("百分之九十五点五", 95.5), ("百分之十", 10), ("百分之百", 100),
]

INVALID = [
    "", " ", "abc", "百", "千", "万", "亿", "万万", "十十", "点", "点五", "一点", "1.2.3", "..",
    "百分之", "百分之百分之九", "九" + "个", "1e5", "-5", "+5", "²", "12a", "%", "五%",
    "9" * 400,  # would be inf
]


@pytest.mark.parametrize(("text", "expected"), VALID)
def test_reads_number(text: str, expected: float) -> None:
    assert parse_number(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", INVALID)
def test_rejects_non_number(text: str) -> None:
    with pytest.raises(NumeralError):
        parse_number(text)


def test_numeral_error_is_value_error() -> None:
    """Callers that catch ValueError keep working."""
    assert issubclass(NumeralError, ValueError)


@pytest.mark.parametrize(
    ("number", "chinese"),
    [(0, "零"), (10, "十"), (12, "十二"), (101, "一百零一"), (10000, "一万"), (100000000, "一亿")],
)
def test_to_chinese_known_values(number: int, chinese: str) -> None:
    assert to_chinese(number) == chinese


@settings(max_examples=400, deadline=None)
@given(st.integers(min_value=0, max_value=10**12))
def test_chinese_round_trip(number: int) -> None:
    assert parse_number(to_chinese(number)) == number


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=10**12))
def test_arabic_round_trip_with_separators(number: int) -> None:
    assert parse_number(f"{number:,}") == number
    assert parse_number(str(number).translate(str.maketrans("0123456789", "０１２３４５６７８９"))) == number


NUMERAL_ALPHABET = "0123456789０１２３４５６７８９.,．，零〇一二两三四五六七八九十百千万亿萬億兩点余多百分之 %a"


@settings(max_examples=600, deadline=None)
@given(st.one_of(st.text(), st.text(alphabet=NUMERAL_ALPHABET, max_size=30)))
def test_parse_number_returns_float_or_raises_numeral_error(text: str) -> None:
    try:
        value = parse_number(text)
    except NumeralError:
        return
    assert isinstance(value, float)
    assert math.isfinite(value) and value >= 0


@pytest.mark.parametrize("text, expected", [
    ("123", 123.0), ("0012", 12.0), ("１２", 12.0), ("١٢", 12.0), ("٣", 3.0),
])
def test_digits_of_any_script_read_as_before_the_ascii_shortcut(text, expected):
    assert parse_number(text) == expected


@pytest.mark.parametrize("text", ["²", "1" * 400, ""])
def test_what_is_no_finite_number_is_refused_whatever_its_digits(text):
    with pytest.raises(NumeralError):
        parse_number(text)
