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
from importlib import resources

import jieba
import jieba.posseg

from dangjian.extract import Mention
from dangjian.places import find_places, document_cities
from dangjian.text import clean_view

jieba.setLogLevel(logging.WARNING)

PUNCT = r"[,，;；:：、。!?！？\n]"
LEADING_NOISE = re.compile(
    r"^(?:据统计|截至目前|截至|目前|其中|同时|此外|另外|与此同时|近年来|去年|今年|全年|上年|"
    r"当年|仅|共|全市|我市|本市|全区|我区|全县|全省|全国|市县两级|各地|累计|已经|已|\d{4}年(?:底|末|初)?的?)+"
)
TRAILING_NOISE = re.compile(
    r"(?:分别|分别有|分别为|均|各|共有|共|有|累计|达到|达|为|是|在|到|至|占到|占|超过|超|逾|近|约|"
    r"将近|接近|不足|不到|不少于|不低于|不超过|不高于|多于|少于|高于|低于|首次突破|突破|了|的|由|从|提高|增长|增加|下降|减少|降低|缩小|进一步|"
    r"比[^,，;；]{0,6}?(?:前|上届|上年|去年|同期)|已经|已|总数|总量|规模|人数达)+$"
)
QUOTES = re.compile(r"[“”‘’\"'《》「」『』()（）]")
# Parts of speech (jieba's tag set) that end a noun phrase read rightwards after a measure word.
AFTER_STOP_FLAGS = {"v", "p", "d", "u", "uj", "ul", "uz", "ud", "c", "r", "x", "m", "q", "y", "ad"}
# Parts of speech that a noun phrase read leftwards from a number does not start with.
LEADING_DROP_FLAGS = {"r", "t", "ns", "d", "p", "c", "u", "uj", "ul", "x", "f", "v"}
NOMINAL_FLAGS = ("n", "vn", "j", "l", "b", "nz", "nt", "an", "zg", "i")
# Verbs that also stand inside compound nouns (行业联合党组织, 农民种植专业合作社, 在职党员).
COMPOUND_VERBS = {"服务", "管理", "培训", "教育", "建设", "志愿", "联系", "工作", "示范", "创业", "联合",
                  "种植", "养殖", "合作", "组织", "调解", "帮扶", "指导", "互助", "发展", "驻", "选调",
                  "补助", "监督", "宣讲", "巡察", "执法", "救援", "保障", "慰问", "结对", "共建", "扶贫",
                  "在职", "离退休", "退休", "流动", "入党"}
KEEP_PRONOUNS = {"其他", "其它"}
# ``N名干部担任“防控指挥官”``: the number counts the role taken, not the people in general.
ROLE = re.compile(r"(?:经[^,，;；。]{0,8}?推荐)?(?:担任|获评|荣获|被评为|评为|成为|当选为?|被授予)"
                  r"“?([^”,，;；。、]{2,16})”?")
RANK_VERBS = {"位居", "位列", "排名", "排在", "居于", "居"}
DURATION_UNITS = {"年", "天", "日", "个月", "月", "周", "小时"}
MAX_SUBJECT = 16
YEAR = re.compile(r"(\d{4})年(?!以来|来|起|开始|以后|后|前|代)")
RELATIVE_YEAR = {"去年": -1, "上年": -1, "上一年": -1, "前年": -2}
RETROSPECTIVE = re.compile(r"这一年|一年来|过去一年|年度盘点|年终盘点|回眸\d{4}|去年以来")


def _load_lexicon() -> None:
    """Domain words jieba's general dictionary splits or mistags (占比, 一肩挑, 两新组织)."""
    lexicon = (resources.files("dangjian") / "data" / "lexicon.txt").read_text(encoding="utf-8")
    for line in lexicon.splitlines():
        if line.strip() and not line.startswith("#"):
            word, freq, tag = line.split()
            jieba.add_word(word, int(freq), tag)


_load_lexicon()


@lru_cache(maxsize=8192)
def _tags(phrase: str) -> tuple[tuple[str, str], ...]:
    return tuple((w.word, w.flag) for w in jieba.posseg.cut(phrase, HMM=False))


