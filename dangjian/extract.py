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
from bisect import bisect_left
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import combinations

import numpy as np

from dangjian.numerals import NumeralError, parse_number
from dangjian.text import CLAUSE_MARKS, Sentence, clean_view, positions_of, sentences

# Units, longest first so that 个百分点 wins over 个 and 人次 over 人.
UNITS = (
    "平方公里", "平方千米", "平方米", "个百分点", "百分点", "公顷", "公里", "千米",
    "人次", "户次", "个月", "小时", "周年", "周岁", "%", "‰",
    "个", "名", "人", "家", "元", "岁", "户", "支", "期", "项", "条", "亩", "年", "次",
    "倍", "位", "场", "种", "所", "座", "间", "处", "台", "辆", "件", "篇", "份", "套",
    "门", "节", "堂", "课", "吨", "天", "周", "轮", "批", "组", "队", "栋", "幢", "张", "部",
)
UNIT_KIND = {
    "%": "percent", "‰": "percent", "个百分点": "percent_point", "百分点": "percent_point",
    "元": "money", "岁": "age", "周岁": "age", "平方公里": "area", "平方千米": "area", "平方米": "area",
    "公顷": "area", "亩": "area", "年": "duration", "个月": "duration", "小时": "duration",
    "周": "duration", "倍": "ratio",
}
UNIT_CANONICAL = {"个百分点": "百分点", "平方千米": "平方公里", "周岁": "岁", "‰": "‰"}
#: Units of time: with a Chinese numeral they are mostly words (一次、三年行动), not statistics.
TIME_UNITS = ("年", "个月", "天", "周", "小时")

_NUM = r"\d+(?:,\d{3})+(?!\d)|\d+(?:\.\d+)?"
_CN = r"[零〇一二两三四五六七八九十百千万亿]+"
_CN_NUM = rf"{_CN}(?:点[零〇一二三四五六七八九]+)?"
_SEP = r"[-~—–〜至到]"  # 5-10户, 5～10户 (full-width ～ is ~ in the view), 5至10户, 5到10户
_UNIT = "|".join(re.escape(u) for u in UNITS)
MENTION = re.compile(
    rf"(?P<pct>百分之(?P<pct_num>{_NUM}|{_CN_NUM}))"
    rf"|(?P<prange>(?P<p_low>{_NUM})%{_SEP}(?P<p_high>{_NUM})%)"
    rf"|(?P<ord>第(?P<ord_num>\d+|[一二三四五六七八九十]+)(?P<ord_unit>位|名)?|(?P<first>首)位)"
    rf"|(?P<num>{_NUM})(?P<in1>[余多])?(?P<mult>[十百千万亿]+)?(?P<in2>[余多])?"
    rf"(?:(?P<sep>{_SEP})(?P<high>{_NUM})(?P<high_mult>[万亿]+)?(?=(?:{_UNIT})))?"
    rf"(?P<unit>{_UNIT})?"
    rf"|(?P<cn>{_CN_NUM})(?:(?P<cn_sep>[-~至到])(?P<cn_high>{_CN}))?"
    rf"(?P<cn_in>[余多])?(?P<cn_mult>[万亿]+)?(?P<cn_in2>[余多])?(?P<cn_unit>{_UNIT})"
)

