import codecs

import pytest

from dangjian.decode import DecodeError, decode
from tests.conftest import RAW

SIMPLIFIED = (RAW / "000_165ad2e5e478a72b.txt").read_text(encoding="utf-8")
TRADITIONAL = (RAW / "002_bd67e46e571e682d.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize("data, encoding", [
    (SIMPLIFIED.encode("utf-8"), "utf-8"),
    (codecs.BOM_UTF8 + SIMPLIFIED.encode("utf-8"), "utf-8"),
    (SIMPLIFIED.encode("utf-16"), "utf-16"),
    (SIMPLIFIED.encode("gb18030"), "gb18030"),
])
def test_round_trip(data, encoding):
    decoded = decode(data)
    assert decoded.encoding == encoding
    assert decoded.text == SIMPLIFIED


def test_gbk_bytes_read_as_gb18030_superset():
    text = SIMPLIFIED.replace("\u00a0", " ")
    decoded = decode(text.encode("gbk"))
    assert decoded.text == text
    assert decoded.encoding in ("gb18030", "gbk")


def test_big5():
    text = "".join(c for c in TRADITIONAL if c.encode("big5", errors="ignore"))
    decoded = decode(text.encode("big5"))
    assert decoded.text == text
    assert decoded.encoding.startswith(("big5", "cp950"))


@pytest.mark.parametrize("data, reason", [
    (b"", "empty"),
    (b"   \n\t ", "empty"),
    (bytes(range(256)) * 16, "binary"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
])
def test_not_text_is_rejected_with_a_reason(data, reason):
    with pytest.raises(DecodeError) as info:
        decode(data)
    assert info.value.reason == reason
    assert str(info.value).startswith(reason)
