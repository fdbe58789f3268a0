"""The DuckDB file: every release's tables in one file, each distinct row stored once.

A nightly release differs from its parent in a few documents, so storing every release's rows
in full would make the file, and the work of adding a release, grow with the number of releases
times the corpus. Instead ``<table>_rows`` holds each row once, with the first and the last
release it belongs to (``since_seq`` and ``until_seq``, positions in the ``releases`` table;
``until_seq`` is NULL while the row is in the latest release). What users query are views:

- ``<table>``: the rows of every release, with a ``release`` column (as if each release's table
  had been stored in full);
- ``<table>_latest``: the rows of the newest release;
- ``releases``: one row per release, ``metric_series``: the same metric, place and period across
  documents.

Adding a release compares its rows with the rows of its parent: rows that are no longer there
get their ``until_seq``, new ones are inserted. Under the same rules and table models, a
document's rows depend only on the document (the extraction cache relies on the same fact), so
the metric rows of documents whose ``documents`` row is unchanged are not compared at all. A
release's tables are its batches' row groups copied byte for byte, and a kept batch is the same
row group in the parent, so only the rows of row groups the two releases do not share are read
and compared.
The file is written in the 1.0 storage format, so DuckDB 1.x clients can open it.
"""
from __future__ import annotations

import copy
import glob
import hashlib
import logging
import os
import secrets
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import duckdb

from dangjian import row_groups
from dangjian.queries import literal
from dangjian.staging import _alive as alive
from schemas.tables import arrow_schema

logger = logging.getLogger(__name__)

#: The tables built from raw/; ``changes`` is derived from them and the parent release.
CONTENT_TABLES = ("documents", "metrics", "quarantine", "rejected")
#: Tables of a release folder that go into the file, in the order they are added.
TABLES = (*CONTENT_TABLES, "changes")
ROWS = "{table}_rows"
OPEN_END = 2 ** 31 - 1
ROW_HASH = "row_hash"
#: Tables whose models make every row distinct (a unique source file or metric id), so that
#: matching rows as sets is matching them as multisets.
UNIQUE_ROWS = ("documents", "metrics")
#: Columns of ``<table>_rows`` that are not the table's own.
BOOKKEEPING = (ROW_HASH, "since_seq", "until_seq")

RELEASES_TABLE = ("CREATE TABLE releases (version VARCHAR PRIMARY KEY, parent VARCHAR, "
                  "created VARCHAR, code_version VARCHAR, extractor_version VARCHAR, "
                  "input_corpus_hash VARCHAR, schema_fingerprint VARCHAR, documents BIGINT, "
                  "metrics BIGINT, quarantine BIGINT, rejected BIGINT, changes BIGINT, "
                  "is_latest BOOLEAN, seq INTEGER, rules VARCHAR)")

ALL_VIEW = ("CREATE OR REPLACE VIEW {table} AS SELECT r.version AS release, "
            "t.* EXCLUDE (row_hash, since_seq, until_seq) FROM {table}_rows t JOIN releases r "
            f"ON r.seq BETWEEN t.since_seq AND coalesce(t.until_seq, {OPEN_END})")
LATEST_VIEW = ("CREATE OR REPLACE VIEW {table}_latest AS "
               "SELECT * EXCLUDE (row_hash, since_seq, until_seq) "
               "FROM {table}_rows WHERE until_seq IS NULL")

