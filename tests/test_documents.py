from datetime import date

import pytest

from dangjian.documents import MetadataError, describe, load_metadata
from dangjian.text import clean_view
from tests.conftest import RAW


def _describe(name, meta=None):
    text = (RAW / name).read_text(encoding="utf-8")
    return describe(text, clean_view(text), meta)


def test_title_date_and_publisher_from_the_text():
    info = _describe("001_fb00645a8e6ebd2d.txt")
    assert info.title == "让党建成为高质量发展的强引擎"
    assert info.publisher == "江海先锋"
    assert info.published == date(2021, 7, 5)
    assert info.script == "simplified"


def test_page_header_is_not_the_title():
    info = _describe("000_165ad2e5e478a72b.txt")
    assert info.title == "守护红色根脉 夯实锋领之基"
    assert info.published == date(2021, 11, 11)
    assert info.home == "宁波市"


def test_traditional_script_and_metadata_fill_gaps():
    info = _describe("002_bd67e46e571e682d.txt", {"publisher": "某网", "published": "2017-01-02"})
    assert info.script == "traditional"
    assert info.publisher == "某网"
    assert info.published == date(2017, 1, 2)


def test_metadata_file(tmp_path):
    assert load_metadata(tmp_path) == {}
    (tmp_path / "metadata.csv").write_text(
        "source_file,publisher,published\na.txt, 某报 ,2021-01-01\n", encoding="utf-8")
    assert load_metadata(tmp_path)["a.txt"]["publisher"] == "某报"
    (tmp_path / "metadata.csv").write_text("name,publisher\na.txt,x\n", encoding="utf-8")
    with pytest.raises(MetadataError, match="source_file"):
        load_metadata(tmp_path)


def test_every_seed_has_a_metadata_row():
    rows = load_metadata(RAW)
    assert sorted(rows) == sorted(p.name for p in RAW.glob("*.txt"))


def test_a_central_paper_writes_about_the_whole_country_unless_its_title_names_a_place():
    body = "南京市新街口商圈党建。南京市鼓楼区、南京市玄武区、南京市秦淮区联动。\n全国党员9671万名。"
    national = describe("团结奋斗\n\n" + body, clean_view("团结奋斗\n\n" + body), {"publisher": "人民日报"})
    assert national.home == "全国"
    local = describe(body, clean_view(body), {"publisher": "南京日报"})
    assert local.home == "南京市"
    titled = "南京：商圈党建有新招\n\n" + body
    assert describe(titled, clean_view(titled), {"publisher": "人民日报"}).home == "南京市"
