"""What the rules read: a clean text with a map back to the original, and a same-length view.

Two steps. :func:`clean` removes what is not text — HTML tags, zero-width characters, carriage
returns — and decodes HTML entities, keeping for each kept character its offset in the original,
so a span found in the clean text maps back to the exact characters of the source. Most texts
need none of this and get no map. :func:`clean_view` then makes a copy of the clean text whose
code points line up one to one with it: full-width digits and punctuation become ASCII, odd spaces
become spaces, traditional characters become simplified (OpenCC ``t2s``, checked to keep the
length; where a conversion would change it, the character is kept as written).
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import opencc

# Full-width ASCII block -> ASCII, one code point each.
_FULLWIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_SPACES = dict.fromkeys(map(ord, "\u00a0\u2002\u2003\u2009\u3000\u202f"), " ")
_TABLE = {**_FULLWIDTH, **_SPACES}
# The same mapping applied by a regular expression: most characters of a Chinese text are not in
# the table, and ``str.translate`` looks each of them up (ten times slower).
_TO_ASCII: dict[str, str] = {chr(code): chr(value) if isinstance(value, int) else str(value)
                             for code, value in _TABLE.items()}
_TRANSLATED = re.compile("[" + "".join(re.escape(c) for c in sorted(_TO_ASCII)) + "]")
_REMOVED = re.compile(
    r"<(?:script|style)\b[^>]*>.*?</(?:script|style)\s*>"  # markup with no text for a reader
    r"|<[A-Za-z/!][^<>\n]{0,300}>"  # a tag
    r"|[\u200b\u200c\u200d\u2060\ufeff\u00ad\r]",  # invisible characters, CR of CRLF
    re.S | re.I,
)

#: The first character of every match of _REMOVED. Most texts hold none, and a one-class pattern
#: is searched several times faster than _REMOVED, which tries each branch at each position.
_MAY_REMOVE = re.compile(r"[<\u200b\u200c\u200d\u2060\ufeff\u00ad\r]")
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


_REMOVED_OR_ENTITY = re.compile(f"{_REMOVED.pattern}|(?P<entity>{_HTML_ENTITY.pattern})", re.S | re.I)


@dataclass(frozen=True)
class Cleaned:
    """Text with markup and invisible characters removed; ``origin[i]`` is the offset in the
    original of clean character ``i`` (None when nothing was removed: offsets are the same)."""

    text: str
    origin: list[int] | None = None

    def span_in_original(self, start: int, end: int) -> tuple[int, int]:
        if self.origin is None:
            return start, end
        return self.origin[start], self.origin[end - 1] + 1 if end > start else self.origin[start]


def clean(text: str) -> Cleaned:
    """Remove tags, invisible characters and CRs; decode entities; keep the way back."""
    removes = _MAY_REMOVE.search(text) is not None and _REMOVED.search(text) is not None
    if not removes and not ("&" in text and _HTML_ENTITY.search(text)):
        return Cleaned(text)
    pieces: list[str] = []
    origin: list[int] = []
    pos = 0
    for match in _REMOVED_OR_ENTITY.finditer(text):
        pieces.append(text[pos:match.start()])
        origin.extend(range(pos, match.start()))
        if match.group("entity"):
            decoded = html.unescape(match.group(0))
            pieces.append(decoded)
            origin.extend([match.start()] * len(decoded))
        pos = match.end()
    pieces.append(text[pos:])
    origin.extend(range(pos, len(text)))
    return Cleaned("".join(pieces), origin)


def clean_view(text: str) -> str:
    """The clean text as the rules read it: same length, simplified, full-width made ASCII."""
    return to_simplified(_to_ascii(text))


def _to_ascii(text: str) -> str:
    """``text`` with the characters of ``_TO_ASCII`` replaced, one ``str.replace`` for each
    distinct one present: a text holds a hundred full-width commas, and a replacement function
    called for each costs more. (No replacement is itself replaced: they are ASCII or spaces.)"""
    for char in set(_TRANSLATED.findall(text)):
        text = text.replace(char, _TO_ASCII[char])
    return text


def script_of(text: str, view: str | None = None) -> str:
    """``traditional`` when converting to simplified changes a noticeable share of the Han text.

    ``view`` is the text's :func:`clean_view`, when the caller has it already.
    """
    sample = text[:20000]
    converted = view[:20000] if view is not None else to_simplified(sample)
    n = min(len(sample), len(converted))  # pairs of characters, as zip would make them
    if sample[:n] == converted[:n]:
        return "simplified"  # nothing was converted (most texts): no character to count
    a = np.frombuffer(sample[:n].encode("utf-32-le", "surrogatepass"), dtype="<u4")
    b = np.frombuffer(converted[:n].encode("utf-32-le", "surrogatepass"), dtype="<u4")
    is_han = (a >= 0x3400) & (a <= 0x9FFF)
    han = int(np.count_nonzero(is_han))
    changed = int(np.count_nonzero(is_han & (a != b)))
    return "traditional" if han and changed / han > 0.02 else "simplified"


#: Marks that end a clause (a sentence end, a comma, an enumeration comma, a colon).
CLAUSE_MARKS = ",，;；:：、。!?！？\n"


@lru_cache(maxsize=4)
def _lookup(marks: str) -> np.ndarray:
    table: np.ndarray = np.zeros(0x110000, dtype=bool)
    table[[ord(c) for c in marks]] = True
    return table


@lru_cache(maxsize=8)
def positions_of(view: str, marks: str) -> list[int]:
    """Offsets in ``view`` of the characters of ``marks``, in order: one vectorised pass, kept
    for a text's many clause lookups (str hashes are cached by Python)."""
    codes = np.frombuffer(view.encode("utf-32-le", "surrogatepass"), dtype="<u4")
    return np.flatnonzero(_lookup(marks)[codes]).tolist()


class Sentence(NamedTuple):
    """A sentence's span in the view. A named tuple, not a frozen dataclass: a text has dozens
    and a frozen dataclass is several times slower to build."""

    start: int
    end: int


# One mark and then any more: a pattern that opens with a character class is scanned for it
# quickly, one that opens with a repeat ([…]+) is tried in full at every position.
_SENTENCE_END = re.compile(r"[。！？!?\n][。！？!?\n]*")
_new_sentence = tuple.__new__  # Sentence(a, b) without its Python-level __new__


def sentences(view: str) -> list[Sentence]:
    """Sentence spans: split after 。！？ and at line breaks."""
    spans: list[Sentence] = []
    append = spans.append
    start = 0
    for match in _SENTENCE_END.finditer(view):
        end = match.start()
        if end > start:
            append(_new_sentence(Sentence, (start, end if view[end] == "\n" else end + 1)))
        start = match.end()
    if start < len(view):
        append(_new_sentence(Sentence, (start, len(view))))
    return spans
