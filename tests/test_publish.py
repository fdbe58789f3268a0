import hashlib
import json

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from dangjian import database
from dangjian.pipeline import frame
from dangjian.publish import (DUCKDB_FILE, build_duckdb, latest_version, list_versions,
                              next_version, publish, read_manifest)
from dangjian.staging import assemble, write_part
from tests.test_pipeline import _metric


def _tables(n_metrics=2):
    metrics = [_metric(metric_id=f"m{i}", char_start=i * 10, char_end=i * 10 + 3, quote="10个")
               for i in range(n_metrics)]
    doc = {"doc_id": "a" * 64, "source_file": "a.txt", "title": None, "publisher": None,
           "published": pd.Timestamp("2021-01-02"), "url": None, "place": "宁波市",
           "encoding": "utf-8", "script": "simplified", "n_chars": 100}
    return {"documents": frame("documents", [doc]), "metrics": frame("metrics", metrics),
            "quarantine": frame("quarantine", []), "rejected": frame("rejected", [])}


def test_versions():
    assert next_version(None, None, "f") == "1.0.0"
    assert next_version("1.0.0", "f", "f") == "1.1.0"
    assert next_version("1.4.0", "f", "g") == "2.0.0"


def test_table_bytes_do_not_depend_on_row_order_and_content_not_on_batching(tmp_path):
    metrics = _tables(50)["metrics"]
    shuffled, one, many = tmp_path / "shuffled", tmp_path / "one", tmp_path / "many"
    write_part(shuffled, "metrics", 0, metrics.sample(frac=1, random_state=3))
    write_part(one, "metrics", 0, metrics)
    for i in range(5):  # batches hold consecutive rows, as batches of sorted files do
        write_part(many, "metrics", i, metrics.iloc[i * 10:(i + 1) * 10])
    a, b, c = (assemble("metrics", sorted((d / "metrics").glob("*.parquet")),
                        tmp_path / f"{d.name}.parquet") for d in (shuffled, one, many))
    assert a[0] == b[0] == c[0] == 50
    assert a[1] == b[1]
    assert pq.read_table(tmp_path / "one.parquet").equals(pq.read_table(tmp_path / "many.parquet"))


def test_publish_writes_release_manifest_and_duckdb(tmp_path):
    result = publish(tmp_path, _tables(), "c" * 64)
    assert result.created and result.version == "1.0.0"
    folder = tmp_path / "releases" / "1.0.0"
    manifest = read_manifest(tmp_path, "1.0.0")
    for name, info in manifest["files"].items():
        data = (folder / name).read_bytes()
        assert info["bytes"] == len(data)
    assert manifest["files"]["metrics.parquet"]["rows"] == 2
    assert manifest["input_corpus_hash"] == "c" * 64
    assert {"datapackage.json", "README.md"} <= {p.name for p in folder.iterdir()}
    assert json.loads((folder / "datapackage.json").read_text())["version"] == "1.0.0"
    con = duckdb.connect(str(tmp_path / DUCKDB_FILE), read_only=True)
    assert con.execute("select count(*) from metrics_latest").fetchone()[0] == 2
    assert con.execute("select version from releases where is_latest").fetchone()[0] == "1.0.0"


def test_same_content_cuts_no_release_and_change_cuts_a_minor_one(tmp_path):
    first = publish(tmp_path, _tables(), "c" * 64)
    before = {p.name: p.read_bytes() for p in first.path.iterdir()}
    again = publish(tmp_path, _tables(), "c" * 64)
    assert not again.created and again.version == "1.0.0"
    changed = publish(tmp_path, _tables(3), "d" * 64)
    assert changed.created and changed.version == "1.1.0" and changed.parent == "1.0.0"
    assert {p.name: p.read_bytes() for p in first.path.iterdir()} == before
    assert list_versions(tmp_path) == ["1.0.0", "1.1.0"]
    assert latest_version(tmp_path) == "1.1.0"
    con = duckdb.connect(str(tmp_path / DUCKDB_FILE), read_only=True)
    counts = dict(con.sql("select release, count(*) from metrics group by 1").fetchall())
    assert counts == {"1.0.0": 2, "1.1.0": 3}


def test_a_failed_publish_leaves_no_folder(tmp_path, monkeypatch):
    publish(tmp_path, _tables(), "c" * 64)
    import dangjian.publish as module

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(module, "write_datacard", boom)
    with pytest.raises(RuntimeError):
        module.publish(tmp_path, _tables(4), "e" * 64)
    assert list_versions(tmp_path) == ["1.0.0"]
    assert [p.name for p in (tmp_path / "releases").iterdir() if p.name.startswith(".")] == []


def test_duckdb_file_is_readable_by_duckdb_1x(tmp_path):
    """DuckDB 1.x clients read storage versions 64 to 68; 2.0's default (69) locks them out."""
    publish(tmp_path, _tables(), "c" * 64)
    header = (tmp_path / DUCKDB_FILE).read_bytes()[:20]
    assert header[8:12] == b"DUCK"
    assert 64 <= int.from_bytes(header[12:20], "little") <= 68


def test_changes_table_against_parent(tmp_path, monkeypatch):
    import dangjian.publish as publish_module

    import pyarrow.parquet as pq

    first = publish(tmp_path, _tables(2), "c" * 64)
    assert pq.read_table(first.path / "changes.parquet").num_rows == 0
    tables = _tables(3)
    tables["metrics"].loc[0, "value"] = 11.0
    # A value changed in an unchanged document: only other rules can do that.
    monkeypatch.setattr(publish_module, "rules_fingerprint", lambda: "other rules")
    second = publish(tmp_path, tables, "d" * 64)
    changes = pq.read_table(second.path / "changes.parquet").to_pylist()
    kinds = sorted((c["change"], c["metric_id"]) for c in changes)
    assert kinds == [("added", "m2"), ("changed", "m0")]
    changed = next(c for c in changes if c["change"] == "changed")
    assert changed["fields"] == "value"
    assert json.loads(changed["old"])["value"] == 10.0 and json.loads(changed["new"])["value"] == 11.0
    assert changed["cause"] == "rules or catalog changed"


