import pandas as pd
import pandera.pandas as pa
import pyarrow
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandera.engines import pandas_engine
from pandera.typing import Series

from schemas.tables import TABLES, Text, arrow_schema, columns, schema_fingerprint


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


class _Plain(pa.DataFrameModel):
    quote: Series[str] = pa.Field(nullable=True, str_length={"min_value": 1})
    n: Series[int]

    class Config:
        strict = True
        coerce = True


class _WithText(_Plain):
    quote: Series[Text] = pa.Field(nullable=True, str_length={"min_value": 1})


def _outcome(model, df):
    try:
        return "valid", model.validate(df, lazy=True).to_dict("list")
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases.drop(columns=["schema_context"], errors="ignore")
        return "invalid", sorted(map(str, cases.to_dict("records")))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=3), st.integers(-5, 5), st.floats(0, 1)),
                min_size=1, max_size=6))
def test_text_validates_and_fails_as_the_string_dtype_does(values):
    df = pd.DataFrame({"quote": pd.Series(values, dtype=object), "n": range(len(values))})
    assert _outcome(_WithText, df) == _outcome(_Plain, df)


def test_text_answers_once_for_a_column_of_its_dtype():
    column = pd.Series(["党员", None, "3"], dtype="str")
    dtype = Text()
    assert dtype.check(pandas_engine.Engine.dtype(column.dtype), column) is True
    # a column of another dtype is answered row by row, as the string dtype does
    objects = pd.Series(["党员", 3], dtype=object)
    assert list(dtype.check(pandas_engine.Engine.dtype(objects.dtype), objects)) == [True, False]


@pytest.mark.parametrize("table", list(TABLES))
def test_every_string_column_is_text(table):
    for name, column in TABLES[table].to_schema().columns.items():
        if str(column.dtype).startswith("str"):
            assert isinstance(column.dtype, Text), f"{table}.{name}"
