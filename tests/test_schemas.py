import pyarrow
import pytest

from schemas.tables import TABLES, arrow_schema, columns, schema_fingerprint


@pytest.mark.parametrize("table", list(TABLES))
def test_parquet_schema_is_derived_from_the_model(table):
    schema = arrow_schema(table)
    model_columns = TABLES[table].to_schema().columns
    assert schema.names == list(model_columns)
    for field in schema:
        assert field.nullable == bool(model_columns[field.name].nullable)
        assert field.metadata[b"description"], f"{table}.{field.name} has no description"


def test_contract_types():
    metrics = arrow_schema("metrics")
    assert metrics.field("value").type == pyarrow.float64()
    assert metrics.field("char_start").type == pyarrow.int64()
    assert arrow_schema("documents").field("published").type == pyarrow.date32()
    assert arrow_schema("rejected").field("bytes").type == pyarrow.int64()


def test_contract_columns_present():
    expected = {"metric_id", "doc_id", "source_file", "char_start", "char_end", "quote", "context",
                "value", "value_high", "unit", "qualifier", "quantity_kind", "statistic",
                "subject", "metric", "geography", "period", "extractor", "extractor_version"}
    assert expected <= set(columns("metrics"))
    assert {"doc_id", "source_file", "title", "publisher", "published", "encoding", "script",
            "n_chars"} <= set(columns("documents"))
    assert {"source_file", "sha256", "bytes", "reason"} <= set(columns("rejected"))


def test_fingerprint_is_stable_and_hex():
    assert schema_fingerprint() == schema_fingerprint()
    assert len(schema_fingerprint()) == 64
