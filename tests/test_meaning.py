"""Subject, geography and period of mentions, on sentences written for these tests."""
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dangjian.extract import extract
from dangjian.meaning import DocumentContext, annotate


def annotated(text: str, home: str | None = "宁波市", published: date | None = date(2021, 7, 1)):
    return annotate(text, extract(text), DocumentContext(home, published))


def subject_of(text: str, quote: str, **context) -> str | None:
    for mention in annotated(text, **context):
        if text[mention.start:mention.end] == quote:
            return mention.subject
    raise AssertionError(f"{quote!r} not extracted from {text!r}: "
                         f"{[(text[m.start:m.end]) for m in annotated(text, **context)]}")


def geography_of(text: str, quote: str, **context) -> str | None:
    for mention in annotated(text, **context):
        if text[mention.start:mention.end] == quote:
            return mention.geography
    raise AssertionError(f"{quote!r} not extracted from {text!r}")


@pytest.mark.parametrize("text, quote, subject", [
    # after the measure word
    ("全县现有4521个基层党组织。", "4521个", "基层党组织"),
    ("今年共培训2300名入党积极分子。", "2300名", "入党积极分子"),
    # before the number, with the verb that governs it stripped
    ("全县建成党群服务中心45个。", "45个", "党群服务中心"),
    ("全县新增党员1200名。", "1200名", "新增党员"),  # a flow keeps its 新
    ("去年共选派驻村第一书记120名。", "120名", "驻村第一书记"),
    ("截至目前，全县共有农村党员1.2万名。", "1.2万名", "农村党员"),
    # the topic of a rate or average
    ("村书记平均年龄42.3岁。", "42.3岁", "村书记平均年龄"),
    ("全市党组织书记“一肩挑”率达95%。", "95%", "党组织书记一肩挑率"),
    # a modifier ending in 的 between the number and its noun
    ("建成150个覆盖城乡、功能完善的党群服务站点。", "150个", "党群服务站点"),
    # a role taken
    ("320名党员担任“网格长”。", "320名", "网格长"),
    # a comparison inherits the subject of the figure it compares
    ("社区书记平均年龄41岁，比上届下降4岁。", "4岁", "社区书记平均年龄"),
    # people counted by what they did
    ("疫情期间，860人主动请战，", "860人", "主动请战人数"),
    # a verb or an adverb jieba's dictionary tags as a noun ends the phrase (the lexicon
    # retags it)
    ("今年为3200名一线民警办理意外保险。", "3200名", "一线民警"),
    ("全县共为1200户困难家庭办理低保。", "1200户", "困难家庭"),
    ("全县56个软弱涣散村党组织全部完成整顿。", "56个", "软弱涣散村党组织"),
    # a domain term the dictionary splits into a noun and a verb (社会 + 组织)
    ("全区1500多家社会组织参与社区服务。", "1500多家", "社会组织"),
    # a time spent doing something: 过 (tagged a particle) is the verb, not part of the noun
    ("各支部每月固定一天过主题党日。", "一天", "主题党日"),
    # 地 alone is a noun too (地市), not only the adverbial particle
    ("全省11个地市全部建立党建联盟。", "11个", "地市"),
])
def test_subject(text, quote, subject):
    assert subject_of(text, quote) == subject


def test_enumeration_shares_the_closing_noun_with_each_modifier():
    text = "建成省级12个、市级85个党员教育基地。"
    assert subject_of(text, "12个") == "省级党员教育基地"
    assert subject_of(text, "85个") == "市级党员教育基地"


def test_respectively_pairs_items_with_numbers_in_order():
    text = "新发展党员、新建党组织分别增长12.5%和8.1%。"
    assert subject_of(text, "12.5%") == "新发展党员"
    assert subject_of(text, "8.1%") == "新建党组织"


def test_ranking_verb_ends_the_subject():
    assert subject_of("全市党建工作满意度居全省第2位。", "第2位") == "全市党建工作满意度".removeprefix("全市")


def test_a_number_with_no_noun_near_it_has_an_empty_subject():
    assert not subject_of("一是抓好5件事。", "5件") or subject_of("一是抓好5件事。", "5件") == "事"


@pytest.mark.parametrize("text, quote, geography", [
    ("全市共有党员56.1万名。", "56.1万名", "宁波市"),            # 全市 -> the document's place
    ("慈溪市建成党群服务中心320个。", "320个", "慈溪市"),          # a named place in the clause
    ("全国共有党员9671.2万名。", "9671.2万名", "全国"),
    ("今年新建党群服务中心45个。", "45个", "宁波市"),              # nothing said: the home place
])
def test_geography(text, quote, geography):
    assert geography_of(text, quote) == geography


def test_organs_act_they_do_not_place_a_number():
    text = "按照杭州市委部署，全区共建成示范点30个。"
    assert geography_of(text, "30个", home="海门区") == "海门区"


def test_honorifics_are_not_national_figures():
    text = "获评全国先进基层党组织的社区，带动周边建成8个党建联盟。"
    assert geography_of(text, "8个") == "宁波市"


def test_a_unit_introduced_under_its_county_stands_alone_later():
    text = ("走进浙江省安吉县天荒坪镇余村，道路整洁。\n"
            "余村去年接待游客90万人次，村集体收入达到1300万元。")
    assert geography_of(text, "90万人次", home="全国") == "余村"


def test_a_bare_unit_word_refers_back_to_the_last_such_place():
    text = ("南京市新街口商圈面积不大。\n"
            "近年来，商圈先后成立党组织120多个，服务党员3000多名。")
    assert geography_of(text, "120多个", home="南京市") == "南京市新街口商圈"


