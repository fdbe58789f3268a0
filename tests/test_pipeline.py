import json

import pytest

from dangjian.pipeline import frame, metric_id, process_batch, validate
from tests.conftest import RAW


def _metric(**overrides):
    row = {
        "metric_id": "m1", "doc_id": "a" * 64, "source_file": "a.txt", "char_start": 3,
        "char_end": 6, "quote": "10个", "context": "共有10个党组织", "value": 10.0,
        "value_high": None, "unit": "个", "qualifier": "exact", "quantity_kind": "count",
        "statistic": "level", "subject": "党组织", "metric": "grassroots_party_organisations",
        "geography": None, "period": None, "extractor": "quantity.unit", "extractor_version": "1",
    }
    row.update(overrides)
    return row


def test_good_rows_pass_unchanged():
    good, quarantine = validate("metrics", frame("metrics", [_metric()]))
    assert quarantine == []
    assert len(good) == 1 and good.loc[0, "value"] == 10.0


def test_bad_rows_go_to_quarantine_with_check_and_reason():
    rows = [
        _metric(),
        _metric(metric_id="m2", qualifier="roughly"),
        _metric(metric_id="m3", char_start=5, char_end=5, quote=""),
        _metric(metric_id="m4", value_high=5.0),
    ]
    good, quarantine = validate("metrics", frame("metrics", rows))
    assert list(good["metric_id"]) == ["m1"]
    failed = {json.loads(q["row"])["metric_id"] for q in quarantine}
    assert failed == {"m2", "m3", "m4"}
    by_id = {json.loads(q["row"])["metric_id"]: q for q in quarantine}
    assert "isin" in by_id["m2"]["check"]
    assert by_id["m4"]["reason"] == "value_high must be above value"
    assert all(q["table"] == "metrics" and q["reason"] for q in quarantine)
    # and the quarantine rows themselves fit their table
    qgood, qbad = validate("quarantine", frame("quarantine", quarantine))
    assert len(qgood) == len(quarantine) and qbad == []


def test_nothing_is_lost_in_validation():
    rows = [_metric(metric_id=f"m{i}", qualifier="exact" if i % 3 else "bad") for i in range(30)]
    good, quarantine = validate("metrics", frame("metrics", rows))
    quarantined = {json.loads(q["row"])["metric_id"] for q in quarantine}
    assert len(good) + len(quarantined) == len(rows)


def test_metric_id_is_stable_and_span_specific():
    assert metric_id("a.txt", "a" * 64, 1, 4) == metric_id("a.txt", "a" * 64, 1, 4)
    assert metric_id("a.txt", "a" * 64, 1, 4) != metric_id("a.txt", "a" * 64, 1, 5)
    assert metric_id("a.txt", "a" * 64, 1, 4) != metric_id("copy.txt", "a" * 64, 1, 4)


def test_batch_accounts_for_every_file(tmp_path):
    (tmp_path / "ok.txt").write_text("全市共有党员1.2万名。", encoding="utf-8")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "binary.bin").write_bytes(bytes(range(256)) * 8)
    files = ["binary.bin", "empty.txt", "ok.txt"]
    result = process_batch(tmp_path, files, {})
    assert [d["source_file"] for d in result.documents] == ["ok.txt"]
    assert sorted(r["source_file"] for r in result.rejected) == ["binary.bin", "empty.txt"]
    assert len(result.documents) + len(result.rejected) == len(files)
    assert result.metrics[0]["value"] == 12000.0


def test_seed_rows_have_valid_provenance():
    files = sorted(p.name for p in RAW.glob("*.txt"))
    result = process_batch(RAW, files, {})
    assert not result.rejected
    texts = {f: (RAW / f).read_text(encoding="utf-8") for f in files}
    for row in result.metrics:
        assert texts[row["source_file"]][row["char_start"]:row["char_end"]] == row["quote"]
    good, quarantine = validate("metrics", frame("metrics", result.metrics))
    assert quarantine == [] and len(good) == len(result.metrics)


def test_a_table_wide_failure_is_a_clear_error_not_quarantine():
    from dangjian.pipeline import frame, validate

    broken = frame("rejected", [{"source_file": "a.txt", "reason": "empty"}]).drop(columns=["reason"])
    with pytest.raises(ValueError, match="rejected"):
        validate("rejected", broken)


def test_a_batch_reads_files_and_rejects_what_is_not_one_inside_raw(tmp_path):
    import os

    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "a.txt").write_text("全市共有党员1.2万名。", encoding="utf-8")
    (raw / "folder.txt").mkdir()
    (tmp_path / "secret.txt").write_text("党员100名", encoding="utf-8")
    os.symlink(tmp_path / "secret.txt", raw / "link.txt")
    result = process_batch(raw, ["a.txt", "folder.txt", "gone.txt", "link.txt"], {})
    assert [row["source_file"] for row in result.documents] == ["a.txt"]
    reasons = {row["source_file"]: row["reason"].split(":")[0] for row in result.rejected}
    assert reasons == {"folder.txt": "not_a_file", "gone.txt": "unreadable", "link.txt": "outside_raw"}


@pytest.mark.parametrize("path, root", [
    ("/srv/raw/a.txt", "/srv/raw"), ("/srv/raw", "/srv/raw"), ("/srv/rawer/a.txt", "/srv/raw"),
    ("/srv/a.txt", "/srv/raw"), ("/a.txt", "/"), ("/srv/raw/sub/b.txt", "/srv/raw"),
])
def test_a_real_path_is_within_raw_as_pathlib_says(path, root):
    from pathlib import Path

    from dangjian.corpus import _is_within

    assert _is_within(path, Path(root)) == Path(path).is_relative_to(Path(root))


def test_a_quarantined_row_with_a_missing_date_beside_a_present_one_is_kept_as_json():
    import pandas as pd

    def document(n, published, script="simplified"):
        return {"doc_id": str(n) * 64, "source_file": f"{n}.txt", "title": "标题",
                "publisher": None, "published": published, "url": None, "place": None,
                "encoding": "utf-8", "script": script, "n_chars": 5}

    # the column holds a date, so the missing one is NaT, which JSON cannot write as such
    rows = [document(1, pd.Timestamp("2024-01-02")), document(2, None, script="klingon")]
    good, quarantine = validate("documents", frame("documents", rows))
    assert list(good["source_file"]) == ["1.txt"]
    assert [json.loads(q["row"])["published"] for q in quarantine] == [None]
    assert quarantine[0]["source_file"] == "2.txt" and "script" in quarantine[0]["reason"]