APPROX_BEFORE = ("将近", "接近", "大约", "大概", "近", "约")
MORE_BEFORE = ("不少于", "不低于", "不小于", "至少", "超过", "多于", "高于", "突破", "逾", "超")
LESS_BEFORE = ("不超过", "不足", "不到", "低于", "少于", "未满", "不满")
APPROX_AFTER = ("左右", "上下")
MORE_AFTER = ("以上", "多")
LESS_AFTER = ("以下", "以内")
NORM_WORDS = ("不少于", "不低于", "不小于", "至少")
TARGET_WORDS = ("预计", "计划到", "计划在", "计划于", "规划", "力争", "目标", "争取", "确保", "标准", "要求", "将达", "有望")
#: Verbs that create, hold or change a countable stock: 建成两个基地, 选派三名干部.
COUNT_VERBS = (
    "建成", "建立", "建设", "成立", "组建", "打造", "设立", "新建", "创建", "培育", "选派", "派驻",
    "选树", "评选出", "评出", "获评", "荣获", "获得", "新增", "增加", "减少", "共有", "拥有", "累计",
    "共计", "开设", "开办", "举办", "召开", "配备", "配强", "招募", "吸纳", "培养", "推出", "命名",
    "认定", "入选", "涌现出", "达到", "达", "发展", "培训", "覆盖", "惠及", "带动", "组织", "帮助",
    "结对", "联系", "走访", "慰问", "完成", "投入", "筹集", "发放", "解决", "化解", "办理", "排查",
)
_COUNT_VERB_END = re.compile(rf"(?:{'|'.join(sorted(COUNT_VERBS, key=len, reverse=True))})$")
#: A plan or forecast: 今年将新建50个, 计划培训500名, 拟选派20名.
_FUTURE = re.compile(
    r"(?<![模虚])(?:将|拟|计划|准备)(?:在|到|于)?(?:今年|明年|年内|年底前?)?"
    r"(?:新建|建成|建设|建立|打造|培训|培育|发展|实现|完成|达到|新增|增加|提高|提升|选派|投入|覆盖|创建|推出|开展)"
)
#: A regular duty: 每月固定一天, 每季度至少开展一次, 每年走访不少于4次.
_PERIODIC_NORM = re.compile(r"每(?:年|月|周|季度?|天|日|半年|星期)[^,，;；。]{0,12}?(?:固定|至少|不少于|不低于|定期|必须|须)")
#: Directly before a small Chinese numeral in a norm: 固定一天, 至少开展一次.
_NORM_VERB_END = re.compile(r"(?:固定|至少|不少于|不低于|开展|召开|举办|组织|安排|走访|参加|进行|学习|讲授?|上门|入户)$")
#: 连续9年, 历时三个月: the number is a duration, even written in Chinese.
_DURATION_BEFORE = re.compile(r"(?:连续|历时|长达|持续|坚持了?|用了?|累计|先后)$")
#: 3年内, 近5年来, 三年前, 2019年底: a time frame or a point in time, not a measured duration.
_TIME_FRAME_AFTER = re.compile(r"[前后底初末中来间里内]|以来")
_QUALIFIER_WORDS = re.compile(r"(?:将近|接近|大约|大概|不少于|不低于|至少|超过|多于|突破|不足|不到|近|约|逾|超|了|共|都|均|各)+$")
INCREASE_WORDS = ("净增", "增长", "增加", "提高", "提升", "上升", "增幅", "扩大", "翻番", "增")
DECREASE_WORDS = ("下降", "减少", "降低", "缩小", "缩减", "下滑", "减")
PER_UNIT = re.compile(r"每(?:[个名位户家支条项人]|\d)")
OPEN_QUOTES, CLOSE_QUOTES = "“‘《「『\"", "”’》」』\""
#: How far the rules look back or ahead of a number inside its sentence. Words that decide a
#: reading stand close to the number; the bound keeps a long unpunctuated text (a table dumped
#: as one line) linear instead of quadratic.
WINDOW = 120
PLACE_OF_RANK = ("全国", "全省", "全市", "全区", "全县", "世界", "全球", "国内", "省内", "市内")


@dataclass(slots=True)
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


#: Quotation marks that open and close differently (a plain " cannot tell which it does).
QUOTE_PAIRS = tuple((o, c) for o, c in zip(OPEN_QUOTES, CLOSE_QUOTES) if o != c)
_OPENING = re.compile("[" + re.escape("".join(o for o, _ in QUOTE_PAIRS)) + "]")
#: The pairs whose opening mark a sentence holds, by the set of those marks: one search and one
#: look-up a sentence instead of a test for each pair.
_PAIRS_OPENED = {
    frozenset(marks): tuple(pair for pair in QUOTE_PAIRS if pair[0] in marks)
    for n in range(len(QUOTE_PAIRS) + 1)
    for marks in combinations([o for o, _ in QUOTE_PAIRS], n)
}


