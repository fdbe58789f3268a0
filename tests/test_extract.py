"""The extraction rules, one table row per form a metric takes (sentences written for the tests).

Each positive row names one mention the sentence must give; negative rows say which numbers
must not come out. The rows follow tests/gold/GUIDELINES.md: span from the number to the end of
its unit, qualifiers outside, value with multipliers applied, unit simplified.
"""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dangjian.extract import Mention, extract

# sentence, quote, value, value_high, unit, qualifier, kind, statistic
POSITIVE = [
    # --- digits: Arabic, full-width, separators, decimals, multipliers -------------------------
    ("全县共有党员1234名。", "1234名", 1234, None, "名", "exact", "count", "level"),
    ("全区现有党员３２０３７名。", "３２０３７名", 32037, None, "名", "exact", "count", "level"),
    ("辖区内党员总数为1,300人。", "1,300人", 1300, None, "人", "exact", "count", "level"),
    ("该镇有基层党组织１，２０８个。", "１，２０８个", 1208, None, "个", "exact", "count", "level"),
    ("参训党员累计达2.6万人次。", "2.6万人次", 26000, None, "人次", "exact", "count", "level"),
    ("街道共有在册党员3千人。", "3千人", 3000, None, "人", "exact", "count", "level"),
    ("项目总投资1.3亿元。", "1.3亿元", 130000000, None, "元", "exact", "money", "level"),
    ("村级集体经济收入突破5000万元。", "5000万元", 50000000, None, "元", "more_than", "money", "level"),
    ("该市完成投资1.2万亿元。", "1.2万亿元", 1.2e12, None, "元", "exact", "money", "level"),
    ("全区党员总数达4.5万。", "4.5万", 45000, None, "", "exact", "count", "level"),
    ("全市共有黨員3萬名。", "3萬名", 30000, None, "名", "exact", "count", "level"),
    ("共設立服務站120個。", "120個", 120, None, "个", "exact", "count", "level"),
    ("筹集帮扶资金1.5億元。", "1.5億元", 150000000, None, "元", "exact", "money", "level"),
    # --- Chinese numerals ---------------------------------------------------------------------
    ("全镇共有党小组十二个。", "十二个", 12, None, "个", "exact", "count", "level"),
    ("全县有村级党组织一百二十个。", "一百二十个", 120, None, "个", "exact", "count", "level"),
    ("全区在册流动党员三千余人。", "三千余人", 3000, None, "人", "more_than", "count", "level"),
    ("全国共有党员三百多万名。", "三百多万名", 3000000, None, "名", "more_than", "count", "level"),
    ("全市有志愿者三点五万名。", "三点五万名", 35000, None, "名", "exact", "count", "level"),
    ("今年建成两个党建示范基地。", "两个", 2, None, "个", "exact", "count", "level"),
    ("县委选派三名干部驻村帮扶。", "三名", 3, None, "名", "exact", "count", "level"),
    ("过去一年,全市新建党群服务中心两个。", "两个", 2, None, "个", "exact", "count", "level"),
    ("全县建成示范点十五个、实训基地三个。", "三个", 3, None, "个", "exact", "count", "level"),
    ("各支部每月固定一天开展主题党日。", "一天", 1, None, "天", "exact", "count", "target"),
    ("党员每季度至少参加一次集中学习。", "一次", 1, None, "次", "exact", "count", "target"),
    ("该村连续五年被评为先进村。", "五年", 5, None, "年", "exact", "duration", "level"),
    ("党员参与率达到百分之九十。", "百分之九十", 90, None, "%", "exact", "percent", "level"),
    ("满意度为百分之九十五点五。", "百分之九十五点五", 95.5, None, "%", "exact", "percent", "level"),
    ("村级组织活动场所实现百分之百全覆盖。", "百分之百", 100, None, "%", "exact", "percent", "level"),
    ("全县共建成示范点十余个。", "十余个", 10, None, "个", "more_than", "count", "level"),
    ("流动党员比上年减少两个。", "两个", 2, None, "个", "exact", "count", "decrease"),
    ("每个社区配备两三名专职社工。", "两三名", 2, 3, "名", "approx", "count", "target"),
    ("今年建成三至五个示范点。", "三至五个", 3, 5, "个", "exact", "count", "level"),
    # --- ranges --------------------------------------------------------------------------------
    ("每名党员联系5-10户群众。", "5-10户", 5, 10, "户", "exact", "count", "target"),
    ("每个网格包含20至30户居民。", "20至30户", 20, 30, "户", "exact", "count", "target"),
    ("每个小组覆盖５～１０户家庭。", "５～１０户", 5, 10, "户", "exact", "count", "target"),
    ("小区党员联系8到12户居民。", "8到12户", 8, 12, "户", "exact", "count", "level"),
    ("项目可带动3-5万人就业。", "3-5万人", 30000, 50000, "人", "exact", "count", "level"),
    ("覆盖人口2万-3万人。", "2万-3万人", 20000, 30000, "人", "exact", "count", "level"),
    ("党员占比在15%-20%之间。", "15%-20%", 15, 20, "%", "exact", "percent", "level"),
    # --- qualifiers before and after -------------------------------------------------------------
    ("全县有近300个党支部。", "300个", 300, None, "个", "approx", "count", "level"),
    ("全县有约300个党支部。", "300个", 300, None, "个", "approx", "count", "level"),
    ("全县超过300个党支部完成换届。", "300个", 300, None, "个", "more_than", "count", "level"),
    ("全县逾300个党支部完成换届。", "300个", 300, None, "个", "more_than", "count", "level"),
    ("参加活动的党员达300名。", "300名", 300, None, "名", "exact", "count", "level"),
    ("该村党员不足30名。", "30名", 30, None, "名", "less_than", "count", "level"),
    ("该村党员不到30名。", "30名", 30, None, "名", "less_than", "count", "level"),
    ("全年培训党员500名以上。", "500名", 500, None, "名", "more_than", "count", "level"),
    ("全年培训500名以上党员。", "500名", 500, None, "名", "more_than", "count", "level"),
    ("每场活动吸引群众200人左右。", "200人", 200, None, "人", "approx", "count", "level"),
    ("全县共有党员3万余名。", "3万余名", 30000, None, "名", "more_than", "count", "level"),
    ("全县共有党员1200多名。", "1200多名", 1200, None, "名", "more_than", "count", "level"),
    ("累计投入资金1600多万元。", "1600多万元", 16000000, None, "元", "more_than", "money", "level"),
    ("村级组织运转经费不超过5万元。", "5万元", 50000, None, "元", "less_than", "money", "level"),
    # --- kinds ---------------------------------------------------------------------------------
    ("党组织覆盖率达99%。", "99%", 99, None, "%", "exact", "percent", "level"),
    ("党组织覆盖率达99％。", "99％", 99, None, "%", "exact", "percent", "level"),
    ("全市90%以上的村实现集体经济增收。", "90%", 90, None, "%", "more_than", "percent", "level"),
    ("党员发展质量比上年提高0.7个百分点。", "0.7个百分点", 0.7, None, "百分点", "exact", "percent_point", "increase"),
    ("村集体收入十年增长约20倍。", "20倍", 20, None, "倍", "approx", "ratio", "increase"),
    ("村书记平均年龄45.3岁。", "45.3岁", 45.3, None, "岁", "exact", "age", "level"),
    ("党员平均年龄52周岁。", "52周岁", 52, None, "岁", "exact", "age", "level"),
    ("辖区面积12.5平方公里。", "12.5平方公里", 12.5, None, "平方公里", "exact", "area", "level"),
    ("流转土地3000亩。", "3000亩", 3000, None, "亩", "exact", "area", "level"),
    ("建成党群服务中心2万平方米。", "2万平方米", 20000, None, "平方米", "exact", "area", "level"),
    ("该村连续9年开展志愿服务。", "9年", 9, None, "年", "exact", "duration", "level"),
    ("改造工程历时3个月。", "3个月", 3, None, "个月", "exact", "duration", "level"),
    ("该市党建指数居全国城市第6位。", "第6位", 6, None, "位", "exact", "rank", "level"),
    ("两项指标均居全省第一。", "第一", 1, None, "", "exact", "rank", "level"),
    ("综合考核排名全省第3。", "第3", 3, None, "", "exact", "rank", "level"),
    ("党建考核得分居全省首位。", "首位", 1, None, "位", "exact", "rank", "level"),
    ("该区综合排名全省第一位。", "第一位", 1, None, "位", "exact", "rank", "level"),
    ("党员年龄在18至35岁之间。", "18至35岁", 18, 35, "岁", "exact", "age", "level"),
    ("同比提高了2个百分点。", "2个百分点", 2, None, "百分点", "exact", "percent_point", "increase"),
    ("新增党员一千二百名。", "一千二百名", 1200, None, "名", "exact", "count", "level"),
    ("引进人才1.2万名，增长20%以上。", "20%", 20, None, "%", "more_than", "percent", "increase"),
    ("一肩挑比例为1.64。", "1.64", 1.64, None, "", "exact", "ratio", "level"),
    # --- changes, targets ----------------------------------------------------------------------
    ("全县党员人数净增1200名。", "1200名", 1200, None, "名", "exact", "count", "increase"),
    ("流动党员比上年减少300名。", "300名", 300, None, "名", "exact", "count", "decrease"),
    ("软弱涣散党组织数量下降了3.2%。", "3.2%", 3.2, None, "%", "exact", "percent", "decrease"),
    ("党员人数增加至300名。", "300名", 300, None, "名", "exact", "count", "level"),
    ("要求党员每年走访群众不少于4次。", "4次", 4, None, "次", "more_than", "count", "target"),
    ("预计明年村级收入增长50%。", "50%", 50, None, "%", "exact", "percent", "target"),
    ("今年将新建党群服务中心50个。", "50个", 50, None, "个", "exact", "count", "target"),
    ("计划培训村干部500名。", "500名", 500, None, "名", "exact", "count", "target"),
    ("每个村配备2名专职干部。", "2名", 2, None, "名", "exact", "count", "target"),
    ("平均每个支部有党员12名。", "12名", 12, None, "名", "exact", "count", "level"),
    ("每100个非公企业中有80个建立了党组织。", "80个", 80, None, "个", "exact", "count", "level"),
    # --- category thresholds are not metrics, the count after them is --------------------------
    ("全市有职工50人以上的非公企业1200家。", "1200家", 1200, None, "家", "exact", "count", "level"),
    ("35岁以下党员占比40%。", "40%", 40, None, "%", "exact", "percent", "level"),
]

