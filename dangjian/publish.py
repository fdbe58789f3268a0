"""Publish a release: Parquet tables, manifest and data package in an immutable folder, and the
DuckDB file with every release.

Layout of an output folder::

    output/releases/<version>/{documents,metrics,quarantine,rejected}.parquet
    output/releases/<version>/manifest.json, datapackage.json, README.md
    output/releases/LATEST            the newest version, one line
    output/dangjian.duckdb            every release's tables with a release column, *_latest views

Versions are semantic: the first release is 1.0.0; a release whose table schemas differ from its
parent's (a contract change) bumps the major number; any other change of content bumps the minor
number. A build whose tables are byte-identical to the latest release publishes nothing.

A release folder is written under a temporary name and renamed into place, so a reader never sees
half a release; the DuckDB file is rebuilt beside the old one and swapped in with ``os.replace``
(after a new release, from a copy of the old file that the new release is added to, when that
gives the same tables as a rebuild from every release).
Tables carry no run times, run ids or host names, so the same input and code give the same bytes.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import duckdb
import pandas as pd

from dangjian import EXTRACTOR_VERSION, __version__
from dangjian.cache import rules_fingerprint
from dangjian.datacard import write_datacard
from dangjian.diff import write_changes
from dangjian.lock import output_lock
from dangjian.staging import assemble, file_sha256, new_workdir, parts, remove_dead_workdirs, write_part
from schemas.tables import TABLES, schema_fingerprint

RELEASES = "releases"
LATEST = "LATEST"
DUCKDB_FILE = "dangjian.duckdb"
TABLE_NAMES = tuple(TABLES)
#: The tables built from raw/; ``changes`` is derived from them and the parent release.
CONTENT_TABLES = ("documents", "metrics", "quarantine", "rejected")
#: Called with the staged release folder and its manifest before it is renamed into place.
Decorator = Callable[[Path, dict[str, Any]], None]


@dataclass(frozen=True)
class PublishResult:
    version: str
    path: Path
    created: bool
    rows: dict[str, int]
    parent: str | None


def releases_dir(output: Path) -> Path:
    return Path(output) / RELEASES


def latest_version(output: Path) -> str | None:
    """The newest published release. The folders are the truth; LATEST is a pointer for readers
    that may lag behind after a crash, and is mended by the next run."""
    versions = list_versions(output)
    return versions[-1] if versions else None


def list_versions(output: Path) -> list[str]:
    """Published versions, oldest first (folders with a manifest; temporary folders are not)."""
    root = releases_dir(output)
    if not root.is_dir():
        return []
    found = [p.name for p in root.iterdir()
             if p.is_dir() and not p.name.startswith(".") and (p / "manifest.json").is_file()]
    return sorted(found, key=version_key)


def version_key(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        return (-1,)


def next_version(parent: str | None, parent_fingerprint: str | None, fingerprint: str) -> str:
    if parent is None:
        return "1.0.0"
    major, minor, _ = (list(version_key(parent)) + [0, 0, 0])[:3]
    if parent_fingerprint != fingerprint:
        return f"{major + 1}.0.0"
    return f"{major}.{minor + 1}.0"


def git_commit(start: Path | None = None) -> str | None:
    """The commit of the code, when it runs from a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=start or Path(__file__).parent,
                             capture_output=True, text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def read_manifest(output: Path, version: str) -> dict[str, Any]:
    return json.loads((releases_dir(output) / version / "manifest.json").read_text(encoding="utf-8"))


def publish(output: Path, tables: dict[str, pd.DataFrame], corpus_hash: str,
            run: dict[str, Any] | None = None, lock_timeout: float = 600.0,
            decorators: list[Decorator] | None = None) -> PublishResult:
    """Publish tables held in memory (small corpora and tests): one part each."""
    workdir = new_workdir(Path(output))
    try:
        for name in CONTENT_TABLES:
            write_part(workdir, name, 0, tables[name])
        return publish_parts(output, workdir, corpus_hash, run, lock_timeout, decorators)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def publish_parts(output: Path, workdir: Path, corpus_hash: str, run: dict[str, Any] | None = None,
                  lock_timeout: float = 600.0,
                  decorators: list[Decorator] | None = None) -> PublishResult:
    """Assemble a run's parts into a new release, unless its tables equal the latest release's.

    Holds the output folder's lock throughout, so two runs never interleave their writes.
    """
    output = Path(output)
    with output_lock(output, timeout=lock_timeout):
        root = releases_dir(output)
        root.mkdir(parents=True, exist_ok=True)
        _remove_leftovers(root)
        remove_dead_workdirs(output)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
        try:
            return _publish(output, workdir, staging, corpus_hash, run, decorators or [])
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def unchanged_release(output: Path, corpus_hash: str, lock_timeout: float = 600.0,
                      allow_quarantine: bool = True) -> PublishResult | None:
    """The latest release when it was built from this very corpus (names, bytes and metadata)
    by these very rules and table models: a run would give the same tables, so there is nothing
    to extract or assemble. None otherwise, and when the release holds quarantined rows that
    ``allow_quarantine`` (False in strict mode) does not accept."""
    output = Path(output)
    if latest_version(output) is None:
        return None
    with output_lock(output, timeout=lock_timeout):
        version = latest_version(output)
        if version is None:
            return None
        manifest = read_manifest(output, version)
        rows = _rows(manifest.get("files", {}))
        if (manifest.get("input_corpus_hash") != corpus_hash
                or (manifest.get("code_version") or {}).get("rules") != rules_fingerprint()
                or manifest.get("schema_fingerprint") != schema_fingerprint()
                or (rows.get("quarantine") and not allow_quarantine)):
            return None
        _mend_pointers(output, version)
        return PublishResult(version, releases_dir(output) / version, False, rows,
                             manifest.get("parent"))


