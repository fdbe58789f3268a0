import pyarrow
import pyarrow.parquet as pq

from dangjian.pipeline import frame
from dangjian.staging import ROW_GROUP_ROWS, assemble, to_arrow, write_part


def _rows(n):
    return [{
        "metric_id": f"{i:020d}", "doc_id": f"{i // 20:064d}", "source_file": f"{i // 20:07d}.txt",
        "char_start": i % 20 * 10, "char_end": i % 20 * 10 + 4, "quote": f"{i % 997}个",
        "context": f"第{i}句：全市共有基层党组织{i}个，党员{i * 7}名，比上年增长{i % 13}。" * 2,
        "value": float(i), "value_high": None, "unit": "个", "qualifier": "exact",
        "quantity_kind": "count", "statistic": "level", "subject": "基层党组织",
        "metric": "party_organizations", "geography": None, "period": None,
        "extractor": "quantity.unit", "extractor_version": "1",
    } for i in range(n)]


def _stage(work, rows, cut):
    for index, start in enumerate(range(0, len(rows), cut)):
        write_part(work, "metrics", index, frame("metrics", rows[start:start + cut]))
    return sorted((work / "metrics").glob("*.parquet"))


def test_a_table_is_its_parts_rows_in_order_however_they_were_cut(tmp_path):
    # A part over a row group's size, and a column whose dictionary outgrows its page.
    rows = _rows(ROW_GROUP_ROWS + 9000)
    expected = to_arrow("metrics", frame("metrics", rows))
    for cut in (7777, ROW_GROUP_ROWS + 100):
        target = tmp_path / f"metrics-{cut}.parquet"
        parts = _stage(tmp_path / f"w{cut}", rows, cut)
        count, digest, size = assemble("metrics", parts, target)
        assert count == len(rows) and size == target.stat().st_size
        assert pq.read_table(target).equals(expected)
        assert pq.read_table(target).schema.metadata == {b"dangjian.table": b"metrics"}
        groups = sum(pq.read_metadata(p).num_row_groups for p in parts)
        assert pq.read_metadata(target).num_row_groups == groups
    # the first part holds a row group and 100 rows, the second the rest
    assert pq.read_metadata(tmp_path / f"metrics-{ROW_GROUP_ROWS + 100}.parquet").num_row_groups == 3


def test_a_part_has_the_same_bytes_however_its_rows_arrived(tmp_path):
    # Kept rows from the cache join new ones in another chunk: the part must not show it.
    rows = _rows(3000)
    df = frame("metrics", rows)
    write_part(tmp_path / "a", "metrics", 0, df.sample(frac=1, random_state=3))
    kept = to_arrow("metrics", df.iloc[1000:])
    kept = pyarrow.concat_tables([kept.slice(0, 700), kept.slice(700)])  # two chunks
    write_part(tmp_path / "b", "metrics", 0, df.iloc[:1000], kept=kept)
    a, b = (tmp_path / x / "metrics" / "00000000.parquet" for x in "ab")
    assert a.read_bytes() == b.read_bytes()


def test_the_same_parts_give_the_same_bytes(tmp_path):
    rows = _rows(5000)
    digests = {assemble("metrics", _stage(tmp_path / f"w{i}", rows, 1200),
                        tmp_path / f"t{i}.parquet")[1] for i in range(2)}
    assert len(digests) == 1


def test_parts_without_rows_are_left_out_and_none_at_all_give_the_schema(tmp_path):
    write_part(tmp_path / "w", "metrics", 0, frame("metrics", []))
    write_part(tmp_path / "w", "metrics", 1, frame("metrics", _rows(30)))
    write_part(tmp_path / "w", "metrics", 2, frame("metrics", []))
    parts = sorted((tmp_path / "w" / "metrics").glob("*.parquet"))
    assert assemble("metrics", parts, tmp_path / "t.parquet")[0] == 30
    assert pq.read_metadata(tmp_path / "t.parquet").num_row_groups == 1
    count = assemble("metrics", [parts[0], parts[2]], tmp_path / "e.parquet")[0]
    table = pq.read_table(tmp_path / "e.parquet")
    assert count == 0 == table.num_rows
    assert table.schema.equals(to_arrow("metrics", frame("metrics", [])).schema)
    assert table.schema.metadata == {b"dangjian.table": b"metrics"}