# Enumerations: one mention per number, in text order.
ENUMERATIONS = [
    ("两地收入分别增长20.3%和24.7%。", [("20.3%", 20.3, "increase"), ("24.7%", 24.7, "increase")]),
    ("建成市级50个、县级300个、乡级1200个党建基地。",
     [("50个", 50, "level"), ("300个", 300, "level"), ("1200个", 1200, "level")]),
    ("全市1.2万名党员、300个党组织参与。", [("1.2万名", 12000, "level"), ("300个", 300, "level")]),
    ("全市有党员32,037名，党组织1,234个。", [("32,037名", 32037, "level"), ("1,234个", 1234, "level")]),
]

# sentence, a quote that must not come out (None: the sentence gives no mention at all)
NEGATIVE = [
    # dates
    ("2021年11月11日召开全市党建工作会议。", None),
    ("2019年以来，全市党建工作不断加强。", None),
    ("本文发布于2021-07-05。", None),
    ("2021.07.05发布。", None),
    ("上午9:30召开会议。", None),
    ("二〇二一年是建党百年。", None),
    ("2019-2021年，全市发展党员3000名。", "2019-2021年"),
    ("1-6月份全市新增党员300名。", "6"),
    ("三年前，这里还是一片荒地。", None),
    ("2020年底，全市完成换届。", None),
    ("近5年来，全市发展党员3000名。", "5年"),
    ("3年内建成100个示范点。", "3年"),
    ("全党上下庆祝建党100周年。", None),
    ("建党100年，我们走过了不平凡的道路。", None),
    ("近3年，全市发展党员300名。", "3年"),
    ("过去五年，全市党建工作成效明显。", None),
    ("全市有数十个支部参与。", None),
    ("首位党员代表上台发言。", None),
    ("严格执行中央八项规定精神。", None),
    ("党组织应有3名以上正式党员。", None),
    ("党龄50年以上的老党员获得纪念章。", None),
    # slogans and names with numbers
    ("坚决做到“两个维护”。", None),
    ("增强四个意识，做到两个维护。", None),
    ("全面推行“1+X”政策。", None),
    ("开展5+X主题党日活动。", None),
    ("81890党员服务中心成立于2001年。", None),
    ("实施3315计划。", None),
    ("推广“365社区服务工作法”。", None),
    ("推广“365社区服务工作法”，覆盖12个街道。", "365"),
    ("G20峰会期间，党员志愿者坚守一线。", None),
    ("严格落实三会一课制度。", None),
    ("实施三年行动计划。", None),
    ("印发《关于加强党建工作的十条意见》。", None),
    ("出台物业党建12条。", None),
    # ordinals
    ("第三届党代会召开。", None),
    ("第二批试点名单公布。", None),
    ("见本报第A1版。", None),
    ("一是加强组织领导，二是完善制度建设。", None),
    ("全省第一家楼宇党建联盟成立。", None),
    ("全市第一书记队伍不断壮大。", None),
    # identifiers
    ("咨询电话0574-87654321。", None),
    ("咨询电话13812345678。", None),
    ("浙ICP备12345678号。", None),
    ("全区共有5G基站300个。", "5"),
    # category thresholds and denominators
    ("职工30人以上非公企业应当建立党组织。", None),
    ("35岁及以下的党员参加培训。", None),
    ("年满18周岁的公民可以申请入党。", None),
    ("每100个非公企业中有80个建立了党组织。", "100个"),
    # idioms and fixed phrases
    ("百年大党风华正茂。", None),
    ("一年一度的党建述职评议会召开。", None),
    ("千条万条，落实第一条。", None),
    ("形成了一个人带出一群人的局面。", None),
    ("一个支部一个支部提升，一个阵地一个阵地巩固。", None),
    ("不等于仅仅参加一次、两次的活动。", None),
    ("每年围绕一个目标有序推进。", None),
    ("打造一批群众欢迎的服务项目。", None),
    ("千家万户都受益。", None),
    ("这两个支部成绩突出。", None),
    ("四方合力，三五成群。", None),
    # traditional script idioms stay idioms
    ("一個黨員就是一面旗幟。", None),
]


