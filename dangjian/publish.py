"""Publish a release: Parquet tables, manifest and data package in an immutable folder, and the
DuckDB file with every release.

Layout of an output folder::

    output/releases/<version>/{documents,metrics,quarantine,rejected}.parquet
    output/releases/<version>/manifest.json, datapackage.json, README.md
    output/releases/LATEST            the newest version, one line
    output/dangjian.duckdb            every release's tables (each row stored once, see database.py)

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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from dangjian import EXTRACTOR_VERSION, RULES_RUN, __version__
from dangjian import database
from dangjian.cache import rules_fingerprint
from dangjian.corpus import _regular_file as regular_file
from dangjian.datacard import write_datacard
from dangjian.diff import write_changes
from dangjian.lock import output_lock
from dangjian.staging import assemble, file_sha256, new_workdir, parts, remove_dead_workdirs, write_part
from schemas.tables import schema_fingerprint

RELEASES = "releases"
LATEST = "LATEST"
DUCKDB_FILE = "dangjian.duckdb"
CONTENT_TABLES = database.CONTENT_TABLES
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
    """Published versions, oldest first (folders with a manifest; temporary folders are not).
    A run asks a few times, and a nightly archive gains a release a night: one system call per
    release, less than half the time Path's checks took at 400 releases."""
    root = releases_dir(output)
    try:
        names = os.listdir(root)
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = [name for name in names
             if not name.startswith(".")
             and regular_file(os.path.join(root, name, "manifest.json")) is not None]
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
        database.remove_dead_copies(output / DUCKDB_FILE)
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
    parent = latest_version(output)
    parent_manifest = read_manifest(output, parent) if parent else None
    fingerprint = schema_fingerprint()
    version = next_version(parent, parent_manifest and parent_manifest.get("schema_fingerprint"),
                           fingerprint)
    # The DuckDB file takes the new rows in a thread, straight from the run's parts, while the
    # release's own files are written; the copy is dropped if the release equals its parent.
    sources = {name: parts(workdir, name) for name in CONTENT_TABLES}
    early = all(sources.values())
    extension = duckdb_extension(output, parent, version, staging, sources if early else None,
                                 fingerprint)
    try:
        if early:
            extension.start()
        files: dict[str, dict[str, Any]] = {}
        for name in CONTENT_TABLES:
            rows, digest, size = assemble(name, sources[name], staging / f"{name}.parquet")
            files[f"{name}.parquet"] = {"sha256": digest, "bytes": size, "rows": rows}
        if parent_manifest and all(parent_manifest["files"].get(name, {}).get("sha256")
                                   == info["sha256"] for name, info in files.items()):
            extension.abort()
            _mend_pointers(output, parent)
            return PublishResult(parent, root / parent, False, _rows(files),
                                 parent_manifest.get("parent"))
        return _finish(output, staging, files, parent, version, fingerprint, corpus_hash, run,
                       decorators, extension)
    finally:
        extension.abort()


def _finish(output: Path, staging: Path, files: dict[str, dict[str, Any]], parent: str | None,
            version: str, fingerprint: str, corpus_hash: str, run: dict[str, Any] | None,
            decorators: list[Decorator], extension: database.Extension) -> PublishResult:
    root = releases_dir(output)
    rows = write_changes(root / parent if parent else None, staging, staging / "changes.parquet",
                         rules=rules_fingerprint())
    extension.start()  # unless it started from the parts already
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
        "run": {"host": platform.node(), "python": platform.python_version(),
                "rules": RULES_RUN, **(run or {})},
    }
    extension.finish_later(manifest)  # the DuckDB copy finishes beside the card and report
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
    extended = extension.finish(manifest)
    os.rename(staging, target)
    _write_atomic(root / LATEST, version + "\n")
    if not (extended and extension.swap()):
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
    return database.latest(Path(output) / DUCKDB_FILE)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _release(output: Path, version: str) -> database.Release:
    return database.Release(version, releases_dir(output) / version, read_manifest(output, version))


def duckdb_extension(output: Path, parent: str | None, version: str, folder: Path,
                     sources: dict[str, list[Path]] | None = None,
                     fingerprint: str | None = None) -> database.Extension:
    """Adds release ``version`` (its tables in ``folder``, or in ``sources``: the Parquet parts
    of each table, in order) to a copy of the DuckDB file that ends at ``parent`` (the one
    :func:`duckdb_copy_ahead` made, when there is one); see
    :class:`dangjian.database.Extension`."""
    output = Path(output)
    published = [v for v in list_versions(output) if v != version]
    # What the fast path needs to know before the manifest is written: the rules and models.
    known = {"code_version": {"rules": rules_fingerprint()},
             "schema_fingerprint": fingerprint or schema_fingerprint()}
    return database.Extension(output / DUCKDB_FILE,
                              database.Release(version, folder, known, sources or {}),
                              _release(output, parent) if parent else None, published,
                              _take_copy(output))


#: Copies of the DuckDB file made ahead, by output folder: the thread making it, and the copy.
_copies: dict[Path, tuple[threading.Thread, list[database.Copy | None]]] = {}
_copies_lock = threading.Lock()


@contextmanager
def duckdb_copy_ahead(output: Path) -> Iterator[None]:
    """Copy and open the DuckDB file in a thread while the block runs (a night's batches), so
    that publishing in this process, in the block, finds it ready; what is left unused is
    removed at the end. Copying and opening it was a tenth of a second or more of a night's
    publishing, while this process mostly waits for its workers."""
    output = Path(output).resolve()
    target = output / DUCKDB_FILE
    made: list[database.Copy | None] = [None]

    def make() -> None:
        made[0] = database.open_copy(target, database.copy_name(target))

    thread = threading.Thread(target=make, name="duckdb-copy", daemon=True)
    with _copies_lock:
        mine = output not in _copies  # else another run of this process copies for itself
        if mine:
            _copies[output] = (thread, made)
    if not mine:
        yield
        return
    thread.start()
    try:
        yield
    finally:
        with _copies_lock:
            _copies.pop(output, None)
        thread.join()
        with _copies_lock:
            left, made[0] = made[0], None
        if left is not None:
            left.discard()


def _take_copy(output: Path) -> database.Copy | None:
    """The copy made ahead for ``output``, now the caller's; None when there is none."""
    with _copies_lock:
        entry = _copies.get(Path(output).resolve())
    if entry is None:
        return None
    thread, made = entry
    thread.join()
    with _copies_lock:
        taken, made[0] = made[0], None
    return taken


def add_to_duckdb(output: Path, parent: str, version: str) -> bool:
    """Add the published release ``version`` to the DuckDB file ending at ``parent``; False,
    with nothing written, when it must be rebuilt instead."""
    output = Path(output)
    extension = duckdb_extension(output, parent, version, releases_dir(output) / version).start()
    try:
        return extension.finish(read_manifest(output, version)) and extension.swap()
    finally:
        extension.abort()


def build_duckdb(output: Path) -> Path:
    """Rebuild the DuckDB file from every release folder and swap it in atomically."""
    output = Path(output)
    return database.build(output / DUCKDB_FILE,
                          [_release(output, v) for v in list_versions(output)])