def _duckdb_contents(path):
    """Every table and view of a DuckDB file: names, columns with types, and rows in order."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        objects = con.execute("SELECT table_name FROM duckdb_tables() UNION ALL "
                              "SELECT view_name FROM duckdb_views() WHERE NOT internal "
                              "ORDER BY 1").fetchall()
        contents = {}
        for (name,) in objects:
            columns = con.execute(f"DESCRIBE {name}").fetchall()
            rows = con.execute(f"SELECT * EXCLUDE (created) FROM {name}" if name == "releases"
                               else f"SELECT * FROM {name}").fetchall()
            contents[name] = (columns, sorted(rows, key=repr))  # views over joins: any order
        return contents
    finally:
        con.close()


def test_a_new_release_extends_the_duckdb_file_as_a_rebuild_would(tmp_path, monkeypatch):
    import dangjian.publish as module

    rebuilds = []
    real = module.build_duckdb
    monkeypatch.setattr(module, "build_duckdb", lambda output: rebuilds.append(1) or real(output))
    publish(tmp_path, _tables(2), "c" * 64)
    first = _duckdb_contents(tmp_path / DUCKDB_FILE)
    real(tmp_path)
    assert _duckdb_contents(tmp_path / DUCKDB_FILE) == first
    publish(tmp_path, _tables(3), "d" * 64)
    publish(tmp_path, _tables(5), "e" * 64)
    assert rebuilds == []  # 1.0.0 went to a new file, 1.1.0 and 1.2.0 were added to a copy
    extended = _duckdb_contents(tmp_path / DUCKDB_FILE)
    real(tmp_path)
    rebuilt = _duckdb_contents(tmp_path / DUCKDB_FILE)
    assert extended == rebuilt
    assert [r[0] for r in extended["releases"][1] if r[11]] == ["1.2.0"]
    assert len(extended["metrics"][1]) == 2 + 3 + 5
    assert len(extended["metrics_latest"][1]) == 5
    assert len(extended["metrics_rows"][1]) == 5  # rows 0-1 are in all three releases, stored once
    assert not list(tmp_path.glob(f".{DUCKDB_FILE}*"))
    _views_match_release_folders(tmp_path)


def _views_match_release_folders(output):
    """Each release's rows in the DuckDB views are exactly the rows of its Parquet files."""
    import pyarrow.parquet as pq

    con = duckdb.connect(str(output / DUCKDB_FILE), read_only=True)
    try:
        for version in list_versions(output):
            for table in ("documents", "metrics", "quarantine", "rejected", "changes"):
                path = output / "releases" / version / f"{table}.parquet"
                expected = pq.read_table(path).to_pylist() if path.is_file() else []
                query = f"SELECT * EXCLUDE (release) FROM {table} WHERE release = '{version}'"
                got = con.sql(query).to_arrow_table().to_pylist() if expected else \
                    con.sql(f"SELECT * FROM {table} WHERE release = '{version}'").fetchall()
                assert sorted(map(repr, got)) == sorted(map(repr, expected)), (version, table)
    finally:
        con.close()


def test_rows_are_compared_in_full_when_the_rules_changed(tmp_path, monkeypatch):
    import dangjian.publish as module

    publish(tmp_path, _tables(3), "c" * 64)
    changed = _tables(3)
    changed["metrics"].loc[1, "subject"] = "党组织"  # what new rules might do to an unchanged text
    monkeypatch.setattr(module, "rules_fingerprint", lambda: "other rules")
    publish(tmp_path, changed, "c" * 64)
    monkeypatch.setattr(module, "rules_fingerprint", lambda: "third rules")
    publish(tmp_path, _tables(4), "c" * 64)
    _views_match_release_folders(tmp_path)
    extended = _duckdb_contents(tmp_path / DUCKDB_FILE)
    module.build_duckdb(tmp_path)
    assert _duckdb_contents(tmp_path / DUCKDB_FILE) == extended


def test_a_duckdb_file_written_to_during_a_publish_is_rebuilt_not_replaced(tmp_path, monkeypatch):
    import dangjian.database as database
    import dangjian.publish as module

    publish(tmp_path, _tables(2), "c" * 64)
    rebuilds = []
    real_build, real_finish = module.build_duckdb, database.Extension.finish
    monkeypatch.setattr(module, "build_duckdb", lambda output: rebuilds.append(1) or real_build(output))

    def finish_then_another_writer(self, manifest):
        done = real_finish(self, manifest)
        real_build(tmp_path)  # another process rewrites the file before the copy is swapped in
        return done

    monkeypatch.setattr(database.Extension, "finish", finish_then_another_writer)
    publish(tmp_path, _tables(3), "d" * 64)
    assert rebuilds == [1]  # the copy was dropped, and the file rebuilt from both releases
    assert not list(tmp_path.glob(f".{DUCKDB_FILE}*"))
    _views_match_release_folders(tmp_path)


def _copy_ahead_counted(monkeypatch):
    """duckdb_copy_ahead, with the copies made (by open_copy) and rebuilds counted."""
    import dangjian.publish as module

    made, rebuilds = [], []
    real_open, real_build = database.open_copy, module.build_duckdb
    monkeypatch.setattr(database, "open_copy",
                        lambda target, tmp: made.append(tmp) or real_open(target, tmp))
    monkeypatch.setattr(module, "build_duckdb",
                        lambda output: rebuilds.append(1) or real_build(output))
    return made, rebuilds


