import pyarrow
import pyarrow.parquet as pq

from dangjian import datacard


def test_counts_are_the_most_frequent_values_ties_by_value_and_none_named(tmp_path):
    places = ["b", "a", None, "c", "a", "b", None, "d", "(none)"]
    kinds = ["count", "share", "count", "count", "share", "money", "money", "count", "count"]
    pq.write_table(pyarrow.table({"geography": places, "quantity_kind": kinds}),
                   tmp_path / "metrics.parquet")
    counts = datacard._counts(tmp_path, {"geography": 3, "quantity_kind": 10})
    # NULL is counted as "(none)", together with any value of that name
    assert counts["geography"] == [("(none)", 3), ("a", 2), ("b", 2)]
    assert counts["quantity_kind"] == [("count", 5), ("money", 2), ("share", 2)]
