import pandas as pd
import pyarrow.parquet as pq

from dangjian.cache import rules_fingerprint
from dangjian.diff import diff_releases, same_extraction, summarize, write_changes
from dangjian.pipeline import frame
from dangjian.publish import publish
from tests.test_pipeline import _metric
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


# The fast path: only documents whose row differs are joined, when the rules are the same.

def _corpus(docs, orphans=None):
    """Tables of documents ``{source_file: (doc_id, place, values)}``, one metric per value.

    As the extractor does, a metric's id hashes file, text and span, and its geography follows
    the document's place; ``orphans`` are metrics of files without a documents row (a row that
    was quarantined)."""
    documents, metrics = [], []
    for name, (doc_id, place, values) in sorted({**docs, **(orphans or {})}.items()):
        if name in docs:
            documents.append({"doc_id": doc_id, "source_file": name, "title": None,
                              "publisher": None, "published": pd.Timestamp("2021-01-02"),
                              "url": None, "place": place, "encoding": "utf-8",
                              "script": "simplified", "n_chars": 100})
        metrics += [_metric(metric_id=f"{name}:{doc_id[:4]}:{i}", doc_id=doc_id, source_file=name,
                            char_start=i * 10, char_end=i * 10 + 3, quote="10个", value=value,
                            geography=place) for i, value in enumerate(values)]
    return {"documents": frame("documents", documents), "metrics": frame("metrics", metrics),
            "quarantine": frame("quarantine", []), "rejected": frame("rejected", [])}


def _both_ways(old, new, folder, rules=None):
    """The changes table's bytes with the rules vouched for (fast path) and without (full join),
    both from the whole files; and checks that joining the rows of the row groups the releases
    do not share (the default) gives the full join's bytes."""
    from dangjian import row_groups

    fast, full, groups = (folder / f"{name}.parquet" for name in ("fast", "full", "groups"))
    write_changes(old, new, groups, rules=rules or rules_fingerprint())
    whole_files = row_groups.MAX_UNSHARED_BYTES
    row_groups.MAX_UNSHARED_BYTES = -1  # no unshared relations: the whole files are joined
    try:
        write_changes(old, new, fast, rules=rules or rules_fingerprint())
        write_changes(old, new, full)
    finally:
        row_groups.MAX_UNSHARED_BYTES = whole_files
    assert groups.read_bytes() == full.read_bytes()
    return fast.read_bytes(), full.read_bytes(), pq.read_table(full).to_pylist()


A, B, C = "a" * 64, "b" * 64, "c" * 64


def test_fast_path_one_changed_document_and_one_changed_place(tmp_path):
    old = publish(tmp_path, _corpus({"a.txt": (A, "宁波市", [1, 2]), "b.txt": (B, "宁波市", [3, 4]),
                                     "c.txt": (C, "宁波市", [5])}), "1" * 64).path
    new = publish(tmp_path, _corpus({"a.txt": (A, "宁波市", [1, 2]), "b.txt": (C, "宁波市", [3, 9]),
                                     "c.txt": (C, "海曙区", [5])}), "2" * 64).path
    assert same_extraction(old, new, rules_fingerprint())
    fast, full, changes = _both_ways(old, new, tmp_path)
    assert fast == full
    assert {(c["source_file"], c["change"], c["cause"]) for c in changes} == {
        ("b.txt", "removed", "source text changed"), ("b.txt", "added", "source text changed"),
        ("c.txt", "changed", "rules or catalog changed")}  # the place alone changed: same text


def test_fast_path_added_removed_and_orphan_files(tmp_path):
    old = publish(tmp_path, _corpus({"a.txt": (A, "宁波市", [1]), "b.txt": (B, "宁波市", [2])},
                                    orphans={"q.txt": (C, "宁波市", [7])}), "1" * 64).path
    new = publish(tmp_path, _corpus({"a.txt": (A, "宁波市", [1]), "c.txt": (C, "宁波市", [3, 4])},
                                    orphans={"q.txt": (C, "宁波市", [8])}), "2" * 64).path
    assert same_extraction(old, new, rules_fingerprint())
    fast, full, changes = _both_ways(old, new, tmp_path)
    assert fast == full
    assert sorted((c["source_file"], c["change"]) for c in changes) == [
        ("b.txt", "removed"), ("c.txt", "added"), ("c.txt", "added"), ("q.txt", "changed")]


def test_other_rules_fall_back_to_the_full_join(tmp_path, monkeypatch):
    import dangjian.publish

    docs = {"a.txt": (A, "宁波市", [1, 2]), "b.txt": (B, "宁波市", [3])}
    old = publish(tmp_path, _corpus(docs), "1" * 64).path
    monkeypatch.setattr(dangjian.publish, "rules_fingerprint", lambda: "f" * 64)
    rules = _corpus(docs)
    rules["metrics"].loc[1, "unit"] = "名"  # new rules, same documents: a document row says nothing
    new = publish(tmp_path, rules, "1" * 64).path
    assert not same_extraction(old, new, "f" * 64)
    fast, full, changes = _both_ways(old, new, tmp_path, rules="f" * 64)
    assert fast == full
    assert [(c["metric_id"], c["fields"]) for c in changes] == [(f"a.txt:{A[:4]}:1", "unit")]
    (old / "manifest.json").unlink()  # no record of the parent's rules: the full join too
    assert not same_extraction(old, new, rules_fingerprint())