def _ready(output):
    """Wait until the copy made ahead for ``output`` is made."""
    import dangjian.publish as module

    module._copies[output.resolve()][0].join()


def test_a_copy_made_ahead_takes_the_release_as_a_rebuild_would(tmp_path, monkeypatch):
    from dangjian.publish import build_duckdb, duckdb_copy_ahead

    publish(tmp_path, _tables(2), "c" * 64)
    made, rebuilds = _copy_ahead_counted(monkeypatch)
    with duckdb_copy_ahead(tmp_path):
        _ready(tmp_path)
        assert len(made) == 1 and made[0].is_file() and made[0].name.endswith(".tmp")
        publish(tmp_path, _tables(3), "d" * 64)
        assert len(made) == 1 and not made[0].exists()  # it was the copy extended and swapped in
    assert rebuilds == []
    extended = _duckdb_contents(tmp_path / DUCKDB_FILE)
    build_duckdb(tmp_path)
    assert _duckdb_contents(tmp_path / DUCKDB_FILE) == extended
    assert not list(tmp_path.glob(f".{DUCKDB_FILE}*"))
    _views_match_release_folders(tmp_path)


def test_a_copy_made_ahead_of_a_file_written_to_since_is_not_used(tmp_path, monkeypatch):
    from dangjian.publish import build_duckdb, duckdb_copy_ahead

    publish(tmp_path, _tables(2), "c" * 64)
    made, rebuilds = _copy_ahead_counted(monkeypatch)
    with duckdb_copy_ahead(tmp_path):
        _ready(tmp_path)
        build_duckdb(tmp_path)  # another process rewrites the file after the copy was made
        publish(tmp_path, _tables(3), "d" * 64)
        assert len(made) == 2 and not any(path.exists() for path in made)
    assert rebuilds == []  # the release went to a new copy of the file
    extended = _duckdb_contents(tmp_path / DUCKDB_FILE)
    build_duckdb(tmp_path)
    assert _duckdb_contents(tmp_path / DUCKDB_FILE) == extended
    assert not list(tmp_path.glob(f".{DUCKDB_FILE}*"))


def test_a_copy_made_ahead_and_not_used_is_removed(tmp_path, monkeypatch):
    from dangjian.publish import duckdb_copy_ahead

    publish(tmp_path, _tables(2), "c" * 64)
    made, _ = _copy_ahead_counted(monkeypatch)
    before = (tmp_path / DUCKDB_FILE).read_bytes()
    with duckdb_copy_ahead(tmp_path):
        _ready(tmp_path)
        publish(tmp_path, _tables(2), "c" * 64)  # the same tables: no release
    with pytest.raises(RuntimeError):
        with duckdb_copy_ahead(tmp_path):
            raise RuntimeError("a batch failed")
    assert len(made) == 2
    assert not list(tmp_path.glob(f".{DUCKDB_FILE}*"))
    assert (tmp_path / DUCKDB_FILE).read_bytes() == before
    with duckdb_copy_ahead(tmp_path / "none"):  # no file yet: nothing to copy
        _ready(tmp_path / "none")
    assert not (tmp_path / "none").exists()


def test_a_copy_taken_by_a_publish_that_fails_is_removed(tmp_path, monkeypatch):
    import dangjian.publish as module
    from dangjian.publish import duckdb_copy_ahead

    publish(tmp_path, _tables(2), "c" * 64)
    made, _ = _copy_ahead_counted(monkeypatch)
    before = (tmp_path / DUCKDB_FILE).read_bytes()

    def boom(*args, **kwargs):
        raise RuntimeError("the changes table failed")

    monkeypatch.setattr(module, "write_changes", boom)
    with duckdb_copy_ahead(tmp_path):
        _ready(tmp_path)
        with pytest.raises(RuntimeError):
            publish(tmp_path, _tables(3), "d" * 64)
        assert len(made) == 1 and not made[0].exists()
    assert not list(tmp_path.glob(f".{DUCKDB_FILE}*"))
    assert (tmp_path / DUCKDB_FILE).read_bytes() == before


def test_the_copy_a_dead_publish_left_is_removed_when_a_copy_made_ahead_is_used(tmp_path,
                                                                               monkeypatch):
    from dangjian.publish import duckdb_copy_ahead

    publish(tmp_path, _tables(2), "c" * 64)
    for name in (f".{DUCKDB_FILE}.tmp", f".{DUCKDB_FILE}.tmp.wal"):
        (tmp_path / name).write_bytes(b"left by a publish that was killed")
    made, rebuilds = _copy_ahead_counted(monkeypatch)
    with duckdb_copy_ahead(tmp_path):
        publish(tmp_path, _tables(3), "d" * 64)
    assert len(made) == 1 and rebuilds == []
    assert not list(tmp_path.glob(f".{DUCKDB_FILE}*"))


def test_copies_left_by_dead_runs_are_removed_and_those_of_live_ones_kept(tmp_path):
    import os
    import subprocess
    import sys

    publish(tmp_path, _tables(2), "c" * 64)
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    dead = tmp_path / f".{DUCKDB_FILE}.{int(child.stdout)}-0a0b0c0d.tmp"
    alive = tmp_path / f".{DUCKDB_FILE}.{os.getpid()}-0a0b0c0d.tmp"
    for path in (dead, dead.with_name(dead.name + ".wal"), alive):
        path.write_bytes(b"x")
    publish(tmp_path, _tables(3), "d" * 64)
    assert sorted(p.name for p in tmp_path.glob(f".{DUCKDB_FILE}*")) == [alive.name]


