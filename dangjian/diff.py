"""What changed between two releases, number by number.

Rows are matched by ``metric_id`` (a hash of file, document and span), so a mention that kept its
place in an unchanged text is the same row in both releases. The cause is told from what
differs: a document added or removed, a document whose bytes changed (``source text changed``),
the extractor version, or else the rules' output under the same version (``rules or catalog
changed``). DuckDB joins the two Parquet files under a memory limit, spilling to disk beside the
target, so releases of any size diff in bounded memory.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import duckdb
import pyarrow
import pyarrow.parquet as pq

from schemas.tables import arrow_schema

COMPARED = ("value", "value_high", "unit", "qualifier", "quantity_kind", "statistic", "subject",
            "metric", "geography", "period", "extractor")
MEMORY_LIMIT = "256MB"


def _sql(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def changes_query(old: Path, new: Path) -> str:
    """SQL over two release folders that yields the changes table, in its column order."""
    differs = ", ".join(
        f"CASE WHEN o.{c} IS DISTINCT FROM n.{c} THEN '{c}' END" for c in COMPARED)
    fields_json = ", ".join(f"'{c}', {{side}}.{c}" for c in COMPARED)
    columns = ", ".join(("metric_id", "source_file", "char_start", "quote", "extractor_version")
                        + COMPARED)  # not the long context: the join holds less
    return f"""
    WITH o AS (SELECT {columns} FROM read_parquet({_sql(old / 'metrics.parquet')})),
         n AS (SELECT {columns} FROM read_parquet({_sql(new / 'metrics.parquet')})),
         od AS (SELECT source_file, doc_id FROM read_parquet({_sql(old / 'documents.parquet')})),
         nd AS (SELECT source_file, doc_id FROM read_parquet({_sql(new / 'documents.parquet')})),
         versions AS (SELECT (SELECT min(extractor_version) FROM o) AS ov,
                             (SELECT min(extractor_version) FROM n) AS nv),
         joined AS (
           SELECT CASE WHEN o.metric_id IS NULL THEN 'added'
                       WHEN n.metric_id IS NULL THEN 'removed' ELSE 'changed' END AS change,
                  coalesce(n.metric_id, o.metric_id) AS metric_id,
                  coalesce(n.source_file, o.source_file) AS source_file,
                  coalesce(n.char_start, o.char_start) AS char_start,
                  coalesce(n.quote, o.quote) AS quote,
                  CASE WHEN o.metric_id IS NULL OR n.metric_id IS NULL THEN ''
                       ELSE concat_ws(',', {differs}) END AS fields,
                  CASE WHEN o.metric_id IS NOT NULL
                       THEN CAST(json_object({fields_json.format(side='o')}) AS VARCHAR) END AS old,
                  CASE WHEN n.metric_id IS NOT NULL
                       THEN CAST(json_object({fields_json.format(side='n')}) AS VARCHAR) END AS new
           FROM o FULL OUTER JOIN n USING (metric_id))
    SELECT j.change, j.metric_id, j.source_file, j.char_start, j.quote, j.fields, j.old, j.new,
           CASE WHEN od.doc_id IS NULL THEN 'document added'
                WHEN nd.doc_id IS NULL THEN 'document removed'
                WHEN od.doc_id <> nd.doc_id THEN 'source text changed'
                WHEN versions.ov IS DISTINCT FROM versions.nv THEN 'extractor changed'
                ELSE 'rules or catalog changed' END AS cause
    FROM joined j CROSS JOIN versions
    LEFT JOIN od ON od.source_file = j.source_file
    LEFT JOIN nd ON nd.source_file = j.source_file
    WHERE j.change <> 'changed' OR j.fields <> ''
    ORDER BY j.source_file, j.char_start, j.metric_id, j.change
    """


def write_changes(old: Path | None, new: Path, target: Path) -> int:
    """Write the changes table of release folder ``new`` against ``old`` (None: no parent)."""
    schema = arrow_schema("changes").with_metadata({"dangjian.table": "changes"})
    rows = 0
    with pq.ParquetWriter(target, schema, compression="zstd", use_dictionary=True) as writer:
        if old is not None:
            spill = Path(target).parent / ".changes-spill"
            con = duckdb.connect(config={"memory_limit": MEMORY_LIMIT, "threads": 2,
                                         "temp_directory": str(spill),
                                         "preserve_insertion_order": False})
            try:
                reader = con.sql(changes_query(Path(old), Path(new))).to_arrow_reader(65536)
                for batch in reader:
                    table = pyarrow.Table.from_batches([batch]).cast(schema)
                    writer.write_table(table)
                    rows += table.num_rows
            finally:
                con.close()
                shutil.rmtree(spill, ignore_errors=True)
        if rows == 0:
            writer.write_table(schema.empty_table())
    return rows


def diff_releases(old: Path, new: Path) -> list[dict]:
    """The changes between two release folders as rows (for the command line)."""
    spill = Path(tempfile.mkdtemp(prefix="dangjian-diff-"))
    con = duckdb.connect(config={"memory_limit": MEMORY_LIMIT, "temp_directory": str(spill)})
    try:
        cursor = con.execute(changes_query(Path(old), Path(new)))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)


def summarize(changes: list[dict]) -> dict[str, int]:
    counts = {"added": 0, "removed": 0, "changed": 0}
    for change in changes:
        counts[change["change"]] += 1
    return counts
