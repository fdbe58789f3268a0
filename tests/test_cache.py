import dangjian.cache as cache_module
from dangjian.cache import ExtractionCache, rules_fingerprint
from dangjian.pipeline import process_batch


def _corpus(tmp_path, n=4):
    raw = tmp_path / "raw"
    raw.mkdir()
    for i in range(n):
        (raw / f"{i}.txt").write_text(f"全市共有党员{i + 1}万名，党组织{100 + i}个。", encoding="utf-8")
    return raw, sorted(p.name for p in raw.iterdir())


def test_second_run_reads_everything_from_the_cache(tmp_path):
    raw, files = _corpus(tmp_path)
    cache = ExtractionCache(tmp_path / "cache")
    first = process_batch(raw, files, {}, cache)
    second = process_batch(raw, files, {}, cache)
    assert first.cached == 0 and second.cached == len(files)
    assert second.metrics == first.metrics
    assert [d["doc_id"] for d in second.documents] == [d["doc_id"] for d in first.documents]


def test_only_the_changed_file_is_extracted_again(tmp_path, monkeypatch):
    raw, files = _corpus(tmp_path)
    cache = ExtractionCache(tmp_path / "cache")
    process_batch(raw, files, {}, cache)
    (raw / "2.txt").write_text("全市共有党员9万名。", encoding="utf-8")
    extracted = []
    import dangjian.pipeline as pipeline

    real = pipeline.document_rows
    monkeypatch.setattr(pipeline, "document_rows",
                        lambda doc, meta: extracted.append(doc.source_file) or real(doc, meta))
    result = process_batch(raw, files, {}, cache)
    assert extracted == ["2.txt"] and result.cached == len(files) - 1
    assert [m["value"] for m in result.metrics if m["source_file"] == "2.txt"] == [90000.0]


def test_metadata_change_invalidates_that_document(tmp_path):
    raw, files = _corpus(tmp_path)
    cache = ExtractionCache(tmp_path / "cache")
    process_batch(raw, files, {}, cache)
    result = process_batch(raw, files, {"1.txt": {"publisher": "某报"}}, cache)
    assert result.cached == len(files) - 1


def test_new_rules_start_a_new_cache(tmp_path, monkeypatch):
    raw, files = _corpus(tmp_path)
    process_batch(raw, files, {}, ExtractionCache(tmp_path / "cache"))
    monkeypatch.setattr(cache_module, "rules_fingerprint", lambda: "f" * 64)
    fresh = ExtractionCache(tmp_path / "cache")
    assert process_batch(raw, files, {}, fresh).cached == 0
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
    from dangjian.pipeline import stage_batch

    raw, files = _corpus(tmp_path, n=6)
    cache = ExtractionCache(tmp_path / "cache")
    first, second = tmp_path / "w1", tmp_path / "w2"
    a = [stage_batch(raw, files[i:i + 3], i // 3, first, {}, cache) for i in (0, 3)]
    (raw / files[4]).write_text("全市共有党员7万名。", encoding="utf-8")
    b = [stage_batch(raw, files[i:i + 3], i // 3, second, {}, cache) for i in (0, 3)]
    assert [c.cached for c in a] == [0, 0]
    assert b[0].cached == 3 and b[0].metrics == a[0].metrics  # whole batch reused
    assert b[1].cached == 2  # the changed batch: two documents from the document cache
    for table in ("documents", "metrics", "rejected", "quarantine"):
        assert (first / table / "00000000.parquet").read_bytes() == \
            (second / table / "00000000.parquet").read_bytes()


def test_batch_key_from_known_digests_equals_the_key_that_reads_the_files(tmp_path):
    from dangjian.corpus import file_digests

    raw, files = _corpus(tmp_path, n=3)
    cache = ExtractionCache(tmp_path / "cache")
    key = cache.batch_key(raw, files, {})
    assert key is not None and key == cache.batch_key(raw, files, {}, file_digests(raw, files))
    assert cache.batch_key(raw, files, {files[0]: {"publisher": "某报"}}) != key
    assert cache.batch_key(raw, [*files, "gone.txt"], {}) is None


def test_many_documents_are_read_and_written_in_one_go(tmp_path):
    cache = ExtractionCache(tmp_path / "cache")
    entries = [(f"k{i}", {"doc_id": str(i)}, [{"value": float(i)}]) for i in range(1200)]
    cache.put_many(entries)
    found = cache.get_many([key for key, _, _ in entries] + ["missing"])
    assert len(found) == 1200 and "missing" not in found
    assert found["k1199"] == ({"doc_id": "1199"}, [{"value": 1199.0}])
    assert ExtractionCache(tmp_path / "cache").get("k7") == ({"doc_id": "7"}, [{"value": 7.0}])


def test_an_unreadable_cache_is_a_miss_not_a_failed_run(tmp_path):
    raw, files = _corpus(tmp_path)
    cache = ExtractionCache(tmp_path / "cache")
    first = process_batch(raw, files, {}, cache)
    cache.database.write_bytes(b"not a database" * 100)
    again = process_batch(raw, files, {}, cache)
    assert again.cached == 0 and again.metrics == first.metrics
    assert process_batch(raw, files, {}, cache).cached == 0  # the broken file was dropped...
    assert process_batch(raw, files, {}, cache).cached == len(files)  # ...and a new one kept


def test_a_batch_read_with_other_bytes_than_its_digests_is_not_kept(tmp_path):
    from dangjian.corpus import file_digests
    from dangjian.pipeline import stage_batch

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
