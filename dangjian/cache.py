"""Extraction results kept between runs, so a night's run re-reads only what changed.

The validated Parquet parts of every staged batch are kept, under a key over its files' names,
bytes and metadata. A batch whose key is known is linked in whole; in a batch with a changed
file, each other document's rows are taken from the kept batch that last held it: an index maps
a document's key (its sha256, file name and metadata row) to that batch. The parts are the only
copy of the rows, so keeping a batch costs a file copy, not a serialisation of its rows.

All of it lives under a folder named for the rules' fingerprint: the extractor version together
with a hash of the code and data that decide what rows come out (rules, gazetteer, lexicon,
catalog, table models) and the versions of the libraries they lean on. Changing any of them
starts a new, empty cache, so a stale row can never be served.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import stat
from contextlib import contextmanager
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path
from typing import Any, Iterator

import pyarrow
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dangjian import EXTRACTOR_VERSION, corpus

#: The cache's folder in an output folder.
CACHE_DIR = "cache"
#: File hashes by size, inode and times, in the cache folder (see dangjian.corpus.file_digests).
DIGEST_INDEX = "digests.json"
DOCUMENTS_DB = "documents.sqlite"
SQLITE_TIMEOUT = 120.0
#: Keys per SELECT, under SQLite's limit of bound variables.
SQLITE_VARIABLES = 500
TABLE_PARTS = ("documents", "metrics", "rejected", "quarantine")
#: The parts that hold rows of a document that was read.
DOCUMENT_PARTS = ("documents", "metrics", "quarantine")
#: Modules and data whose content decides the rows of a document.
RULE_SOURCES = ("decode.py", "text.py", "numerals.py", "extract.py", "meaning.py", "segmenter.py",
                "places.py", "documents.py", "pipeline.py", "staging.py", "corpus.py",
                "data/adcodes.csv", "data/lexicon.txt")
SCHEMA_SOURCES = ("catalog.toml", "catalog.py", "tables.py")
#: Libraries whose version decides the rows too (segmentation, script conversion, numerals,
#: decoding, place matching), and the Parquet writer whose kept parts are copied into releases.
RULE_LIBRARIES = ("jieba", "opencc", "cn2an", "charset-normalizer", "ahocorasick-rs", "pyarrow")


#: A string as JSON text, as ``json.dumps(..., ensure_ascii=False)`` writes it.
_json_text = json.JSONEncoder(ensure_ascii=False).encode


@lru_cache(maxsize=1)
def rules_fingerprint() -> str:
    digest = hashlib.sha256(EXTRACTOR_VERSION.encode())
    package = resources.files("dangjian")
    for name in RULE_SOURCES:
        digest.update(name.encode() + b"\0" + (package / name).read_bytes())
    for name in SCHEMA_SOURCES:
        digest.update(name.encode() + b"\0" + (resources.files("schemas") / name).read_bytes())
    for library in RULE_LIBRARIES:
        digest.update(f"{library}=={metadata.version(library)}\0".encode())
    return digest.hexdigest()


class ExtractionCache:
    """The validated parts of staged batches under ``root``, and an index (one SQLite file) of
    the batch that holds each document's rows.

    The cache is an optimisation: any error reading or writing it counts as a miss, never as a
    failed run.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.folder = self.root / rules_fingerprint()[:20]

    def key(self, doc_id: str, source_file: str, meta: dict[str, str] | None) -> str:
        if meta:
            spec = json.dumps([doc_id, source_file, meta], ensure_ascii=False, sort_keys=True)
        else:  # the text json.dumps gives, without its machinery: a run keys every file
            spec = f"[{_json_text(doc_id)}, {_json_text(source_file)}, {{}}]"
        return hashlib.sha256(spec.encode()).hexdigest()

    @property
    def database(self) -> Path:
        return self.folder / DOCUMENTS_DB

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.folder.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.database, timeout=SQLITE_TIMEOUT, isolation_level=None)
        try:
            # WAL: worker processes read while another writes its batch.
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute("CREATE TABLE IF NOT EXISTS located "
                        "(key TEXT PRIMARY KEY, batch TEXT NOT NULL) WITHOUT ROWID")
            yield con
        finally:
            con.close()

    def locate(self, keys: list[str]) -> dict[str, str]:
        """The kept batch that holds the rows of each of ``keys`` that is in the index."""
        if not keys or not self.database.is_file():
            return {}
        found: dict[str, str] = {}
        try:
            with self._connect() as con:
                for start in range(0, len(keys), SQLITE_VARIABLES):
                    chunk = keys[start:start + SQLITE_VARIABLES]
                    marks = ",".join("?" * len(chunk))
                    found.update(con.execute(
                        f"SELECT key, batch FROM located WHERE key IN ({marks})", chunk))
        except (sqlite3.Error, OSError):
            return {}
        return found

    def remember(self, keys: list[str], batch: str, retry: bool = True) -> None:
        """Record that kept batch ``batch`` holds the rows of the documents ``keys``."""
        if not keys:
            return
        try:
            with self._connect() as con:
                con.execute("BEGIN IMMEDIATE")
                con.executemany("INSERT OR REPLACE INTO located VALUES (?, ?)",
                                [(key, batch) for key in keys])
                con.execute("COMMIT")
        except sqlite3.OperationalError:
            pass  # busy or read-only: these documents are extracted again next time
        except sqlite3.DatabaseError:
            self._discard()  # not a database (any more): start a new one
            if retry:
                self.remember(keys, batch, retry=False)
        except OSError:
            pass

    def _discard(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.database}{suffix}").unlink(missing_ok=True)

    def document_rows(self, batch: str, source_files: set[str]) -> dict[str, pyarrow.Table] | None:
        """The rows of ``source_files`` in kept batch ``batch``, by table (documents, metrics
        and quarantine: a kept document was read, so it has no rejected row); None when the
        batch is gone or unreadable."""
        folder = self._batch_folder(batch)
        wanted = pyarrow.array(sorted(source_files), pyarrow.string())
        rows: dict[str, pyarrow.Table] = {}
        try:
            for part in DOCUMENT_PARTS:
                table = pq.read_table(folder / f"{part}.parquet")
                rows[part] = table.filter(pc.is_in(table["source_file"], value_set=wanted))
        except (OSError, pyarrow.ArrowException):
            return None
        return rows

    # A batch's validated parts, for runs in which none of its files changed.

    def batch_key(self, raw_dir: Path, source_files: list[str],
                  metadata: dict[str, dict[str, str]],
                  digests: dict[str, str | None] | None = None,
                  plain: frozenset[str] = frozenset()) -> str | None:
        """sha256 over the batch's file names, bytes and metadata rows; None if a file is gone,
        is a link or is too large.

        ``digests`` are the files' sha256 when the caller has read them already, and ``plain``
        the files its scan found to be regular files within the size limit (see
        :class:`dangjian.corpus.Scan`): these are not looked at again, so their part of the key
        is what the scan found.
        """
        digest = hashlib.sha256()
        for name in source_files:
            if digests is not None and name in plain:
                content = digests.get(name)
            else:
                path = os.path.join(raw_dir, name)
                try:
                    info = os.lstat(path)
                    if stat.S_ISLNK(info.st_mode) or info.st_size > corpus.PLAIN_MAX_BYTES:
                        return None  # links and huge files: always through the full checks
                    content = digests.get(name) if digests is not None else \
                        corpus.sha256_file(path, info.st_size)
                except OSError:
                    return None
            if content is None:
                return None
            meta = metadata.get(name) or metadata.get(name.rsplit("/", 1)[-1])
            line = f"{name}\0{content}\0" + (json.dumps(meta, ensure_ascii=False, sort_keys=True)
                                              if meta else "")
            digest.update(line.encode() + b"\n")
        return digest.hexdigest()

    def _batch_folder(self, key: str) -> Path:
        return self.folder / "batches" / key

    def reuse_batch(self, key: str, workdir: Path, index: int) -> dict[str, Any] | None:
        """Link a kept batch's parts into ``workdir`` as batch ``index``; its counts, or None."""
        folder = self._batch_folder(key)
        try:
            counts = json.loads((folder / "counts.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        for part in TABLE_PARTS:
            source = folder / f"{part}.parquet"
            if not source.is_file():
                return None
            target = Path(workdir) / part / f"{index:08d}.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(source, target)
            except OSError:
                shutil.copyfile(source, target)
        return counts

    def keep_batch(self, key: str, workdir: Path, index: int, counts: dict[str, Any]) -> None:
        folder = self._batch_folder(key)
        tmp = folder.with_name(f".{key}.{os.getpid()}.tmp")
        tmp.mkdir(parents=True, exist_ok=True)
        for part in TABLE_PARTS:
            shutil.copyfile(Path(workdir) / part / f"{index:08d}.parquet", tmp / f"{part}.parquet")
        (tmp / "counts.json").write_text(json.dumps(counts, default=list), encoding="utf-8")
        try:
            os.replace(tmp, folder)
        except OSError:  # another run kept the same batch first
            shutil.rmtree(tmp, ignore_errors=True)

    def prune(self, current: set[str] | None = None) -> None:
        """Drop the caches of other rule versions; with ``current``, the keys of the corpus's
        documents as they are now, also the index entries of other documents (earlier versions
        of changed files, removed files) and then the kept batches that no entry points to (see
        :meth:`unreferenced_batches`)."""
        if self.root.is_dir():
            for path in self.root.iterdir():
                if path.is_dir() and path != self.folder:
                    shutil.rmtree(path, ignore_errors=True)
        if current is None:
            return
        self.forget_all_but(current)
        for key in self.unreferenced_batches():
            shutil.rmtree(self._batch_folder(key), ignore_errors=True)

    def forget_all_but(self, current: set[str]) -> None:
        """Remove the index entries of documents whose key is not in ``current``."""
        if not self.database.is_file():
            return
        try:
            with self._connect() as con:
                stale = [(k,) for (k,) in con.execute("SELECT key FROM located") if k not in current]
                if stale:
                    con.execute("BEGIN IMMEDIATE")
                    con.executemany("DELETE FROM located WHERE key = ?", stale)
                    con.execute("COMMIT")
        except (sqlite3.Error, OSError):
            pass  # busy or unreadable: the entries stay, and so do their batches

    def unreferenced_batches(self) -> list[str]:
        """Kept batches that no index entry points to: each run that changes a file of a batch
        keeps the batch anew and points the batch's documents there, and :meth:`forget_all_but`
        forgets the file's old version. Such a batch would only serve the same files with the
        same bytes again, so keeping every one would let the cache grow by a batch a night.
        None when the index is missing, empty or unreadable: then the kept batches are all the
        cache has."""
        batches = self.folder / "batches"
        if not batches.is_dir() or not self.database.is_file():
            return []
        try:
            with self._connect() as con:
                referenced = {batch for (batch,) in con.execute("SELECT DISTINCT batch FROM located")}
        except (sqlite3.Error, OSError):
            return []
        if not referenced:
            return []
        return sorted(path.name for path in batches.iterdir()
                      if path.is_dir() and not path.name.startswith(".")
                      and path.name not in referenced)