def test_a_national_paper_carries_a_story_place_through_its_paragraph():
    text = "甘肃省天水市秦州区开展整顿。从420个村党组织中确定了16个软弱涣散村党组织。"
    assert geography_of(text, "16个", home="全国") == "秦州区"


def test_places_counted_by_the_number_are_not_its_place():
    text = "该商圈分属玄武、秦淮、鼓楼3个行政区。"
    assert geography_of(text, "3个", home="南京市") == "南京市"


@pytest.mark.parametrize("text, quote, period", [
    ("经费从2012年的1.3亿元增加到去年的3.5亿元。", "1.3亿元", "2012"),
    ("经费从2012年的1.3亿元增加到去年的3.5亿元。", "3.5亿元", "2020"),
    ("截至2019年底，全市共有党员5万名。", "5万名", "2019"),
    ("目前全市共有党员5万名。", "5万名", None),
    ("今年新发展党员3000名。", "3000名", None),
])
def test_period(text, quote, period):
    for mention in annotated(text):
        if text[mention.start:mention.end] == quote:
            assert mention.period == period
            return
    raise AssertionError(quote)


def test_the_year_compared_with_is_not_the_period():
    text = "全区投入党建经费1.2亿元，比上年增长15%。"
    growth = [m for m in annotated(text) if text[m.start:m.end] == "15%"][0]
    assert growth.period is None and growth.subject == "党建经费"


def test_a_town_or_street_known_as_a_place_name_stands_alone():
    text = "良渚街道新建“红色驿站”36个。"
    assert geography_of(text, "36个", home="余杭区") == "良渚街道"
    assert subject_of(text, "36个", home="余杭区") == "新建红色驿站"


# --- the shortcuts of the rules give what the plain forms of the same rules give -----------


def _pieces(*pieces: str, max_size: int = 10):
    return st.lists(st.sampled_from(pieces), max_size=max_size).map("".join)


def _span(data, text: str) -> tuple[int, int]:
    start = data.draw(st.integers(0, len(text)))
    return start, data.draw(st.integers(start, len(text)))


@settings(max_examples=300, deadline=None)
@given(_pieces("街道", "镇", "乡", "社区", "村", "社", "街", "良渚", "大港", "石马", "杨家寺", "，", "的", "a"), st.data())
def test_local_units_are_tried_only_before_a_suffix(view, data):
    from dangjian.meaning import LOCAL_UNIT, _local_unit_matches

    start, end = _span(data, view)
    found = [(m.span(), m.groups()) for m in _local_unit_matches(view, start, end)]
    assert found == [(m.span(), m.groups()) for m in LOCAL_UNIT.finditer(view, start, end)]


@settings(max_examples=300, deadline=None)
@given(_pieces("该", "本", "整个", "商圈", "社区", "村", "街道", "镇", "园区", "片区", "内", "，", "。", "\n",
               "先后", "共", "党员", "整", "商"), st.data())
def test_an_anaphor_is_searched_from_the_first_unit_word(view, data):
    from dangjian.meaning import ANAPHOR, _anaphor

    start, end = _span(data, view)
    plain, quick = ANAPHOR.search(view, start, end), _anaphor(view, start, end)
    assert (plain and (plain.span(), plain.group(1))) == (quick and (quick.span(), quick.group(1)))


@settings(max_examples=300, deadline=None)
@given(_pieces("2019", "12345", "1", "年", "以来", "来", "起", "前", "代", "的", "，", max_size=8), st.data())
def test_the_last_year_is_the_last_year_pattern_match(view, data):
    from dangjian.meaning import YEAR, _last_year

    start, end = _span(data, view)
    matches = list(YEAR.finditer(view[start:end]))
    expected = (matches[-1].start() + start, matches[-1].group(1)) if matches else None
    assert _last_year(view, start, end) == expected


@settings(max_examples=300, deadline=None)
@given(_pieces("，", "、", "。", "；", "：", "\n", "党员", "1", max_size=12), st.data())
def test_the_opening_of_an_enumeration_skips_only_enumeration_commas(view, data):
    from dangjian.meaning import _SENTENCE_MARKS, _clause_start, _opening_in
    from dangjian.text import CLAUSE_MARKS, positions_of

    pos = data.draw(st.integers(0, len(view)))
    floor = data.draw(st.integers(0, pos))
    assert (_opening_in(view, positions_of(view, CLAUSE_MARKS), pos, floor)
            == _clause_start(view, pos, floor, _SENTENCE_MARKS))


@settings(max_examples=400, deadline=None)
@given(_pieces("分别", "有", "达到", "比", "上年", "前", "同期", "，", "党员", "组织", "的", "不少于", "1", "2.5",
               "%", "个", "名", "万", max_size=8))
def test_trailing_noise_and_numbers_are_stripped_as_the_plain_patterns_do(phrase):
    import re

    from dangjian.meaning import _TRAILING_NOISE_AT, _TRAILING_NUMBER, TRAILING_NOISE

    assert _TRAILING_NOISE_AT.sub("", phrase) == TRAILING_NOISE.sub("", phrase)
    assert _TRAILING_NUMBER.sub("", phrase) == re.sub(r"[\d.%]+[个名人家元万亿%]*$", "", phrase)


def test_places_are_looked_up_in_text_order():
    from dangjian.meaning import _inside_any, _last_ending
    from dangjian.places import Place

    places = [Place(0, 3, "宁波市", "宁波市", "330200"), Place(5, 9, "大港社区", "大港社区", ""),
              Place(12, 16, "石马社区", "石马社区", "")]
    assert _inside_any(places, 6) and not _inside_any(places, 4) and not _inside_any(places, 20)
    assert _last_ending(places, 3, "社区").name == "石马社区"
    assert _last_ending(places, 2, "社区").name == "大港社区"
    assert _last_ending(places, 1, "社区") is None
