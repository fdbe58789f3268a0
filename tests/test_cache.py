import os
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

import pyarrow.parquet as pq

import dangjian.cache as cache_module
import dangjian.pipeline as pipeline
from dangjian.cache import ExtractionCache, rules_fingerprint
from dangjian.pipeline import stage_batch

TABLES = ("documents", "metrics", "rejected", "quarantine")


def _corpus(tmp_path, n=4):
    raw = tmp_path / "raw"
    raw.mkdir()
    for i in range(n):
        (raw / f"{i}.txt").write_text(f"全市共有党员{i + 1}万名，党组织{100 + i}个。", encoding="utf-8")
    return raw, sorted(p.name for p in raw.iterdir())


def _parts(workdir, index=0):
    return {t: (workdir / t / f"{index:08d}.parquet").read_bytes() for t in TABLES}


def _counting(monkeypatch):
    """The files extracted from here on."""
    extracted = []
    real = pipeline.document_rows
    monkeypatch.setattr(pipeline, "document_rows",
                        lambda doc, meta: extracted.append(doc.source_file) or real(doc, meta))
    return extracted


def test_a_second_run_extracts_nothing(tmp_path, monkeypatch):
    raw, files = _corpus(tmp_path)
    cache = ExtractionCache(tmp_path / "cache")
    first = stage_batch(raw, files, 0, tmp_path / "w1", {}, cache)
    extracted = _counting(monkeypatch)
    second = stage_batch(raw, files, 0, tmp_path / "w2", {}, cache)
    assert extracted == [] and first.cached == 0 and second.cached == len(files)
    assert _parts(tmp_path / "w2") == _parts(tmp_path / "w1")


def test_only_the_changed_file_is_extracted_again(tmp_path, monkeypatch):
    raw, files = _corpus(tmp_path)
    cache = ExtractionCache(tmp_path / "cache")
    stage_batch(raw, files, 0, tmp_path / "w1", {}, cache)
    (raw / "2.txt").write_text("全市共有党员9万名。", encoding="utf-8")
    extracted = _counting(monkeypatch)
    counts = stage_batch(raw, files, 0, tmp_path / "w2", {}, cache)
    assert extracted == ["2.txt"] and counts.cached == len(files) - 1
    # The kept rows of the others and the new rows make the parts a fresh run would make.
    stage_batch(raw, files, 0, tmp_path / "fresh", {}, None)
    assert _parts(tmp_path / "w2") == _parts(tmp_path / "fresh")
    metrics = pq.read_table(tmp_path / "w2" / "metrics" / "00000000.parquet").to_pylist()
    assert [m["value"] for m in metrics if m["source_file"] == "2.txt"] == [90000.0]


def test_kept_quarantine_rows_follow_their_document(tmp_path, monkeypatch):
    raw, files = _corpus(tmp_path)
    real = pipeline.metric_row

    def broken(doc, m):  # a rule that gives 1.txt a row its table refuses
        row = real(doc, m)
        return {**row, "value": -1.0} if doc.source_file == "1.txt" else row

    monkeypatch.setattr(pipeline, "metric_row", broken)
    cache = ExtractionCache(tmp_path / "cache")
    first = stage_batch(raw, files, 0, tmp_path / "w1", {}, cache)
    assert first.quarantined > 0
    (raw / "3.txt").write_text("全市共有党员7万名。", encoding="utf-8")
    again = stage_batch(raw, files, 0, tmp_path / "w2", {}, cache)
    fresh = stage_batch(raw, files, 0, tmp_path / "fresh", {}, None)
    assert again.cached == len(files) - 1
    assert (again.quarantined, again.quarantine_reasons) == (fresh.quarantined,
                                                             fresh.quarantine_reasons)
    assert _parts(tmp_path / "w2") == _parts(tmp_path / "fresh")


def test_metadata_change_invalidates_that_document(tmp_path):
    raw, files = _corpus(tmp_path)
    cache = ExtractionCache(tmp_path / "cache")
    stage_batch(raw, files, 0, tmp_path / "w1", {}, cache)
    counts = stage_batch(raw, files, 0, tmp_path / "w2", {"1.txt": {"publisher": "某报"}}, cache)
    assert counts.cached == len(files) - 1


