import pyarrow.parquet as pq

from dangjian.pipeline import frame
from dangjian.staging import ROW_GROUP_ROWS, assemble, write_part


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


def test_a_table_has_the_same_bytes_however_its_rows_were_cut_into_parts(tmp_path):
    # Enough rows for two row groups and a column whose dictionary outgrows its page, so that
    # pages and the fallback from the dictionary are cut inside a row group.
    rows = _rows(ROW_GROUP_ROWS + 9000)
    targets = []
    for cut in (1000, 7777, 40000):
        work = tmp_path / f"w{cut}"
        for index, start in enumerate(range(0, len(rows), cut)):
            write_part(work, "metrics", index, frame("metrics", rows[start:start + cut]))
        target = tmp_path / f"metrics-{cut}.parquet"
        assemble("metrics", sorted((work / "metrics").glob("*.parquet")), target)
        targets.append(target.read_bytes())
    assert targets[0] == targets[1] == targets[2]
    assert pq.read_metadata(tmp_path / "metrics-1000.parquet").num_row_groups == 2
