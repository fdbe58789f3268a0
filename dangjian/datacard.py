"""The human- and machine-readable description of a release: ``README.md`` and
``datapackage.json`` (a Frictionless Data Package), both written from the pandera models."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

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


def _counts(series: pd.Series, limit: int = 12) -> str:
    counts = series.fillna("(none)").value_counts().sort_index(kind="stable")
    counts = counts.sort_values(ascending=False, kind="stable").head(limit)
    return "\n".join(f"| {key} | {value} |" for key, value in counts.items()) or "| – | 0 |"


def datacard(manifest: dict[str, Any], tables: dict[str, pd.DataFrame]) -> str:
    metrics, documents = tables["metrics"], tables["documents"]
    version = manifest["version"]
    catalog = {entry.id: entry.name_en for entry in load_catalog()}
    metric_counts = metrics["metric"].value_counts() if len(metrics) else pd.Series(dtype=int)
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
        *(f"| {t} | {i['rows']} | `{i['sha256'][:16]}…` |"
          for t, i in ((n[:-8], manifest['files'][n]) for n in sorted(manifest['files']))),
        "",
        "Every metric row carries its provenance: `doc_id` (sha256 of the raw file), "
        "`char_start`/`char_end` (code-point offsets into the decoded text, so that "
        "`text[char_start:char_end] == quote`), the `extractor` rule and `extractor_version`.",
        "",
        "## Metrics by kind",
        "",
        "| quantity_kind | rows |", "|---|---|", _counts(metrics.get("quantity_kind", pd.Series(dtype=str))),
        "",
        "## Metrics by place",
        "",
        "| geography | rows |", "|---|---|", _counts(metrics.get("geography", pd.Series(dtype=str))),
        "",
        "## Metrics by catalog id",
        "",
        "| metric | name | rows |", "|---|---|---|",
        *(f"| {k} | {catalog.get(k, 'not in the catalog')} | {v} |"
          for k, v in sorted(metric_counts.items(), key=lambda kv: (-kv[1], kv[0]))),
        "",
        f"Documents: {len(documents)}; rejected files: {len(tables['rejected'])}; "
        f"quarantined rows: {len(tables['quarantine'])}.",
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


def write_datacard(folder: Path, manifest: dict[str, Any], tables: dict[str, pd.DataFrame]) -> None:
    (folder / "datapackage.json").write_text(
        json.dumps(datapackage(manifest), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (folder / "README.md").write_text(datacard(manifest, tables), encoding="utf-8")
