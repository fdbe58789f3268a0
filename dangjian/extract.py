"""Find the metric mentions of a text: where each number is, its value, unit and qualifiers.

The rules read the same-length view of ``dangjian.text`` so a span found there is the span of
the quote in the original. Each mention records the rule that produced it. What a number counts
(subject), where and when are added by ``dangjian.meaning``.

The rules follow the annotation guidelines in ``tests/gold/GUIDELINES.md``: a span runs from the
first character of the number to the end of its unit, internal 余/多 included; qualifiers before
and after stay outside it; dates, names, slogans in quotation marks, ordinals, identifiers,
category thresholds and denominators are not metrics.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from dangjian.numerals import NumeralError, parse_number
from dangjian.text import Sentence, clean_view, sentences

# Units, longest first so that 个百分点 wins over 个 and 人次 over 人.
UNITS = (
    "平方公里", "平方千米", "平方米", "个百分点", "百分点", "公顷", "公里", "千米",
    "人次", "户次", "个月", "小时", "%", "‰",
    "个", "名", "人", "家", "元", "岁", "户", "支", "期", "项", "条", "亩", "年", "次",
    "倍", "位", "场", "种", "所", "座", "间", "处", "台", "辆", "件", "篇", "份", "套",
    "门", "节", "堂", "课", "吨", "天", "周", "轮", "批", "组", "队", "栋", "幢", "张", "部",
)
UNIT_KIND = {
    "%": "percent", "‰": "percent", "个百分点": "percent_point", "百分点": "percent_point",
    "元": "money", "岁": "age", "平方公里": "area", "平方千米": "area", "平方米": "area",
    "公顷": "area", "亩": "area", "年": "duration", "个月": "duration", "小时": "duration",
    "周": "duration", "倍": "ratio",
}
UNIT_CANONICAL = {"个百分点": "百分点", "平方千米": "平方公里", "‰": "‰"}

_NUM = r"\d+(?:,\d{3})+(?!\d)|\d+(?:\.\d+)?"
_CN = r"[零〇一二两三四五六七八九十百千万亿]+"
_UNIT = "|".join(re.escape(u) for u in UNITS)
MENTION = re.compile(
    rf"(?P<pct>百分之(?P<pct_num>{_NUM}|{_CN}))"
    rf"|(?P<ord>第(?P<ord_num>\d+|[一二三四五六七八九十]+)(?P<ord_unit>位|名)?)"
    rf"|(?P<num>{_NUM})(?P<in1>[余多])?(?P<mult>[十百千万亿]+)?(?P<in2>[余多])?"
    rf"(?:(?P<sep>[-~—至])(?P<high>{_NUM})(?P<high_mult>[万亿]+)?(?=(?:{_UNIT})))?"
    rf"(?P<unit>{_UNIT})?"
    rf"|(?P<cn>{_CN})(?P<cn_in>[余多])?(?P<cn_unit>{_UNIT})"
)

APPROX_BEFORE = ("将近", "接近", "大约", "大概", "近", "约")
MORE_BEFORE = ("不少于", "不低于", "不小于", "至少", "超过", "多于", "高于", "突破", "逾", "超")
LESS_BEFORE = ("不超过", "不足", "不到", "低于", "少于", "未满", "不满")
APPROX_AFTER = ("左右", "上下")
MORE_AFTER = ("以上", "多")
LESS_AFTER = ("以下", "以内")
NORM_WORDS = ("不少于", "不低于", "不小于", "至少")
TARGET_WORDS = ("预计", "计划到", "计划在", "计划于", "规划", "力争", "目标", "争取", "确保", "标准", "要求", "将达", "有望")
INCREASE_WORDS = ("净增", "增长", "增加", "提高", "提升", "上升", "增幅", "扩大", "翻番", "增")
DECREASE_WORDS = ("下降", "减少", "降低", "缩小", "缩减", "下滑", "减")
PER_UNIT = re.compile(r"每(?:[个名位户家支条项人]|\d)")
CLAUSE_BREAK = re.compile(r"[,，;；:：、。!?！？\n]")
OPEN_QUOTES, CLOSE_QUOTES = "“‘《「『\"", "”’》」』\""
PLACE_OF_RANK = ("全国", "全省", "全市", "全区", "全县", "世界", "全球", "国内", "省内", "市内")


@dataclass
class Mention:
    """A number found in a text, with everything the text itself says about it."""

    start: int
    end: int
    quote: str
    value: float
    value_high: float | None
    unit: str
    qualifier: str
    quantity_kind: str
    statistic: str
    extractor: str
    sentence: Sentence
    context: str
    subject: str = ""
    geography: str | None = None
    period: str | None = None
    notes: list[str] = field(default_factory=list)


def _ends_with_any(text: str, words: tuple[str, ...]) -> str | None:
    for word in words:
        if text.endswith(word):
            return word
    return None


def _starts_with_any(text: str, words: tuple[str, ...]) -> str | None:
    for word in words:
        if text.startswith(word):
            return word
    return None


def _inside_quotes(view: str, start: int, end: int, sentence: Sentence) -> bool:
    """True when the number stands inside “…” or 《…》 of its own sentence: a name or slogan."""
    before = view[sentence.start:start]
    after = view[end:sentence.end]
    for open_q, close_q in zip(OPEN_QUOTES, CLOSE_QUOTES):
        if open_q == close_q:
            continue
        last_open, last_close = before.rfind(open_q), before.rfind(close_q)
        if last_open > last_close and close_q in after:
            next_close = after.find(close_q)
            next_open = after.find(open_q)
            if next_open == -1 or next_close < next_open:
                return True
    return False


QUALIFIER_BEFORE = sorted(
    [(w, "approx") for w in APPROX_BEFORE] + [(w, "more_than") for w in MORE_BEFORE]
    + [(w, "less_than") for w in LESS_BEFORE],
    key=lambda pair: -len(pair[0]),
)


def _qualifier(view: str, start: int, end: int, internal: bool) -> str:
    before = view[max(0, start - 6):start].rstrip("了达到为在共计有")
    after = view[end:end + 3]
    if internal or _starts_with_any(after, MORE_AFTER):
        return "more_than"
    if _starts_with_any(after, APPROX_AFTER):
        return "approx"
    if _starts_with_any(after, LESS_AFTER):
        return "less_than"
    for word, label in QUALIFIER_BEFORE:  # longest first: 不少于 is not 少于
        if before.endswith(word):
            return label
    return "exact"


def _statistic(view: str, start: int, sentence: Sentence, clause_start: int) -> str:
    """level, increase, decrease or target, from the words of the clause before the number."""
    sentence_before = view[sentence.start:start]
    clause = view[clause_start:start]
    if any(word in clause for word in TARGET_WORDS) or _ends_with_any(
        clause.rstrip("了达到为在"), NORM_WORDS
    ):
        return "target"
    if PER_UNIT.search(sentence_before):
        return "target"
    # The change verb nearest the number; a verb followed by 至/到/为 reaches a level instead.
    best: tuple[int, str, str] | None = None
    for words, label in ((INCREASE_WORDS, "increase"), (DECREASE_WORDS, "decrease")):
        for word in words:
            pos = clause.rfind(word)
            if pos != -1 and (best is None or pos > best[0]):
                best = (pos, word, label)
    if best is None:
        return "level"
    pos, word, label = best
    tail = clause[pos + len(word):]
    if tail[:1] in ("至", "到", "为") or "新增" in clause[max(0, pos - 1):pos + 2]:
        return "level"
    # Between the verb and the number only qualifiers, 了, and other numbers of an enumeration.
    if re.fullmatch(r"[了约近达超过逾将近接大]*(?:[\d.%万亿余多个名家人]+[和、及与])*", tail):
        return label
    return "level"


def _clause_start(view: str, start: int, sentence: Sentence) -> int:
    """Start of the clause holding ``start``; a thousands separator does not end a clause."""
    pos = start
    while pos > sentence.start:
        char = view[pos - 1]
        if CLAUSE_BREAK.match(char) and not (
            char == "," and view[pos - 2:pos - 1].isdigit() and view[pos:pos + 3].isdigit()
        ):
            break
        pos -= 1
    return pos


def _rejects(view: str, match: re.Match[str], sentence: Sentence) -> str | None:
    """Why a number is not a metric, or None when it is one."""
    start, end = match.start(), match.end()
    prev = view[start - 1:start]
    nxt = view[end:end + 1]
    if re.match(r"[A-Za-z0-9+\-_/.#]", prev) or re.match(r"[A-Za-z0-9+_/#]", nxt):
        return "code"  # G20, ICP numbers, 1+X, A1
    if nxt in ("+", "＋") or prev in ("+", "＋"):
        return "label"
    if _inside_quotes(view, start, end, sentence):
        return "quoted name"
    if prev == "每":
        return "denominator"
    rest = view[end:end + 4]
    threshold = re.match(r"(?:及)?以[上下](?:的|[\u4e00-\u9fff])", rest)
    if threshold and not re.match(r"(?:及)?以[上下](?:[,，;；。、)]|$)", rest):
        # 职工30人以上非公企业, 35岁及以下的: the number only defines a category.
        if not threshold.group(0).endswith(("同", "和", "及", "或")):
            return "category threshold"
    if nxt in ("号", "號"):
        return "identifier"
    clause = view[_clause_start(view, start, sentence):start]
    if view[end - 1:end] == "条" and re.match(r"[,，;；。、]|$", nxt) and re.search(
        r"出台|印发|发布|制定|推出|实施", clause
    ):
        return "policy name"  # 出台物业党建12条: the title of a set of measures
    return None


def _kind_for(unit: str, bare_decimal: bool) -> str:
    if unit in UNIT_KIND:
        return UNIT_KIND[unit]
    if not unit:
        return "ratio" if bare_decimal else "count"
    return "count"


def extract(text: str, view: str | None = None) -> list[Mention]:
    """Every metric mention of ``text`` in text order. Never raises on any string."""
    view = clean_view(text) if view is None else view
    found: list[Mention] = []
    for sentence in sentences(view):
        segment = view[sentence.start:sentence.end]
        for match in MENTION.finditer(segment):
            mention = _mention(view, text, match, sentence)
            if mention is not None:
                found.append(mention)
    return found


class _Shifted:
    """A regex match seen at its position in the whole view instead of its sentence."""

    def __init__(self, match: re.Match[str], offset: int) -> None:
        self._m, self._o = match, offset

    def start(self, group: str | int = 0) -> int:
        return self._m.start(group) + self._o

    def end(self, group: str | int = 0) -> int:
        return self._m.end(group) + self._o

    def group(self, name: str | int = 0) -> str | None:
        return self._m.group(name)


def _mention(view: str, text: str, raw: re.Match[str], sentence: Sentence) -> Mention | None:
    match = _Shifted(raw, sentence.start)
    start, end = match.start(), match.end()
    if _rejects(view, match, sentence):  # type: ignore[arg-type]
        return None
    g = match.group
    internal = False
    value_high: float | None = None
    try:
        if g("pct"):
            value, unit, rule = parse_number(g("pct_num")), "%", "percent.written"
        elif g("ord"):
            return _rank(view, text, match, sentence)
        elif g("cn"):
            value = parse_number(g("cn"))
            unit, rule, internal = g("cn_unit"), "quantity.chinese", bool(g("cn_in"))
            if value < 10 or unit in ("年", "次", "天", "周", "批", "期", "位"):
                return None  # 一次、两次, 三年行动: words, not statistics
        else:
            value = parse_number(g("num") + (g("mult") or ""))
            unit = g("unit") or ""
            internal = bool(g("in1") or g("in2"))
            rule = "quantity.unit" if unit else "quantity.bare"
            if g("high"):
                value_high = parse_number(g("high") + (g("high_mult") or g("mult") or ""))
                rule = "quantity.range"
                if value_high <= value:
                    return None
    except NumeralError:
        return None
    digits = g("num") or ""
    bare_decimal = False
    if rule == "quantity.bare":
        before = view[max(0, start - 2):start]
        if g("mult") and not re.match(r"[年月日]", view[end:end + 1]):
            rule = "quantity.multiplier"
        elif "." in digits and re.search(r"(?:到|至|为|是|达)$", before):
            rule, bare_decimal = "ratio.decimal", True
        else:
            return None
    if unit == "年" and not g("mult") and "." not in digits and 1000 <= value <= 2100:
        return None  # a year used as a date
    if unit in ("年", "天", "周", "个月", "小时") and re.match(r"[前后底初末中]", view[end:end + 1]):
        return None  # 三年前, 2019年底: a point in time
    qualifier = _qualifier(view, start, end, internal)
    clause_start = _clause_start(view, start, sentence)
    kind = _kind_for(unit, bare_decimal)
    return Mention(
        start=start,
        end=end,
        quote=text[start:end],
        value=value,
        value_high=value_high,
        unit=UNIT_CANONICAL.get(unit, unit),
        qualifier=qualifier,
        quantity_kind=kind,
        statistic=_statistic(view, start, sentence, clause_start),
        extractor=rule,
        sentence=sentence,
        context=text[sentence.start:sentence.end].strip(),
    )


def _rank(view: str, text: str, match: _Shifted, sentence: Sentence) -> Mention | None:
    """第6位 after 居/位列/排名, or 全省第一: a place in a measured ranking."""
    start, end = match.start(), match.end()
    before = view[max(sentence.start, start - 12):start]
    after = view[end:end + 1]
    ranked = re.search(r"(?:居|位列|位居|排名|排在|列|名列)[^,，;；。、]{0,8}$", before)
    by_place = _ends_with_any(before.rstrip("城市"), PLACE_OF_RANK) or before.endswith("城市")
    if not (ranked or by_place):
        return None
    if after and re.match(r"[次届批期章条款部版季轮个]", after):
        return None
    try:
        value = parse_number(match.group("ord_num") or "")
    except NumeralError:
        return None
    return Mention(
        start=start,
        end=end,
        quote=text[start:end],
        value=value,
        value_high=None,
        unit=match.group("ord_unit") or "",
        qualifier="exact",
        quantity_kind="rank",
        statistic="level",
        extractor="rank.ordinal",
        sentence=sentence,
        context=text[sentence.start:sentence.end].strip(),
    )
