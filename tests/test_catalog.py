import pytest

from schemas.catalog import OTHER, CatalogError, classify, load_catalog, parse_catalog


def test_catalog_entries_are_complete_and_unique():
    entries = load_catalog()
    assert len(entries) >= 10
    ids = [e.id for e in entries]
    assert len(ids) == len(set(ids))
    for entry in entries:
        assert entry.name_zh and entry.name_en and entry.description and entry.patterns


@pytest.mark.parametrize("subject, kind, expected", [
    ("基层党组织", "count", "grassroots_party_organisations"),
    ("企业党组织", "count", "grassroots_party_organisations"),
    ("党员", "count", "party_members"),
    ("党群服务中心", "count", "party_service_centres"),
    ("一肩挑率", "percent", "dual_role_rate"),
    ("村书记平均年龄", "age", "secretary_age"),
    ("基层党建经费补助", "money", "funding"),
    ("天气", "count", OTHER),
    ("", "count", OTHER),
])
def test_classify(subject, kind, expected):
    assert classify(subject, kind) == expected


def test_kinds_restrict_an_entry():
    # 经费 as a count of something is not money.
    assert classify("基层党建经费补助", "count") != "funding"


def test_first_match_wins_and_errors_are_named():
    text = """
[[metric]]
id = "a"
name_zh = "甲"
name_en = "A"
description = "first"
patterns = ["党员"]

[[metric]]
id = "b"
name_zh = "乙"
name_en = "B"
description = "second"
patterns = ["党"]
"""
    catalog = parse_catalog(text)
    assert classify("党员", "count", catalog) == "a"
    assert classify("党组织", "count", catalog) == "b"
    with pytest.raises(CatalogError, match="entry 2"):
        parse_catalog(text.replace('id = "b"', 'id = "a"'))
    with pytest.raises(CatalogError, match="entry 1"):
        parse_catalog('[[metric]]\nid = "x"\n')