def test_the_duckdb_copy_finishes_beside_the_card_and_report_and_a_failure_there_rebuilds(
        tmp_path, monkeypatch, caplog):
    """The changes table and the release's row go into the copy in a thread started before the
    data card is written; an error in that thread is logged and costs a rebuild, never the
    release."""
    import dangjian.database as database
    import dangjian.publish as module

    publish(tmp_path, _tables(2), "c" * 64)
    order = []
    real_card, real_later = module.write_datacard, database.Extension.finish_later
    monkeypatch.setattr(module, "write_datacard",
                        lambda *a: order.append("card") or real_card(*a))
    monkeypatch.setattr(database.Extension, "finish_later",
                        lambda self, manifest: order.append("duckdb") or real_later(self, manifest))
    publish(tmp_path, _tables(3), "d" * 64)
    assert order == ["duckdb", "card"]
    _views_match_release_folders(tmp_path)

    rebuilds = []
    real_build, real_add = module.build_duckdb, database.add_content

    def failing_changes(con, release, seq, parent, tables=database.TABLES):
        if tables == ("changes",):  # only the extension adds the changes table alone
            raise RuntimeError("a bug in the thread")
        return real_add(con, release, seq, parent, tables)

    monkeypatch.setattr(module, "build_duckdb", lambda output: rebuilds.append(1) or real_build(output))
    monkeypatch.setattr(database, "add_content", failing_changes)
    with caplog.at_level("WARNING", logger="dangjian.database"):
        assert publish(tmp_path, _tables(4), "e" * 64).version == "1.2.0"
    assert rebuilds == [1] and not list(tmp_path.glob(f".{DUCKDB_FILE}*"))
    assert ["a bug in the thread"] == [str(r.exc_info[1]) for r in caplog.records if r.exc_info]
    _views_match_release_folders(tmp_path)


def test_an_old_duckdb_file_with_a_table_per_release_is_rebuilt(tmp_path):
    publish(tmp_path, _tables(2), "c" * 64)
    (tmp_path / DUCKDB_FILE).unlink()
    con = duckdb.connect(str(tmp_path / DUCKDB_FILE))
    con.execute("CREATE TABLE releases (version VARCHAR, is_latest BOOLEAN)")
    con.execute("INSERT INTO releases VALUES ('1.0.0', true)")
    con.execute("CREATE TABLE metrics (release VARCHAR)")
    con.close()
    publish(tmp_path, _tables(3), "d" * 64)
    _views_match_release_folders(tmp_path)


def test_the_duckdb_file_is_rebuilt_when_it_does_not_end_at_the_parent(tmp_path):
    from dangjian.publish import add_to_duckdb, build_duckdb

    publish(tmp_path, _tables(2), "c" * 64)
    (tmp_path / DUCKDB_FILE).unlink()
    publish(tmp_path, _tables(3), "d" * 64)  # no file to extend: rebuilt from both releases
    con = duckdb.connect(str(tmp_path / DUCKDB_FILE), read_only=True)
    counts = dict(con.sql("select release, count(*) from metrics group by 1").fetchall())
    con.close()
    assert counts == {"1.0.0": 2, "1.1.0": 3}
    assert not add_to_duckdb(tmp_path, "1.0.0", "1.1.0")  # the file ends at 1.1.0 already
    before = _duckdb_contents(tmp_path / DUCKDB_FILE)
    build_duckdb(tmp_path)
    assert _duckdb_contents(tmp_path / DUCKDB_FILE) == before


def test_a_contract_change_rebuilds_the_duckdb_file(tmp_path, monkeypatch):
    import dangjian.publish as module

    publish(tmp_path, _tables(2), "c" * 64)
    monkeypatch.setattr(module, "write_changes", _changes_with_extra_column)
    publish(tmp_path, _tables(3), "d" * 64)
    con = duckdb.connect(str(tmp_path / DUCKDB_FILE), read_only=True)
    columns = [r[0] for r in con.execute("DESCRIBE changes").fetchall()]
    rows = con.execute("SELECT release, extra FROM changes WHERE extra IS NOT NULL").fetchall()
    con.close()
    assert "extra" in columns and rows == [("1.1.0", 7)]


def _changes_with_extra_column(old, new, target, rules=None):
    import pyarrow
    import pyarrow.parquet as pq

    pq.write_table(pyarrow.table({"change": ["added"], "extra": [7]}), target)
    return 1


def test_a_failed_publish_leaves_the_duckdb_file_as_it_was(tmp_path, monkeypatch):
    import dangjian.publish as module

    publish(tmp_path, _tables(2), "c" * 64)
    before = _duckdb_contents(tmp_path / DUCKDB_FILE)

    def boom(staging, manifest):
        raise RuntimeError("report failed")

    with pytest.raises(RuntimeError):
        module.publish(tmp_path, _tables(4), "e" * 64, decorators=[boom])
    assert _duckdb_contents(tmp_path / DUCKDB_FILE) == before
    assert not list(tmp_path.glob(f".{DUCKDB_FILE}*"))
    assert publish(tmp_path, _tables(4), "e" * 64).version == "1.1.0"
    assert [r[0] for r in _duckdb_contents(tmp_path / DUCKDB_FILE)["releases"][1]] == ["1.0.0", "1.1.0"]


def test_the_latest_release_stands_for_the_same_corpus_and_rules_only(tmp_path, monkeypatch):
    import dangjian.publish as publish_module
    from dangjian.corpus import corpus_hash, list_raw
    from dangjian.publish import unchanged_release
    from tests.conftest import build_release

    raw, out = tmp_path / "raw", tmp_path / "out"
    assert unchanged_release(out, "0" * 64) is None  # no release yet
    version = build_release(out, raw, n_files=2)
    digest = corpus_hash(raw, list_raw(raw))
    same = unchanged_release(out, digest)
    assert same is not None and same.version == version and not same.created
    assert same.rows["metrics"] == read_manifest(out, version)["files"]["metrics.parquet"]["rows"]
    assert unchanged_release(out, "0" * 64) is None  # another corpus
    monkeypatch.setattr(publish_module, "rules_fingerprint", lambda: "other rules")
    assert unchanged_release(out, digest) is None


