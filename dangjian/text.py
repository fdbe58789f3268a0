"""A same-length view of a document for the rules to read.

Extraction reads a cleaned, simplified copy of the text whose code points line up one to one
with the decoded original, so that every span found in the view is also the span of the quote in
the original. Full-width digits and punctuation become ASCII, odd spaces become spaces, invisible
characters become spaces, traditional characters become simplified (OpenCC ``t2s``, checked to
keep the length; where a conversion would change it, the character is kept as written), and HTML
tags and entities are blanked out to spaces of the same length.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import opencc

# Full-width ASCII block -> ASCII, one code point each.
_FULLWIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_SPACES = dict.fromkeys(map(ord, "\u00a0\u2002\u2003\u2009\u3000\u202f"), " ")
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), " ")
_TABLE = {**_FULLWIDTH, **_SPACES, **_INVISIBLE}

_HTML_TAG = re.compile(r"<[A-Za-z/!][^<>\n]{0,300}>")
_HTML_ENTITY = re.compile(r"&(?:[A-Za-z]{2,8}|#\d{1,6}|#x[0-9A-Fa-f]{1,6});")
_CJK = re.compile(r"[\u3400-\u9fff]")


@lru_cache(maxsize=1)
def _converter() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Simplified Chinese of ``text``, with the same length as ``text``."""
    converted = _converter().convert(text)
    if len(converted) == len(text):
        return converted
    # A phrase conversion changed the length: fall back to one character at a time.
    convert = _converter().convert
    return "".join(c if len(s := convert(c)) != 1 else s for c in text)


def _blank(match: re.Match[str]) -> str:
    return " " * len(match.group(0))


def clean_view(text: str) -> str:
    """The text as the rules read it: same length, simplified, normalised, markup blanked."""
    view = text.translate(_TABLE)
    if "<" in view:
        view = _HTML_TAG.sub(_blank, view)
    if "&" in view:
        view = _HTML_ENTITY.sub(_blank, view)
    view = view.replace("\r", " ")
    return to_simplified(view)


def script_of(text: str) -> str:
    """``traditional`` when converting to simplified changes a noticeable share of the Han text."""
    han = _CJK.findall(text[:20000])
    if not han:
        return "simplified"
    sample = "".join(han)
    changed = sum(a != b for a, b in zip(sample, to_simplified(sample)))
    return "traditional" if changed / len(sample) > 0.02 else "simplified"


@dataclass(frozen=True)
class Sentence:
    start: int
    end: int


_SENTENCE_END = re.compile(r"[。！？!?\n]+")


def sentences(view: str) -> list[Sentence]:
    """Sentence spans: split after 。！？ and at line breaks."""
    spans: list[Sentence] = []
    start = 0
    for match in _SENTENCE_END.finditer(view):
        if match.start() > start:
            spans.append(Sentence(start, match.start() + (0 if match.group(0)[0] == "\n" else 1)))
        start = match.end()
    if start < len(view):
        spans.append(Sentence(start, len(view)))
    return spans
