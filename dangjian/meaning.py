"""What each number counts, where and when: subject, geography and period of a mention.

Subject: the noun phrase after the measure word (``32037个基层党组织``), else the one before the
number (``企业党组织10335个``, ``“一肩挑”率达99%``); an enumeration shares the noun that closes it
(``市级50个、县级300个…基地``) and ``A、B分别增长x和y`` pairs items with numbers in order.
Geography: the last place named in the clause or sentence before the number, ``全国`` when the
sentence is about the whole country, else the paragraph's last named place, else the document's
home place (which is what 全市/我市/全区 refer to).
Period: the nearest year the sentence ties the number to (``2012年的``, ``去年``, ``仅2016年``),
else the document's default (a look back at the past year published early in the next one).
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import jieba
import jieba.posseg

from dangjian.extract import Mention
from dangjian.places import find_places, document_cities
from dangjian.text import clean_view

jieba.setLogLevel(logging.WARNING)

PUNCT = r"[,，;；:：、。!?！？\n()（）]"
LEADING_NOISE = re.compile(
    r"^(?:据统计|截至目前|截至|目前|其中|同时|此外|另外|与此同时|近年来|去年|今年|全年|上年|"
    r"当年|仅|共|全市|我市|本市|全区|我区|全县|全省|全国|市县两级|各地|累计|已经|已|\d{4}年(?:底|末|初)?的?)+"
)
TRAILING_NOISE = re.compile(
    r"(?:分别|分别有|分别为|均|各|共有|共|有|累计|达到|达|为|是|在|到|至|占到|占|超过|超|逾|近|约|"
    r"将近|接近|不足|不到|首次突破|突破|了|的|由|从|提高|增长|增加|下降|减少|降低|缩小|进一步|"
    r"比[^,，;；]{0,6}?(?:前|上届|上年|去年|同期)|已经|已|总数|总量|规模|人数达)+$"
)
QUOTES = re.compile(r"[“”‘’\"'《》「」『』]")
AFTER_STOP_FLAGS = {"v", "p", "d", "u", "uj", "ul", "uz", "ud", "c", "r", "f", "x", "m", "q", "zg", "y"}
AFTER_KEEP_VERBS = {"服务", "管理", "培训", "教育", "建设", "志愿", "联系", "工作", "示范", "创业"}
YEAR = re.compile(r"(\d{4})年(?!以来|来|起|开始|以后|后|前|代)")
RELATIVE_YEAR = {"去年": -1, "上年": -1, "上一年": -1, "前年": -2}
RETROSPECTIVE = re.compile(r"这一年|一年来|过去一年|年度盘点|年终盘点|回眸\d{4}|去年以来")


@lru_cache(maxsize=4096)
def _tags(phrase: str) -> list[tuple[str, str]]:
    return [(w.word, w.flag) for w in jieba.posseg.cut(phrase, HMM=False)]


def _clean(subject: str) -> str:
    return QUOTES.sub("", subject).strip()


def subject_after(view: str, end: int) -> str:
    """The noun phrase right after a number's unit, or '' when a verb or punctuation follows."""
    rest = view[end:end + 24]
    rest = re.sub(r"^(?:以上|左右|上下|以下|以内|多|余)", "", rest)
    rest = re.sub(r"^的", "", rest)
    if not rest or re.match(PUNCT, rest) or not re.match(r"[\u4e00-\u9fff“‘\"]", rest):
        return ""
    rest = re.split(PUNCT, rest, maxsplit=1)[0]
    words: list[str] = []
    for word, flag in _tags(QUOTES.sub("", rest)):
        if flag in AFTER_STOP_FLAGS and word not in AFTER_KEEP_VERBS:
            if words or flag in ("x", "p", "u", "uj", "c", "d", "m", "r", "q"):
                break
        words.append(word)
        if len("".join(words)) >= 12:
            break
    return "".join(words)


def subject_before(view: str, start: int, clause_start: int) -> str:
    """The noun phrase that ends just before a number, with qualifiers and verbs stripped."""
    phrase = view[clause_start:start]
    for marker in ("由", "从"):
        cut = phrase.find(marker)
        if cut > 0:
            phrase = phrase[:cut]
    phrase = QUOTES.sub("", phrase)
    phrase = re.sub(r"[\d.%]+[个名人家元万亿%]*$", "", phrase)
    for _ in range(3):
        phrase = TRAILING_NOISE.sub("", phrase)
    phrase = LEADING_NOISE.sub("", phrase)
    return phrase[-14:]


_PUNCT_CHARS = frozenset(",，;；:：、。!?！？\n()（）")


def _clause_start(view: str, pos: int, floor: int) -> int:
    while pos > floor and view[pos - 1] not in _PUNCT_CHARS:
        pos -= 1
    return pos


