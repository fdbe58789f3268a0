"""verify_release: a release checked against its manifest and against the raw texts it came from."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from dangjian.corpus import list_raw
from dangjian.verify import (ReleaseNotFoundError, file_digest, unsafe_name_reason,
                             verify_folder, verify_release)
from tests.conftest import build_release


@pytest.fixture(scope="module")
def release_source(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("verify-src")
    build_release(root / "output", root / "raw", n_files=2)
    return root / "output", root / "raw"


@pytest.fixture
def release(release_source, tmp_path) -> tuple[Path, Path]:
    """A private copy a test may damage."""
    output, raw = release_source
    shutil.copytree(output, tmp_path / "output")
    shutil.copytree(raw, tmp_path / "raw")
    return tmp_path / "output", tmp_path / "raw"


def _folder(output: Path) -> Path:
    return output / "releases" / "1.0.0"


def _rewrite_manifest(output: Path, change) -> None:
    path = _folder(output) / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    change(manifest)
    path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")


def test_good_release_passes(release):
    output, raw = release
    report = verify_release(output, None, raw)
    assert report.ok, report.problems
    assert report.version == "1.0.0" and report.files_checked == 7  # 5 tables, card, package
    metrics = pq.read_table(_folder(output) / "metrics.parquet")
    assert report.rows_checked == metrics.num_rows > 0 and report.documents_checked == 2
    assert "ok" in report.summary()


def test_tampered_parquet_byte_fails(release):
    output, raw = release
    path = _folder(output) / "metrics.parquet"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    report = verify_release(output, "1.0.0", None)
    assert not report.ok
    assert any(p.startswith("metrics.parquet sha256") for p in report.problems)
    assert not any("bytes" in p for p in report.problems)  # same size, other bytes


def test_missing_file_fails(release):
    output, _ = release
    (_folder(output) / "rejected.parquet").unlink()
    report = verify_release(output, "1.0.0", None)
    assert report.problems == ["rejected.parquet is missing or not a regular file"]


def test_row_count_and_size_mismatch_fail(release):
    output, _ = release

    def change(manifest):
        manifest["files"]["documents.parquet"]["rows"] = 99
        manifest["files"]["changes.parquet"]["bytes"] += 1

    _rewrite_manifest(output, change)
    problems = verify_release(output, "1.0.0", None).problems
    assert any("documents.parquet has 2 rows, manifest says 99" == p for p in problems)
    assert any(p.startswith("changes.parquet has") and "bytes" in p for p in problems)


@pytest.mark.parametrize("name", ["../evil", "/etc/passwd", "a\\b", "sub/x.parquet", ".hidden",
                                  "C:evil", ""])
def test_unsafe_manifest_names_fail(release, name):
    output, _ = release
    _rewrite_manifest(output, lambda m: m["files"].update({name: {"sha256": "0" * 64, "bytes": 1}}))
    problems = verify_release(output, "1.0.0", None).problems
    assert len(problems) == 1 and "unsafe file" in problems[0]


def test_safe_names():
    assert unsafe_name_reason("metrics.parquet") is None
    assert unsafe_name_reason("report.html") is None
    assert unsafe_name_reason("..") and unsafe_name_reason("manifest.json")


def test_changed_raw_text_fails_doc_id_and_quote(release):
    output, raw = release
    metrics = pq.read_table(_folder(output) / "metrics.parquet").to_pylist()
    row = metrics[0]
    path = raw / row["source_file"]
    text = path.read_text(encoding="utf-8")
    digit = next(i for i in range(row["char_start"], row["char_end"]) if text[i].isdigit())
    other = "7" if text[digit] != "7" else "8"
    path.write_text(text[:digit] + other + text[digit + 1:], encoding="utf-8")
    problems = verify_release(output, "1.0.0", raw).problems
    assert any(p.startswith(f"raw file {row['source_file']} has sha256") and row["doc_id"] in p
               for p in problems)
    assert any(p.startswith(f"metric {row['metric_id']}:") for p in problems)


def test_wrong_quote_in_release_fails(release):
    """A release whose file is self-consistent (manifest updated) but whose quote is not in the
    text: only provenance can catch it."""
    output, raw = release
    path = _folder(output) / "metrics.parquet"
    table = pq.read_table(path)
    rows = table.to_pylist()
    rows[0]["quote"] = "X" * len(rows[0]["quote"])
    pq.write_table(type(table).from_pylist(rows, schema=table.schema), path)
    digest, size = file_digest(path)
    _rewrite_manifest(output, lambda m: m["files"]["metrics.parquet"].update(sha256=digest,
                                                                            bytes=size))
    assert verify_release(output, "1.0.0", None).ok
    problems = verify_release(output, "1.0.0", raw).problems
    assert len(problems) == 1 and problems[0].startswith(f"metric {rows[0]['metric_id']}:")


def test_wrong_doc_id_fails(release):
    output, raw = release
    path = _folder(output) / "metrics.parquet"
    table = pq.read_table(path)
    rows = table.to_pylist()
    rows[0]["doc_id"] = "f" * 64
    pq.write_table(type(table).from_pylist(rows, schema=table.schema), path)
    problems = verify_release(output, "1.0.0", raw).problems
    assert any("metrics say doc_id " + "f" * 64 in p for p in problems)


def test_missing_raw_file_fails(release):
    output, raw = release
    victim = list_raw(raw)[0]
    (raw / victim).unlink()
    problems = verify_release(output, "1.0.0", raw).problems
    assert any(p.startswith(f"raw file {victim} cannot be read") for p in problems)


def test_missing_release_raises(release, tmp_path):
    output, _ = release
    with pytest.raises(ReleaseNotFoundError, match="9.9.9"):
        verify_release(output, "9.9.9", None)
    with pytest.raises(ReleaseNotFoundError):
        verify_release(tmp_path / "empty", None, None)
    with pytest.raises(ValueError):
        verify_release(output, "../1.0.0", None)
    with pytest.raises(ReleaseNotFoundError):
        verify_folder(tmp_path)


def test_manifest_version_must_match_folder(release):
    output, _ = release
    _rewrite_manifest(output, lambda m: m.update(version="2.0.0"))
    assert verify_release(output, "1.0.0", None).problems == [
        "manifest says version '2.0.0', folder is '1.0.0'"]