def _clean(subject: str) -> str:
    return QUOTES.sub("", subject).strip()


def _is_verb(word: str, flag: str) -> bool:
    return flag == "v" and word not in COMPOUND_VERBS


def _nominal(flag: str) -> bool:
    return flag.startswith(NOMINAL_FLAGS)


def _noun_run(tokens: tuple[tuple[str, str], ...]) -> str:
    """The noun phrase that opens ``tokens``: up to the first verb, particle or adverb."""
    words: list[str] = []
    for index, (word, flag) in enumerate(tokens):
        following = tokens[index + 1][1] if index + 1 < len(tokens) else ""
        if _is_verb(word, flag):
            # a one-character verb before a one-character noun opens a compound (驻村工作队)
            if words or len(word) > 1 or len(tokens[index + 1][0] if following else "") != 1:
                break
        elif re.search(r"\d", word):
            break
        elif flag in AFTER_STOP_FLAGS and word not in COMPOUND_VERBS:
            if flag == "m" and not words and not re.search(r"\d", word) and (
                    _nominal(following) or following == "a"):
                pass  # 一线医务人员, 两新党组织书记: a numeral-led word, not a number
            elif flag == "r" and not words and word not in KEEP_PRONOUNS:
                continue  # 各级党群服务中心
            elif flag == "c" and words and word in "和及与" and _nominal(following):
                pass  # 第一书记和驻村干部
            else:
                break
        elif flag in ("a", "ad") and len(word) > 1 and words:
            break  # 党员志愿服务团队踊跃参与
        words.append(word)
        if len("".join(words)) >= MAX_SUBJECT:
            break
    while len(words) > 1 and _tags(words[-1])[-1][1] == "f":
        words.pop()  # 行政村党组织中
    return "".join(words)


def subject_after_modifier(view: str, end: int) -> str:
    """``220个遍布全市、各具特色的开放式组织生活基地``: the noun after a modifier ending in 的."""
    rest = view[end:end + 60]
    modifier = re.match(r"[^,，;；。！？:：\d]{1,30}?的(?=[\u4e00-\u9fff“])", rest)
    if not modifier:
        return ""
    return _noun_run(_tags(QUOTES.sub("", re.split(PUNCT, rest[modifier.end():], maxsplit=1)[0])))


def _role(rest: str, words: str) -> str | None:
    """The role after ``N名<people>``, when a role verb follows the people."""
    for cut in range(1, len(words) + 1):
        role = ROLE.match(rest, cut)
        if role:
            return role.group(1)
    return None


def subject_after(view: str, end: int, unit: str | None = None) -> str:
    """The noun phrase right after a number's unit, or '' when none stands there."""
    rest = view[end:end + 60]
    rest = re.sub(r"^(?:以上|左右|上下|以下|以内|多|余)", "", rest)
    rest = re.sub(r"^的", "", rest)
    if not rest or not re.match(r"[\u4e00-\u9fff“‘\"「]", rest):
        return ""
    clause = re.split(PUNCT, rest, maxsplit=1)[0]
    quoted = re.match(r"[“‘\"「]([^”’\"」]{1,16})[”’\"」]", clause)
    if quoted:  # 3个“10分钟服务圈”, 344名“两新”组织党务工作者
        return quoted.group(1) + _noun_run(_tags(QUOTES.sub("", clause[quoted.end():])))
    plain = QUOTES.sub("", clause)
    tokens = _tags(plain)
    subject = _noun_run(tokens)
    if subject:
        return _role(plain, subject) or subject
    if unit in DURATION_UNITS and tokens and tokens[0][1] == "v":
        return _noun_run(_tags(plain[len(tokens[0][0]):]))  # 持续20年开展党员志愿服务
    return ""