def test_vouching_for_the_rules_skips_documents_whose_row_is_the_same(tmp_path):
    """Why tables put together by hand must not pass ``rules``: with the same documents under the
    same rules, the fast path does not read their metrics at all. (The default, joining the row
    groups the releases do not share, finds the edit: ``_both_ways`` checks it.)"""
    docs = {"a.txt": (A, "宁波市", [1, 2])}
    old = publish(tmp_path, _corpus(docs), "1" * 64).path
    edited = _corpus(docs)
    edited["metrics"].loc[1, "value"] = 5.0
    new = publish(tmp_path, edited, "2" * 64).path
    _both_ways(old, new, tmp_path)
    assert pq.read_table(tmp_path / "full.parquet").num_rows == 1
    assert pq.read_table(tmp_path / "fast.parquet").num_rows == 0


def test_fast_path_tells_the_extractor_version_from_every_row(tmp_path):
    """The cause compares the releases' oldest extractor versions, also those of rows it skips."""
    def tables(place, changed_version):
        tables = _corpus({"a.txt": (A, "宁波市", [1]), "c.txt": (C, place, [5])})
        metrics = tables["metrics"]
        metrics["extractor_version"] = metrics["source_file"].map({"a.txt": "0", "c.txt": changed_version})
        return tables

    old = publish(tmp_path, tables("宁波市", "1"), "1" * 64).path
    new = publish(tmp_path, tables("海曙区", "2"), "2" * 64).path
    fast, full, changes = _both_ways(old, new, tmp_path)
    assert fast == full and [c["cause"] for c in changes] == ["rules or catalog changed"]


def test_unshared_rows_are_joined_in_the_shared_database_and_whole_files_in_their_own(
        tmp_path, monkeypatch):
    import dangjian.diff as diff
    from dangjian import queries, row_groups

    old = publish(tmp_path, _corpus({"a.txt": (A, "宁波市", [1]), "b.txt": (B, "宁波市", [2])}),
                  "1" * 64).path
    new = publish(tmp_path, _corpus({"a.txt": (A, "宁波市", [1]), "b.txt": (C, "宁波市", [5])}),
                  "2" * 64).path
    opened = []
    real_connect, real_cursor = diff.duckdb.connect, queries.cursor
    monkeypatch.setattr(diff.duckdb, "connect",
                        lambda *a, **k: opened.append("own") or real_connect(*a, **k))
    monkeypatch.setattr(queries, "cursor", lambda: opened.append("shared") or real_cursor())
    assert write_changes(old, new, tmp_path / "groups.parquet") == 2
    monkeypatch.setattr(row_groups, "MAX_UNSHARED_BYTES", -1)
    assert write_changes(old, new, tmp_path / "files.parquet") == 2
    assert opened == ["shared", "own"]
    assert (tmp_path / "groups.parquet").read_bytes() == (tmp_path / "files.parquet").read_bytes()


def test_a_range_taking_in_rows_of_a_shared_row_group_gives_the_full_join(tmp_path, monkeypatch):
    """Metric row groups not sorted by file: the changed group holds a.txt and z.txt, so its
    range takes in the rows of the shared group holding b.txt and c.txt, on both sides alike.
    The table is still the full join's."""
    import pyarrow
    import pyarrow.compute as pc

    from dangjian import row_groups
    from dangjian.parquet_concat import row_group_digests
    from dangjian.staging import WRITER_OPTIONS

    def regroup(folder):
        path = folder / "metrics.parquet"
        table = pq.read_table(path)
        with pq.ParquetWriter(path, table.schema, **WRITER_OPTIONS) as writer:
            for names in (["a.txt", "z.txt"], ["b.txt", "c.txt"]):
                writer.write_table(table.filter(pc.is_in(table["source_file"],
                                                         value_set=pyarrow.array(names))))

    docs = {"a.txt": (A, "宁波市", [1, 2]), "b.txt": (B, "宁波市", [3]), "c.txt": (C, "宁波市", [5]),
            "z.txt": ("d" * 64, "宁波市", [7])}
    old = publish(tmp_path, _corpus(docs), "1" * 64).path
    new = publish(tmp_path, _corpus({**docs, "a.txt": (A, "宁波市", [1, 9])}), "2" * 64).path
    for folder in (old, new):
        regroup(folder)
    old_groups, new_groups = (row_group_digests(f / "metrics.parquet") for f in (old, new))
    assert old_groups[1] == new_groups[1] and old_groups[0] != new_groups[0]
    ranges = []
    real = row_groups.unshared_ranges
    monkeypatch.setattr(row_groups, "unshared_ranges",
                        lambda *a, **k: ranges.append(real(*a, **k)) or ranges[-1])
    _, _, changes = _both_ways(old, new, tmp_path)
    assert ranges[0] == [("a.txt", "z.txt")]
    assert [(c["change"], c["source_file"], c["fields"]) for c in changes] == [
        ("changed", "a.txt", "value")]