def _remove_leftovers(root: Path) -> None:
    """Staging folders of runs that died: under the lock, nobody else is writing them."""
    for path in root.glob(".*"):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.name.endswith(".tmp"):
            path.unlink(missing_ok=True)


def _publish(output: Path, workdir: Path, staging: Path, corpus_hash: str,
             run: dict[str, Any] | None, decorators: list[Decorator]) -> PublishResult:
    root = releases_dir(output)
    files: dict[str, dict[str, Any]] = {}
    for name in CONTENT_TABLES:
        rows, digest, size = assemble(name, parts(workdir, name), staging / f"{name}.parquet")
        files[f"{name}.parquet"] = {"sha256": digest, "bytes": size, "rows": rows}
    parent = latest_version(output)
    parent_manifest = read_manifest(output, parent) if parent else None
    if parent_manifest and all(parent_manifest["files"].get(name, {}).get("sha256") == info["sha256"]
                               for name, info in files.items()):
        _mend_pointers(output, parent)
        return PublishResult(parent, root / parent, False, _rows(files),
                             parent_manifest.get("parent"))

    fingerprint = schema_fingerprint()
    version = next_version(parent, parent_manifest and parent_manifest.get("schema_fingerprint"),
                           fingerprint)
    # The DuckDB file takes the new tables in a thread while the rest of the release is written.
    extension = DuckDBExtension(output, parent, version, staging)
    try:
        return _finish(output, staging, files, parent, version, fingerprint, corpus_hash, run,
                       decorators, extension)
    finally:
        if extension is not None:
            extension.abort()