def _quotes_opened(view: str, start: int, end: int) -> tuple[tuple[str, str], ...]:
    """The pairs of QUOTE_PAIRS, in order, whose opening mark stands in ``view[start:end]``."""
    return _PAIRS_OPENED[frozenset(_OPENING.findall(view, start, end))]


def _inside_quotes(view: str, start: int, end: int, sentence: Sentence,
                   pairs: tuple[tuple[str, str], ...] = QUOTE_PAIRS) -> bool:
    """True when the number stands inside “…” or 《…》 of its own sentence: a name or slogan.

    ``pairs`` may leave out the marks whose opening one the sentence does not hold."""
    lo, hi = max(sentence.start, start - WINDOW), min(sentence.end, end + WINDOW)
    for open_q, close_q in pairs:
        last_open = view.rfind(open_q, lo, start)
        if last_open > view.rfind(close_q, lo, start):
            next_close = view.find(close_q, end, hi)
            if next_close != -1:
                next_open = view.find(open_q, end, hi)
                if next_open == -1 or next_close < next_open:
                    return True
    return False


QUALIFIER_BEFORE = sorted(
    [(w, "approx") for w in APPROX_BEFORE] + [(w, "more_than") for w in MORE_BEFORE]
    + [(w, "less_than") for w in LESS_BEFORE],
    key=lambda pair: -len(pair[0]),
)


#: The qualifier words by themselves, and their lengths longest first: a text ends with at most
#: one word of each length, so trying its endings longest first is trying the words longest first.
_QUALIFIER_OF = dict(QUALIFIER_BEFORE)
_QUALIFIER_LENGTHS = sorted({len(word) for word in _QUALIFIER_OF}, reverse=True)
#: Their last characters: a text that ends in none of them ends in no qualifier word.
_QUALIFIER_LAST = frozenset(word[-1] for word in _QUALIFIER_OF)


def _qualifier(view: str, start: int, end: int, internal: bool) -> str:
    """exact, approx, more_than or less_than from the words around the span (not inside it)."""
    after = view[end:end + 3]
    if internal or after.startswith(MORE_AFTER):
        return "more_than"
    if after.startswith(APPROX_AFTER):
        return "approx"
    if after.startswith(LESS_AFTER):
        return "less_than"
    raw_before = view[max(0, start - 6):start]
    before = raw_before.rstrip("了达到为在共计有")
    # 不到 must be read before 到 is stripped; with nothing stripped one reading is enough
    for candidate in (raw_before, before) if before != raw_before else (raw_before,):
        if candidate[-1:] not in _QUALIFIER_LAST:
            continue
        for length in _QUALIFIER_LENGTHS:  # longest first: 不少于 is not 少于
            if len(candidate) < length:
                continue
            word = candidate[-length:]
            label = _QUALIFIER_OF.get(word)
            if label is not None:
                if word == "近" and candidate.endswith(("最近", "附近")):
                    break
                return label
    return "exact"


_TARGET_WORD = re.compile("|".join(map(re.escape, TARGET_WORDS)))
_CHANGE_WORD = re.compile("|".join(map(re.escape, INCREASE_WORDS + DECREASE_WORDS)))
_CHANGE_TAIL = re.compile(r"[了约近达超过逾将近接大]*(?:[\d.%万亿余多个名家人]+[和、及与])*")


#: A target word, a plan or a periodic norm anywhere in a clause, in one search.
_TARGET_CLAUSE = re.compile(f"{_TARGET_WORD.pattern}|{_FUTURE.pattern}|{_PERIODIC_NORM.pattern}")


