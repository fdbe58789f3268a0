"""The tables of a release, as pandera models: the one definition of every column.

Each model says a column's dtype, whether it may be null, its checks and, in ``description``,
what it means (the data card and ``datapackage.json`` are written from these descriptions). The
Parquet schema is derived from the models by :func:`arrow_schema`, never written out twice.
"""
from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterable

import pandas as pd
import pandera.pandas as pa
import pyarrow
from pandera import dtypes
from pandera.dtypes import immutable
from pandera.engines import pandas_engine
from pandera.typing import Series


@pandas_engine.Engine.register_dtype
@immutable(init=True)
class Text(pandas_engine.STRING):
    """pandas' string dtype, whose check answers once for a column that has it.

    pandera's own string dtype answers with one True per row even then, and for such an answer
    pandera gathers the failing rows and formats a message for every column it checks: 30 to 40 %
    of the time pandera takes to validate a batch's rows, and most of its fixed cost for a
    night's one changed document. Coercion and every other behaviour are the string dtype's.
    """

    def check(self, pandera_dtype: dtypes.DataType,
              data_container: pd.Series | None = None) -> bool | Iterable[bool]:
        try:
            if pandas_engine.Engine.dtype(pandera_dtype).type == self.type:
                return True
        except TypeError:
            return False
        return super().check(pandera_dtype, data_container)


QUALIFIERS = ("exact", "approx", "more_than", "less_than")
QUANTITY_KINDS = ("count", "money", "percent", "percent_point", "age", "area", "duration",
                  "ratio", "rank", "other")
STATISTICS = ("level", "increase", "decrease", "target")
SCRIPTS = ("simplified", "traditional")
SHA256 = r"^[0-9a-f]{64}$"


class Documents(pa.DataFrameModel):
    """One row per raw file that was read as text."""

    doc_id: Series[Text] = pa.Field(str_matches=SHA256,
                                    description="sha256 (hex) of the raw file's bytes")
    source_file: Series[Text] = pa.Field(unique=True,
                                         description="path of the raw file relative to raw/")
    title: Series[Text] = pa.Field(nullable=True, description="headline as found in the text")
    publisher: Series[Text] = pa.Field(nullable=True, description="publisher, e.g. 宁波日报")
    published: Series[pd.Timestamp] = pa.Field(
        nullable=True, metadata={"arrow": "date32"},
        description="publication date, from the text or raw/ metadata")
    url: Series[Text] = pa.Field(nullable=True, description="where the text was published, when known")
    place: Series[Text] = pa.Field(nullable=True,
                                   description="the document's home place (what 全市/我市 refer to)")
    encoding: Series[Text] = pa.Field(description="how the bytes were decoded (utf-8, gb18030, …)")
    script: Series[Text] = pa.Field(isin=SCRIPTS, description="simplified or traditional")
    n_chars: Series[int] = pa.Field(ge=0, description="length of the decoded text in code points")

    class Config:
        strict = True
        coerce = True


class Metrics(pa.DataFrameModel):
    """One row per metric mention, with its provenance."""

    metric_id: Series[Text] = pa.Field(
        unique=True, description="stable id: same mention in the same document text keeps it")
    doc_id: Series[Text] = pa.Field(str_matches=SHA256, description="sha256 of the raw file")
    source_file: Series[Text] = pa.Field(description="path of the raw file relative to raw/")
    char_start: Series[int] = pa.Field(ge=0, description="code-point offset of the quote's start")
    char_end: Series[int] = pa.Field(ge=1, description="code-point offset after the quote's end")
    quote: Series[Text] = pa.Field(str_length={"min_value": 1},
                                   description="the characters as written in the source")
    context: Series[Text] = pa.Field(description="the sentence around it, as written")
    value: Series[float] = pa.Field(description="the number with multipliers applied")
    value_high: Series[float] = pa.Field(nullable=True, description="upper end of a range")
    unit: Series[Text] = pa.Field(description="measure word or unit in simplified Chinese")
    qualifier: Series[Text] = pa.Field(isin=QUALIFIERS, description="exact, approx, more_than, less_than")
    quantity_kind: Series[Text] = pa.Field(isin=QUANTITY_KINDS, description="what sort of quantity")
    statistic: Series[Text] = pa.Field(isin=STATISTICS, description="level, increase, decrease, target")
    subject: Series[Text] = pa.Field(description="what is measured, simplified Chinese")
    metric: Series[Text] = pa.Field(description="canonical metric id from the catalog, or other")
    geography: Series[Text] = pa.Field(nullable=True, description="the area the number describes")
    period: Series[Text] = pa.Field(nullable=True, str_matches=r"^\d{4}$",
                                    description="the year the number refers to")
    extractor: Series[Text] = pa.Field(description="name of the rule that produced the row")
    extractor_version: Series[Text] = pa.Field(description="version of the extraction rules")

    class Config:
        strict = True
        coerce = True

    @pa.dataframe_check(error="char_end must be greater than char_start")
    def span_is_ordered(cls, df: pd.DataFrame) -> pd.Series:
        return df["char_end"] > df["char_start"]

    @pa.dataframe_check(error="quote length must equal char_end - char_start")
    def quote_fits_span(cls, df: pd.DataFrame) -> pd.Series:
        return df["quote"].str.len() == (df["char_end"] - df["char_start"])

    @pa.dataframe_check(error="value_high must be above value")
    def range_is_ordered(cls, df: pd.DataFrame) -> pd.Series:
        return df["value_high"].isna() | (df["value_high"] > df["value"])

    @pa.dataframe_check(error="value must be a finite non-negative number")
    def value_is_finite(cls, df: pd.DataFrame) -> pd.Series:
        return df["value"].between(0, 1e15)