def _find(mentions: list[Mention], quote: str) -> Mention:
    hits = [m for m in mentions if m.quote == quote]
    assert hits, f"no mention {quote!r}; got {[m.quote for m in mentions]}"
    return hits[0]


@pytest.mark.parametrize(
    ("sentence", "quote", "value", "value_high", "unit", "qualifier", "kind", "statistic"), POSITIVE
)
def test_positive(sentence, quote, value, value_high, unit, qualifier, kind, statistic) -> None:
    mention = _find(extract(sentence), quote)
    got = (mention.value, mention.value_high, mention.unit, mention.qualifier,
           mention.quantity_kind, mention.statistic)
    assert got == (pytest.approx(value), None if value_high is None else pytest.approx(value_high),
                   unit, qualifier, kind, statistic)
    assert sentence[mention.start:mention.end] == quote


@pytest.mark.parametrize(("sentence", "expected"), ENUMERATIONS)
def test_enumeration_gives_one_mention_per_number(sentence, expected) -> None:
    mentions = extract(sentence)
    assert [(m.quote, m.value, m.statistic) for m in mentions] == [
        (quote, pytest.approx(value), statistic) for quote, value, statistic in expected
    ]


@pytest.mark.parametrize(("sentence", "forbidden"), NEGATIVE)
def test_negative(sentence: str, forbidden: str | None) -> None:
    quotes = [m.quote for m in extract(sentence)]
    if forbidden is None:
        assert quotes == []
    else:
        assert forbidden not in quotes and not any(q.startswith(forbidden) for q in quotes)