def _statistic(view: str, start: int, sentence: Sentence, clause_start: int) -> str:
    """level, increase, decrease or target, from the words of the clause before the number."""
    clause = view[clause_start:start]
    if _TARGET_CLAUSE.search(clause) or clause.rstrip("了达到为在").endswith(NORM_WORDS):
        return "target"
    lo = max(sentence.start, start - WINDOW)
    if view.find("每", lo, start) != -1 and _per_unit_norm(view[lo:start]):
        return "target"
    if not _CHANGE_WORD.search(clause):
        return "level"
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
    if _CHANGE_TAIL.fullmatch(tail):
        return label
    return "level"


def _per_unit_norm(sentence_before: str) -> bool:
    """每个村配备2名 is a norm; 平均每个支部有12名 and 每100个企业中有80个 are levels."""
    for match in PER_UNIT.finditer(sentence_before):
        if match.group(0)[-1].isdigit():
            continue  # 每100个: a denominator of a rate, the number that follows is a level
        if sentence_before[max(0, match.start() - 2):match.start()] in ("平均", "人均"):
            continue
        return True
    return False


def _clause_start(view: str, start: int, sentence: Sentence) -> int:
    """Start of the clause holding ``start``; a thousands separator does not end a clause."""
    limit = max(sentence.start, start - WINDOW)
    if start <= limit:
        return start
    breaks = positions_of(view, CLAUSE_MARKS)
    i = bisect_left(breaks, start) - 1
    while i >= 0 and (pos := breaks[i]) >= limit:
        if view[pos] == "," and view[pos - 1:pos].isdigit() and view[pos + 1:pos + 4].isdigit():
            i -= 1  # a thousands separator
            continue
        return pos + 1
    return limit


_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_CODE_BEFORE = frozenset(_ALNUM + "+-_/.#")
_CODE_AFTER = frozenset(_ALNUM + "+_/#")
_LIST_END = re.compile(r"[,，;；。、]|$")
_POLICY_VERB = re.compile(r"出台|印发|发布|制定|推出|实施")


def _rejects(view: str, match: re.Match[str], sentence: Sentence,
             quotes: tuple[tuple[str, str], ...] = QUOTE_PAIRS) -> str | None:
    """Why a number is not a metric, or None when it is one. ``quotes``: the quotation marks
    whose opening mark the sentence holds (no number stands inside the others)."""
    start, end = match.start(), match.end()
    prev = view[start - 1:start]
    nxt = view[end:end + 1]
    if prev in _CODE_BEFORE or nxt in _CODE_AFTER:
        return "code"  # G20, ICP numbers, 1+X, A1
    if nxt in ("+", "＋") or prev in ("+", "＋"):
        return "label"
    if quotes and _inside_quotes(view, start, end, sentence, quotes):
        return "quoted name"
    if prev == "每":
        return "denominator"
    if _is_category_threshold(view, match, sentence):
        return "category threshold"
    if nxt in ("号", "號"):
        return "identifier"
    # the clause is read only for the rare number of 条 that closes a list item
    if (view[end - 1:end] == "条" and _LIST_END.match(nxt)
            and _POLICY_VERB.search(view, _clause_start(view, start, sentence), start)):
        return "policy name"  # 出台物业党建12条: the title of a set of measures
    return None


_THRESHOLD = re.compile(r"(?:及)?以[上下](的|[\u4e00-\u9fff])")


