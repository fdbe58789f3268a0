"""One in-memory DuckDB database per process for read-only queries over Parquet files.

Opening a DuckDB connection costs tens of milliseconds, more than most of the queries that a
release's page and data card make; a cursor of a database already open costs about one. A
long-lived process (``serve --warm``) writes these every night.
"""
from __future__ import annotations

import os
import threading

import duckdb

_lock = threading.Lock()
_database: duckdb.DuckDBPyConnection | None = None
_owner = 0  # the process that opened it: a forked child opens its own


def cursor() -> duckdb.DuckDBPyConnection:
    """A new connection to the process's shared in-memory database; close it when done. Callers
    read Parquet files: a TEMP table or view stays with its connection, a plain one would be
    seen by every caller."""
    global _database, _owner
    with _lock:
        if _database is None or _owner != os.getpid():
            _database, _owner = duckdb.connect(config={"threads": 2}), os.getpid()
        return _database.cursor()
