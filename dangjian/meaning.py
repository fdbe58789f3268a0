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

import re
from bisect import bisect_left
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources

from dangjian.extract import Mention
from dangjian.places import NATIONWIDE, Place, document_cities, document_units, find_places
from dangjian.segmenter import jieba
from dangjian.text import CLAUSE_MARKS, clean_view, positions_of

PUNCT = r"[,，;；:：、。!?！？\n]"
LEADING_NOISE = re.compile(
    r"^(?:据统计|截至目前|截至|目前|其中|同时|此外|另外|与此同时|近年来|去年|今年|全年|上年|"
    r"当年|仅|共|全市|我市|本市|全区|我区|全县|全省|全国|市县两级|各地|累计|已经|已|\d{4}年(?:底|末|初)?的?)+"
)
#: What may end the phrase before a number without belonging to its subject (比…前: a comparison).
_TRAILING_WORDS = (
    "分别", "分别有", "分别为", "均", "各", "共有", "共", "有", "累计", "达到", "达", "为", "是", "在", "到", "至", "占到",
    "占", "超过", "超", "逾", "近", "约", "将近", "接近", "不足", "不到", "不少于", "不低于", "不超过", "不高于", "多于", "少于",
    "高于", "低于", "首次突破", "突破", "了", "的", "由", "从", "提高", "增长", "增加", "下降", "减少", "降低", "缩小", "进一步",
    r"比[^,，;；]{0,6}?(?:前|上届|上年|去年|同期)", "已经", "已", "总数", "总量", "规模", "人数达",
)
TRAILING_NOISE = re.compile(f"(?:{'|'.join(_TRAILING_WORDS)})+$")
#: TRAILING_NOISE behind a look-ahead for the first characters of its words: a search tries
#: the pattern only where one of them stands, not its fifty branches at every position.
_TRAILING_NOISE_AT = re.compile(
    "(?=[" + "".join(sorted({re.escape(word[0]) for word in _TRAILING_WORDS})) + "])"
    + TRAILING_NOISE.pattern
)
QUOTES = re.compile(r"[“”‘’\"'《》「」『』()（）]")
#: The patterns of the functions below, compiled once (re's own cache costs a lookup a call).
_DIGIT = re.compile(r"\d")
_PUNCT = re.compile(PUNCT)
_MODIFIER = re.compile(r"[^,，;；。！？:：\d]{1,30}?的(?=[\u4e00-\u9fff“])")
_AFTER_QUALIFIER = re.compile(r"^(?:以上|左右|上下|以下|以内|多|余)")
_LEADING_DE = re.compile(r"^的")
_NOUN_START = re.compile(r"[\u4e00-\u9fff“‘\"「]")
_QUOTED = re.compile(r"[“‘\"「]([^”’\"」]{1,16})[”’\"」]")
_ITEMS = re.compile(r"(?:[\u4e00-\u9fff]{2,12}、)+([\u4e00-\u9fff]{2,16})")
# [\d.%][\d.%]*, not [\d.%]+: a pattern that opens with a class is scanned for it quickly
_TRAILING_NUMBER = re.compile(r"[\d.%][\d.%]*[个名人家元万亿%]*$")
_JOINED = re.compile(r"(?:以上|左右|多|余)?[\u4e00-\u9fff]{0,4}[、和及与][\u4e00-\u9fff“”]{0,8}")
_ACTION = re.compile(r"(?:在|被|已|均|都)?([^,，;；。！？、\d]{2,12})(?=[,，;；。！？、])")
_ITEM_SEP = re.compile(r"[、和及与]")
# Parts of speech (jieba's tag set) that end a noun phrase read rightwards after a measure word.
AFTER_STOP_FLAGS = {"v", "p", "d", "u", "uj", "ul", "uz", "ud", "ug", "c", "r", "x", "m", "q", "y",
                    "ad"}