def test_offsets_are_on_the_original_text() -> None:
    """Traditional and full-width characters are read through the view but quoted as written."""
    text = "據統計，全市共有黨員５．６萬名，黨組織兩千餘個。"
    mentions = extract(text)
    assert [m.quote for m in mentions] == ["５．６萬名", "兩千餘個"]
    assert [m.value for m in mentions] == [56000, 2000]
    assert [m.unit for m in mentions] == ["名", "个"]
    assert all(text[m.start:m.end] == m.quote for m in mentions)


def test_mentions_in_text_order_across_sentences() -> None:
    text = "全市有党员300名。\n其中女党员120名！全市党组织50个"
    mentions = extract(text)
    assert [m.quote for m in mentions] == ["300名", "120名", "50个"]
    assert [m.start for m in mentions] == sorted(m.start for m in mentions)


FORM_ALPHABET = (
    "0123456789０１２３４５６７８９.,．，、;；:：。！？!?\n -~～—至到和及"
    "零〇一二两三四五六七八九十百千万亿萬億兩個第百分之点"
    "个名人家元岁户支期项条亩年次倍位%％平方公里米百分点月日号周"
    "近约超过逾达不足到以上下左右余多每共有增长下降减少提高预计将建成“”《》\"'+GXa"
)
KINDS = {"count", "money", "percent", "percent_point", "age", "area", "duration", "ratio", "rank", "other"}
QUALIFIERS = {"exact", "approx", "more_than", "less_than"}
STATISTICS = {"level", "increase", "decrease", "target"}


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=80), st.text(alphabet=FORM_ALPHABET, max_size=80)))
def test_extract_never_raises_and_quotes_match(text: str) -> None:
    mentions = extract(text)
    for m in mentions:
        assert 0 <= m.start < m.end <= len(text)
        assert text[m.start:m.end] == m.quote
        assert math.isfinite(m.value)
        assert m.value_high is None or m.value_high > m.value
        assert m.quantity_kind in KINDS
        assert m.qualifier in QUALIFIERS
        assert m.statistic in STATISTICS
    assert [m.start for m in mentions] == sorted(m.start for m in mentions)