def _is_category_threshold(view: str, match: re.Match[str], sentence: Sentence) -> bool:
    """职工30人以上非公企业, 35岁及以下的党员: the number only defines a category.

    A share (90%以上的村) and a count after a verb (培训300名以上党员) are metrics.
    """
    start, end = match.start(), match.end()
    threshold = _THRESHOLD.match(view, end, end + 4)
    if not threshold or threshold.group(0).endswith(("同", "和", "及", "或")):
        return False
    unit = match.group("unit") or match.group("cn_unit") or ""
    if unit in ("%", "‰", "个百分点", "百分点") or match.group("pct"):
        return False
    if threshold.group(1) == "的" or unit in ("岁", "周岁"):
        return True
    before = _QUALIFIER_WORDS.sub("", view[_clause_start(view, start, sentence):start])
    return not _COUNT_VERB_END.search(before)


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
    spans = sentences(view)
    index, sentence_end = -1, -1
    context, quotes, sentence = "", QUOTE_PAIRS, Sentence(0, 0)
    # One pass over the whole view: no match holds or looks at a character that ends a
    # sentence, so these are the matches of each sentence read as if it were cut out.
    for match in _MENTIONS.finditer(view):
        start = match.start()
        if start >= sentence_end:  # the first match of a sentence
            index += 1
            while spans[index].end <= start:
                index += 1
            sentence = spans[index]
            sentence_end = sentence.end
            context = text[sentence.start:sentence_end].strip()  # shared by its mentions
            quotes = _quotes_opened(view, sentence.start, sentence_end)
        mention = _mention(view, text, match, sentence, context, quotes)
        if mention is not None:
            found.append(mention)
    return found


#: The characters a mention can start with: a digit, 百 of 百分之, 第/首 of a rank, or a
#: Chinese numeral. MENTION behind a look-ahead for them: at most positions of a text the search
#: fails on that one test instead of trying every branch of the pattern.
_MENTIONS = re.compile(rf"(?=[\d百第首零〇一二两三四五六七八九十千万亿])(?:{MENTION.pattern})")


@dataclass(slots=True)
class _Reading:
    """What the characters of a match say: the number, its range, unit and internal 余/多."""

    value: float
    value_high: float | None
    unit: str
    rule: str
    internal: bool = False
    approx: bool = False


def _read_digits(match: re.Match[str]) -> _Reading | None:
    """56.1万名, 1,300, 5-10户, 3-5万人 (the multiplier of the upper end applies to both)."""
    g = match.group
    mult = g("mult") or ""
    value = parse_number(g("num") + mult)
    unit = g("unit") or ""
    internal = bool(g("in1") or g("in2"))
    if not g("high"):
        return _Reading(value, None, unit, "quantity.unit" if unit else "quantity.bare", internal)
    high_mult = g("high_mult") or mult
    value_high = parse_number(g("high") + high_mult)
    if g("high_mult") and not mult:
        widened = parse_number(g("num") + high_mult)
        value = widened if widened < value_high else value
    if value_high <= value:
        return None
    return _Reading(value, value_high, unit, "quantity.range", internal)


_TWO_DIGITS = re.compile(r"[一二两三四五六七八九]{2}")
_DIGIT_RUN = re.compile(r"[零〇一二两三四五六七八九]{2,}")


def _read_chinese(match: re.Match[str]) -> _Reading | None:
    """三千余人, 一百二十个, 三点五万名, 三至五个, 两三个 (an approximate range)."""
    g = match.group
    cn, mult, unit = g("cn") or "", g("cn_mult") or "", g("cn_unit") or ""
    internal = bool(g("cn_in") or g("cn_in2"))
    if g("cn_high"):
        value, value_high = parse_number(cn + mult), parse_number((g("cn_high") or "") + mult)
        if value_high <= value:
            return None
        return _Reading(value, value_high, unit, "quantity.chinese", internal)
    if _TWO_DIGITS.fullmatch(cn):
        low, high = parse_number(cn[0]), parse_number(cn[1])
        if high != low + 1:
            return None  # 三五成群 and the like
        scale = _scale(mult)
        return _Reading(low * scale, high * scale, unit, "quantity.chinese", internal, True)
    if _DIGIT_RUN.fullmatch(cn):
        return None  # 二〇二一年, 一二三: digits read one by one are a year or a code
    return _Reading(parse_number(cn + mult), None, unit, "quantity.chinese", internal)


def _scale(mult: str) -> float:
    """The factor of a run of multipliers (万亿 → 1e12); 1 for none."""
    return parse_number("1" + mult) if mult else 1.0


