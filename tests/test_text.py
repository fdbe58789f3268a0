import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dangjian.text import clean, clean_view, script_of, sentences, to_simplified


def test_plain_text_needs_no_map():
    cleaned = clean("全市党员56.1万名。")
    assert cleaned.origin is None and cleaned.text == "全市党员56.1万名。"


@pytest.mark.parametrize("original, clean_text", [
    ("<p>党员<b>100</b>名</p>", "党员100名"),
    ("党员1\u200b00名", "党员100名"),
    ("党员100名\r\n", "党员100名\n"),
    ("党员&#49;00名&amp;", "党员100名&"),
    ("<script>var a = 1;</script>党员100名", "党员100名"),
])
def test_clean_removes_markup_and_maps_back(original, clean_text):
    cleaned = clean(original)
    assert cleaned.text == clean_text
    start = cleaned.text.index("100名")
    o_start, o_end = cleaned.span_in_original(start, start + 4)
    assert original[o_start] in "1&" and original[o_end - 1] == "名"


def test_view_keeps_length_and_simplifies():
    text = "寧波市黨員５６．１萬名\u3000（一）"
    view = clean_view(text)
    assert len(view) == len(text)
    assert view.startswith("宁波市党员56.1万名 ")


def test_to_simplified_keeps_length_even_for_phrases():
    for text in ("後來的發展", "乾隆年間", "著作權"):
        assert len(to_simplified(text)) == len(text)


def test_script_detection():
    assert script_of("寧波市黨員數量") == "traditional"
    assert script_of("宁波市党员数量") == "simplified"
    assert script_of("1234 abc") == "simplified"


def test_sentences_split_after_full_stops_and_lines():
    view = "第一句。第二句！\n第三行"
    spans = [view[s.start:s.end] for s in sentences(view)]
    assert spans == ["第一句。", "第二句！", "第三行"]


def test_positions_of_finds_every_mark_in_order():
    from dangjian.text import CLAUSE_MARKS, positions_of

    view = "全市党员1万名，其中女党员3000名；新建党组织12个、\n服务站5个。"
    assert positions_of(view, CLAUSE_MARKS) == [i for i, c in enumerate(view) if c in CLAUSE_MARKS]
    assert positions_of(view, "；") == [view.index("；")]
    assert positions_of("", CLAUSE_MARKS) == []


def _sentences_plainly(view: str) -> list[tuple[int, int]]:
    """The sentence rule written out: split after 。！？!? runs and at line breaks."""
    spans, start = [], 0
    for match in re.finditer(r"[。！？!?\n]+", view):
        if match.start() > start:
            spans.append((start, match.start() + (0 if match.group(0)[0] == "\n" else 1)))
        start = match.end()
    if start < len(view):
        spans.append((start, len(view)))
    return spans


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="党员1a。！？!?\n ", max_size=30))
def test_sentences_follow_the_rule(view):
    assert [(s.start, s.end) for s in sentences(view)] == _sentences_plainly(view)


def test_a_sentence_is_a_value_with_its_span():
    from dangjian.text import Sentence

    first = sentences("第一句。第二句")[0]
    assert first == Sentence(0, 4) and first.end == 4
    assert hash(first) == hash(Sentence(0, 4))
    with pytest.raises(AttributeError):
        first.start = 1  # a span does not change


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="，。：；（）！？０９ＡＺ\u3000\u00a0 a党,", max_size=30))
def test_full_width_to_ascii_replaces_each_character_as_the_table_says(text):
    from dangjian.text import _TABLE, _to_ascii

    assert _to_ascii(text) == text.translate(_TABLE)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["<", ">", "p", "/", "script", "style", "\u200b", "\ufeff", "\r",
                                 "党", "&amp;", " "]), max_size=12).map("".join))
def test_what_clean_removes_starts_with_a_character_it_looks_for_first(text):
    from dangjian.text import _MAY_REMOVE, _REMOVED

    if _REMOVED.search(text):
        assert _MAY_REMOVE.search(text)


def test_a_text_its_view_leaves_as_written_is_simplified():
    assert script_of("寧波市黨員", "寧波市黨員") == "simplified"  # nothing converted: nothing counts
    assert script_of("寧波市黨員", "宁波市党员") == "traditional"
