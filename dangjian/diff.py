"""What changed between two releases, number by number.

Rows are matched by ``metric_id`` (a hash of file, document and span), so a mention that kept its
place in an unchanged text is the same row in both releases. The cause is told from what
differs: a document added or removed, a document whose bytes changed (``source text changed``),
the extractor version, or else the rules' output under the same version (``rules or catalog
changed``). DuckDB joins the two Parquet files under a memory limit, spilling to disk beside the
target, so releases of any size diff in bounded memory.

A release's tables are its batches' row groups copied byte for byte, and a batch kept from an
earlier run is the same row group in both releases, with no change in it: only the rows of the
row groups the two releases do not share are joined (:mod:`dangjian.row_groups`), read by DuckDB
from the files by their ranges of source_file, while they are few. Otherwise the files are
joined as below.

When both releases were extracted by the same rules (the parent's manifest names the fingerprint
the caller vouches for), a document's metrics are a function of its documents row (its bytes,
name, place and date), so the documents whose row is the same in both releases have the same
metrics and only the other documents' metrics are joined: a night that changed one document
reads one document's rows instead of every row.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import duckdb
import pyarrow
import pyarrow.parquet as pq

from dangjian import queries, row_groups
from dangjian.queries import literal
from schemas.tables import arrow_schema

COMPARED = ("value", "value_high", "unit", "qualifier", "quantity_kind", "statistic", "subject",
            "metric", "geography", "period", "extractor")
#: What the join reads of a metric row: not the long context, so the join holds less.
COLUMNS = ("metric_id", "source_file", "char_start", "quote", "extractor_version") + COMPARED
MEMORY_LIMIT = "256MB"
BATCH_ROWS = 65536


def _touched_ctes(old: Path, new: Path) -> str:
    """CTEs naming the files whose metrics may differ: those with metrics in either release whose
    documents row (every column) is not the same in both. INTERSECT and EXCEPT compare NULLs as
    equal, so a row with a NULL title is still the same row."""
    od, nd = literal(old / "documents.parquet"), literal(new / "documents.parquet")
    om, nm = literal(old / "metrics.parquet"), literal(new / "metrics.parquet")
    return f"""
         stable AS (SELECT source_file FROM (
                      FROM read_parquet({od}) INTERSECT FROM read_parquet({nd}))),
         touched AS ((SELECT source_file FROM read_parquet({om})
                      UNION SELECT source_file FROM read_parquet({nm}))
                     EXCEPT SELECT source_file FROM stable),"""


def changes_query(old: Path, new: Path, changed_documents_only: bool = False,
                  metrics: tuple[str, str] | None = None) -> str:
    """SQL over two release folders that yields the changes table, in its column order.

    ``changed_documents_only`` joins only the metrics of files whose documents row differs (see
    :func:`write_changes` for when that gives the same table); the extractor versions behind
    the cause are still taken over every row. ``metrics``: the relations (old, new) that hold
    the metric rows to join, when not all of each file's (see :func:`unshared_metrics`).
    """
    differs = ", ".join(
        f"CASE WHEN o.{c} IS DISTINCT FROM n.{c} THEN '{c}' END" for c in COMPARED)
    fields_json = ", ".join(f"'{c}', {{side}}.{c}" for c in COMPARED)
    columns = ", ".join(COLUMNS)
    om, nm = literal(old / "metrics.parquet"), literal(new / "metrics.parquet")
    old_docs, new_docs = literal(old / "documents.parquet"), literal(new / "documents.parquet")
    touched, only = "", ""
    if changed_documents_only:
        touched = _touched_ctes(old, new)
        only = "WHERE source_file IN (SELECT source_file FROM touched)"
    # versions reads the files, not o and n: a CTE read twice is materialised, every column of
    # every row, and under the fast path o and n hold only some rows.
    o_rows, n_rows = metrics or (f"read_parquet({om})", f"read_parquet({nm})")
    return f"""
    WITH {touched}
         o AS (SELECT {columns} FROM {o_rows} {only}),
         n AS (SELECT {columns} FROM {n_rows} {only}),
         od AS (SELECT source_file, doc_id FROM read_parquet({old_docs})),
         nd AS (SELECT source_file, doc_id FROM read_parquet({new_docs})),
         versions AS (SELECT (SELECT min(extractor_version) FROM read_parquet({om})) AS ov,
                             (SELECT min(extractor_version) FROM read_parquet({nm})) AS nv),
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