SERIES_VIEW = """
CREATE OR REPLACE VIEW metric_series AS
WITH latest AS (SELECT * FROM metrics_latest WHERE metric <> 'other')
SELECT m.metric, m.geography,
       coalesce(m.period, strftime(d.published, '%Y')) AS as_of,
       m.period, m.unit, m.quantity_kind, m.statistic, m.value,
       m.value_high, m.qualifier, m.subject, m.quote, d.title, d.publisher, d.published,
       m.source_file, m.metric_id,
       count(DISTINCT m.doc_id) OVER w AS n_documents,
       count(DISTINCT m.doc_id) OVER w > 1 AND count(DISTINCT m.value) OVER w > 1 AS conflict
FROM latest m LEFT JOIN documents_latest d USING (doc_id)
WINDOW w AS (PARTITION BY m.metric, m.geography, as_of, m.unit, m.statistic)
ORDER BY m.metric, m.geography, as_of NULLS FIRST, m.source_file, m.char_start
"""
#: What the views of a file were made by, as the comment of its last view: a release that adds
#: no table or column to a file whose views carry this tag leaves them as they are.
VIEWS_TAG = "dangjian views " + hashlib.sha256(
    "\n".join([*TABLES, ALL_VIEW, LATEST_VIEW, SERIES_VIEW]).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Release:
    """A published (or staged) release: its version, folder and manifest."""

    version: str
    folder: Path
    manifest: dict[str, Any]
    #: Where a table's rows are, when not in ``folder``: Parquet files read in order.
    sources: dict[str, list[Path]] = field(default_factory=dict)

    def files(self, table: str) -> list[Path]:
        if table in self.sources:
            return self.sources[table]
        path = self.folder / f"{table}.parquet"
        return [path] if path.is_file() else []

    @property
    def rules(self) -> str | None:
        return (self.manifest.get("code_version") or {}).get("rules")

    def same_rules_as(self, other: dict[str, Any] | None) -> bool:
        """Whether rows of unchanged documents are the same in both: same rules, same models."""
        if other is None or self.rules is None:
            return False
        return (self.rules == (other.get("code_version") or {}).get("rules")
                and self.manifest.get("schema_fingerprint") == other.get("schema_fingerprint"))


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def connect(path: Path) -> duckdb.DuckDBPyConnection:
    """A connection whose default database is the file at ``path`` (1.0 storage format).

    FSST, DuckDB's compression of strings by a trained symbol table, is left out: choosing and
    training it took a good part of writing the rows (the first build of 222,000 metric rows
    at 10,000 documents: 1.36 s against 1.67 s with it; a night's checkpoint 0.05 s against
    0.08 s) for a file a tenth smaller (31 MB against 34 MB). Strings are still stored by
    dictionary where that pays. (Given to ``connect`` as a config key, the setting is ignored.)
    """
    con = duckdb.connect(config={"memory_limit": "512MB", "threads": 2})
    con.execute("SET disabled_compression_methods = 'fsst'")
    con.execute(f"ATTACH {literal(path)} AS db (STORAGE_VERSION 'v1.0.0')")
    con.execute("USE db")
    return con


def close(con: duckdb.DuckDBPyConnection) -> None:
    """Detach and close, so the file is complete on disk."""
    try:
        con.execute("USE memory")
        con.execute("DETACH db")
    finally:
        con.close()


def remove(path: Path) -> None:
    for leftover in (path, path.with_name(path.name + ".wal")):
        leftover.unlink(missing_ok=True)


def latest(path: Path) -> str | None:
    """The latest release recorded in the file, or None when it is missing, unreadable or in
    another layout (then it is rebuilt)."""
    if not Path(path).is_file():
        return None
    try:
        con = duckdb.connect(str(path), read_only=True)
        try:
            return _latest_of(con)
        finally:
            con.close()
    except duckdb.Error:
        return None


def _latest_of(con: duckdb.DuckDBPyConnection) -> str | None:
    """:func:`latest` over an open connection to the file."""
    if not _has_layout(con):
        return None
    row = con.execute("SELECT version FROM releases WHERE is_latest").fetchone()
    return row[0] if row else None


def _has_layout(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the file stores rows once (this layout) rather than a table per release."""
    found = con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main' AND "
                        "table_name IN ('releases', 'metrics_rows') AND database_name = "
                        "current_database()").fetchone()
    return bool(found and found[0] == 2)


def known_versions(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [row[0] for row in con.execute("SELECT version FROM releases ORDER BY seq").fetchall()]


def create(con: duckdb.DuckDBPyConnection) -> None:
    """An empty file of this layout: the releases table and no rows."""
    con.execute(RELEASES_TABLE)


def _columns(con: duckdb.DuckDBPyConnection, relation: str) -> list[tuple[str, str]]:
    return [(row[0], row[1]) for row in con.execute(f"DESCRIBE {relation}").fetchall()]


def _table_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]] | None:
    rows = con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE "
                       "database_name = current_database() AND table_name = ? "
                       "ORDER BY column_index", [ROWS.format(table=table)]).fetchall()
    return [(name, kind) for name, kind in rows] or None


def add_content(con: duckdb.DuckDBPyConnection, release: Release, seq: int,
                parent: Release | None, tables: tuple[str, ...] = TABLES) -> bool:
    """Add the rows of ``tables`` of ``release`` (position ``seq``) after ``parent``, the release
    at ``seq - 1``; inside the caller's transaction. True when it made a table's rows table or
    added a column to one (the views are then made again)."""
    same = parent if parent is not None and release.same_rules_as(parent.manifest) else None
    changed: list[str] | None = None
    reshaped = False
    for table in tables:
        files = release.files(table)
        if table == "metrics" and same and changed is not None:
            unshared = row_groups.unshared_ranges(files, same.files(table), changed)
            reshaped |= _add_table(con, table, files, seq, only_files=changed,
                                   unshared=unshared).reshaped
        elif table == "documents" and same:
            unshared = row_groups.unshared_ranges(files, same.files(table))
            added = _add_table(con, table, files, seq, report_files=True, unshared=unshared)
            changed = added.changed
            reshaped |= added.reshaped
        elif same and row_groups.same_groups(files, same.files(table)):
            # Every row group is one of the parent's, and the parent's rows are the ones
            # alive: nothing ends and nothing is new (a night's quarantine and rejected files).
            continue
        else:
            reshaped |= _add_table(con, table, files, seq).reshaped
    return reshaped


class Added(NamedTuple):
    """What :func:`_add_table` did: the source files whose rows changed (when asked) and
    whether it added a column to the table's rows."""

    changed: list[str] | None
    reshaped: bool


def _files_differing(names: list[str], old_rows: str, new_rows: str,
                     con: duckdb.DuckDBPyConnection) -> list[str]:
    """The source files whose rows differ between two relations of a table whose model makes
    source_file unique (documents): a join by file, a third of the time of EXCEPT ALL on whole
    rows both ways. Should a file appear twice after all, a change of its number of copies goes
    unseen here, but the copies still count in the caller's hash check of the other files' rows,
    which then falls back to comparing every row."""
    differ = " OR ".join(f"o.{_quote(n)} IS DISTINCT FROM n.{_quote(n)}" for n in names)
    return sorted(r[0] for r in con.execute(
        f"SELECT DISTINCT coalesce(o.source_file, n.source_file) FROM ({old_rows}) o "
        f"FULL OUTER JOIN ({new_rows}) n ON o.source_file = n.source_file "
        f"WHERE o.source_file IS NULL OR n.source_file IS NULL OR {differ}").fetchall())


def _add_table(con: duckdb.DuckDBPyConnection, table: str, files: list[Path], seq: int,
               only_files: list[str] | None = None, report_files: bool = False,
               unshared: list[tuple[str, str]] | None = None) -> Added:
    """End the rows of ``table`` that are not in the release's file any more and insert the
    new ones. ``only_files``: compare only rows of these source files, once the hashes of the
    other files' rows show them unchanged. ``report_files``: return the source files whose rows
    changed. ``unshared``: the ranges of source files that hold every row the release and its
    parent do not share (see :func:`dangjian.row_groups.unshared_ranges`; the parent's rows
    are the file's rows alive now), so that only those are compared."""
    rows = ROWS.format(table=table)
    have = _table_columns(con, table)
    incoming = f"read_parquet([{', '.join(literal(f) for f in files)}])" if files else None
    present = dict(_columns(con, f"SELECT * FROM {incoming}")) if incoming is not None else {}
    if have is None:  # the first release with this table
        if incoming is None:
            # A release without the table's file (one written before the table existed): the
            # model's columns, as an empty file of the table has them, so that the table's
            # views can be made and a later release's rows fit.
            con.register("model_columns", arrow_schema(table).empty_table())
            try:
                con.execute(f"CREATE TABLE {rows} AS SELECT *, NULL::UBIGINT AS {ROW_HASH}, "
                            "NULL::INTEGER AS since_seq, NULL::INTEGER AS until_seq "
                            "FROM model_columns")
            finally:
                con.unregister("model_columns")
        else:
            con.execute(f"CREATE TABLE {rows} AS SELECT *, {_hash(list(present))} AS {ROW_HASH}, "
                        f"{seq}::INTEGER AS since_seq, NULL::INTEGER AS until_seq FROM {incoming}")
        return Added(None, True)
    data = [(n, k) for n, k in have if n not in BOOKKEEPING]
    reshaped = False
    for name, kind in present.items():
        if name not in dict(data):  # a column new in this release: earlier rows have NULL
            con.execute(f"ALTER TABLE {rows} ADD COLUMN {_quote(name)} {kind}")
            data.append((name, kind))
            reshaped = True
    names = [n for n, _ in data]
    values = ", ".join(f"CAST({_quote(n)} AS {k}) AS {_quote(n)}" if n in present
                       else f"NULL::{k} AS {_quote(n)}" for n, k in data)
    keyed = ", ".join(_quote(n) for n in [*names, ROW_HASH])
    hashed = (f"SELECT {values}, {_hash(names)} AS {ROW_HASH} FROM {incoming}" if incoming
              else f"SELECT {values}, 0::UBIGINT AS {ROW_HASH} WHERE false")
    alive_rows = alive_all = f"SELECT {keyed} FROM {rows} WHERE until_seq IS NULL"
    in_files = ""
    changed: list[str] | None = None
    by_file = incoming is not None and "source_file" in present
    if unshared is not None and by_file and (only_files is not None or report_files):
        # Every row outside the ranges is in a row group the parent has byte for byte, and the
        # parent's rows are the ones alive: its rows in the ranges are read from the table,
        # with their stored hashes, and the release's from its files.
        where = row_groups.in_ranges(unshared)
        hashed, alive_rows = f"{hashed} WHERE {where}", f"{alive_rows} AND ({where})"
        if report_files:
            only_files = changed = _files_differing(names, alive_rows, hashed, con)
    if only_files is not None and by_file:
        in_files = _in_files(con, only_files)
        left, right = (con.execute(f"SELECT count(*), sum({ROW_HASH}::HUGEINT) FROM ({side}) "
                                   f"WHERE NOT {in_files}").fetchall()
                       for side in (hashed, alive_rows))
        if left != right:
            # the other files' rows differ after all: compare everything
            in_files, changed = "", None
            hashed = f"SELECT {values}, {_hash(names)} AS {ROW_HASH} FROM {incoming}"
        elif not only_files:
            return Added(changed, reshaped)
    con.execute(f"CREATE OR REPLACE TEMP TABLE incoming AS SELECT * FROM ({hashed})"
                + (f" WHERE {in_files}" if in_files else ""))
    alive = alive_all + (f" AND {in_files}" if in_files else "")
    if report_files and changed is None and "source_file" in names:
        changed = sorted(r[0] for r in con.execute(
            f"SELECT DISTINCT source_file FROM (({alive}) EXCEPT ALL (SELECT {keyed} FROM "
            f"incoming) UNION ALL ((SELECT {keyed} FROM incoming) EXCEPT ALL ({alive})))"
        ).fetchall())
    same = " AND ".join(f"i.{_quote(n)} IS NOT DISTINCT FROM t.{_quote(n)}" for n in names)
    # Pair alive and incoming rows that are equal (by hash, then in full), end the alive rows
    # left unpaired and insert the incoming ones left unpaired. At 2.2 million metric rows this
    # takes a third of the time of NOT EXISTS and EXCEPT ALL on whole rows.
    joined = (f"FROM {rows} t JOIN incoming i ON i.{ROW_HASH} = t.{ROW_HASH}"
              + (f" AND {same}" if same else "") + " WHERE t.until_seq IS NULL"
              + (f" AND t.{in_files}" if in_files else ""))
    pairs = f"SELECT t.rowid AS kept, i.rowid AS came {joined}"
    if table not in UNIQUE_ROWS:
        # Rows may repeat here (in UNIQUE_ROWS the model makes them distinct): of k alive and m
        # incoming copies of a row, pair the n-th with the n-th, so that a row with fewer
        # copies than before ends as many.
        row = ", ".join(f"i.{_quote(n)}" for n in [*names, ROW_HASH])
        pairs = (f"SELECT kept, came FROM (SELECT t.rowid AS kept, i.rowid AS came, "
                 f"dense_rank() OVER (PARTITION BY {row} ORDER BY t.rowid) AS a, "
                 f"dense_rank() OVER (PARTITION BY {row} ORDER BY i.rowid) AS b {joined}) "
                 "WHERE a = b")
    con.execute(f"CREATE OR REPLACE TEMP TABLE pairs AS {pairs}")
    con.execute(f"UPDATE {rows} SET until_seq = {seq - 1} WHERE until_seq IS NULL"
                + (f" AND {in_files}" if in_files else "")
                + " AND rowid NOT IN (SELECT kept FROM pairs)")
    con.execute(f"INSERT INTO {rows} ({keyed}, since_seq, until_seq) SELECT {keyed}, {seq}, "
                "NULL FROM incoming WHERE rowid NOT IN (SELECT came FROM pairs)")
    con.execute("DROP TABLE pairs")
    con.execute("DROP TABLE incoming")
    return Added(changed, reshaped)


#: Up to this many changed files are written into the SQL as a list of literals, which DuckDB
#: checks against each row group's range of ``source_file`` and so skips the groups that hold
#: none of them: matching a night's changed rows took a sixth of the time it takes with the
#: names in a table, which every row is joined against.
LITERAL_FILES = 500


def _in_files(con: duckdb.DuckDBPyConnection, only_files: list[str]) -> str:
    """A condition on ``source_file`` that holds for the files ``only_files``; for none, false
    for every row (as ``IN`` over an empty table is, a NULL name included)."""
    if not only_files:
        return "false"
    if len(only_files) <= LITERAL_FILES:
        return f"source_file IN ({', '.join(literal(f) for f in only_files)})"
    con.execute("CREATE OR REPLACE TEMP TABLE changed_files (source_file VARCHAR)")
    con.executemany("INSERT INTO changed_files VALUES (?)", [[f] for f in only_files])
    return "source_file IN (SELECT source_file FROM changed_files)"


def _hash(names: list[str]) -> str:
    """A 64-bit hash of a row's values: the key rows are matched on, then compared in full."""
    return f"hash({', '.join(_quote(n) for n in names)})" if names else "0::UBIGINT"


def add_release_row(con: duckdb.DuckDBPyConnection, release: Release, seq: int,
                    views: bool = True) -> None:
    """The release's row in ``releases``, now the latest; and, with ``views``, the views over
    every table (tagged :data:`VIEWS_TAG`)."""
    manifest = release.manifest
    files = manifest.get("files", {})
    code = manifest.get("code_version") or {}
    con.execute("UPDATE releases SET is_latest = false WHERE is_latest")
    con.execute("INSERT INTO releases VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
        release.version, manifest.get("parent"), manifest.get("created"), code.get("package"),
        code.get("extractor"), manifest.get("input_corpus_hash"),
        manifest.get("schema_fingerprint"),
        *(files.get(f"{t}.parquet", {}).get("rows") for t in TABLES), True, seq, release.rules])
    if not views:
        return
    # add_content made each table's rows table (a table without columns could have no views)
    for table in TABLES:
        con.execute(ALL_VIEW.format(table=table))
        con.execute(LATEST_VIEW.format(table=table))
    con.execute(SERIES_VIEW)
    con.execute(f"COMMENT ON VIEW metric_series IS {literal(VIEWS_TAG)}")


def views_tag(con: duckdb.DuckDBPyConnection) -> str | None:
    """The tag of the file's views (see :data:`VIEWS_TAG`), None without one."""
    row = con.execute("SELECT comment FROM duckdb_views() WHERE database_name = "
                      "current_database() AND schema_name = 'main' AND "
                      "view_name = 'metric_series'").fetchone()
    return row[0] if row else None


def add_release(con: duckdb.DuckDBPyConnection, release: Release,
                parent: Release | None) -> None:
    seq = len(known_versions(con)) + 1
    add_content(con, release, seq, parent)
    add_release_row(con, release, seq)


def build(target: Path, releases: list[Release]) -> Path:
    """Write the file for ``releases`` (oldest first) beside ``target`` and swap it in."""
    target = Path(target)
    tmp = work_copy(target)
    remove(tmp)
    con = connect(tmp)
    try:
        create(con)
        parent = None
        for release in releases:
            con.execute("BEGIN TRANSACTION")
            add_release(con, release, parent)
            con.execute("COMMIT")
            parent = release
        close(con)
    except BaseException:
        con.close()
        remove(tmp)
        raise
    os.replace(tmp, target)
    return target


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """What tells a file apart from a rewritten one; None when it is missing."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return info.st_ino, info.st_size, info.st_mtime_ns


@dataclass
class Copy:
    """A copy of the file, open, and what it holds: made ahead of the release it will take
    (:func:`open_copy`), while the night's batches run."""

    tmp: Path
    con: duckdb.DuckDBPyConnection
    #: The file as it was copied (see :func:`_stamp`).
    stamp: tuple[int, int, int]
    #: The versions the copy records, oldest first.
    versions: list[str]
    latest: str | None
    #: The tag of its views (see :data:`VIEWS_TAG`).
    views: str | None = None

    def discard(self) -> None:
        self.con.close()
        remove(self.tmp)


#: Copies made ahead of a release are named ``.<file>.<pid>-<token>.tmp``: outside the output's
#: lock, two runs must not share one.
COPY_PATTERN = ".{name}.{pid}-{token}.tmp"


def copy_name(target: Path) -> Path:
    return target.with_name(COPY_PATTERN.format(name=target.name, pid=os.getpid(),
                                                token=secrets.token_hex(4)))


def work_copy(target: Path) -> Path:
    """The copy a rebuild, or a publish without a copy made ahead, writes: one name, since
    they run under the output's lock."""
    return target.with_name(f".{target.name}.tmp")


def open_copy(target: Path, tmp: Path) -> Copy | None:
    """Copy the file to ``tmp`` and open the copy; None (leaving nothing) when the file is
    missing, in another layout, unreadable or written to while it was copied."""
    target = Path(target)
    stamp = _stamp(target)
    if stamp is None:
        return None
    con = None
    try:
        shutil.copyfile(target, tmp)
        if _stamp(target) != stamp:
            raise OSError("written to while it was copied")
        con = connect(tmp)
        if not _has_layout(con):
            raise duckdb.Error("another layout")
        copy = Copy(tmp, con, stamp, known_versions(con), _latest_of(con), views_tag(con))
        _table_columns(con, TABLES[0])  # the first query of duckdb_columns() costs the most
        return copy
    except BaseException as error:
        if con is not None:
            con.close()
        remove(tmp)
        if isinstance(error, (OSError, duckdb.Error)):
            return None
        raise


def remove_dead_copies(target: Path) -> None:
    """Copies left by runs that died: those made ahead by a process that is gone (see
    :data:`COPY_PATTERN`), and the one a publish makes itself, whose name is fixed (the caller
    holds the output's lock, under which publishes run)."""
    target = Path(target)
    remove(work_copy(target))
    for path in target.parent.glob(f".{glob.escape(target.name)}.*-*.tmp*"):
        pid = path.name[len(target.name) + 2:].split("-", 1)[0]
        if pid.isdigit() and not alive(int(pid)):
            path.unlink(missing_ok=True)


class Extension:
    """Adds one release to a copy of the file that ends at its parent, in a thread while the
    rest of the release is written: :meth:`start` adds the content tables, :meth:`finish` the
    changes table and the release's row, :meth:`swap` puts the copy in place. Where the file
    cannot simply be extended (missing, another layout, or not ending at the parent), ``finish``
    or ``swap`` says False, leaves nothing behind, and the caller rebuilds.
    """

    def __init__(self, target: Path, release: Release, parent: Release | None,
                 published: list[str], copy: Copy | None = None) -> None:
        self.target, self.release, self.parent = Path(target), release, parent
        self.published = published  # versions before this one, oldest first
        self.tmp = work_copy(self.target)
        self._copy = copy  # made ahead (see open_copy): used if it still holds the parent
        self._con: duckdb.DuckDBPyConnection | None = None
        self._seq = 0
        self._loaded = self._written = False
        self._views = False  # whether the copy's views must be made again
        self._stamp: tuple[int, int, int] | None = None  # the file as it was copied
        self._thread = threading.Thread(target=self._load, name="duckdb-extension", daemon=True)
        self._finisher: threading.Thread | None = None

    def start(self) -> "Extension":
        """Start loading the content tables, unless started already."""
        if self._thread.ident is None:
            self._thread.start()
        return self

    def _join(self) -> None:
        if self._thread.ident is not None:
            self._thread.join()

    def _load(self) -> None:
        try:
            self._loaded = self._load_content()
        except Exception:  # noqa: BLE001 - whatever went wrong, a rebuild gives the same file
            logger.warning("the DuckDB copy could not take the release; rebuilding the file",
                           exc_info=True)
            self._loaded = False

    def _load_content(self) -> bool:
        made, self._copy = self._copy, None
        if self.parent is None or not self.published \
                or self.published[-1] != self.parent.version:
            if made is not None:
                made.discard()
            if self.parent is not None or self.published:
                return False
            remove(self.tmp)
            self._stamp = _stamp(self.target)
            self._con = connect(self.tmp)
            create(self._con)
            self._views = True
        else:
            if made is not None:
                # Now this extension's to close and remove, whatever happens next.
                self.tmp, self._con, self._stamp = made.tmp, made.con, made.stamp
                if made.stamp != _stamp(self.target):  # written to since: copy it again
                    self._close()
                    remove(self.tmp)
                    self.tmp, made = work_copy(self.target), None
            if made is None:
                remove(self.tmp)
                made = open_copy(self.target, self.tmp)
                if made is None:
                    return False
                self._con, self._stamp = made.con, made.stamp
            # The copy is checked, not the file: one connection fewer, and the same bytes.
            if made.latest != self.parent.version or made.versions != self.published:
                return False
            self._views = made.views != VIEWS_TAG
        self._seq = len(self.published) + 1
        self._con.execute("BEGIN TRANSACTION")
        if add_content(self._con, self.release, self._seq, self.parent, CONTENT_TABLES):
            self._views = True
        # One transaction and one checkpoint (when the copy is closed) for the whole release:
        # a checkpoint here as well cost more than it spared the finish, since it ran while
        # the rest of the release was written on the same cores (a night's re-run at 10,000
        # documents: publishing 0.62 s against 0.68 s). The copy is private until it is
        # swapped in, so a release that fails later leaves nothing half done behind.
        return True

    def finish_later(self, manifest: dict[str, Any]) -> None:
        """Start :meth:`finish` in a thread, to run once the content tables are in, while the
        caller writes the rest of the release; :meth:`finish` then waits for it. The release's
        row takes nothing the caller adds to ``manifest`` afterwards (checksums of the data card
        and report), so it gets a copy as it is now."""
        if self._finisher is None:
            self._finisher = threading.Thread(target=self._finish, args=(copy.deepcopy(manifest),),
                                              name="duckdb-finish", daemon=True)
            self._finisher.start()

    def finish(self, manifest: dict[str, Any]) -> bool:
        """Add the changes table and the release's row of ``manifest``; write the copy. After
        :meth:`finish_later`, wait for it instead (``manifest`` is the one given there)."""
        if self._finisher is None:
            self._finish(manifest)
        else:
            self._finisher.join()
        return self._written

    def _finish(self, manifest: dict[str, Any]) -> None:
        self._join()
        try:
            if not self._loaded or self._con is None:
                return
            release = Release(self.release.version, self.release.folder, manifest)
            reshaped = add_content(self._con, release, self._seq, self.parent, ("changes",))
            add_release_row(self._con, release, self._seq, views=self._views or reshaped)
            # Checkpoint as the transaction commits: its changes then go straight into the
            # file instead of first into the write-ahead log (which closing would then apply).
            self._con.execute("SET checkpoint_threshold = '0b'")
            self._con.execute("COMMIT")
            close(self._con)
            self._con = None
            self._written = True
        except Exception:  # noqa: BLE001 - whatever went wrong, a rebuild gives the same file
            logger.warning("the DuckDB copy could not finish the release; rebuilding the file",
                           exc_info=True)
            self._written = False
        finally:
            self._close()
            if not self._written:
                remove(self.tmp)

    def swap(self) -> bool:
        """Put the written copy in place, unless the file changed since it was copied (its
        inode, size and modification time tell, without opening it)."""
        if not self._written or _stamp(self.target) != self._stamp:
            remove(self.tmp)
            return False
        os.replace(self.tmp, self.target)
        self._written = False
        return True

    def abort(self) -> None:
        """Stop and leave nothing behind (a no-op after :meth:`swap`)."""
        self._join()
        if self._copy is not None:  # never started
            self._copy.discard()
            self._copy = None
        if self._finisher is not None:
            self._finisher.join()
        self._close()
        if self._written or self.tmp.exists():
            remove(self.tmp)
        self._written = False

    def _close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
