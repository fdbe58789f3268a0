import os

import pyarrow
import pyarrow.parquet as pq

from dangjian import queries


def test_cursors_share_one_database_and_keep_temp_objects_apart(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(pyarrow.table({"x": [1, 2, 3]}), path)
    first = queries.cursor()
    first.execute(f"CREATE TEMP VIEW mine AS SELECT * FROM read_parquet('{path}')")
    assert first.execute("SELECT sum(x) FROM mine").fetchall() == [(6,)]
    second = queries.cursor()
    assert second.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = 'mine'"
                          ).fetchall() == [(0,)]
    first.close()
    assert second.execute(f"SELECT max(x) FROM '{path}'").fetchall() == [(3,)]
    second.close()
    assert queries._database is not None and queries._owner == os.getpid()


def _counted_by_python(path, column):
    counts = {}
    for value in pq.read_table(path, columns=[column]).column(column).to_pylist():
        counts[value] = counts.get(value, 0) + 1
    return counts


def test_value_counts_count_every_value_of_each_column_null_included(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(pyarrow.table({"a": ["x", "y", None, "x", None, "x"],
                                  "b": ["p", "p", "q", None, "q", "q"],
                                  "n": [1, 1, 2, 2, 3, None]}), path)
    counts = queries.value_counts(path, ["a", "b", "n"])
    assert counts == {c: _counted_by_python(path, c) for c in ("a", "b", "n")}
    assert counts["a"] == {"x": 3, "y": 1, None: 2}
    # asked again, with fewer columns: the same counts, without a scan
    queries._counted[next(k for k in queries._counted if k[0] == str(path))]["a"][None] = -1
    assert queries.value_counts(path, ["a"]) == {"a": {"x": 3, "y": 1, None: -1}}


def test_value_counts_of_a_rewritten_file_are_counted_again(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(pyarrow.table({"a": ["x", "x"]}), path)
    assert queries.value_counts(path, ["a"]) == {"a": {"x": 2}}
    pq.write_table(pyarrow.table({"a": ["y", "y", "y"]}), path)
    assert queries.value_counts(path, ["a"]) == {"a": {"y": 3}}


def test_a_file_sharing_row_groups_with_the_file_counted_before_counts_only_its_own(
        tmp_path, monkeypatch):
    """Row groups copied byte for byte (as a release copies its parent's kept batches) keep
    their counts; the others are counted, and every sum equals a count of the whole file, a
    group found twice counted twice."""
    from dangjian.parquet_concat import concatenate

    parts = []
    for k, rows in enumerate((["x", "y", None], ["y", "y"], ["z"], ["x", None])):
        parts.append(tmp_path / f"part{k}.parquet")
        pq.write_table(pyarrow.table({"a": rows, "b": [len(r or "") for r in rows]}), parts[-1])
    monkeypatch.setattr(queries, "_group_counts", {})
    counted = []
    real = queries._count_rows
    monkeypatch.setattr(queries, "_count_rows", lambda path, columns, ranges=None:
                        counted.append(ranges) or real(path, columns, ranges))

    def joined(name, chosen):
        concatenate([parts[k] for k in chosen], tmp_path / name)
        return tmp_path / name

    first = joined("first.parquet", [0, 1, 2])
    assert queries.value_counts(first, ["a", "b"]) == {c: _counted_by_python(first, c)
                                                         for c in ("a", "b")}
    assert counted == [[(0, 3), (3, 5), (5, 6)]]
    second = joined("second.parquet", [0, 3, 2, 3])  # part 1 gone, part 3 new and twice
    counted.clear()
    assert queries.value_counts(second, ["a", "b"]) == {c: _counted_by_python(second, c)
                                                          for c in ("a", "b")}
    assert counted == [[(3, 5)]]
    assert queries.value_counts(second, ["a"])["a"] == {"x": 3, "y": 1, None: 3, "z": 1}


def test_value_counts_of_a_file_with_a_column_named_like_the_query_s_own(tmp_path):
    path = tmp_path / "g.parquet"
    pq.write_table(pyarrow.table({"g": ["x", "y", "x"], "file": [1, 1, 2]}), path)
    queries.value_counts(path, ["file"])  # its row groups counted
    pq.write_table(pyarrow.table({"g": ["x", "y", "x"], "file": [1, 1, 2], "z": [0, 0, 0]}),
                   path, row_group_size=2)
    assert queries.value_counts(path, ["g", "file"]) == {"g": {"x": 2, "y": 1},
                                                         "file": {1: 2, 2: 1}}