def test_strict_runs_do_not_stand_on_a_release_with_quarantined_rows(tmp_path):
    from dangjian.publish import unchanged_release

    tables = _tables()
    tables["quarantine"] = frame("quarantine", [{"table": "metrics", "check": "isin",
                                                 "reason": "qualifier failed isin", "row": "{}"}])
    publish(tmp_path, tables, "c" * 64)
    assert unchanged_release(tmp_path, "c" * 64) is not None
    assert unchanged_release(tmp_path, "c" * 64, allow_quarantine=False) is None


def _batched_tables(titles: dict[str, str | None], subjects: dict[str, str]) -> list[dict]:
    """Tables of four files in two batches (parts), as a run stages them."""
    batches = []
    for names in (["a.txt", "b.txt"], ["c.txt", "d.txt"]):
        documents, metrics = [], []
        for name in names:
            doc_id = name[0] * 64
            documents.append({"doc_id": doc_id, "source_file": name, "title": titles.get(name),
                              "publisher": None, "published": pd.Timestamp("2021-01-02"),
                              "url": None, "place": "宁波市", "encoding": "utf-8",
                              "script": "simplified", "n_chars": 100})
            metrics += [_metric(metric_id=f"{name}{i}", doc_id=doc_id, source_file=name,
                                char_start=i * 10, char_end=i * 10 + 3,
                                subject=subjects.get(name, "党组织")) for i in range(3)]
        batches.append({"documents": frame("documents", documents),
                        "metrics": frame("metrics", metrics),
                        "quarantine": frame("quarantine", []), "rejected": frame("rejected", [])})
    return batches


def _publish_batches(output, batches, digest):
    from dangjian.publish import CONTENT_TABLES, publish_parts
    from dangjian.staging import new_workdir

    workdir = new_workdir(output)
    for index, tables in enumerate(batches):
        for name in CONTENT_TABLES:
            write_part(workdir, name, index, tables[name])
    return publish_parts(output, workdir, digest)


@pytest.mark.parametrize("literal_files", [500, 0])
def test_only_row_groups_not_shared_with_the_parent_are_compared(tmp_path, monkeypatch,
                                                                 literal_files):
    """A batch kept from an earlier run is the same row group in both releases, so the DuckDB
    file compares only the other batch's rows; the file still equals a rebuild, also when a
    document's row changed but its metric rows did not (a new title from the metadata). The
    changed files are named in the SQL, or (``literal_files`` 0) put in a table."""
    import dangjian.publish as module
    from dangjian import row_groups

    monkeypatch.setattr(database, "LITERAL_FILES", literal_files)

    output = tmp_path / "out"
    output.mkdir()
    _publish_batches(output, _batched_tables({}, {}), "c" * 64)
    compared = []
    real = row_groups.unshared_ranges

    def spy(files, parent_files, force=None):
        found = real(files, parent_files, force)
        table = "documents" if "title" in pq.read_schema(files[0]).names else "metrics"
        compared.append((table, found, force))
        return found

    monkeypatch.setattr(row_groups, "unshared_ranges", spy)
    # c.txt got a title: its documents row changed, its metric rows did not.
    _publish_batches(output, _batched_tables({"c.txt": "标题"}, {}), "d" * 64)
    # The second batch's documents group differs; its metrics group is the same bytes: the
    # changes table joins no rows, and the DuckDB file compares the group all the same, since it
    # holds c.txt. (The changes table and the DuckDB file are made side by side.)
    assert sorted(compared, key=repr) == sorted([
        ("documents", [("c.txt", "d.txt")], None), ("metrics", [], None),
        ("metrics", [("c.txt", "d.txt")], ["c.txt"])], key=repr)
    compared.clear()
    # Tables made by hand: a.txt's metric rows changed though no documents row did. Its group
    # is unshared, the hash check sees rows outside the changed files differ, and every row is
    # compared in full.
    _publish_batches(output, _batched_tables({"c.txt": "标题"}, {"a.txt": "党员"}), "e" * 64)
    assert sorted(compared, key=repr) == sorted([
        ("documents", [], None), ("metrics", [("a.txt", "b.txt")], None),
        ("metrics", [("a.txt", "b.txt")], [])], key=repr)
    extended = _duckdb_contents(output / DUCKDB_FILE)
    module.build_duckdb(output)
    assert _duckdb_contents(output / DUCKDB_FILE) == extended
    _views_match_release_folders(output)