class Quarantine(pa.DataFrameModel):
    """Rows that failed validation: their values, the check that failed and why."""

    table: Series[Text] = pa.Field(description="the table the row was meant for")
    doc_id: Series[Text] = pa.Field(nullable=True, description="document of the row, when known")
    source_file: Series[Text] = pa.Field(nullable=True, description="raw file of the row")
    char_start: Series[float] = pa.Field(nullable=True, description="span start of the row")
    char_end: Series[float] = pa.Field(nullable=True, description="span end of the row")
    quote: Series[Text] = pa.Field(nullable=True, description="quote of the row")
    check: Series[Text] = pa.Field(description="the pandera check that failed")
    reason: Series[Text] = pa.Field(description="why the row failed, in words")
    row: Series[Text] = pa.Field(description="the failing row's values as JSON")

    class Config:
        strict = True
        coerce = True


class Rejected(pa.DataFrameModel):
    """Raw files that could not be read as text."""

    source_file: Series[Text] = pa.Field(description="path of the raw file relative to raw/")
    sha256: Series[Text] = pa.Field(nullable=True, description="sha256 of its bytes, when read")
    bytes: Series[float] = pa.Field(nullable=True, description="its size in bytes")
    reason: Series[Text] = pa.Field(description="why it was not read, with detail")

    class Config:
        strict = True
        coerce = True


CHANGES = ("added", "removed", "changed")


class Changes(pa.DataFrameModel):
    """Metrics added, removed or changed against the parent release, with the likely cause."""

    change: Series[Text] = pa.Field(isin=CHANGES, description="added, removed or changed")
    metric_id: Series[Text] = pa.Field(description="the metric row's stable id")
    source_file: Series[Text] = pa.Field(description="path of the raw file relative to raw/")
    char_start: Series[int] = pa.Field(ge=0, description="offset of the quote in its text")
    quote: Series[Text] = pa.Field(description="the characters as written in the source")
    fields: Series[Text] = pa.Field(description="comma-separated columns that changed")
    old: Series[Text] = pa.Field(nullable=True, description="the parent's values (JSON)")
    new: Series[Text] = pa.Field(nullable=True, description="this release's values (JSON)")
    cause: Series[Text] = pa.Field(description="source text changed, extractor changed, …")

    class Config:
        strict = True
        coerce = True


TABLES: dict[str, type[pa.DataFrameModel]] = {
    "documents": Documents,
    "metrics": Metrics,
    "quarantine": Quarantine,
    "rejected": Rejected,
    "changes": Changes,
}

_ARROW_TYPES = {
    "str": pyarrow.string(),
    "string": pyarrow.string(),
    "int64": pyarrow.int64(),
    "float64": pyarrow.float64(),
    "date32": pyarrow.date32(),
    "datetime64[ns]": pyarrow.timestamp("ns"),
}
# Integers that may be null are stored as float64 in pandas but are integers in Parquet.
_ARROW_OVERRIDES = {("quarantine", "char_start"): pyarrow.int64(),
                    ("quarantine", "char_end"): pyarrow.int64(),
                    ("rejected", "bytes"): pyarrow.int64()}


def skip_dask_dataframe() -> None:
    """Let pandera build these models without importing ``dask.dataframe``.

    pandera imports it (one to two seconds, ~100 MB) the first time it builds a schema, only to
    recognise dask annotations, which these models do not use. For processes that use no dask
    dataframes: batch workers, and the command line unless it runs on Dask.
    """
    sys.modules.setdefault("dask.dataframe", None)  # type: ignore[arg-type]


def columns(table: str) -> list[str]:
    return list(TABLES[table].to_schema().columns)


def arrow_schema(table: str) -> pyarrow.Schema:
    """The Parquet schema of a table, derived from its pandera model."""
    fields = []
    for name, column in TABLES[table].to_schema().columns.items():
        metadata = column.metadata or {}
        dtype = str(column.dtype)
        key = metadata.get("arrow") or ("string" if dtype.startswith(("str", "string")) else dtype)
        arrow_type = _ARROW_OVERRIDES.get((table, name)) or _ARROW_TYPES.get(key)
        if arrow_type is None:
            raise TypeError(f"no Parquet type for {table}.{name} ({column.dtype})")
        fields.append(pyarrow.field(name, arrow_type, nullable=bool(column.nullable),
                                    metadata={"description": column.description or ""}))
    return pyarrow.schema(fields)


def schema_fingerprint() -> str:
    """sha256 of every table's Parquet schema: changes exactly when the contract's form does."""
    spec = {name: [(f.name, str(f.type), f.nullable) for f in arrow_schema(name)]
            for name in sorted(TABLES)}
    return hashlib.sha256(json.dumps(spec, ensure_ascii=False).encode()).hexdigest()
