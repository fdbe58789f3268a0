import pandas as pd

from dangjian.diff import diff_releases, summarize
from dangjian.publish import publish
from tests.test_publish import _tables


def _release(output, tables, extractor_version="1", doc_id="a" * 64):
    tables["metrics"]["extractor_version"] = extractor_version
    tables["metrics"]["doc_id"] = doc_id
    tables["documents"]["doc_id"] = doc_id
    if doc_id != "a" * 64:  # ids hash the document text: another text, other ids
        tables["metrics"]["metric_id"] = "other-" + tables["metrics"]["metric_id"]
    return publish(output, tables, "c" * 64).path


def test_added_removed_changed_with_causes(tmp_path):
    old = _release(tmp_path, _tables(3))
    tables = _tables(3)
    tables["metrics"] = tables["metrics"].iloc[[0, 2]].reset_index(drop=True)
    tables["metrics"].loc[0, "unit"] = "名"
    extra = _tables(4)["metrics"].iloc[[3]]
    tables["metrics"] = pd.concat([tables["metrics"], extra], ignore_index=True)
    new = _release(tmp_path, tables)
    changes = diff_releases(old, new)
    assert summarize(changes) == {"added": 1, "removed": 1, "changed": 1}
    by_id = {c["metric_id"]: c for c in changes}
    assert by_id["m0"]["change"] == "changed" and by_id["m0"]["fields"] == "unit"
    assert by_id["m1"]["change"] == "removed" and by_id["m3"]["change"] == "added"
    assert {c["cause"] for c in changes} == {"rules or catalog changed"}


def test_cause_source_text_and_extractor(tmp_path):
    old = _release(tmp_path / "a", _tables(2))
    text_changed = _release(tmp_path / "b", _tables(2), doc_id="b" * 64)
    rules = _tables(2)
    rules["metrics"]["value"] = 12.0
    extractor = _release(tmp_path / "c", rules, extractor_version="2")
    assert {c["cause"] for c in diff_releases(old, text_changed)} == {"source text changed"}
    assert {c["cause"] for c in diff_releases(old, extractor)} == {"extractor changed"}


def test_identical_releases_have_no_changes(tmp_path):
    a = _release(tmp_path / "a", _tables(3))
    b = _release(tmp_path / "b", _tables(3))
    assert diff_releases(a, b) == []
