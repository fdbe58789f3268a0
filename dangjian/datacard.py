"""The human- and machine-readable description of a release: ``README.md`` and
``datapackage.json`` (a Frictionless Data Package), both written from the pandera models."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dangjian import queries
from schemas.catalog import load_catalog
from schemas.tables import TABLES, arrow_schema

_FRICTIONLESS_TYPES = {"string": "string", "int64": "integer", "double": "number",
                       "date32[day]": "date"}


def datapackage(manifest: dict[str, Any]) -> dict[str, Any]:
    resources = []
    for table, model in TABLES.items():
        info = manifest["files"][f"{table}.parquet"]
        resources.append({
            "name": table,
            "path": f"{table}.parquet",
            "format": "parquet",
            "mediatype": "application/vnd.apache.parquet",
            "bytes": info["bytes"],
            "hash": f"sha256:{info['sha256']}",
            "description": (model.__doc__ or "").strip(),
            "schema": {"fields": [
                {"name": f.name, "type": _FRICTIONLESS_TYPES.get(str(f.type), "any"),
                 "description": (f.metadata or {}).get(b"description", b"").decode()}
                for f in arrow_schema(table)
            ]},
        })
    return {
        "name": "dangjian-metrics",
        "title": "Dangjian Metrics (党建指标)",
        "version": manifest["version"],
        "description": "Every number that Chinese reports on grassroots party building state, "
                       "with the characters it came from.",
        "licenses": [{"name": "CC-BY-4.0", "path": "https://creativecommons.org/licenses/by/4.0/"}],
        "resources": resources,
    }


#: The metric columns counted by value for the card and the release's page alike, in one scan.
COUNTED_COLUMNS = ("quantity_kind", "metric", "geography", "source_file")


def metric_counts(folder: Path) -> dict[str, dict[Any, int]]:
    """The rows of a release folder's metrics.parquet by each value of :data:`COUNTED_COLUMNS`
    (:func:`dangjian.queries.value_counts`: counted once while the file is unchanged)."""
    return queries.value_counts(folder / "metrics.parquet", COUNTED_COLUMNS)


def _counts(folder: Path, limits: dict[str, int]) -> dict[str, list[tuple[str, int]]]:
    """Rows of metrics.parquet by each column of ``limits``, most first (ties by value) and at
    most its limit, NULL as "(none)"."""
    counts = metric_counts(folder)
    return {column: queries.top_counts(counts[column], limit, "(none)")[0]
            for column, limit in limits.items()}


def _table(rows: list[tuple[str, int]], header: str) -> list[str]:
    lines = [f"| {header} | rows |", "|---|---|"]
    return lines + ([f"| {k} | {n} |" for k, n in rows] or ["| – | 0 |"])


def datacard(folder: Path, manifest: dict[str, Any]) -> str:
    version = manifest["version"]
    files = manifest["files"]
    catalog = {entry.id: entry.name_en for entry in load_catalog()}
    counts = _counts(folder, {"quantity_kind": 12, "geography": 12, "metric": 1000})
    by_metric = counts["metric"]
    lines = [
        f"# Dangjian Metrics release {version}",
        "",
        f"Parent release: {manifest['parent'] or 'none'}. Extractor version "
        f"{manifest['code_version']['extractor']}. Input corpus sha256 "
        f"`{manifest['input_corpus_hash']}`.",
        "",
        "## What it holds",
        "",
        "| table | rows | file sha256 |",
        "|---|---|---|",
        *(f"| {name.removesuffix('.parquet')} | {info['rows']} | `{info['sha256'][:16]}…` |"
          for name, info in sorted(files.items())),
        "",
        "Every metric row carries its provenance: `doc_id` (sha256 of the raw file), "
        "`char_start`/`char_end` (code-point offsets into the decoded text, so that "
        "`text[char_start:char_end] == quote`), the `extractor` rule and `extractor_version`.",
        "",
        "## Metrics by kind",
        "",
        *_table(counts["quantity_kind"], "quantity_kind"),
        "",
        "## Metrics by place",
        "",
        *_table(counts["geography"], "geography"),
        "",
        "## Metrics by catalog id",
        "",
        "| metric | name | rows |", "|---|---|---|",
        *(f"| {k} | {catalog.get(k, 'not in the catalog')} | {n} |" for k, n in by_metric),
        "",
        f"Documents: {files['documents.parquet']['rows']}; rejected files: "
        f"{files['rejected.parquet']['rows']}; quarantined rows: "
        f"{files['quarantine.parquet']['rows']}; changes against the parent: "
        f"{files.get('changes.parquet', {}).get('rows', 0)}.",
        "",
        "## Columns",
        "",
    ]
    for table in TABLES:
        lines += [f"### {table}", "", "| column | type | meaning |", "|---|---|---|"]
        lines += [f"| {f.name} | {f.type}{'' if f.nullable else ', not null'} | "
                  f"{(f.metadata or {}).get(b'description', b'').decode()} |"
                  for f in arrow_schema(table)]
        lines.append("")
    lines += [
        "## Known limits",
        "",
        "- Extraction is rule-based: subjects are the nearest noun phrase and can be too long or "
        "too short; `geography` falls back to the document's home place; `period` is null when "
        "the text ties a number to no year.",
        "- The metric catalog maps subjects by pattern; rows it cannot place are `other`.",
        "- A number reported by several documents appears once per document; see the DuckDB view "
        "`metric_series` for them side by side.",
        "",
        "## How to cite",
        "",
        f"Dangjian Metrics (党建指标), release {version}. Cite the release version and, for a "
        "single number, its `metric_id`.",
        "",
    ]
    return "\n".join(lines)


def write_datacard(folder: Path, manifest: dict[str, Any]) -> None:
    (folder / "datapackage.json").write_text(
        json.dumps(datapackage(manifest), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (folder / "README.md").write_text(datacard(folder, manifest), encoding="utf-8")
