import pandas as pd

from dangjian.diff import diff_metrics, summarize
from tests.test_pipeline import _metric


def _docs(doc_id="a" * 64):
    return pd.DataFrame({"source_file": ["a.txt"], "doc_id": [doc_id]})


def test_added_removed_changed_and_causes():
    old = pd.DataFrame([_metric(metric_id="keep"), _metric(metric_id="gone"),
                        _metric(metric_id="edit", unit="名")])
    new = pd.DataFrame([_metric(metric_id="keep"), _metric(metric_id="edit", unit="个"),
                        _metric(metric_id="new")])
    changes = diff_metrics(old, new, _docs(), _docs())
    assert summarize(changes) == {"added": 1, "removed": 1, "changed": 1}
    assert {c["metric_id"] for c in changes} == {"gone", "edit", "new"}
    assert all(c["cause"] == "rules or catalog changed" for c in changes)
    text_changed = diff_metrics(old, new, _docs(), _docs("b" * 64))
    assert {c["cause"] for c in text_changed} == {"source text changed"}
    newer = new.assign(extractor_version="2")
    assert {c["cause"] for c in diff_metrics(old, newer, _docs(), _docs())} == {"extractor changed"}


def test_identical_releases_have_no_changes():
    rows = pd.DataFrame([_metric(metric_id=f"m{i}") for i in range(3)])
    assert diff_metrics(rows, rows.copy(), _docs(), _docs()) == []
