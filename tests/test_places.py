"""The gazetteer and the place finder."""
from dangjian.places import document_units, find_places, home_place


def names(text: str, **kwargs) -> list[str]:
    return [place.name for place in find_places(text, **kwargs)]


def test_full_and_short_names_with_lower_units():
    text = "宁波市北仑区大港社区和慈溪的党员"
    assert names(text) == ["宁波市", "北仑区大港社区", "慈溪"]


def test_short_county_names_need_their_city_in_the_text():
    assert names("海曙的党员") == []
    assert names("宁波市海曙的党员") == ["宁波市", "海曙"]


def test_units_introduced_under_a_full_name_may_stand_alone():
    text = "走进甘肃省天水市秦州区杨家寺镇石马村。石马村引进合作社6家。"
    units = document_units(text)
    assert "石马村" in units and units["石马村"].canonical == "秦州区"
    assert names(text, units=units)[-1] == "石马村"


def test_level_words_and_province_short_forms_make_no_units():
    units = document_units("上海市静安区江苏路街道，宁波市县乡三级联动")
    assert "县乡" not in units and "路街道" not in units


def test_home_place_is_the_city_most_named():
    text = "宁波市召开会议。宁波北仑区、宁波鄞州区和宁波海曙区介绍经验。杭州市派员参加。"
    assert home_place(text) == "宁波市"


def test_no_home_place_when_none_stands_out():
    assert home_place("党员活动") is None


def test_the_longest_names_of_a_whole_text_are_those_ending_inside_it():
    from dangjian.places import _all_longest, _longest_at

    text = "宁波市北仑区大港社区和慈溪的党员，杭州市西湖区"
    starts, found = _all_longest(text)
    whole = _longest_at(text, 0, len(text))
    assert whole == {s: found[s] for s in starts if s + len(found[s]) <= len(text)}
    whole.clear()  # a copy: the kept names are untouched
    assert _longest_at(text, 0, len(text)) and _longest_at(text, 3, 10) == {3: "北仑区"}


def test_unit_splits_are_kept_by_name():
    from dangjian.places import _unit_splits

    assert _unit_splits("秦州区杨家寺镇石马村") == (3, 7)
    assert _unit_splits("党员") == ()
    assert _unit_splits("秦州区杨家寺镇石马村") is _unit_splits("秦州区杨家寺镇石马村")
