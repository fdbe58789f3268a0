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
