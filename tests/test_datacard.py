import pyarrow
import pyarrow.parquet as pq

from dangjian import datacard


def test_counts_are_the_most_frequent_values_ties_by_value_and_none_named(tmp_path):
    places = ["b", "a", None, "c", "a", "b", None, "d", "(none)"]
    kinds = ["count", "share", "count", "count", "share", "money", "money", "count", "count"]
    pq.write_table(pyarrow.table({"geography": places, "quantity_kind": kinds,
                                  "metric": ["m"] * 9, "source_file": list("abcdefghi")}),
                   tmp_path / "metrics.parquet")
    counts = datacard._counts(tmp_path, {"geography": 3, "quantity_kind": 10})
    # NULL is counted as "(none)", together with any value of that name
    assert counts["geography"] == [("(none)", 3), ("a", 2), ("b", 2)]
    assert counts["quantity_kind"] == [("count", 5), ("money", 2), ("share", 2)]


def test_the_card_and_the_page_count_a_release_in_one_scan(tmp_path, monkeypatch):
    from pathlib import Path

    from dangjian import queries, report

    pq.write_table(pyarrow.table({"geography": ["a", None], "quantity_kind": ["count"] * 2,
                                  "metric": ["m", "n"], "source_file": ["x", "y"]}),
                   tmp_path / "metrics.parquet")
    scans = []
    real = queries._count
    monkeypatch.setattr(queries, "_count", lambda path, columns: scans.append(columns)
                        or real(Path(path), columns))
    datacard._counts(tmp_path, {"quantity_kind": 12, "geography": 12, "metric": 1000})
    with report._Tables(tmp_path) as tables:
        charts = tables.charts(15)
    assert len(scans) == 1
    assert charts["place"].top == (("(no place)", 1), ("a", 1))
