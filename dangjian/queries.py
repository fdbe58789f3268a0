"""One in-memory DuckDB database per process for read-only queries over Parquet files.

Opening a DuckDB connection costs tens of milliseconds, more than most of the queries that a
release's page and data card make; a cursor of a database already open costs about one. A
long-lived process (``serve --warm``) writes these every night.
"""
from __future__ import annotations

import hashlib
import heapq
import os
import threading
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow
import pyarrow.parquet as pq

from dangjian.parquet_concat import ParquetConcatError, row_group_digests

_lock = threading.Lock()
_database: duckdb.DuckDBPyConnection | None = None
_owner = 0  # the process that opened it: a forked child opens its own


def literal(value: Path | str) -> str:
    """A string (a path, a file name) as an SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def cursor() -> duckdb.DuckDBPyConnection:
    """A new connection to the process's shared in-memory database; close it when done. Callers
    read Parquet files: a TEMP table or view stays with its connection, a plain one would be
    seen by every caller."""
    global _database, _owner
    with _lock:
        if _database is None or _owner != os.getpid():
            _database, _owner = duckdb.connect(config={"threads": 2}), os.getpid()
        return _database.cursor()


#: :func:`value_counts` of the files counted last, by path, file stamp and column.
_counted: dict[tuple[str, tuple[int, ...]], dict[str, dict[Any, int]]] = {}
MAX_COUNTED_FILES = 4


def value_counts(path: Path, columns: Iterable[str]) -> dict[str, dict[Any, int]]:
    """Rows of a Parquet file by each value of each of ``columns`` (NULL as None), counted in
    one scan. The counts of a file are kept while it is unchanged (its device, inode, size and
    modification and change times), so that a release's data card and page, asking for the
    same columns, count it once; and so are the counts of each of its row groups, by the
    group's bytes, so that a release that shares most of its row groups with the file counted
    before (a night's, with its parent's) counts only its own."""
    columns = list(dict.fromkeys(columns))
    info = os.stat(path)
    key = (str(path), (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns))
    with _lock:
        known = dict(_counted.get(key, {}))
    missing = [c for c in columns if c not in known]
    if missing:
        known.update(_count(Path(path), missing))
        with _lock:
            _counted.pop(key, None)
            while len(_counted) >= MAX_COUNTED_FILES:
                del _counted[next(iter(_counted))]  # the oldest
            _counted[key] = known
    return {c: dict(known[c]) for c in columns}  # the kept ones stay as counted


#: Counts by value of the row groups of the file counted last, by the group's digest (see
#: :func:`dangjian.parquet_concat.row_group_digests`) and column.
_group_counts: dict[bytes, dict[str, dict[Any, int]]] = {}


def _count(path: Path, columns: list[str]) -> dict[str, dict[Any, int]]:
    """The counts of :func:`value_counts`, summed over the file's row groups: those counted
    before are taken as they were, the others counted in one query."""
    global _group_counts
    try:
        meta = pq.read_metadata(path)
        # a group's bytes, under the file's column names and types
        schema = hashlib.sha256(meta.schema.to_arrow_schema().remove_metadata().to_string()
                                .encode()).digest()
        digests = [digest + schema for digest in row_group_digests(path)]
    except (OSError, ValueError, ParquetConcatError, pyarrow.ArrowException):
        return _count_rows(path, columns)[0]  # DuckDB says what is wrong with the file, if anything
    with _lock:
        groups = {d: dict(_group_counts.get(d, {})) for d in digests}
    todo: dict[bytes, tuple[int, int]] = {}  # a group to count -> its first and end row
    start = 0
    for i, digest in enumerate(digests):
        rows = meta.row_group(i).num_rows
        if digest not in todo and any(c not in groups[digest] for c in columns):
            todo[digest] = (start, start + rows)
        start += rows
    if todo:
        for digest, found in zip(todo, _count_rows(path, columns, list(todo.values()))):
            groups[digest].update(found)
    out: dict[str, dict[Any, int]] = {c: {} for c in columns}
    for digest in digests:  # a group twice in the file counts twice
        for column in columns:
            total = out[column]
            for value, n in groups[digest][column].items():
                total[value] = total.get(value, 0) + n
    with _lock:
        _group_counts = groups
    return out


def _count_rows(path: Path, columns: list[str], ranges: list[tuple[int, int]] | None = None
                ) -> list[dict[str, dict[Any, int]]]:
    """Counts by value of each of ``ranges`` (first and end row of row groups, in order), in one
    scan of those row groups; without ranges, one count of the whole file."""
    names = [f'"{c}"' for c in (c.replace('"', '""') for c in columns)]
    if ranges is None:
        source, group, sets = f"read_parquet({literal(path)})", "0", [f"({n})" for n in names]
    else:
        group = "CASE " + " ".join(f"WHEN file_row_number < {end} THEN {k}"
                                   for k, (_, end) in enumerate(ranges)) + " END"
        where = " OR ".join(f"file_row_number BETWEEN {first} AND {end - 1}"
                            for first, end in ranges)
        source = (f"(SELECT * FROM read_parquet({literal(path)}, file_row_number = true) "
                  f"WHERE {where})")
        sets = [f"({group}, {n})" for n in names]  # the expression: no alias can clash
    sql = (f"SELECT {group}, {', '.join(names)}, GROUPING({', '.join(names)}), count(*) "
           f"FROM {source} GROUP BY GROUPING SETS ({', '.join(sets)})")
    out: list[dict[str, dict[Any, int]]] = [{c: {} for c in columns}
                                             for _ in range(len(ranges or [()]))]
    con = cursor()
    try:
        rows = con.execute(sql).fetchall()
    finally:
        con.close()
    top = len(columns) - 1
    for row in rows:
        k, values, grouping, n = row[0], row[1:-2], row[-2], row[-1]
        for i, column in enumerate(columns):
            if not grouping >> (top - i) & 1:  # the set of this column
                out[k][column][values[i]] = n
                break
    return out


def top_counts(counts: dict[Any, int], limit: int, null_label: str | None = None
               ) -> tuple[list[tuple[Any, int]], int, int]:
    """The ``limit`` largest of counts by value (a NULL value under ``null_label``, counted
    with any value of that name), count down, then value in code point order, as DuckDB orders
    them (no value last); and the number of values and the sum of all counts."""
    merged: Counter = Counter()
    for value, n in counts.items():
        merged[null_label if value is None else value] += n
    top = heapq.nsmallest(limit, merged.items(),
                          key=lambda kv: (-kv[1], kv[0] is None, kv[0] or ""))
    return top, len(merged), sum(merged.values())