_NOT_A_COUNT_AFTER = frozenset("这那哪前后上下头每各某几数另同单首末第")
_EVERY = re.compile(r"每(?:年|月|周|季度?|天|日|半年|星期|个|名|位|户)")


def _chinese_in_context(view: str, start: int, reading: _Reading, sentence: Sentence,
                        clause_start: int) -> bool:
    """Whether a Chinese-numeral quantity is a statistic rather than a word of the language.

    Small Chinese numerals are mostly words (一次、两次, 一个人带出一群人, 四个意识, 三年行动),
    so below ten they count only where the grammar says a count is meant: right after a verb
    that creates or holds a stock (建成两个基地), inside a periodic norm (每月固定一天), or as a
    duration (连续五年). Time units need such a context at any size. ``clause_start``: where
    the number's clause starts (:func:`_clause_start`).
    """
    unit, value = reading.unit, reading.value
    clause = view[clause_start:start]
    # the clause without qualifiers is read by two rules that cannot both run: made for each
    if unit in TIME_UNITS and _DURATION_BEFORE.search(_QUALIFIER_WORDS.sub("", clause)):
        return True
    if view[start - 1:start] in _NOT_A_COUNT_AFTER or unit in ("批", "期", "周年"):
        return False
    if _NORM_VERB_END.search(clause) and _EVERY.search(clause):
        return True
    if unit in TIME_UNITS:
        return False
    if value >= 10:
        return unit not in ("次", "位")
    if value < 2:
        return False  # 一个: mostly the article "a", not a count
    stripped = _QUALIFIER_WORDS.sub("", clause)
    return bool(_COUNT_VERB_END.search(stripped)) or _enumerated_count(view, start, sentence)


_ITEM_END = re.compile(r"[,，;；。、和及]")
_ITEM_END_OR_END = re.compile(r"[,，;；。、和及]|$")
_PHRASE_END = re.compile(r"[,，;；:：]")
_ENDS_HAN = re.compile(r"[\u4e00-\u9fff]$")
_LONG_COUNT_VERB = re.compile("|".join(re.escape(verb) for verb in COUNT_VERBS if len(verb) > 1))


def _enumerated_count(view: str, start: int, sentence: Sentence) -> bool:
    """新建服务中心两个, 建成示范点十二个、基地两个: a noun and its count closing a clause
    (or an item of a list) that a count verb opens."""
    end = start + len(_ITEM_END.split(view[start:start + 8], maxsplit=1)[0])
    if not _ITEM_END_OR_END.match(view[end:end + 1]):
        return False
    before = view[max(sentence.start, start - 60):start]
    phrase = _PHRASE_END.split(before)[-1]
    items = phrase.split("、")
    return _ENDS_HAN.search(items[-1]) is not None and _LONG_COUNT_VERB.search(items[0]) is not None


_IS_BEFORE = re.compile(r"(?:到|至|为|是|达)$")


