"""The metric catalog: canonical ids for what a metric row counts.

The catalog is data (``catalog.toml`` beside this module) that users read and extend; this module
only loads it and classifies a row's subject.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

OTHER = "other"


@dataclass(frozen=True, eq=False)
class CatalogEntry:
    id: str
    name_zh: str
    name_en: str
    description: str
    patterns: tuple[re.Pattern[str], ...]
    kinds: tuple[str, ...] = ()

    def matches(self, subject: str, kind: str) -> bool:
        if self.kinds and kind not in self.kinds:
            return False
        return any(p.search(subject) for p in self.patterns)


class CatalogError(ValueError):
    """The catalog file is malformed; the message names the entry."""


def parse_catalog(text: str) -> tuple[CatalogEntry, ...]:
    entries, seen = [], set()
    for number, raw in enumerate(tomllib.loads(text).get("metric", []), start=1):
        try:
            entry = CatalogEntry(
                id=raw["id"], name_zh=raw["name_zh"], name_en=raw["name_en"],
                description=raw["description"],
                patterns=tuple(re.compile(p) for p in raw["patterns"]),
                kinds=tuple(raw.get("kinds", ())),
            )
        except (KeyError, re.error) as exc:
            raise CatalogError(f"catalog entry {number}: {exc}") from exc
        if entry.id in seen or entry.id == OTHER:
            raise CatalogError(f"catalog entry {number}: duplicate or reserved id {entry.id!r}")
        seen.add(entry.id)
        entries.append(entry)
    return tuple(entries)


@lru_cache(maxsize=1)
def load_catalog() -> tuple[CatalogEntry, ...]:
    return parse_catalog((resources.files("schemas") / "catalog.toml").read_text(encoding="utf-8"))


def classify(subject: str, kind: str, catalog: tuple[CatalogEntry, ...] | None = None) -> str:
    """The first catalog id whose patterns match ``subject``, else ``other``."""
    return _classify(subject or "", kind, catalog or load_catalog())


@lru_cache(maxsize=65536)
def _classify(subject: str, kind: str, catalog: tuple[CatalogEntry, ...]) -> str:
    for entry in catalog:
        if entry.matches(subject, kind):
            return entry.id
    return OTHER
