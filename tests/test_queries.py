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