# --- the shortcuts of the rules give what the plain forms of the same rules give -----------

SHORTCUT_ALPHABET = FORM_ALPHABET + "。！？!?\n“”‘’《》「」『』"


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=SHORTCUT_ALPHABET, max_size=60))
def test_one_pass_over_the_text_finds_each_sentences_matches(view: str) -> None:
    from dangjian.extract import _MENTIONS, MENTION
    from dangjian.text import sentences

    per_sentence = [(m.span(), m.groups()) for s in sentences(view)
                    for m in MENTION.finditer(view, s.start, s.end)]
    assert [(m.span(), m.groups()) for m in _MENTIONS.finditer(view)] == per_sentence


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="“”‘’《》「」『』党员1", max_size=12), st.data())
def test_quotes_opened_are_the_pairs_whose_opening_mark_stands_there(view: str, data) -> None:
    from dangjian.extract import QUOTE_PAIRS, _quotes_opened

    start = data.draw(st.integers(0, len(view)))
    end = data.draw(st.integers(start, len(view)))
    segment = view[start:end]
    assert _quotes_opened(view, start, end) == tuple(p for p in QUOTE_PAIRS if p[0] in segment)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="预计划到在于规力争目标确保要求将达有望拟准备新建成今年每月周固定至少须模虚党员", max_size=16))
def test_one_target_search_says_what_the_three_said(clause: str) -> None:
    from dangjian.extract import _FUTURE, _PERIODIC_NORM, _TARGET_CLAUSE, _TARGET_WORD

    separate = bool(_TARGET_WORD.search(clause) or _FUTURE.search(clause)
                    or _PERIODIC_NORM.search(clause))
    assert bool(_TARGET_CLAUSE.search(clause)) == separate