def _enumerations(view: str, mentions: list[Mention]) -> list[list[Mention]]:
    """Runs of mentions joined only by 、/和/及/与 and short modifiers (市级50个、县级300个)."""
    groups: list[list[Mention]] = []
    for mention in mentions:
        if groups:
            last = groups[-1][-1]
            between = view[last.end:mention.start]
            if (last.sentence == mention.sentence and len(between) <= 10
                    and re.fullmatch(r"(?:以上|左右|多|余)?[、和及与][\u4e00-\u9fff“”]{0,8}", between)):
                groups[-1].append(mention)
                continue
        groups.append([mention])
    return groups


def assign_subjects(view: str, mentions: list[Mention]) -> None:
    for group in _enumerations(view, mentions):
        shared = subject_after(view, group[-1].end)
        first = group[0]
        clause = _clause_start(view, first.start, first.sentence.start)
        respective = _respectively(view, clause, first.start, len(group))
        for index, mention in enumerate(group):
            own_after = subject_after(view, mention.end)
            own_before = subject_before(
                view, mention.start, _clause_start(view, mention.start, mention.sentence.start))
            if respective:
                subject = respective[index]
            elif own_after:
                subject = own_after
            elif len(group) > 1 and shared and len(own_before) <= 4:
                subject = own_before + shared
            elif own_before:
                subject = own_before
            else:
                subject = shared
            mention.subject = _clean(subject)


def _respectively(view: str, clause: int, start: int, count: int) -> list[str] | None:
    """``A、B分别增长x和y``: the items before 分别, when they are as many as the numbers."""
    if count < 2:
        return None
    text = view[clause:start]
    cut = text.find("分别")
    if cut <= 0:
        return None
    items = [item for item in re.split(r"[、和及与]", LEADING_NOISE.sub("", text[:cut])) if item]
    return items if len(items) == count else None


# --------------------------------------------------------------------------------------------
# Geography
# --------------------------------------------------------------------------------------------

def assign_geography(view: str, mentions: list[Mention], home: str | None) -> None:
    cities = document_cities(view)
    paragraph_place: dict[int, str] = {}
    for mention in mentions:
        sentence = mention.sentence
        clause = _clause_start(view, mention.start, sentence.start)
        places = [p for p in find_places(view, sentence.start, mention.start, cities)
                  if p.end <= mention.start]
        in_clause = [p for p in places if p.start >= clause]
        national = re.search(r"(?<![居列在])全国(?!城市|第|前|首|率先)", view[sentence.start:mention.start])
        scoped = re.search(r"全市|我市|本市|全区|我区|本区|全县|我县|本县", view[clause:mention.start])
        if in_clause:
            geography = in_clause[-1].name
        elif scoped and home:
            geography = home
        elif national:
            geography = "全国"
        elif places:
            geography = places[-1].name
        else:
            paragraph = view.rfind("\n", 0, sentence.start) + 1
            if paragraph not in paragraph_place:
                before = find_places(view, paragraph, sentence.start, cities)
                paragraph_place[paragraph] = before[-1].name if before else ""
            geography = paragraph_place[paragraph] or home
        mention.geography = _canonical_short(geography, home)


def _canonical_short(name: str | None, home: str | None) -> str | None:
    """宁波 -> 宁波市 when that is the home place; other names stay as written."""
    if name and home and home.startswith(name) and len(name) < len(home):
        return home
    return name


# --------------------------------------------------------------------------------------------
# Period
# --------------------------------------------------------------------------------------------

def default_period(view: str, published: date | None) -> str | None:
    """The year a whole text reports on, when it is a look back published early the next year."""
    if published is None or published.month > 4:
        return None
    head = view[:600]
    if RETROSPECTIVE.search(head):
        return str(published.year - 1)
    return None


def assign_periods(view: str, mentions: list[Mention], published: date | None,
                   default: str | None) -> None:
    for mention in mentions:
        before = view[mention.sentence.start:mention.start]
        found: tuple[int, str] | None = None
        for match in YEAR.finditer(before):
            found = (match.start(), match.group(1))
        for word, delta in RELATIVE_YEAR.items():
            pos = before.rfind(word)
            if pos != -1 and published and (found is None or pos > found[0]):
                found = (pos, str(published.year + delta))
        pos = before.rfind("今年")
        if pos != -1 and (found is None or pos > found[0]):
            found = (pos, "")  # the time of writing: no period
        if found is not None:
            mention.period = found[1] or None
        else:
            mention.period = default


@dataclass
class DocumentContext:
    home: str | None
    published: date | None


def annotate(text: str, mentions: list[Mention], context: DocumentContext,
             view: str | None = None) -> list[Mention]:
    """Fill subject, geography and period of ``mentions`` in place and return them."""
    view = clean_view(text) if view is None else view
    assign_subjects(view, mentions)
    assign_geography(view, mentions, context.home)
    assign_periods(view, mentions, context.published, default_period(view, context.published))
    return mentions
