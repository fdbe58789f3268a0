"""Per-document extraction results, kept between runs so a night's run re-reads only what changed.

A result is keyed by the document's sha256, its file name and its metadata row, under a folder
named for the rules' fingerprint: the extractor version together with a hash of the code and data
that decide what rows come out (rules, gazetteer, catalog). Changing any of them starts a new,
empty cache, so a stale row can never be served.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from dangjian import EXTRACTOR_VERSION

#: Modules and data whose content decides the rows of a document.
RULE_SOURCES = ("decode.py", "text.py", "numerals.py", "extract.py", "meaning.py", "places.py",
                "documents.py", "pipeline.py", "data/adcodes.csv")


@lru_cache(maxsize=1)
def rules_fingerprint() -> str:
    digest = hashlib.sha256(EXTRACTOR_VERSION.encode())
    package = resources.files("dangjian")
    for name in RULE_SOURCES:
        digest.update(name.encode() + b"\0" + (package / name).read_bytes())
    digest.update((resources.files("schemas") / "catalog.toml").read_bytes())
    digest.update((resources.files("schemas") / "tables.py").read_bytes())
    return digest.hexdigest()


class ExtractionCache:
    """Documents rows and metric rows by document, as JSON files under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.folder = self.root / rules_fingerprint()[:20]

    def key(self, doc_id: str, source_file: str, meta: dict[str, str] | None) -> str:
        spec = json.dumps([doc_id, source_file, meta or {}], ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(spec.encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        try:
            payload = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return payload["document"], payload["metrics"]

    def put(self, key: str, document: dict[str, Any], metrics: list[dict[str, Any]]) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"document": document, "metrics": metrics}, ensure_ascii=False,
                                  default=str), encoding="utf-8")
        os.replace(tmp, path)

    def prune(self) -> None:
        """Drop the caches of other rule versions."""
        if self.root.is_dir():
            for path in self.root.iterdir():
                if path.is_dir() and path != self.folder:
                    shutil.rmtree(path, ignore_errors=True)