def _wrong_hashes(path, table):
    """Alive rows of ``table`` whose stored hash is not the hash of their values."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = [r[0] for r in con.execute(f"DESCRIBE {table}_rows").fetchall()
                 if r[0] not in database.BOOKKEEPING]
        return con.execute(f"SELECT source_file FROM {table}_rows WHERE until_seq IS NULL AND "
                           f"row_hash <> {database._hash(names)} ORDER BY 1").fetchall()
    finally:
        con.close()


def test_the_parents_rows_are_compared_by_their_stored_hashes_which_are_checked(tmp_path):
    """The parent's side of the unshared rows is read from the DuckDB file with the hashes
    stored there: a stored hash that is not its row's own (a file written by another DuckDB,
    or damaged) shows as rows outside the changed files that differ, and every row is compared
    in full, so the row is stored again under its own hash."""
    output = tmp_path / "out"
    output.mkdir()
    _publish_batches(output, _batched_tables({}, {}), "c" * 64)
    con = duckdb.connect(str(output / DUCKDB_FILE))
    con.execute("UPDATE metrics_rows SET row_hash = row_hash + 1 WHERE source_file = 'd.txt'")
    con.close()
    assert {name for name, in _wrong_hashes(output / DUCKDB_FILE, "metrics")} == {"d.txt"}
    # c.txt's documents row changed: the second batch is compared, d.txt's rows by hash
    _publish_batches(output, _batched_tables({"c.txt": "标题"}, {}), "d" * 64)
    assert _wrong_hashes(output / DUCKDB_FILE, "metrics") == []
    _views_match_release_folders(output)


def test_a_release_keeps_the_views_of_a_file_they_were_made_for_and_mends_others(tmp_path,
                                                                                monkeypatch):
    """Views name no release, so a release that adds no table or column keeps the views of the
    copy it extends when their tag says this code made them; views another code made (another
    tag, or none) are made again."""
    made = []
    real = database.add_release_row
    monkeypatch.setattr(database, "add_release_row", lambda con, release, seq, views=True:
                        made.append(views) or real(con, release, seq, views))
    publish(tmp_path, _tables(2), "c" * 64)
    publish(tmp_path, _tables(3), "d" * 64)
    assert made == [True, False]  # a new file, then a release of the same shape
    with duckdb.connect(str(tmp_path / DUCKDB_FILE)) as con:
        assert database.views_tag(con) == database.VIEWS_TAG
        con.execute("CREATE OR REPLACE VIEW metrics_latest AS SELECT 1 AS stale")
        con.execute("COMMENT ON VIEW metric_series IS 'views of another version'")
    publish(tmp_path, _tables(4), "e" * 64)
    assert made[-1] is True
    with duckdb.connect(str(tmp_path / DUCKDB_FILE), read_only=True) as con:
        assert database.views_tag(con) == database.VIEWS_TAG
        assert con.execute("SELECT count(*) FROM metrics_latest").fetchone() == (4,)
    _views_match_release_folders(tmp_path)
    extended = _duckdb_contents(tmp_path / DUCKDB_FILE)
    build_duckdb(tmp_path)
    assert _duckdb_contents(tmp_path / DUCKDB_FILE) == extended


def test_the_duckdb_file_is_written_without_fsst(tmp_path):
    """Strings that FSST would compress (distinct, with common pieces) are stored otherwise."""
    con = database.connect(tmp_path / "strings.duckdb")
    try:
        con.execute("CREATE TABLE t AS SELECT md5(range::VARCHAR) || ' 党组织 ' || "
                    "md5((range * 7)::VARCHAR) AS s FROM range(200000)")
        con.execute("CHECKPOINT")
        used = {r[0] for r in con.execute("SELECT DISTINCT compression FROM "
                                          "pragma_storage_info('t') WHERE segment_type = "
                                          "'VARCHAR'").fetchall()}
    finally:
        database.close(con)
    assert used and "FSST" not in used
    with duckdb.connect(str(tmp_path / "strings.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(DISTINCT s) FROM t").fetchone() == (200000,)


def test_a_range_that_takes_in_rows_of_a_shared_row_group_compares_them_alike(tmp_path):
    """The ranges of source_file of the unshared row groups can hold rows of a shared one (here
    batches whose names interleave, which runs never make): those rows are read on both sides,
    and the file still equals a rebuild. A name with a quote is written into the SQL."""
    import dangjian.publish as module

    def tables(title):
        out = []
        for names in (["a.txt", "it's.txt"], ["b.txt", "z.txt"]):
            documents, metrics = [], []
            for name in names:
                doc_id = hashlib.sha256(name.encode()).hexdigest()
                documents.append({"doc_id": doc_id, "source_file": name,
                                  "title": title if name == "b.txt" else None, "publisher": None,
                                  "published": pd.Timestamp("2021-01-02"), "url": None,
                                  "place": "宁波市", "encoding": "utf-8", "script": "simplified",
                                  "n_chars": 100})
                metrics += [_metric(metric_id=f"{name}{i}", doc_id=doc_id, source_file=name,
                                    char_start=i * 10, char_end=i * 10 + 3) for i in range(2)]
            out.append({"documents": frame("documents", documents),
                        "metrics": frame("metrics", metrics),
                        "quarantine": frame("quarantine", []), "rejected": frame("rejected", [])})
        return out

    output = tmp_path / "out"
    output.mkdir()
    _publish_batches(output, tables(None), "c" * 64)
    _publish_batches(output, tables("标题"), "d" * 64)  # b.txt's row: the range b.txt to z.txt
    _publish_batches(output, tables("另一个"), "e" * 64)
    extended = _duckdb_contents(output / DUCKDB_FILE)
    module.build_duckdb(output)
    assert _duckdb_contents(output / DUCKDB_FILE) == extended
    _views_match_release_folders(output)


def test_rows_are_compared_from_the_files_when_too_many_row_groups_differ(tmp_path, monkeypatch):
    from dangjian import row_groups

    output = tmp_path / "out"
    output.mkdir()
    _publish_batches(output, _batched_tables({}, {}), "c" * 64)
    monkeypatch.setattr(row_groups, "MAX_UNSHARED_BYTES", -1)
    found = []
    real = row_groups.unshared_ranges  # the changes table's and the DuckDB file's
    monkeypatch.setattr(row_groups, "unshared_ranges",
                        lambda *a, **k: found.append(real(*a, **k)) or found[-1])
    _publish_batches(output, _batched_tables({"c.txt": "标题", "a.txt": "题"}, {}), "d" * 64)
    assert len(found) == 3 and all(f is None for f in found)
    _views_match_release_folders(output)


def test_changed_files_named_in_the_sql_select_what_their_table_selects(monkeypatch):
    names = ["a.txt", "it's.txt", "it''s.txt", "目录/b c.txt", "x\\y.txt", "two\nlines.txt"]
    con = duckdb.connect()
    con.execute("CREATE TABLE t (source_file VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?)", [[n] for n in [*names, "other.txt", None]])
    choices = (names[:1], names, [])
    literal = [database._in_files(con, chosen) for chosen in choices]
    assert not any("changed_files" in c for c in literal)
    monkeypatch.setattr(database, "LITERAL_FILES", 0)
    for chosen, named in zip(choices, literal):
        table = database._in_files(con, chosen)
        assert ("changed_files" in table) == bool(chosen)
        for condition in (named, table):
            got = con.execute(f"SELECT source_file FROM t WHERE {condition} ORDER BY 1").fetchall()
            assert [r[0] for r in got] == sorted(chosen)
        outside = [con.execute(f"SELECT count(*) FROM t WHERE NOT {c}").fetchone()
                   for c in (named, table)]
        assert outside[0] == outside[1]


def _rejected(name: str, reason: str) -> dict:
    return {"source_file": name, "sha256": None, "bytes": 3.0, "reason": reason}


def test_a_table_whose_row_groups_are_all_the_parents_is_not_compared(tmp_path, monkeypatch):
    """A night that changed one document leaves the other tables' row groups as they were in
    the parent (its rejected files here, and its changes: none in both): nothing of them is
    compared or written, and the file still equals a rebuild, and a rebuild that compares every
    table. A table with a row group of its own, or without one of the parent's, or with one of
    them twice, is compared as before."""
    import dangjian.publish as module
    from dangjian import row_groups

    output = tmp_path / "out"
    output.mkdir()

    def batches(titles, reason):
        tables = _batched_tables(titles, {})
        tables[1]["rejected"] = frame("rejected", [_rejected("e.bin", reason)])
        return tables

    _publish_batches(output, batches({}, "not text"), "c" * 64)
    added = []
    real = database._add_table
    monkeypatch.setattr(database, "_add_table",
                        lambda con, table, *a, **k: added.append(table) or real(con, table, *a, **k))
    _publish_batches(output, batches({"c.txt": "标题"}, "not text"), "d" * 64)
    assert added == ["documents", "metrics"]  # no quarantine, rejected or changes rows
    added.clear()
    _publish_batches(output, batches({"c.txt": "标题"}, "empty file"), "e" * 64)
    assert added == ["documents", "metrics", "rejected"]
    # The same row group twice is not the parent's rows (once): compared, not skipped.
    twice = batches({"c.txt": "标题"}, "empty file")
    twice[0]["rejected"] = twice[1]["rejected"]
    added.clear()
    _publish_batches(output, twice, "f" * 64)
    assert "rejected" in added
    # Rows gone: the parent's row groups are not all there any more.
    added.clear()
    _publish_batches(output, _batched_tables({"c.txt": "标题"}, {}), "0" * 64)
    assert "rejected" in added
    _views_match_release_folders(output)
    extended = _duckdb_contents(output / DUCKDB_FILE)
    module.build_duckdb(output)
    assert _duckdb_contents(output / DUCKDB_FILE) == extended
    # ... and equals a file that compared every table
    monkeypatch.setattr(row_groups, "same_groups", lambda *args: False)
    module.build_duckdb(output)
    assert _duckdb_contents(output / DUCKDB_FILE) == extended


def test_a_row_that_loses_copies_in_a_release_loses_them_in_the_duckdb_file(tmp_path):
    """Quarantine rows may repeat (the model does not make them distinct): the DuckDB file pairs
    a release's rows with the alive ones copy by copy, so each release shows as many copies of a
    row as its Parquet file holds, whether the copies grow, shrink or go."""
    row = {"table": "metrics", "doc_id": "a" * 64, "source_file": "a.txt", "char_start": 3.0,
           "char_end": 6.0, "quote": "10个", "check": "value_range", "reason": "too large",
           "row": "{}"}
    for i, copies in enumerate((2, 1, 3, 0, 2)):
        tables = _tables(2)
        tables["quarantine"] = frame("quarantine", [row] * copies)
        publish(tmp_path, tables, str(i) * 64)
    assert list_versions(tmp_path) == ["1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0"]
    _views_match_release_folders(tmp_path)
    extended = _duckdb_contents(tmp_path / DUCKDB_FILE)
    build_duckdb(tmp_path)
    assert _duckdb_contents(tmp_path / DUCKDB_FILE) == extended


def test_unshared_ranges_are_the_source_files_of_the_row_groups_not_shared(tmp_path, monkeypatch):
    import pyarrow

    from dangjian import row_groups

    def write(path, names, statistics=True):
        table = pyarrow.table({"source_file": names, "n": list(range(len(names)))})
        with pq.ParquetWriter(path, table.schema, write_statistics=statistics) as writer:
            for start in range(0, len(names), 2):  # row groups of two rows
                writer.write_table(table.slice(start, 2))

    names = ["a", "b", "c", "d", "e", "f", "g", "h"]
    write(tmp_path / "old.parquet", names)
    changed = names[:2] + ["c", "dd"] + names[4:6] + ["g", "i"]
    write(tmp_path / "new.parquet", changed)
    files, parent = [tmp_path / "new.parquet"], [tmp_path / "old.parquet"]
    # the second and fourth groups differ; the ranges of both sides are merged
    assert row_groups.unshared_ranges(files, parent) == [("c", "dd"), ("g", "i")]
    # a group that may hold a forced file is read on both sides, though shared
    assert row_groups.unshared_ranges(files, parent, force=["e"]) == [
        ("c", "dd"), ("e", "f"), ("g", "i")]
    assert row_groups.unshared_ranges(parent, parent) == []
    write(tmp_path / "bare.parquet", changed, statistics=False)
    assert row_groups.unshared_ranges([tmp_path / "bare.parquet"], parent) is None
    # nothing unshared: no rows to read, whatever the groups without statistics weigh
    monkeypatch.setattr(row_groups, "MAX_UNSHARED_BYTES", 0)
    bare = [tmp_path / "bare.parquet"]
    assert row_groups.unshared_ranges(bare, bare) == []


def test_unshared_relations_read_the_rows_of_the_unshared_ranges_from_both_sides(tmp_path,
                                                                                  monkeypatch):
    """DuckDB reads each side's rows in the ranges of the row groups not shared; a path with a
    quote is read as named. A range that takes in rows of a shared group takes them on both
    sides alike (here the unsorted group holding b and z, inside the range a to ee)."""
    import pyarrow

    from dangjian import queries, row_groups

    def write(path, groups):
        table = pyarrow.table({"source_file": [n for g in groups for n in g],
                               "n": [len(n) for g in groups for n in g]})
        with pq.ParquetWriter(path, table.schema) as writer:
            start = 0
            for group in groups:
                writer.write_table(table.slice(start, len(group)))
                start += len(group)

    folder = tmp_path / "it's"
    folder.mkdir()
    write(folder / "old.parquet", [["a", "c"], ["b", "z"], ["f", "g"]])
    write(folder / "new.parquet", [["a", "ee"], ["b", "z"], ["f", "g"]])
    files, parent = [folder / "new.parquet"], [folder / "old.parquet"]
    new, old = row_groups.unshared_relations(files, parent)
    con = queries.cursor()
    try:
        def names(relation):
            rows = con.execute(f"SELECT source_file FROM {relation}").fetchall()
            return sorted(r[0] for r in rows)

        assert names(new) == ["a", "b", "ee"] and names(old) == ["a", "b", "c"]
        assert names(row_groups.unshared_relations(parent, parent)[0]) == []
    finally:
        con.close()
    assert row_groups.unshared_relations(files, []) is None
    # The byte limit counts the shared groups a range takes in (b to z), not the one it does
    # not (f to g).
    sizes = [[pq.read_metadata(f).row_group(i).total_byte_size for i in range(3)]
             for f in files + parent]
    taken = sum(size[0] + size[1] for size in sizes)
    monkeypatch.setattr(row_groups, "MAX_UNSHARED_BYTES", taken)
    assert row_groups.unshared_relations(files, parent) is not None
    monkeypatch.setattr(row_groups, "MAX_UNSHARED_BYTES", taken - 1)
    assert row_groups.unshared_relations(files, parent) is None


def test_files_differing_are_those_whose_row_changed_came_or_went():
    """A join by file (documents rows are unique by file) finds what EXCEPT ALL both ways
    finds: a changed value, a NULL against a value, a file on one side only; NULLs on both
    sides are the same."""
    con = duckdb.connect()
    old = ("SELECT * FROM (VALUES ('a', 'x', 1), ('b', NULL, 2), ('c', 'y', 3), ('d', NULL, 4),"
           " ('gone', 'z', 5)) AS t(source_file, title, n)")
    new = ("SELECT * FROM (VALUES ('a', 'x', 1), ('b', NULL, 2), ('c', 'y', 30), ('d', 'w', 4),"
           " ('new', 'z', 5)) AS t(source_file, title, n)")
    found = database._files_differing(["source_file", "title", "n"], old, new, con)
    both_ways = sorted(r[0] for r in con.execute(
        f"SELECT DISTINCT source_file FROM (({old}) EXCEPT ALL ({new}) "
        f"UNION ALL (({new}) EXCEPT ALL ({old})))").fetchall())
    assert found == both_ways == ["c", "d", "gone", "new"]
    assert database._files_differing(["source_file", "title", "n"], old, old, con) == []
    con.close()


def test_a_first_release_without_a_tables_file_is_built_as_with_an_empty_one(tmp_path):
    """A release folder written before a table existed has no file of it; the rebuilt DuckDB
    file gives that table the model's columns (its views need them), as an empty file would."""
    publish(tmp_path, _tables(2), "a" * 64)
    publish(tmp_path, _tables(3), "b" * 64)
    build_duckdb(tmp_path)
    with_file = _duckdb_contents(tmp_path / DUCKDB_FILE)
    (tmp_path / "releases" / "1.0.0" / "changes.parquet").unlink()
    build_duckdb(tmp_path)
    assert _duckdb_contents(tmp_path / DUCKDB_FILE) == with_file


def test_published_versions_are_folders_with_a_manifest_in_version_order(tmp_path):
    root = tmp_path / "releases"
    for name in ("1.10.0", "1.9.0", "2.0.0", ".staging-1.11.0", "1.12.0"):
        (root / name).mkdir(parents=True)
        if name != "1.12.0":  # a folder a crash left without its manifest
            (root / name / "manifest.json").write_text("{}", encoding="utf-8")
    (root / "1.13.0").write_text("a file, not a release", encoding="utf-8")
    (root / "1.14.0").symlink_to(root / "1.13.0")  # a link to a file
    (root / "3.0.0").symlink_to(root / "2.0.0", target_is_directory=True)  # a linked release
    (root / "1.15.0").symlink_to(root / "1.15.0")  # a link to itself
    assert list_versions(tmp_path) == ["1.9.0", "1.10.0", "2.0.0", "3.0.0"]
    assert list_versions(tmp_path / "nowhere") == []
    (tmp_path / "file" / "releases").parent.mkdir()
    (tmp_path / "file" / "releases").write_text("not a folder", encoding="utf-8")
    assert list_versions(tmp_path / "file") == []