def _mention(
    view: str, text: str, match: re.Match[str], sentence: Sentence, context: str,
    quotes: tuple[tuple[str, str], ...] = QUOTE_PAIRS,
) -> Mention | None:
    if _rejects(view, match, sentence, quotes):
        return None
    start, end = match.span()
    clause_start = -1  # found once, when first needed
    g = match.group
    digits = g("num")  # the branches exclude one another: the common one is asked first
    if digits is None and g("ord"):
        return _rank(view, text, match, sentence, context)
    try:
        if digits is not None:
            reading: _Reading | None = _read_digits(match)
        elif g("pct"):
            value = parse_number(g("pct") or "")
            reading = _Reading(value, None, "%", "percent.written")
        elif g("prange"):
            low, high = parse_number(g("p_low") or ""), parse_number(g("p_high") or "")
            reading = _Reading(low, high, "%", "quantity.range") if high > low else None
        else:  # a Chinese numeral
            reading = _read_chinese(match)
            if reading is not None:
                clause_start = _clause_start(view, start, sentence)
                if not _chinese_in_context(view, start, reading, sentence, clause_start):
                    return None
    except NumeralError:
        return None
    if reading is None:
        return None
    digits = digits or ""
    bare_decimal = False
    if reading.rule == "quantity.bare":
        before = view[max(0, start - 2):start]
        if g("mult") and view[end:end + 1] not in ("年", "月", "日"):
            reading.rule = "quantity.multiplier"
        elif "." in digits and _IS_BEFORE.search(before):
            reading.rule, bare_decimal = "ratio.decimal", True
        else:
            return None
    if not _is_amount(view, start, end, reading, g("mult") or g("cn_mult"), digits):
        return None
    qualifier = "approx" if reading.approx else _qualifier(view, start, end, reading.internal)
    if clause_start < 0:
        clause_start = _clause_start(view, start, sentence)
    # positional: a dozen keyword arguments cost more than the rest of building a Mention
    return Mention(
        start, end, text[start:end], reading.value, reading.value_high,
        UNIT_CANONICAL.get(reading.unit, reading.unit),  # unit
        qualifier,
        _kind_for(reading.unit, bare_decimal),  # quantity_kind
        _statistic(view, start, sentence, clause_start),  # statistic
        reading.rule,  # extractor
        sentence, context,
    )


_FRAME_BEFORE = re.compile(r"(?:近|最近|过去|今后|未来|这)$")
_ANNIVERSARY_BEFORE = re.compile(r"(?:建党|建国|成立|诞辰)$")


def _is_amount(
    view: str, start: int, end: int, reading: _Reading, mult: str | None, digits: str
) -> bool:
    """False for numbers that name a time rather than measure something: 2019年, 三年前, 100周年."""
    unit = reading.unit
    if unit == "周年":
        return False  # 建党100周年: an anniversary
    if unit in ("岁", "周岁") and view[max(0, start - 2):start].endswith("满"):
        return False  # 年满18周岁: an eligibility threshold
    if unit in TIME_UNITS and _FRAME_BEFORE.search(view[max(0, start - 2):start]):
        return False  # 近3年, 过去五年: the time frame of other numbers
    if unit == "年" and _ANNIVERSARY_BEFORE.search(view[max(0, start - 2):start]):
        return False  # 建党100年: an anniversary, like 建党百年
    if unit == "年" and not mult and "." not in digits and 1000 <= reading.value <= 2100:
        return False  # a year used as a date
    if unit in TIME_UNITS and _TIME_FRAME_AFTER.match(view[end:end + 2]):
        return False  # 三年前, 2019年底, 近5年来, 3年内: a point in time or a time frame
    return True


_RANKED = re.compile(r"(?:居|位列|位居|排名|排在|列|名列)[^,，;；。、]{0,8}$")
_NOT_A_RANK_AFTER = re.compile(r"[次届批期章条款部版季轮个家所座支书线]")


def _rank(view: str, text: str, match: re.Match[str], sentence: Sentence, context: str) -> Mention | None:
    """第6位 after 居/位列/排名, or 全省第一: a place in a measured ranking."""
    start, end = match.start(), match.end()
    before = view[max(sentence.start, start - 12):start]
    after = view[end:end + 1]
    ranked = _RANKED.search(before)
    by_place = _ends_with_any(before.rstrip("城市"), PLACE_OF_RANK) or before.endswith("城市")
    if not (ranked or by_place):
        return None
    if after and _NOT_A_RANK_AFTER.match(after):
        return None  # 第二批, 全省第一家, 全市第一书记: an order of appearance or a title
    try:
        value = 1.0 if match.group("first") else parse_number(match.group("ord_num") or "")
    except NumeralError:
        return None
    return Mention(
        start=start,
        end=end,
        quote=text[start:end],
        value=value,
        value_high=None,
        unit="位" if match.group("first") else match.group("ord_unit") or "",
        qualifier="exact",
        quantity_kind="rank",
        statistic="level",
        extractor="rank.ordinal",
        sentence=sentence,
        context=context,
    )
