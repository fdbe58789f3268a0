"""Bytes to text: which encoding a raw file is in, or why it cannot be read.

A byte-order mark settles it; then strict UTF-8; then charset-normalizer's best guess among the
encodings Chinese texts come in, accepted only above a confidence floor and only when the result
reads as Chinese text. Anything else is rejected with a reason, never guessed.
"""
from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from charset_normalizer import from_bytes

#: Encodings tried after UTF-8, in charset-normalizer's own names.
CANDIDATES = ("gb18030", "big5", "utf_16", "big5hkscs", "cp950", "gbk")
MIN_COHERENCE = 0.2
MAX_CHAOS = 0.3
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


class DecodeError(ValueError):
    """A file that is not text; ``reason`` is one word (``empty``, ``binary``, ``undecodable``)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str


def _looks_binary(data: bytes) -> bool:
    sample = data[:8192]
    return b"\x00" in sample or len(_CONTROL.findall(sample.decode("latin-1"))) > len(sample) * 0.05


def decode(data: bytes) -> Decoded:
    """The text of a raw file and the encoding it was read with; DecodeError when it is not text."""
    if not data.strip():
        raise DecodeError("empty", "the file has no text")
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return Decoded(data.decode(encoding), encoding.replace("-sig", ""))
            except UnicodeDecodeError as exc:
                raise DecodeError("undecodable", f"{encoding} byte-order mark but {exc}") from exc
    try:
        return Decoded(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    if _looks_binary(data):
        raise DecodeError("binary", "control bytes: not a text file")
    best = from_bytes(data, cp_isolation=list(CANDIDATES)).best()
    if best is None or best.chaos > MAX_CHAOS:
        raise DecodeError("undecodable", "no Chinese encoding reads it cleanly")
    text = str(best)
    han = sum("\u4e00" <= c <= "\u9fff" for c in text[:5000])
    if han < min(len(text[:5000]) * 0.1, 20) or (best.coherence < MIN_COHERENCE and best.chaos > 0.1):
        raise DecodeError("undecodable", f"best guess {best.encoding} does not read as Chinese")
    return Decoded(text, _name(best.encoding))


def _name(encoding: str) -> str:
    return {"utf_16": "utf-16", "big5hkscs": "big5-hkscs", "cp950": "cp950"}.get(encoding, encoding)
