"""The pipeline over tests/bad_inputs/: raw files as scrapers, OCR and copy-paste deliver them.

The readable files all state the same three metrics (in UTF-8 with and without BOM, UTF-16,
GB18030, GBK, Big5 in traditional script, CRLF, full-width digits and spaces, zero-width
characters, HTML); the others must be rejected with a reason. Nothing may be lost.
"""
import os
from pathlib import Path

import pytest

from dangjian.corpus import Rejection, list_raw, read_document
from dangjian.pipeline import process_batch

BAD = Path(__file__).parent / "bad_inputs"
EXPECTED = [(32000.0, "个"), (561000.0, "名"), (400.0, "个")]
READABLE = ["big5 繁體.txt", "crlf.txt", "fullwidth.txt", "gb18030.txt", "gbk.txt", "html.txt",
            "utf16.txt", "utf8 bom.txt", "utf8.txt", "zero width.txt"]
REJECTED = {"binary.bin": "binary", "undecodable.txt": "undecodable", "whitespace.txt": "empty",
            "空文件.txt": "empty"}


@pytest.fixture(scope="module")
def result():
    return process_batch(BAD, list_raw(BAD), {})


def test_every_input_is_accounted_for(result):
    files = list_raw(BAD)
    accepted = {d["source_file"] for d in result.documents}
    rejected = {r["source_file"] for r in result.rejected}
    assert accepted | rejected == set(files) and not accepted & rejected
    assert len(files) == len(accepted) + len(rejected)
    assert sorted(accepted) == READABLE


def test_rejections_carry_their_reason(result):
    reasons = {r["source_file"]: r["reason"] for r in result.rejected}
    for name, reason in REJECTED.items():
        assert reasons[name].startswith(reason), (name, reasons[name])


@pytest.mark.parametrize("name", READABLE)
def test_same_metrics_whatever_the_form(result, name):
    def rows(source):
        return [m for m in result.metrics if m["source_file"] == source]

    assert [(m["value"], m["unit"]) for m in rows(name)] == EXPECTED
    assert [m["subject"] for m in rows(name)] == [m["subject"] for m in rows("utf8.txt")]
    assert all("党" in m["subject"] for m in rows(name))


@pytest.mark.parametrize("name", READABLE)
def test_offsets_point_into_the_decoded_original(result, name):
    doc = read_document(BAD, name)
    assert not isinstance(doc, Rejection)
    for m in (m for m in result.metrics if m["source_file"] == name):
        assert doc.text[m["char_start"]:m["char_end"]] == m["quote"]
        assert m["doc_id"] == doc.doc_id


def test_encodings_are_recorded(result):
    encodings = {d["source_file"]: d["encoding"] for d in result.documents}
    assert encodings["utf16.txt"] == "utf-16"
    assert encodings["gb18030.txt"] == "gb18030"
    assert encodings["big5 繁體.txt"].startswith(("big5", "cp950"))
    scripts = {d["source_file"]: d["script"] for d in result.documents}
    assert scripts["big5 繁體.txt"] == "traditional" and scripts["utf8.txt"] == "simplified"


def test_huge_file_is_rejected_without_reading(tmp_path):
    big = tmp_path / "huge.txt"
    with big.open("wb") as handle:  # sparse: 101 MB on paper, nothing on disk
        handle.truncate(101 * 1024 * 1024)
    item = read_document(tmp_path, "huge.txt")
    assert isinstance(item, Rejection) and item.reason.startswith("too_large")


def test_seed_in_gbk_and_big5_matches_its_utf8_original(tmp_path):
    from tests.conftest import RAW

    for name, encoding in (("000_165ad2e5e478a72b.txt", "gb18030"), ("002_bd67e46e571e682d.txt", "big5")):
        text = (RAW / name).read_text(encoding="utf-8")
        text = "".join(c for c in text if c.encode(encoding, errors="ignore"))
        (tmp_path / f"utf8-{name}").write_text(text, encoding="utf-8")
        (tmp_path / f"{encoding}-{name}").write_bytes(text.encode(encoding))
    rows = process_batch(tmp_path, sorted(os.listdir(tmp_path)), {}).metrics
    for name, encoding in (("000_165ad2e5e478a72b.txt", "gb18030"), ("002_bd67e46e571e682d.txt", "big5")):
        def triples(source):
            return [(m["value"], m["unit"], m["subject"], m["char_start"]) for m in rows
                    if m["source_file"] == source]
        assert triples(f"utf8-{name}") == triples(f"{encoding}-{name}")
        assert len(triples(f"utf8-{name}")) > 10