def test_a_document_moved_to_another_batch_keeps_its_rows(tmp_path, monkeypatch):
    raw, files = _corpus(tmp_path, n=6)
    cache = ExtractionCache(tmp_path / "cache")
    stage_batch(raw, files[:3], 0, tmp_path / "w1", {}, cache)
    stage_batch(raw, files[3:], 1, tmp_path / "w1", {}, cache)
    extracted = _counting(monkeypatch)
    counts = stage_batch(raw, files[2:5], 0, tmp_path / "w2", {}, cache)  # from both batches
    assert extracted == [] and counts.cached == 3


def test_a_lost_kept_batch_means_extracting_again(tmp_path, monkeypatch):
    import shutil

    raw, files = _corpus(tmp_path)
    cache = ExtractionCache(tmp_path / "cache")
    stage_batch(raw, files, 0, tmp_path / "w1", {}, cache)
    shutil.rmtree(cache.folder / "batches")
    (raw / "0.txt").write_text("全市共有党员5万名。", encoding="utf-8")
    extracted = _counting(monkeypatch)
    counts = stage_batch(raw, files, 0, tmp_path / "w2", {}, cache)
    assert sorted(extracted) == files and counts.cached == 0


def test_new_rules_start_a_new_cache(tmp_path, monkeypatch):
    raw, files = _corpus(tmp_path)
    stage_batch(raw, files, 0, tmp_path / "w1", {}, ExtractionCache(tmp_path / "cache"))
    monkeypatch.setattr(cache_module, "rules_fingerprint", lambda: "f" * 64)
    fresh = ExtractionCache(tmp_path / "cache")
    assert stage_batch(raw, files, 0, tmp_path / "w2", {}, fresh).cached == 0
    fresh.prune()
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [fresh.folder.name]


def test_fingerprint_follows_the_extractor_version(monkeypatch):
    before = rules_fingerprint()
    rules_fingerprint.cache_clear()
    monkeypatch.setattr(cache_module, "EXTRACTOR_VERSION", "999.0.0")
    try:
        assert rules_fingerprint() != before
    finally:
        rules_fingerprint.cache_clear()