def _finish(output: Path, staging: Path, files: dict[str, dict[str, Any]], parent: str | None,
            version: str, fingerprint: str, corpus_hash: str, run: dict[str, Any] | None,
            decorators: list[Decorator], extension: "DuckDBExtension | None") -> PublishResult:
    root = releases_dir(output)
    rows = write_changes(root / parent if parent else None, staging, staging / "changes.parquet")
    if extension is not None:  # after the changes query: one DuckDB instance at a time loads
        extension.start()
    path = staging / "changes.parquet"
    files["changes.parquet"] = {"sha256": file_sha256(path), "bytes": path.stat().st_size, "rows": rows}
    manifest = {
        "version": version,
        "parent": parent,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "code_version": {"package": __version__, "extractor": EXTRACTOR_VERSION,
                         "rules": rules_fingerprint(), "git_commit": git_commit()},
        "input_corpus_hash": corpus_hash,
        "schema_fingerprint": fingerprint,
        "files": files,
        "run": {"host": platform.node(), "python": platform.python_version(), **(run or {})},
    }
    write_datacard(staging, manifest)
    for decorate in decorators:
        decorate(staging, manifest)
    for path in sorted(staging.iterdir()):  # the card, data package, report: checksummed too
        if path.name not in files and path.name != "manifest.json" and path.is_file():
            files[path.name] = {"sha256": file_sha256(path), "bytes": path.stat().st_size}
    (staging / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.chmod(staging, 0o755)
    target = root / version
    if target.exists():
        raise FileExistsError(f"release {version} already exists: releases are never rewritten")
    extended = extension is not None and extension.finish(manifest)
    os.rename(staging, target)
    _write_atomic(root / LATEST, version + "\n")
    if not (extended and extension is not None and extension.swap()):
        build_duckdb(output)
    return PublishResult(version, target, True, _rows(files), parent)


def _rows(files: dict[str, dict[str, Any]]) -> dict[str, int]:
    return {name.removesuffix(".parquet"): info["rows"] for name, info in files.items()
            if name.endswith(".parquet")}


def _mend_pointers(output: Path, version: str) -> None:
    """After a run that died between renaming a release into place and swapping the DuckDB file,
    bring LATEST and the DuckDB file up to the newest release."""
    pointer = releases_dir(output) / LATEST
    if not pointer.is_file() or pointer.read_text(encoding="utf-8").strip() != version:
        _write_atomic(pointer, version + "\n")
    if duckdb_latest(output) != version:
        build_duckdb(output)


def duckdb_latest(output: Path) -> str | None:
    """The latest release recorded in the DuckDB file, or None when it is missing or unreadable."""
    path = Path(output) / DUCKDB_FILE
    if not path.is_file():
        return None
    try:
        con = duckdb.connect(str(path), read_only=True)
        try:
            row = con.execute("SELECT version FROM releases WHERE is_latest").fetchone()
        finally:
            con.close()
    except duckdb.Error:
        return None
    return row[0] if row else None


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


SERIES_VIEW = """
CREATE VIEW metric_series AS
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


RELEASES_TABLE = ("CREATE TABLE releases (version VARCHAR PRIMARY KEY, parent VARCHAR, "
                  "created VARCHAR, code_version VARCHAR, extractor_version VARCHAR, "
                  "input_corpus_hash VARCHAR, schema_fingerprint VARCHAR, documents BIGINT, "
                  "metrics BIGINT, quarantine BIGINT, rejected BIGINT, changes BIGINT, "
                  "is_latest BOOLEAN)")


LATEST_VIEW = ("CREATE VIEW {table}_latest AS SELECT * EXCLUDE (release) FROM {table} "
               "WHERE release = (SELECT version FROM releases WHERE is_latest)")


def _release_row(manifest: dict[str, Any], is_latest: bool) -> list[Any]:
    files = manifest["files"]
    return [manifest["version"], manifest.get("parent"), manifest.get("created"),
            manifest["code_version"].get("package"), manifest["code_version"].get("extractor"),
            manifest.get("input_corpus_hash"), manifest.get("schema_fingerprint"),
            *(files.get(f"{t}.parquet", {}).get("rows") for t in TABLE_NAMES), is_latest]


def _select_release(path: Path, version: str) -> str:
    return f"SELECT '{version}' AS release, * FROM read_parquet('{_sql_path(path)}')"


def _connect_tmp(tmp: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"memory_limit": "256MB", "threads": 2})
    con.execute(f"ATTACH '{_sql_path(tmp)}' AS db (STORAGE_VERSION 'v1.0.0')")
    con.execute("USE db")
    return con


def _close_tmp(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("USE memory")
    con.execute("DETACH db")


def _remove_tmp(tmp: Path) -> None:
    for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
        leftover.unlink(missing_ok=True)


class DuckDBExtension:
    """Adds release ``version`` (its tables in ``folder``) to a copy of the DuckDB file that
    holds every release up to ``parent`` (to a new file for the first release): the tables a
    rebuild from every release gives, at the cost of one release instead of all of them.

    :meth:`start` loads the content tables in a thread, :meth:`finish` adds the changes table
    and the release's row and writes the copy, :meth:`swap` puts it in place. Where the file
    cannot simply be extended (it is missing or does not end at ``parent``, releases are missing
    from it, or a table's columns differ from the new release's: a contract change),
    ``finish`` or ``swap`` says False, leaves nothing behind, and :func:`build_duckdb` rebuilds.
    """

    def __init__(self, output: Path, parent: str | None, version: str, folder: Path) -> None:
        self.output, self.parent, self.version, self.folder = Path(output), parent, version, folder
        self.target = self.output / DUCKDB_FILE
        self.tmp = self.output / f".{DUCKDB_FILE}.tmp"
        self._con: duckdb.DuckDBPyConnection | None = None
        self._loaded = False
        self._written = False
        self._thread = threading.Thread(target=self._load, name="duckdb-extension", daemon=True)

    def start(self) -> "DuckDBExtension":
        self._thread.start()
        return self

    def _join(self) -> None:
        if self._thread.ident is not None:  # started
            self._thread.join()

    def _load(self) -> None:
        try:
            self._loaded = self._load_content()
        except Exception:  # noqa: BLE001 - whatever went wrong, a rebuild gives the same file
            self._loaded = False

    def _load_content(self) -> bool:
        versions = [v for v in list_versions(self.output) if v != self.version]
        if self.parent is None:  # the first release: a new file, as build_duckdb writes it
            if versions:
                return False
            _remove_tmp(self.tmp)
            self._con = _connect_tmp(self.tmp)
            self._con.execute("BEGIN TRANSACTION")
            self._con.execute(RELEASES_TABLE)
        else:
            if (not self.target.is_file() or not versions or versions[-1] != self.parent
                    or duckdb_latest(self.output) != self.parent):
                return False
            _remove_tmp(self.tmp)
            shutil.copyfile(self.target, self.tmp)
            self._con = _connect_tmp(self.tmp)
            known = [row[0] for row in self._con.execute("SELECT version FROM releases").fetchall()]
            if sorted(known, key=version_key) != versions:
                return False
            self._con.execute("BEGIN TRANSACTION")
        if not all(self._insert(table) for table in CONTENT_TABLES):
            return False
        # Compressing and writing the rows is most of the work: done here, in the thread. The
        # file is private until swapped in, so a second transaction can finish it.
        self._con.execute("COMMIT")
        self._con.execute("CHECKPOINT")
        self._con.execute("BEGIN TRANSACTION")
        return True

    def _insert(self, table: str) -> bool:
        assert self._con is not None
        path = self.folder / f"{table}.parquet"
        select = _select_release(path, self.version)
        if self.parent is None:
            if path.is_file():
                self._con.execute(f"CREATE TABLE {table} AS {select}")
            else:
                self._con.execute(f"CREATE TABLE {table} (release VARCHAR)")
            self._con.execute(LATEST_VIEW.format(table=table))
            return True
        if not path.is_file():
            return True  # a rebuild reads only the releases that have the file, too
        have = self._con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = 'db' "
            f"AND table_name = '{table}' ORDER BY column_index").fetchall()
        if have != self._con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {select})"
                                     ).fetchall():
            return False
        self._con.execute(f"INSERT INTO {table} {select}")
        return True

    def finish(self, manifest: dict[str, Any]) -> bool:
        """Add the changes table and the release's row of ``manifest``; write the copy."""
        self._join()
        try:
            if not self._loaded or self._con is None or not self._insert("changes"):
                return False
            con = self._con
            if self.parent is not None:
                con.execute("UPDATE releases SET is_latest = false WHERE is_latest")
            con.execute("INSERT INTO releases VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        _release_row(manifest, True))
            if not con.execute("SELECT count(*) FROM duckdb_views() WHERE database_name = 'db' "
                               "AND view_name = 'metric_series'").fetchone()[0]:
                con.execute(SERIES_VIEW)
            con.execute("COMMIT")
            _close_tmp(con)
            self._written = True
        except duckdb.Error:
            return False
        finally:
            self._close()
            if not self._written:
                _remove_tmp(self.tmp)
        return True

    def swap(self) -> bool:
        """Put the written copy in place of the DuckDB file, unless the file changed meanwhile."""
        if not self._written or duckdb_latest(self.output) != self.parent:
            _remove_tmp(self.tmp)
            return False
        os.replace(self.tmp, self.target)
        self._written = False
        return True

    def abort(self) -> None:
        """Stop and leave nothing behind (a no-op after :meth:`swap`)."""
        self._join()
        self._close()
        if self._written or self.tmp.exists():
            _remove_tmp(self.tmp)
        self._written = False

    def _close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None


def add_to_duckdb(output: Path, parent: str, version: str) -> bool:
    """Add the published release ``version`` to the DuckDB file ending at ``parent`` (see
    :class:`DuckDBExtension`); False, with nothing written, when it must be rebuilt instead."""
    output = Path(output)
    extension = DuckDBExtension(output, parent, version, releases_dir(output) / version).start()
    try:
        return extension.finish(read_manifest(output, version)) and extension.swap()
    finally:
        extension.abort()


def build_duckdb(output: Path) -> Path:
    """Rebuild the DuckDB file from every release folder and swap it in atomically.

    Tables hold all releases with a ``release`` column; ``*_latest`` views show the newest;
    ``releases`` lists them; ``metric_series`` lines up the same metric, place and period across
    documents and flags where sources disagree. The file is written in the 1.0 storage format
    so DuckDB 1.x clients can open it.
    """
    output = Path(output)
    target = output / DUCKDB_FILE
    tmp = output / f".{DUCKDB_FILE}.tmp"
    for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
        leftover.unlink(missing_ok=True)
    versions = list_versions(output)
    latest = latest_version(output)
    con = _connect_tmp(tmp)
    try:
        con.execute("BEGIN TRANSACTION")
        con.execute(RELEASES_TABLE)
        for version in versions:
            con.execute("INSERT INTO releases VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        _release_row(read_manifest(output, version), version == latest))
        for table in TABLE_NAMES:
            parts = [releases_dir(output) / v / f"{table}.parquet" for v in versions]
            parts = [p for p in parts if p.is_file()]
            if parts:
                selects = " UNION ALL BY NAME ".join(_select_release(p, p.parent.name)
                                                     for p in parts)
                con.execute(f"CREATE TABLE {table} AS {selects}")
            else:
                con.execute(f"CREATE TABLE {table} (release VARCHAR)")
            con.execute(LATEST_VIEW.format(table=table))
        if versions:
            con.execute(SERIES_VIEW)
        con.execute("COMMIT")
        _close_tmp(con)
    finally:
        con.close()
    os.replace(tmp, target)
    return target


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")
