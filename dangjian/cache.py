"""Per-document extraction results, kept between runs so a night's run re-reads only what changed.

A result is keyed by the document's sha256, its file name and its metadata row, under a folder
named for the rules' fingerprint: the extractor version together with a hash of the code and data
that decide what rows come out (rules, gazetteer, lexicon, catalog, table models) and the
versions of the libraries they lean on. Changing any of them starts a new, empty cache, so a
stale row can never be served.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from dangjian import EXTRACTOR_VERSION

TABLE_PARTS = ("documents", "metrics", "rejected", "quarantine")
#: Modules and data whose content decides the rows of a document.
RULE_SOURCES = ("decode.py", "text.py", "numerals.py", "extract.py", "meaning.py", "places.py",
                "documents.py", "pipeline.py", "staging.py", "corpus.py", "data/adcodes.csv",
                "data/lexicon.txt")
SCHEMA_SOURCES = ("catalog.toml", "catalog.py", "tables.py")
#: Libraries whose version decides the rows too (segmentation, script conversion, numerals,
#: decoding, place matching).
RULE_LIBRARIES = ("jieba", "opencc", "cn2an", "charset-normalizer", "ahocorasick-rs")


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


def _sha256_file(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


class ExtractionCache:
    """Documents rows and metric rows by document, as JSON files under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.folder = self.root / rules_fingerprint()[:20]

    def key(self, doc_id: str, source_file: str, meta: dict[str, str] | None) -> str:
        spec = json.dumps([doc_id, source_file, meta or {}], ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(spec.encode()).hexdigest()

    def _path(self, key: str) -> str:
        return os.path.join(self.folder, key[:2], f"{key}.json")

    def get(self, key: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        try:
            with open(self._path(key), encoding="utf-8") as handle:
                payload = json.load(handle)
        except (OSError, ValueError):
            return None
        return payload["document"], payload["metrics"]

    def put(self, key: str, document: dict[str, Any], metrics: list[dict[str, Any]]) -> None:
        path = self._path(key)
        folder = os.path.dirname(path)
        os.makedirs(folder, exist_ok=True)
        tmp = f"{folder}/.{key}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(json.dumps({"document": document, "metrics": metrics},
                                    ensure_ascii=False, default=str))
        os.replace(tmp, path)

    # A batch's validated parts, for runs in which none of its files changed.

    def batch_key(self, raw_dir: Path, source_files: list[str],
                  metadata: dict[str, dict[str, str]],
                  digests: dict[str, str | None] | None = None) -> str | None:
        """sha256 over the batch's file names, bytes and metadata rows; None if a file is gone.

        ``digests`` are the files' sha256 when the caller has read them already.
        """
        digest = hashlib.sha256()
        for name in source_files:
            path = os.path.join(raw_dir, name)
            try:
                info = os.lstat(path)
                if stat.S_ISLNK(info.st_mode) or info.st_size > (1 << 27):
                    return None  # links and huge files: always through the full checks
                content = digests.get(name) if digests is not None else _sha256_file(path)
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

    def prune(self) -> None:
        """Drop the caches of other rule versions."""
        if self.root.is_dir():
            for path in self.root.iterdir():
                if path.is_dir() and path != self.folder:
                    shutil.rmtree(path, ignore_errors=True)