def test_unchanged_batches_reuse_their_validated_parts(tmp_path):
    raw, files = _corpus(tmp_path, n=6)
    cache = ExtractionCache(tmp_path / "cache")
    first, second = tmp_path / "w1", tmp_path / "w2"
    a = [stage_batch(raw, files[i:i + 3], i // 3, first, {}, cache) for i in (0, 3)]
    (raw / files[4]).write_text("全市共有党员7万名。", encoding="utf-8")
    b = [stage_batch(raw, files[i:i + 3], i // 3, second, {}, cache) for i in (0, 3)]
    assert [c.cached for c in a] == [0, 0]
    assert b[0].cached == 3 and b[0].metrics == a[0].metrics  # whole batch reused
    assert b[1].cached == 2  # the changed batch: two documents from their kept batch
    assert _parts(first) == _parts(second)


def test_batch_key_from_known_digests_equals_the_key_that_reads_the_files(tmp_path):
    from dangjian.corpus import file_digests

    raw, files = _corpus(tmp_path, n=3)
    cache = ExtractionCache(tmp_path / "cache")
    key = cache.batch_key(raw, files, {})
    assert key is not None and key == cache.batch_key(raw, files, {}, file_digests(raw, files))
    assert cache.batch_key(raw, files, {files[0]: {"publisher": "某报"}}) != key
    assert cache.batch_key(raw, [*files, "gone.txt"], {}) is None


def test_batch_key_trusts_the_scan_for_plain_files_and_checks_a_link_again(tmp_path,
                                                                           monkeypatch):
    from dangjian.corpus import scan_files

    raw, files = _corpus(tmp_path, n=3)
    (raw / "link.txt").symlink_to(raw / files[0])
    cache = ExtractionCache(tmp_path / "cache")
    scan = scan_files(raw, [*files, "link.txt"])
    assert scan.plain == frozenset(files)
    key = cache.batch_key(raw, files, {}, scan.digests)
    looked: list[str] = []
    real = cache_module.os.lstat
    monkeypatch.setattr(cache_module.os, "lstat", lambda path: looked.append(path) or real(path))
    assert cache.batch_key(raw, files, {}, scan.digests, scan.plain) == key and looked == []
    # A link is looked at again, and its batch is never keyed (it goes through the full checks).
    assert cache.batch_key(raw, [*files, "link.txt"], {}, scan.digests, scan.plain) is None
    assert looked == [os.path.join(raw, "link.txt")]


def test_a_worker_keys_its_batch_from_the_scan_and_keeps_it_under_the_flows_key(tmp_path,
                                                                               monkeypatch):
    """``stage_files`` as the flow calls it, with the scan's digests and plain files: the batch
    is kept under the key the flow looks up, and keying it again costs no system call a file."""
    from dangjian.corpus import scan_files

    raw, files = _corpus(tmp_path, n=3)
    scan = scan_files(raw, files)
    cache_dir = tmp_path / "cache"
    args = (str(raw), files, 0, str(tmp_path / "w1"), str(cache_dir), scan.digests,
            sorted(scan.plain))
    assert pipeline.stage_files(*args).cached == 0
    key = ExtractionCache(cache_dir).batch_key(raw, files, {}, scan.digests, scan.plain)
    assert ExtractionCache(cache_dir).reuse_batch(key, tmp_path / "w2", 0) is not None
    looked: list[str] = []
    real = cache_module.os.lstat
    monkeypatch.setattr(cache_module.os, "lstat", lambda path: looked.append(path) or real(path))
    again = pipeline.stage_files(str(raw), files, 0, str(tmp_path / "w3"), *args[4:])
    assert again.cached == len(files)
    assert not {os.fspath(p) for p in looked} & {os.path.join(raw, f) for f in files}


def test_many_documents_are_located_in_one_go(tmp_path):
    cache = ExtractionCache(tmp_path / "cache")
    cache.remember([f"k{i}" for i in range(1200)], "b1")
    cache.remember(["k7"], "b2")
    found = cache.locate([f"k{i}" for i in range(1200)] + ["missing"])
    assert len(found) == 1200 and "missing" not in found
    assert found["k1199"] == "b1" and found["k7"] == "b2"


def test_an_unreadable_index_is_a_miss_not_a_failed_run(tmp_path):
    raw, files = _corpus(tmp_path)
    cache = ExtractionCache(tmp_path / "cache")
    stage_batch(raw, files, 0, tmp_path / "w1", {}, cache)
    cache.database.write_bytes(b"not a database" * 100)
    (raw / "0.txt").write_text("全市共有党员5万名。", encoding="utf-8")
    again = stage_batch(raw, files, 0, tmp_path / "w2", {}, cache)
    assert again.cached == 0 and again.documents == len(files)
    # The broken index was replaced by one that holds the batch just staged.
    (raw / "0.txt").write_text("全市共有党员6万名。", encoding="utf-8")
    assert stage_batch(raw, files, 0, tmp_path / "w3", {}, cache).cached == len(files) - 1


def test_a_batch_read_with_other_bytes_than_its_digests_is_not_kept(tmp_path):
    from dangjian.corpus import file_digests

    raw, files = _corpus(tmp_path, n=3)
    cache = ExtractionCache(tmp_path / "cache")
    scanned = file_digests(raw, files)
    (raw / files[1]).write_text("全市共有党员8万名。", encoding="utf-8")  # changed after the scan
    counts = stage_batch(raw, files, 0, tmp_path / "w1", {}, cache, scanned)
    assert counts.documents == 3
    assert cache.reuse_batch(cache.batch_key(raw, files, {}, scanned), tmp_path / "w2", 0) is None
    # With digests that match the bytes read, the batch is kept under their key.
    now = file_digests(raw, files)
    stage_batch(raw, files, 0, tmp_path / "w3", {}, cache, now)
    assert cache.reuse_batch(cache.batch_key(raw, files, {}, now), tmp_path / "w4", 0) is not None


def test_a_document_whose_documents_row_failed_is_extracted_again_alone(tmp_path, monkeypatch):
    raw, files = _corpus(tmp_path)
    real = pipeline.document_rows

    def broken(doc, meta):  # rules that give 1.txt a documents row its table refuses
        row, mentions = real(doc, meta)
        return ({**row, "n_chars": -1} if doc.source_file == "1.txt" else row), mentions

    monkeypatch.setattr(pipeline, "document_rows", broken)
    cache = ExtractionCache(tmp_path / "cache")
    assert stage_batch(raw, files, 0, tmp_path / "w1", {}, cache).quarantined > 0
    (raw / "3.txt").write_text("全市共有党员7万名。", encoding="utf-8")
    extracted = []
    monkeypatch.setattr(pipeline, "document_rows",
                        lambda doc, meta: extracted.append(doc.source_file) or broken(doc, meta))
    again = stage_batch(raw, files, 0, tmp_path / "w2", {}, cache)
    assert sorted(extracted) == ["1.txt", "3.txt"] and again.cached == 2
    stage_batch(raw, files, 0, tmp_path / "fresh", {}, None)
    assert _parts(tmp_path / "w2") == _parts(tmp_path / "fresh")


def _current(cache, raw, files):
    from dangjian.corpus import file_digests
    from dangjian.pipeline import document_keys

    return document_keys(cache, file_digests(raw, files), {})


def test_batches_no_document_points_to_are_dropped(tmp_path, monkeypatch):
    raw, files = _corpus(tmp_path, n=6)
    cache = ExtractionCache(tmp_path / "cache")
    for i in (0, 3):
        stage_batch(raw, files[i:i + 3], i // 3, tmp_path / "w1", {}, cache)
    assert len(list((cache.folder / "batches").iterdir())) == 2
    for night in range(3):  # one file changes a night: its batch is kept anew each time
        (raw / files[4]).write_text(f"全市共有党员{night + 7}万名。", encoding="utf-8")
        stage_batch(raw, files[3:], 1, tmp_path / f"n{night}", {}, cache)
    assert len(list((cache.folder / "batches").iterdir())) == 5
    cache.prune()  # without the corpus's keys: other rules only
    assert len(list((cache.folder / "batches").iterdir())) == 5
    cache.prune(current=_current(cache, raw, files))
    left = {p.name for p in (cache.folder / "batches").iterdir()}
    assert len(left) == 2 and cache.unreferenced_batches() == []
    # Nothing served is lost: the next run still extracts nothing.
    extracted = _counting(monkeypatch)
    counts = [stage_batch(raw, files[i:i + 3], i // 3, tmp_path / "w2", {}, cache) for i in (0, 3)]
    assert extracted == [] and sum(c.cached for c in counts) == 6


def test_without_an_index_no_kept_batch_is_dropped(tmp_path):
    raw, files = _corpus(tmp_path)
    cache = ExtractionCache(tmp_path / "cache")
    stage_batch(raw, files, 0, tmp_path / "w1", {}, cache)
    current = _current(cache, raw, files)
    cache.database.write_bytes(b"not a database")
    assert cache.unreferenced_batches() == []
    cache.prune(current=current)
    cache.database.unlink()
    cache.prune(current=current)
    assert len(list((cache.folder / "batches").iterdir())) == 1


@settings(max_examples=200)
@given(st.text(), st.text(), st.one_of(st.none(), st.just({}),
                                       st.dictionaries(st.text(), st.text(), max_size=3)))
def test_a_document_key_is_the_hash_of_its_json_spec(doc_id, source_file, meta):
    import hashlib
    import json

    spec = json.dumps([doc_id, source_file, meta or {}], ensure_ascii=False, sort_keys=True)
    key = ExtractionCache(Path("unused")).key(doc_id, source_file, meta)
    assert key == hashlib.sha256(spec.encode()).hexdigest()


def test_with_the_scans_digests_only_the_documents_not_kept_are_read(tmp_path, monkeypatch):
    """A night's changed batch reads its changed file, not the kept ones, and its parts are
    those a fresh staging writes."""
    from dangjian.corpus import file_digests

    raw, files = _corpus(tmp_path)
    cache = ExtractionCache(tmp_path / "cache")
    stage_batch(raw, files, 0, tmp_path / "w1", {}, cache, file_digests(raw, files))
    (raw / "2.txt").write_text("全市共有党员9万名。", encoding="utf-8")
    read = []
    real = pipeline.read_document
    monkeypatch.setattr(pipeline, "read_document",
                        lambda raw_dir, name, **kw: read.append(name) or real(raw_dir, name, **kw))
    counts = stage_batch(raw, files, 0, tmp_path / "w2", {}, cache, file_digests(raw, files))
    assert read == ["2.txt"] and counts.cached == len(files) - 1
    stage_batch(raw, files, 0, tmp_path / "fresh", {}, None)
    assert _parts(tmp_path / "w2") == _parts(tmp_path / "fresh")
    # Kept under the digests' key: the next run links the whole batch in.
    key = cache.batch_key(raw, files, {}, file_digests(raw, files))
    assert cache.reuse_batch(key, tmp_path / "w3", 0) is not None
