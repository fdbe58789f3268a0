"""What changed between two releases, number by number.

Rows are matched by ``metric_id`` (a hash of document and span), so a mention that kept its place
in an unchanged text is the same row in both releases. The cause is told from what differs:
a document whose bytes changed (``source text changed``), a document added or removed, the
extractor version, or else the rules' output under the same version (``rules or catalog changed``).
"""
from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

COMPARED = ("value", "value_high", "unit", "qualifier", "quantity_kind", "statistic", "subject",
            "metric", "geography", "period", "extractor")


def _same(a: Any, b: Any) -> bool:
    missing_a = a is None or (isinstance(a, float) and math.isnan(a))
    missing_b = b is None or (isinstance(b, float) and math.isnan(b))
    return (missing_a and missing_b) or (not missing_a and not missing_b and a == b)


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def _cause(source_file: str, old_docs: dict[str, str], new_docs: dict[str, str],
           old_version: str | None, new_version: str | None) -> str:
    if source_file not in old_docs:
        return "document added"
    if source_file not in new_docs:
        return "document removed"
    if old_docs[source_file] != new_docs[source_file]:
        return "source text changed"
    if old_version != new_version:
        return "extractor changed"
    return "rules or catalog changed"


def diff_metrics(old: pd.DataFrame, new: pd.DataFrame, old_documents: pd.DataFrame,
                 new_documents: pd.DataFrame) -> list[dict[str, Any]]:
    """Change rows: ``added``, ``removed`` and ``changed`` metrics with fields and cause."""
    old_docs = dict(zip(old_documents["source_file"], old_documents["doc_id"]))
    new_docs = dict(zip(new_documents["source_file"], new_documents["doc_id"]))
    old_version = _first(old, "extractor_version")
    new_version = _first(new, "extractor_version")
    old_rows = {r["metric_id"]: r for r in old.to_dict("records")}
    new_rows = {r["metric_id"]: r for r in new.to_dict("records")}
    changes: list[dict[str, Any]] = []
    for metric_id in sorted(old_rows.keys() | new_rows.keys()):
        before, after = old_rows.get(metric_id), new_rows.get(metric_id)
        row = after or before
        assert row is not None
        if before is None or after is None:
            kind = "added" if before is None else "removed"
            fields: list[str] = []
        else:
            fields = [f for f in COMPARED if not _same(before.get(f), after.get(f))]
            if not fields:
                continue
            kind = "changed"
        changes.append({
            "change": kind,
            "metric_id": metric_id,
            "source_file": row["source_file"],
            "char_start": int(row["char_start"]),
            "quote": row["quote"],
            "fields": ",".join(fields),
            "old": json.dumps({f: _plain(before.get(f)) for f in (fields or COMPARED)},
                              ensure_ascii=False, sort_keys=True) if before else None,
            "new": json.dumps({f: _plain(after.get(f)) for f in (fields or COMPARED)},
                              ensure_ascii=False, sort_keys=True) if after else None,
            "cause": _cause(row["source_file"], old_docs, new_docs, old_version, new_version),
        })
    return changes


def _first(df: pd.DataFrame, column: str) -> str | None:
    return str(df[column].iloc[0]) if len(df) and column in df else None


def summarize(changes: list[dict[str, Any]]) -> dict[str, int]:
    counts = {"added": 0, "removed": 0, "changed": 0}
    for change in changes:
        counts[change["change"]] += 1
    return counts