# Parts of speech that a noun phrase read leftwards from a number does not start with.
LEADING_DROP_FLAGS = {"r", "t", "ns", "d", "p", "c", "u", "uj", "ul", "x", "f", "v"}
NOMINAL_FLAGS = ("n", "vn", "j", "l", "b", "nz", "nt", "an", "zg", "i")
# Verbs that also stand inside compound nouns (行业联合党组织, 农民种植专业合作社, 在职党员).
COMPOUND_VERBS = {"服务", "管理", "培训", "教育", "建设", "志愿", "联系", "工作", "示范", "创业", "联合",
                  "种植", "养殖", "合作", "组织", "调解", "帮扶", "指导", "互助", "发展", "驻", "选调",
                  "补助", "监督", "宣讲", "巡察", "执法", "救援", "保障", "慰问", "共建", "扶贫",
                  "在职", "离退休", "退休", "流动", "入党"}
KEEP_PRONOUNS = {"其他", "其它"}
UNIT_WORDS = {"省", "市", "区", "县", "街道", "镇", "乡", "社区", "村"}
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


def _modifies_noun(tokens: tuple[tuple[str, str], ...], index: int) -> bool:
    """Whether the verbs from ``index`` on lead into a noun (行业联合党组织)."""
    for word, flag in tokens[index + 1:]:
        if flag != "v" or _is_verb(word, flag):
            return _nominal(flag)
    return False