def _head(phrase: str) -> str:
    """The noun phrase that ends ``phrase``: what follows its last verb that takes an object,
    without leading pronouns, time words, places and adverbs (建立党组织 -> 党组织)."""
    tokens = _tags(phrase)
    cut = 0
    for index in range(len(tokens) - 1):
        word, flag = tokens[index]
        fresh = word.startswith("新") or (index and tokens[index - 1][0].startswith("新"))
        opening = all(f == "v" for _, f in tokens[:index + 1])  # 服务管理党员
        if (flag == "v" and (opening or word not in COMPOUND_VERBS) and len(word) > 1
                and not fresh and _nominal(tokens[index + 1][1])):
            cut = index + 1
    tokens = tokens[cut:]
    while len(tokens) > 1 and ((tokens[0][1] in LEADING_DROP_FLAGS
                                and tokens[0][0] not in KEEP_PRONOUNS | COMPOUND_VERBS
                                and not tokens[0][0].startswith("新"))
                               or tokens[0][0] in ("之", "所有")):
        tokens = tokens[1:]
    words = [word for word, _ in tokens]
    while len(words) > 1 and len("".join(words)) > MAX_SUBJECT:
        words.pop(0)
    subject = "".join(words)
    return "" if all(_is_verb(w, f) for w, f in tokens) else subject


def subject_before(view: str, start: int, clause_start: int) -> str:
    """The noun phrase that ends just before a number, with qualifiers and verbs stripped."""
    phrase = view[clause_start:start]
    at = 0
    for word, _ in _tags(phrase):
        if word in RANK_VERBS and at:  # 人才生态指数居全国城市第6位
            phrase = phrase[:at]
            break
        at += len(word)
    for marker in ("由", "从"):
        cut = phrase.find(marker)
        if cut > 0:
            phrase = phrase[:cut]
    phrase = QUOTES.sub("", phrase)
    phrase = re.sub(r"[\d.%]+[个名人家元万亿%]*$", "", phrase)
    for _ in range(3):
        phrase = TRAILING_NOISE.sub("", phrase)
    phrase = LEADING_NOISE.sub("", phrase)
    for joint in ("的", "等"):  # 参与服务保障G20峰会的党员, 论坛、海外学子行等重点活动
        head, _, tail = phrase.rpartition(joint)
        if head and len(tail) >= 2:
            phrase = tail
    return _head(phrase) if phrase else ""


_PUNCT_CHARS = frozenset(",，;；:：、。!?！？\n")
_SENTENCE_CHARS = frozenset(",，;；:：。!?！？\n")


def _clause_start(view: str, pos: int, floor: int, stops: frozenset[str] = _PUNCT_CHARS) -> int:
    while pos > floor and view[pos - 1] not in stops:
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


COMPARISON = re.compile(r"(?:比|较|同比|环比)")


def assign_subjects(view: str, mentions: list[Mention]) -> None:
    previous: Mention | None = None
    for group in _enumerations(view, mentions):
        shared = subject_after(view, group[-1].end, group[-1].unit)
        first = group[0]
        clause = _clause_start(view, first.start, first.sentence.start, _SENTENCE_CHARS)
        respective = _respectively(view, clause, first.start, len(group))
        for index, mention in enumerate(group):
            own_after = subject_after(view, mention.end, mention.unit)
            own_before = subject_before(
                view, mention.start, _clause_start(view, mention.start, mention.sentence.start))
            modifier = len(group) > 1 and shared and 0 < len(own_before) <= 4
            if respective:
                subject = respective[index]
            elif own_after and not (modifier and own_after == shared):
                subject = own_after
            elif modifier:
                subject = own_before + shared  # 市级50个、县级300个党员教育红色示范基地
            elif own_before:
                subject = own_before
            else:
                subject = shared or subject_after_modifier(view, mention.end)
            clause = _clause_start(view, mention.start, mention.sentence.start)
            if (not subject and previous is not None and previous.sentence == mention.sentence
                    and COMPARISON.match(view, clause)):
                subject = previous.subject or ""  # 平均年龄45.6岁，比选前下降5岁
            mention.subject = _clean(subject)
            previous = mention


def _respectively(view: str, clause: int, start: int, count: int) -> list[str] | None:
    """``A、B分别增长x和y``: the items before 分别, when they are as many as the numbers."""
    if count < 2:
        return None
    text = view[clause:start]
    cut = text.find("分别")
    if cut <= 0:
        return None
    items = [_head(item) for item in re.split(r"[、和及与]", LEADING_NOISE.sub("", text[:cut])) if item]
    return items if len(items) == count and all(items) else None


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