def manifest_rules(folder: Path) -> str | None:
    """The rules fingerprint a release's manifest records, or None when there is none to read."""
    try:
        manifest = json.loads((Path(folder) / "manifest.json").read_text(encoding="utf-8"))
        rules = (manifest.get("code_version") or {}).get("rules")
    except (OSError, ValueError, AttributeError):
        return None
    return rules if isinstance(rules, str) and rules else None


def same_extraction(old: Path, new: Path, rules: str | None) -> bool:
    """Whether only changed documents need joining: ``new`` was extracted by ``rules`` (the
    caller vouches; a manifest only says what stamped it), the parent's manifest records the
    same rules, and the documents tables have the same columns (INTERSECT compares by place)."""
    if rules is None or manifest_rules(old) != rules:
        return False
    try:
        return pq.read_schema(old / "documents.parquet").equals(
            pq.read_schema(new / "documents.parquet"), check_metadata=False)
    except OSError:
        return False


def write_changes(old: Path | None, new: Path, target: Path, rules: str | None = None) -> int:
    """Write the changes table of release folder ``new`` against ``old`` (None: no parent).

    ``rules``: the fingerprint of the rules that extracted ``new``'s tables from its documents
    (:func:`dangjian.cache.rules_fingerprint` when publishing a run). When the parent was extracted
    by the same rules, a document whose row is the same in both releases has the same metrics,
    so only the other documents are joined: the same table, at the cost of what changed. Tables
    put together by hand, whose metrics change under the same rules, must not pass it.
    """
    schema = arrow_schema("changes").with_metadata({"dangjian.table": "changes"})
    rows = 0
    with pq.ParquetWriter(target, schema, compression="zstd", use_dictionary=True) as writer:
        if old is not None:
            old, new = Path(old), Path(new)
            unshared = unshared_metrics(old, new)
            if unshared is not None:
                query = changes_query(old, new, metrics=unshared)
            else:
                query = changes_query(old, new, same_extraction(old, new, rules))
            rows = _write_query(query, Path(target).parent / ".changes-spill", schema, writer,
                                shared=unshared is not None)
        if rows == 0:
            writer.write_table(schema.empty_table())
    return rows


def unshared_metrics(old: Path, new: Path) -> tuple[str, str] | None:
    """Relations of the metric rows of the row groups two releases do not share byte for byte
    (:func:`dangjian.row_groups.unshared_relations`), the old release's first. A metric id is
    in one row of a release, so a row in a shared group has its equal in the other release and
    no change; joining the rest gives every change, whatever rules made either release."""
    relations = row_groups.unshared_relations([new / "metrics.parquet"], [old / "metrics.parquet"])
    return None if relations is None else (relations[1], relations[0])


def _write_query(query: str, spill: Path, schema: pyarrow.Schema, writer: pq.ParquetWriter,
                 shared: bool = False) -> int:
    """Stream the query's rows into ``writer``, one row group per batch; the number of rows.
    ``shared``: the query joins the rows of unshared row groups by their ranges (which take in
    at most ``row_groups.MAX_UNSHARED_BYTES`` of row groups), in the process's shared database
    (opening one costs more than a night's join). Joining whole files takes a database of its
    own, which spills to disk past its memory limit."""
    rows = 0
    if shared:
        con = queries.cursor()
    else:
        con = duckdb.connect(config={"memory_limit": MEMORY_LIMIT, "threads": 2,
                                     "temp_directory": str(spill),
                                     "preserve_insertion_order": False})
    try:
        for batch in con.sql(query).to_arrow_reader(BATCH_ROWS):
            table = pyarrow.Table.from_batches([batch]).cast(schema)
            writer.write_table(table)
            rows += table.num_rows
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)
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