def _noun_run(tokens: tuple[tuple[str, str], ...]) -> str:
    """The noun phrase that opens ``tokens``: up to the first verb, particle or adverb."""
    words: list[str] = []
    for index, (word, flag) in enumerate(tokens):
        following = tokens[index + 1][1] if index + 1 < len(tokens) else ""
        if _is_verb(word, flag):
            # a one-character verb before a one-character noun opens a compound (驻村工作队)
            if words or len(word) > 1 or len(tokens[index + 1][0] if following else "") != 1:
                break
        elif _DIGIT.search(word):
            break
        elif flag == "v" and not _modifies_noun(tokens, index):
            break  # 财务专员结对联系: compound-forming verbs only before a noun
        elif flag in AFTER_STOP_FLAGS and word not in COMPOUND_VERBS:
            if flag == "m" and not words and not _DIGIT.search(word) and (
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
    modifier = _MODIFIER.match(rest)
    if not modifier:
        return ""
    return _noun_run(_tags(QUOTES.sub("", _PUNCT.split(rest[modifier.end():], maxsplit=1)[0])))


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
    rest = _AFTER_QUALIFIER.sub("", rest)
    rest = _LEADING_DE.sub("", rest)
    if not rest or not _NOUN_START.match(rest):
        return ""
    clause = _PUNCT.split(rest, maxsplit=1)[0]
    quoted = _QUOTED.match(clause)
    if quoted:  # 3个“10分钟服务圈”, 344名“两新”组织党务工作者
        return quoted.group(1) + _noun_run(_tags(QUOTES.sub("", clause[quoted.end():])))
    plain = QUOTES.sub("", clause)
    tokens = _tags(plain)
    subject = _noun_run(tokens)
    if subject and not any(_nominal(flag) and flag != "b" for _, flag in _tags(subject)):
        subject = ""  # 860人主动请战: no noun follows the number
    if subject:
        items = _ITEMS.match(rest)
        if items and items.group(0).startswith(subject + "、"):
            return _noun_run(_tags(items.group(1))) or subject  # 机关事业单位、国有企业党员干部
        return _role(plain, subject) or subject
    if unit in DURATION_UNITS and tokens and tokens[0][1] in ("v", "ug"):
        # 持续20年开展党员志愿服务; 每月一天过主题党日 (过, tagged a particle, spends the time)
        return _noun_run(_tags(plain[len(tokens[0][0]):]))
    return ""


_KEPT_LEADING = KEEP_PRONOUNS | COMPOUND_VERBS  # words a subject may start with anyway
#: Any rank verb as it may stand in a phrase: a phrase without one needs no segmenting to cut it.
_RANK_VERB = re.compile("|".join(map(re.escape, sorted(RANK_VERBS))))


def _head(phrase: str) -> str:
    """The noun phrase that ends ``phrase``: what follows its last verb that takes an object,
    without leading pronouns, time words, places and adverbs (建立党组织 -> 党组织)."""
    tokens = _tags(phrase)
    cut = 0
    verbs_so_far = True  # whether every token up to ``index`` is a verb
    for index in range(len(tokens) - 1):
        word, flag = tokens[index]
        fresh = word.startswith("新") or (index and tokens[index - 1][0].startswith("新"))
        verbs_so_far = verbs_so_far and flag in ("v", "vn")
        opening = index > 0 and verbs_so_far  # 服务管理党员
        if ((opening or (flag == "v" and word not in COMPOUND_VERBS)) and len(word) > 1
                and not fresh and _nominal(tokens[index + 1][1])):
            cut = index + 1
    tokens = tokens[cut:]
    if len(tokens) > 2 and tokens[0][1] == "ns" and tokens[1][0] in UNIT_WORDS:
        tokens = tokens[2:]  # 良渚街道新建红色驿站
    while len(tokens) > 1 and ((tokens[0][1] in LEADING_DROP_FLAGS
                                and tokens[0][0] not in _KEPT_LEADING
                                and not tokens[0][0].startswith("新"))
                               or tokens[0][0] in ("之", "所有")):
        tokens = tokens[1:]
    words = [word for word, _ in tokens]
    while len(words) > 1 and len("".join(words)) > MAX_SUBJECT:
        words.pop(0)
    subject = "".join(words)
    last, flag = tokens[-1]
    return "" if _is_verb(last, flag) and len(last) > 1 else subject  # 每个网格配备: a predicate


def subject_before(view: str, start: int, clause_start: int) -> str:
    """The noun phrase that ends just before a number, with qualifiers and verbs stripped."""
    phrase = view[clause_start:start]
    at = 0
    # a word of jieba's is a piece of the phrase: without a rank verb in it, no word is one
    for word, _ in _tags(phrase) if _RANK_VERB.search(phrase) else ():
        if word in RANK_VERBS and at:  # 人才生态指数居全国城市第6位
            phrase = phrase[:at]
            break
        at += len(word)
    for marker in ("由", "从"):
        cut = phrase.find(marker)
        if cut > 0:
            phrase = phrase[:cut]
    phrase = QUOTES.sub("", phrase)
    phrase = _TRAILING_NUMBER.sub("", phrase)
    for _ in range(3):
        stripped = _TRAILING_NOISE_AT.sub("", phrase)
        if stripped == phrase:
            break  # nothing more to strip: the pattern is tried at every position, not cheap
        phrase = stripped
    phrase = LEADING_NOISE.sub("", phrase)
    for joint in ("的", "等"):  # 参与服务保障G20峰会的党员, 论坛、海外学子行等重点活动
        head, _, tail = phrase.rpartition(joint)
        if head and len(tail) >= 2:
            phrase = tail
    return _head(phrase) if phrase else ""


_SENTENCE_MARKS = CLAUSE_MARKS.replace("、", "")  # 、 joins the items of one clause


def _clause_start(view: str, pos: int, floor: int, marks: str = CLAUSE_MARKS) -> int:
    return _clause_in(positions_of(view, marks), pos, floor)


def _clause_in(breaks: list[int], pos: int, floor: int) -> int:
    """Start of the clause holding ``pos``, given the text's clause marks ``breaks`` (a loop
    over a text's numbers looks them up once, not once a number)."""
    at = bisect_left(breaks, pos) - 1
    return max(floor, breaks[at] + 1) if at >= 0 else floor


def _opening_in(view: str, breaks: list[int], pos: int, floor: int) -> int:
    """``_clause_start(view, pos, floor, _SENTENCE_MARKS)`` from the clause marks ``breaks``:
    the last of them before ``pos`` that is not a 、 (no second pass over the text for marks
    that differ by one)."""
    at = bisect_left(breaks, pos) - 1
    while at >= 0 and breaks[at] >= floor and view[breaks[at]] == "、":
        at -= 1
    return max(floor, breaks[at] + 1) if at >= 0 else floor


def _enumerations(view: str, mentions: list[Mention]) -> list[list[Mention]]:
    """Runs of mentions joined only by 、/和/及/与 and short modifiers (市级50个、县级300个)."""
    groups: list[list[Mention]] = []
    for mention in mentions:
        if groups:
            last = groups[-1][-1]
            between = view[last.end:mention.start]
            if (last.sentence == mention.sentence and len(between) <= 10
                    and _JOINED.fullmatch(between)):
                groups[-1].append(mention)
                continue
        groups.append([mention])
    return groups


GENERIC_MEASURES = {"人数", "数量", "总数", "总量", "比例", "占比", "规模"}
COMPARISON = re.compile(r"(?:比|较|同比|环比)")


def assign_subjects(view: str, mentions: list[Mention]) -> None:
    # the phrase after a number is asked for again as an enumeration's shared noun
    after = lru_cache(maxsize=None)(lambda end, unit: subject_after(view, end, unit))
    breaks = positions_of(view, CLAUSE_MARKS)
    previous: Mention | None = None
    for group in _enumerations(view, mentions):
        shared = after(group[-1].end, group[-1].unit)
        role = _group_role(view, group[-1].end) if len(group) > 1 else None
        if role:  # 4名个人、1个集体被评为全国抗疫先进
            for mention in group:
                noun = _noun_run(_tags(_after_text(view, mention.end)))
                mention.subject = _clean(role + noun if _tags(role)[-1][1] == "a" else role)
                previous = mention
            continue
        respective = None
        if len(group) > 1:  # only an enumeration can pair items with numbers
            first = group[0]
            opening = _opening_in(view, breaks, first.start, first.sentence.start)
            respective = _respectively(view, opening, first.start, len(group))
        for index, mention in enumerate(group):
            own_after = after(mention.end, mention.unit)
            # the phrase before is read only when the one after cannot settle the subject
            settled = respective or (own_after and not (len(group) > 1 and own_after == shared))
            # the clause is looked up only when a rule below reads it
            clause = -1 if settled else _clause_in(breaks, mention.start, mention.sentence.start)
            own_before = "" if settled else subject_before(view, mention.start, clause)
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
            if not subject and clause < 0:
                clause = _clause_in(breaks, mention.start, mention.sentence.start)
            # the mention before, when it is in the same sentence
            same = (previous if previous is not None and previous.sentence == mention.sentence
                    else None)
            if not subject and same and COMPARISON.match(view, clause):
                subject = same.subject or ""  # 平均年龄45.6岁，比选前下降5岁
            elif subject in GENERIC_MEASURES and same and same.subject:
                subject = same.subject + subject  # 大学生2680余名，人数比上届增长
            elif not subject and mention.unit in ("人", "名"):
                subject = _doers(view, mention.end)  # 1981人在“火线”提交入党申请
            elif not subject and mention.unit == "次":
                action = _tags(view[clause:mention.start])
                verbs = [w for w, f in action if f == "v" and len(w) > 1]
                subject = verbs[0] + "次数" if verbs else ""  # 每年走访不少于4次
            mention.subject = _clean(subject)
            previous = mention


def _after_text(view: str, end: int) -> str:
    return QUOTES.sub("", _PUNCT.split(view[end:end + 30], maxsplit=1)[0])


def _group_role(view: str, end: int) -> str | None:
    plain = _after_text(view, end)
    own = _noun_run(_tags(plain))
    return _role(plain, own) if own else None


def _doers(view: str, end: int) -> str:
    """``170人被发展入党`` -> 发展入党人数: people counted by what they did."""
    action = _ACTION.match(view[end:end + 16])
    if not action:
        return ""
    words = _tags(QUOTES.sub("", action.group(1)))
    if not any(flag in ("v", "vn") for _, flag in words):
        return ""
    return "".join(word for word, _ in words) + "人数"


def _respectively(view: str, clause: int, start: int, count: int) -> list[str] | None:
    """``A、B分别增长x和y``: the items before 分别, when they are as many as the numbers."""
    if count < 2:
        return None
    text = view[clause:start]
    cut = text.find("分别")
    if cut <= 0:
        return None
    items = [_head(item) for item in _ITEM_SEP.split(LEADING_NOISE.sub("", text[:cut])) if item]
    return items if len(items) == count and all(items) else None


# --------------------------------------------------------------------------------------------
# Geography
# --------------------------------------------------------------------------------------------

NATIONAL = re.compile(r"(?<![居列在])全国(?!城市|第|前|首|率先|先进|优秀|示范|文明|百强|十佳|劳模|模范|重点|"
                      r"典型|知名|一流|领先)")
SCOPED = re.compile(r"全市|我市|本市|全区|我区|本区|全县|我县|本县")
# A place followed by one of these names an organ that acts (南通市委部署), not where a number is.
ORGAN = re.compile(r"(?:市委|区委|县委|党委|委|政府|人大|政协|组织部)")
# ``商圈先后成立…``: a bare unit word opening a clause refers back to the last such place named.
ANAPHOR = re.compile(r"(?:(?<=[，,；;。：:！？!?\n])|^)(?:该|本|整个)?(商圈|社区|村|街道|镇|园区|片区)"
                     r"(?=[内里中]|[，,；;]|先后|共|已|累计|现有)", re.M)
#: The first characters of ANAPHOR's unit words. A match starts at most two characters (整个)
#: before one, and a one-character class is searched far faster than ANAPHOR.
_ANAPHOR_UNIT = re.compile(r"[商社村街镇园片]")
_ANAPHOR_LEAD = 2


def assign_geography(view: str, mentions: list[Mention], home: str | None) -> None:
    cities = document_cities(view)
    units = document_units(view, cities)
    everywhere = [p for p in find_places(view, cities=cities, units=units) if not _organ(view, p)]
    starts = [p.start for p in everywhere]
    local: dict[int, list[Place]] = {}
    breaks = positions_of(view, CLAUSE_MARKS)
    for mention in mentions:
        sentence = mention.sentence
        clause = _clause_in(breaks, mention.start, sentence.start)
        lo, hi = bisect_left(starts, sentence.start), bisect_left(starts, mention.start)
        places = [p for p in everywhere[lo:hi] if p.end <= mention.start and not _counted(view, p, mention)]
        if sentence.start not in local:
            known = everywhere[lo:bisect_left(starts, sentence.end)]
            local[sentence.start] = _local_units(view, sentence.start, sentence.end, known)
        standing = [p for p in local[sentence.start] if p.end <= mention.start]
        if standing:  # the gazetteer's places are in text order already
            places += standing
            places.sort(key=lambda place: place.start)
        in_clause = [p for p in places if p.start >= clause]
        # each test is made only when the ones before it fail: most numbers are settled early
        geography: str | None
        if in_clause:
            geography = in_clause[-1].name
        elif home and SCOPED.search(view, clause, mention.start):
            geography = home
        elif ((anaphor := _anaphor(view, sentence.start, mention.start))
              and (earlier := _last_ending(everywhere, hi, anaphor.group(1))) is not None):
            geography = earlier.name
        elif places:
            geography = places[-1].name
        elif NATIONAL.search(view, sentence.start, mention.start):
            geography = NATIONWIDE
        elif home in (None, NATIONWIDE):  # a national paper's stories: the story's own place
            paragraph = view.rfind("\n", 0, sentence.start) + 1
            before = [p for p in everywhere[bisect_left(starts, paragraph):lo]]
            geography = before[-1].name if before else home
        else:
            geography = home
        mention.geography = _canonical_short(geography, home)


def _last_ending(places: list[Place], hi: int, word: str) -> Place | None:
    """The last of ``places[:hi]`` whose name ends with ``word``, read from the end."""
    for index in range(hi - 1, -1, -1):
        if places[index].name.endswith(word):
            return places[index]
    return None


def _anaphor(view: str, start: int, end: int) -> re.Match[str] | None:
    """``ANAPHOR.search(view, start, end)``, begun where the first unit word can stand (its
    look-behind and ^ read the whole view, wherever the search begins)."""
    unit = _ANAPHOR_UNIT.search(view, start, end)
    if unit is None:
        return None
    return ANAPHOR.search(view, max(start, unit.start() - _ANAPHOR_LEAD), end)


LOCAL_UNIT = re.compile(r"([\u4e00-\u9fff]{2,3}?)(街道|镇|乡|社区|村)")
#: The first characters of LOCAL_UNIT's suffixes, and where a match can start before one: after
#: a stem of two or three characters.
_LOCAL_SUFFIX = re.compile(r"[街镇乡社村]")
_STEM_LENGTHS = (3, 2)


def _local_unit_matches(view: str, start: int, end: int) -> list[re.Match[str]]:
    """What ``LOCAL_UNIT.finditer(view, start, end)`` gives, tried only two or three characters
    before a suffix's first character (the pattern tried at every position costs more)."""
    tries = sorted({q - n for q in (m.start() for m in _LOCAL_SUFFIX.finditer(view, start + 2, end))
                    for n in _STEM_LENGTHS if q - n >= start})
    found: list[re.Match[str]] = []
    pos = start
    for at in tries:  # in order, each after the last match: the leftmost match each time
        if at >= pos and (match := LOCAL_UNIT.match(view, at, end)) is not None:
            found.append(match)
            pos = match.end()
    return found


def _inside_any(places: list[Place], pos: int) -> bool:
    """Whether ``pos`` falls inside one of ``places`` (in text order: the loop stops at the
    first that starts after it)."""
    for place in places:
        if place.start > pos:
            return False
        if pos < place.end:
            return True
    return False


def _local_units(view: str, start: int, end: int, known: list[Place]) -> list[Place]:
    """``良渚街道``: a lower unit standing alone whose stem jieba tags as a place name."""
    found = []
    for match in _local_unit_matches(view, start, end):
        if _inside_any(known, match.start()):
            continue
        stem = _tags(match.group(1))
        if len(stem) == 1 and stem[0][1] == "ns":
            found.append(Place(match.start(), match.end(), match.group(0), match.group(0), ""))
    return found


def _organ(view: str, place: Place) -> bool:
    return bool(ORGAN.match(view, place.end))


def _counted(view: str, place: Place, mention: Mention) -> bool:
    """A place inside the enumeration a number counts (玄武、秦淮、鼓楼3个行政区)."""
    return place.end == mention.start or view.startswith("、", place.end)


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
        # the sentence up to the number, read in place (offsets into the view)
        start, end = mention.sentence.start, mention.start
        found: tuple[int, str] | None = _last_year(view, start, end)
        for word, delta in RELATIVE_YEAR.items():
            pos = view.rfind(word, start, end)
            if pos > start and view[pos - 1] in "比较":
                continue  # 比上年增长15%: the year compared with, not the year of the figure
            if pos != -1 and published and (found is None or pos > found[0]):
                found = (pos, str(published.year + delta))
        pos = view.rfind("今年", start, end)
        if pos != -1 and (found is None or pos > found[0]):
            found = (pos, "")  # the time of writing: no period
        if found is not None:
            mention.period = found[1] or None
        else:
            mention.period = default


def _last_year(view: str, start: int, end: int) -> tuple[int, str] | None:
    """Offset and year of the last ``YEAR`` in ``view[start:end]``, as the last match of
    ``YEAR.finditer`` there. Its matches cannot overlap (年 is no digit) and each ends in 年:
    trying the pattern four characters before each 年, from the last, finds the same one
    without trying it at every position."""
    at = view.rfind("年", start + 4, end)
    while at != -1:
        match = YEAR.match(view, at - 4, end)
        if match is not None:
            return match.start(), match.group(1)
        at = view.rfind("年", start + 4, at)
    return None


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
