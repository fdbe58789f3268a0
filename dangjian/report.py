"""One self-contained HTML page per release that shows where every number came from.

The page (``report.html``) holds counts and bar charts, each document's text with every metric
highlighted at its span, a searchable table of the metrics and the changes against the parent
release. Styles, script and data are inline, so it opens from a file or a download with no
network. The same release and raw texts give the same bytes: rows are sorted, nothing but the
manifest's own fields is dated, and the page is built only from the tables and ``raw/``.

Releases are immutable, so the page of a new release is written into its staging folder by
:func:`report_decorator` at publish time; for an older release :func:`report_for` writes it under
``output/reports/<version>.html`` instead.
"""
from __future__ import annotations

import hashlib
import heapq
import html
import json
import math
import os
import pickle
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Iterable, NamedTuple

import pyarrow as pa

from dangjian import queries
from dangjian.queries import literal
from dangjian.corpus import RawDocument, Rejection, read_document
from dangjian.datacard import metric_counts
from dangjian.publish import Decorator
from dangjian.verify import release_folder

REPORT_FILE = "report.html"
REPORTS = "reports"
#: Rows of the changes table shown in the page; all of them are in changes.parquet.
MAX_CHANGES = 2000
#: Bars per chart; the rest are summed into one bar.
MAX_BARS = 15
#: Documents whose text and metrics the page shows (in file order); counts and charts cover all.
MAX_DOCUMENTS = 200
#: Quarantined rows and rejected files listed in the page; all of them are in the Parquet files.
MAX_LISTED = 2000
TABLE_FILES = ("documents", "metrics", "quarantine", "rejected", "changes")
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
#: The characters :func:`html.escape` replaces.
_HTML_SPECIAL = re.compile("[&<>\"']")


def esc(value: Any) -> str:
    """Text for HTML content and quoted attributes; None is empty."""
    return "" if value is None else html.escape(str(value), quote=True)


def script_json(data: Any) -> str:
    """JSON that is safe inside ``<script>``: no ``</script>``, ``<!--`` or line separators can
    end or confuse the element, because ``<``, ``>``, ``&`` and U+2028/9 are written as escapes."""
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                      allow_nan=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return text


# --- highlights -------------------------------------------------------------------------------

class Span(NamedTuple):
    """A stretch of a document's text to highlight: a metric row (``m``) or a quarantined one
    (``q``), by its index in the page's data. A named tuple, as a page makes thousands."""

    start: int
    end: int
    kind: str
    index: int


class Fragment(NamedTuple):
    start: int
    end: int
    span: Span
    first: bool


def nest(spans: Iterable[Span]) -> list[Fragment]:
    """Cut spans into fragments that nest like HTML elements, in document order.

    Nested spans stay whole; a span that crosses the end of an enclosing one is cut there and
    continues in a second fragment, so each span has exactly one first fragment (the element a
    table row scrolls to) and its characters are all highlighted.
    """
    heap = [(s.start, -s.end, order, s, True)
            for order, s in enumerate(sorted(spans, key=lambda s: (s.start, -s.end, s.kind, s.index)))]
    heapq.heapify(heap)
    counter = len(heap)
    open_ends: list[int] = []
    out: list[Fragment] = []
    while heap:
        start, neg_end, _, span, first = heapq.heappop(heap)
        end = -neg_end
        while open_ends and open_ends[-1] <= start:
            open_ends.pop()
        if open_ends and end > open_ends[-1]:
            cut = open_ends[-1]
            heapq.heappush(heap, (cut, -end, counter, span, False))
            counter += 1
            end = cut
        out.append(Fragment(start, end, span, first))
        open_ends.append(end)
    return out


def _open_tag(fragment: Fragment) -> str:
    span = fragment.span
    if span.kind == "m":
        cls = "hl" if fragment.first else "hlx"
        ident = f' id="m-{span.index}"' if fragment.first else ""
        return f'<mark class="{cls}"{ident} data-m="{span.index}">'
    cls = "hq" if fragment.first else "hqx"
    ident = f' id="q-{span.index}"' if fragment.first else ""
    return f'<mark class="{cls}"{ident} data-q="{span.index}">'


def highlight(text: str, spans: Iterable[Span]) -> str:
    """The text as escaped HTML with one ``<mark class="hl">`` per metric span and one
    ``<mark class="hq">`` per quarantined one; the continuations of crossing spans are ``hlx`` and
    ``hqx``, so counting ``mark.hl`` counts metric rows. Spans outside the text are left out."""
    valid = [s for s in spans if 0 <= s.start < s.end <= len(text)]
    # a text with nothing to escape (most of them) is cut into pieces that need none either
    escape = html.escape if _HTML_SPECIAL.search(text) else str
    parts: list[str] = []
    pos = 0
    open_ends: list[int] = []

    def close_to(limit: int) -> None:
        nonlocal pos
        while open_ends and open_ends[-1] <= limit:
            end = open_ends.pop()
            parts.append(escape(text[pos:end]))
            parts.append("</mark>")
            pos = end

    for fragment in nest(valid):
        close_to(fragment.start)
        parts.append(escape(text[pos:fragment.start]))
        pos = fragment.start
        parts.append(_open_tag(fragment))
        open_ends.append(fragment.end)
    close_to(len(text))
    parts.append(escape(text[pos:]))
    return "".join(parts)


@lru_cache(maxsize=2 * MAX_DOCUMENTS)
def _highlighted(text: str, spans: tuple[Span, ...]) -> str:
    """:func:`highlight`, kept per process for the pages a warm process writes night after night
    (the same texts with the same spans, most of them)."""
    return highlight(text, spans)


# --- reading a release ------------------------------------------------------------------------

#: Columns the page reads from each table. Long columns it never shows (``context``) are not read,
#: and a column an older release lacks is simply left out of its rows.
COLUMNS = {
    "documents": ("doc_id", "source_file", "title", "publisher", "published", "place", "encoding",
                  "n_chars"),
    "metrics": ("metric_id", "source_file", "char_start", "char_end", "quote", "value",
                "value_high", "unit", "qualifier", "quantity_kind", "statistic", "subject", "metric",
                "geography", "period", "extractor"),
    "quarantine": ("table", "source_file", "char_start", "char_end", "quote", "check", "reason",
                   "row"),
    "rejected": ("source_file", "reason"),
    "changes": ("change", "source_file", "char_start", "quote", "fields", "old", "new", "cause"),
}


@dataclass(frozen=True)
class Bars:
    """What a bar chart needs of its counts: the largest ones in chart order (count down, then
    label), how many labels there are in all and the sum of all counts. For a whole release
    they come from DuckDB's counts by value, so no row reaches Python, only distinct labels."""

    top: tuple[tuple[Any, int], ...]
    labels: int
    total: int

    @classmethod
    def of(cls, counts: dict[Any, int], limit: int, null_label: str | None = None) -> "Bars":
        """The bars of counts by value (see :func:`dangjian.queries.top_counts`)."""
        top, labels, total = queries.top_counts(counts, limit, null_label)
        return cls(tuple(top), labels, total)


#: The charts of the metrics table: the column counted, and the label of its NULL (None: none).
_METRIC_CHARTS = {"kind": ("quantity_kind", None), "metric": ("metric", None),
                  "place": ("geography", "(no place)"), "document": ("source_file", None)}
#: The chart of the quarantine table, counted by DuckDB: its ``(label, n)`` rows.
_CHECK_SQL = "SELECT concat(\"table\", ': ', \"check\"), count(*) FROM {quarantine} GROUP BY ALL"


class _Tables:
    """The Parquet tables of one release folder, queried over one DuckDB connection (opening a
    connection costs more than most of the queries the page needs)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.sources = {name: f"read_parquet({literal(folder / f'{name}.parquet')})"
                        for name in TABLE_FILES if (folder / f"{name}.parquet").is_file()}
        self.con = queries.cursor()

    def __enter__(self) -> "_Tables":
        return self

    def __exit__(self, *exc: object) -> None:
        self.con.close()

    def rows(self, table: str, clause: str = "", limit: int | None = None) -> list[dict[str, Any]]:
        """The page's columns (:data:`COLUMNS`) of one table, the ones it has, optionally filtered,
        ordered and limited by DuckDB."""
        if table not in self.sources:
            return []
        wanted = ", ".join(literal(name) for name in COLUMNS[table])
        sql = f"SELECT COLUMNS(lambda c: c IN ({wanted})) FROM {self.sources[table]} {clause}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return _dicts(self.con.sql(sql).to_arrow_table())

    def change_kinds(self) -> Counter:
        """The whole changes table counted by (change, cause): the page lists only its first
        rows, but its counts cover all of them."""
        if "changes" not in self.sources:
            return Counter()
        sql = f"SELECT change, cause, count(*) FROM {self.sources['changes']} GROUP BY ALL"
        return Counter({(change, cause): n for change, cause, n in self.con.execute(sql).fetchall()})

    def totals(self) -> dict[str, int]:
        """Row counts by table, which DuckDB takes from the Parquet footers."""
        if not self.sources:
            return {}
        sql = " UNION ALL ".join(f"SELECT {literal(name)}, count(*) FROM {source}"
                                 for name, source in self.sources.items())
        return dict(self.con.execute(sql).fetchall())

    def charts(self, limit: int) -> dict[str, Bars]:
        """Every chart's bars over the whole release: the metrics counted by value in one scan
        that the data card's counts share (:func:`dangjian.datacard.metric_counts`), so only
        each column's distinct values reach Python."""
        charts = {name: Bars((), 0, 0) for name in (*_METRIC_CHARTS, "check")}
        if "metrics" in self.sources:
            counts = metric_counts(self.folder)
            for name, (column, null_label) in _METRIC_CHARTS.items():
                charts[name] = Bars.of(counts[column], limit, null_label)
        if "quarantine" in self.sources:
            sql = _CHECK_SQL.format(quarantine=self.sources["quarantine"])
            charts["check"] = Bars.of(dict(self.con.execute(sql).fetchall()), limit)
        return charts


def _dicts(table: Any) -> list[dict[str, Any]]:
    """Rows of an Arrow table as dicts with :func:`_plain` values, built column by column (much
    faster than row by row)."""
    columns = [_plain_column(field.type, column.to_pylist())
               for field, column in zip(table.schema, table.columns)]
    names = table.schema.names
    return [dict(zip(names, row)) for row in zip(*columns)]


def _plain_column(kind: Any, values: list[Any]) -> list[Any]:
    """A column's values as :func:`_plain` gives them; only floats and dates can change."""
    if pa.types.is_floating(kind):
        return [v if v is None or math.isfinite(v) else None for v in values]
    if pa.types.is_temporal(kind):
        return [_plain(v) for v in values]
    return values


def _shown_range(documents: list[dict[str, Any]]) -> str:
    """A filter that holds the rows of the shown documents (the first by file name): as the
    tables are written sorted by file, DuckDB skips the row groups of the other files."""
    if not documents:
        return "WHERE false"
    names = [d["source_file"] for d in documents]
    return f"WHERE source_file BETWEEN {literal(min(names))} AND {literal(max(names))}"


def _plain(value: Any) -> Any:
    """Values JSON can hold: dates as ISO strings, NaN as None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:.12g}"


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


@dataclass
class ReleaseData:
    manifest: dict[str, Any]
    documents: list[dict[str, Any]]
    metrics: list[dict[str, Any]]
    quarantine: list[dict[str, Any]]
    rejected: list[dict[str, Any]]
    changes: list[dict[str, Any]]
    texts: dict[str, str | None]
    notes: dict[str, str]
    #: Row counts of the whole release by table, when only part of it is loaded.
    totals: dict[str, int] | None = None
    #: Chart bars over the whole release, when only part of it is loaded.
    counts: dict[str, Counter | Bars] | None = None
    #: Rows of the whole changes table by (change, cause), when only part of it is loaded.
    change_kinds: Counter | None = None

    def changes_by(self, field: str) -> Counter:
        """Changes counted by ``change`` or ``cause`` over the whole table."""
        if self.change_kinds is None:
            return Counter(c[field] for c in self.changes)
        position = ("change", "cause").index(field)
        counts: Counter = Counter()
        for key, n in self.change_kinds.items():
            counts[key[position]] += n
        return counts

    def total(self, table: str) -> int:
        if self.totals is not None and table in self.totals:
            return self.totals[table]
        return len(getattr(self, table))

    def chart(self, name: str) -> Counter | Bars:
        if self.counts is not None and name in self.counts:
            return self.counts[name]
        return _chart_counts(self.metrics, self.quarantine)[name]


def _chart_counts(metrics: list[dict[str, Any]], quarantine: list[dict[str, Any]]) -> dict[str, Counter]:
    return {
        "kind": Counter(m["quantity_kind"] for m in metrics),
        "metric": Counter(m["metric"] for m in metrics),
        "place": Counter(m.get("geography") or "(no place)" for m in metrics),
        "document": Counter(m["source_file"] for m in metrics),
        "check": Counter(f"{q.get('table')}: {q.get('check')}" for q in quarantine),
    }


def load_release(folder: Path, raw_dir: Path | None,
                 manifest: dict[str, Any] | None = None) -> ReleaseData:
    """The tables of a release folder, sorted, and each document's decoded text from raw/ when
    the raw file is still the one the release was built from (same sha256).

    Counts and charts are aggregated by DuckDB over the whole release (a count per distinct
    value reaches Python); only the rows the page lists (the first ``MAX_DOCUMENTS`` documents
    and their metrics, the first rows of the other tables) are read into Python.
    """
    folder = Path(folder)
    if manifest is None:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    with _Tables(folder) as tables:
        totals, counts = tables.totals(), tables.charts(MAX_BARS)
        documents = tables.rows("documents", "ORDER BY source_file", MAX_DOCUMENTS)
        shown = {d["source_file"] for d in documents}
        metrics = sorted((m for m in tables.rows("metrics", _shown_range(documents))
                          if m["source_file"] in shown),
                         key=lambda m: (m["source_file"], m["char_start"], m["char_end"],
                                        m["metric_id"]))
        quarantine = sorted(tables.rows("quarantine"), key=_quarantine_order)[:MAX_LISTED]
        rejected = tables.rows("rejected", "ORDER BY source_file", MAX_LISTED)
        changes = tables.rows("changes", "", MAX_CHANGES)  # already in a stable order
        change_kinds = tables.change_kinds()
    texts, notes = _texts(raw_dir, documents)
    return ReleaseData(manifest, documents, metrics, quarantine, rejected, changes, texts, notes,
                       totals, counts, change_kinds)


def _quarantine_order(q: dict[str, Any]) -> str:
    return json.dumps([q.get("source_file") or "", _int(q.get("char_start")) or 0, q.get("table"),
                       q.get("check"), q.get("row")], ensure_ascii=False)


def _texts(raw_dir: Path | None, documents: list[dict[str, Any]]
           ) -> tuple[dict[str, str | None], dict[str, str]]:
    """Each shown document's text, or a note on why it is not shown."""
    root = Path(raw_dir).resolve() if raw_dir is not None else None
    texts: dict[str, str | None] = {}
    notes: dict[str, str] = {}
    for doc in documents:
        texts[doc["source_file"]], note = _text(raw_dir, doc, root)
        if note:
            notes[doc["source_file"]] = note
    return texts, notes


def _text(raw_dir: Path | None, doc: dict[str, Any],
          root: Path | None = None) -> tuple[str | None, str | None]:
    """The decoded text the release's offsets point into, as :mod:`dangjian.verify` reads it;
    ``root`` is the real path of ``raw_dir``, resolved once for all documents."""
    if raw_dir is None:
        return None, "the raw folder is not available, so the text is not shown"
    read = _read(Path(raw_dir), doc["source_file"], root)
    if isinstance(read, Rejection):
        return None, f"the raw file cannot be read ({read.reason}), so the text is not shown"
    if read.doc_id != doc["doc_id"]:
        return None, ("the raw file has changed since this release (its sha256 differs from "
                      "doc_id), so the text is not shown")
    return read.text, None


def _read(raw_dir: Path, source_file: str, root: Path | None) -> RawDocument | Rejection:
    """:func:`dangjian.corpus.read_document`, from a per-process cache while the file's inode,
    size and modification time are as they were (what the scan trusts too): a warm process
    (``serve --warm``) shows mostly the same documents night after night."""
    try:
        info = os.stat(raw_dir / source_file)
    except OSError:
        return read_document(raw_dir, source_file, root=root)
    stamp = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
    return _read_stamped(raw_dir, source_file, root, stamp)


@lru_cache(maxsize=2 * MAX_DOCUMENTS)
def _read_stamped(raw_dir: Path, source_file: str, root: Path | None,
                  stamp: tuple[int, int, int, int]) -> RawDocument | Rejection:
    return read_document(raw_dir, source_file, root=root)


# --- the page ---------------------------------------------------------------------------------

def build_report(folder: Path, raw_dir: Path | None,
                 manifest: dict[str, Any] | None = None) -> str:
    """The HTML page of the release in ``folder``; ``manifest`` when it is not yet on disk."""
    return render(load_release(folder, raw_dir, manifest))


def render(data: ReleaseData) -> str:
    documents, payload = _shown(data)
    version = data.manifest.get("version", "")
    return fill(template(), {
        "title": esc(f"Dangjian Metrics {version}"),
        "header": _header(data.manifest),
        "overview": _overview(data),
        "documents": documents,
        "changes": _changes(data),
        "data": payload,
    })


#: The last :func:`_shown` result and the digest of what it was made from: a warm process
#: (``serve --warm``) shows the same first documents night after night, and writing their
#: highlighted texts and the page's data is most of the page's cost.
_last_shown: tuple[bytes, tuple[str, str]] | None = None


def _shown(data: ReleaseData) -> tuple[str, str]:
    """The page's documents (texts with highlights) and its data (JSON): made from the shown
    documents, their metrics, the quarantined rows and the texts alone. A text is that of its
    document's ``doc_id`` (the sha256 of the raw file, checked on reading) or missing, with a
    note, so the digest covers which are missing, not the texts."""
    global _last_shown
    key = hashlib.sha256(pickle.dumps(
        (data.documents, data.metrics, data.quarantine, data.notes,
         [name for name, text in data.texts.items() if text is None]),
        protocol=pickle.HIGHEST_PROTOCOL)).digest()
    last = _last_shown
    if last is not None and last[0] == key:
        return last[1]
    doc_index = {d["source_file"]: i for i, d in enumerate(data.documents)}
    spans: dict[str, list[Span]] = defaultdict(list)
    metric_rows = []
    for i, m in enumerate(data.metrics):
        text = data.texts.get(m["source_file"])
        shown = text is not None and 0 <= m["char_start"] < m["char_end"] <= len(text)
        if shown:
            spans[m["source_file"]].append(Span(m["char_start"], m["char_end"], "m", i))
        metric_rows.append({
            "id": m["metric_id"], "d": doc_index.get(m["source_file"], -1),
            "file": m["source_file"], "s": m["char_start"], "e": m["char_end"],
            "quote": m["quote"], "value": number(m["value"]) + (
                f"–{number(m['value_high'])}" if m.get("value_high") is not None else ""),
            "unit": m["unit"], "qualifier": m["qualifier"], "kind": m["quantity_kind"],
            "statistic": m["statistic"], "subject": m["subject"], "metric": m["metric"],
            "geography": m.get("geography"), "period": m.get("period"),
            "rule": m["extractor"], "shown": shown})
    quarantine_rows = []
    for j, q in enumerate(data.quarantine):
        start, end = _int(q.get("char_start")), _int(q.get("char_end"))
        text = data.texts.get(q.get("source_file") or "")
        shown = text is not None and start is not None and end is not None and 0 <= start < end <= len(text)
        if shown:
            spans[q["source_file"]].append(Span(start, end, "q", j))
        quarantine_rows.append({
            "file": q.get("source_file"), "s": start, "e": end, "quote": q.get("quote"),
            "table": q.get("table"), "check": q.get("check"), "reason": q.get("reason"),
            "row": q.get("row"), "d": doc_index.get(q.get("source_file") or "", -1),
            "shown": shown})
    payload = {"documents": [{"file": d["source_file"], "title": d.get("title")}
                             for d in data.documents],
               "metrics": metric_rows, "quarantine": quarantine_rows}
    shown_parts = (_documents(data, spans), script_json(payload))
    _last_shown = (key, shown_parts)
    return shown_parts


def template() -> str:
    return (files("dangjian") / "templates" / "report.html").read_text(encoding="utf-8")


def fill(page: str, parts: dict[str, str]) -> str:
    """Placeholders ``{{name}}`` replaced in one pass, so inserted text is never read again."""
    return _PLACEHOLDER.sub(lambda match: parts[match.group(1)], page)


def _header(manifest: dict[str, Any]) -> str:
    code = manifest.get("code_version") or {}
    rows = [("version", manifest.get("version")), ("parent", manifest.get("parent") or "none"),
            ("created", manifest.get("created")), ("package", code.get("package")),
            ("extractor", code.get("extractor")), ("git commit", code.get("git_commit")),
            ("corpus sha256", manifest.get("input_corpus_hash")),
            ("schema fingerprint", manifest.get("schema_fingerprint"))]
    facts = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in rows if v is not None)
    table_files = manifest.get("files") or {}
    lines = "".join(
        f"<tr><td>{esc(name)}.parquet</td><td class=num>{esc(info.get('rows'))}</td>"
        f"<td class=num>{esc(info.get('bytes'))}</td><td class=hash>{esc(info.get('sha256'))}</td></tr>"
        for name in TABLE_FILES if (info := table_files.get(f"{name}.parquet")))
    return (f'<dl class="facts">{facts}</dl>'
            f'<table class="files"><thead><tr><th>file</th><th>rows</th><th>bytes</th>'
            f'<th>sha256</th></tr></thead><tbody>{lines}</tbody></table>')


def bar_chart(title: str, counts: Counter | Bars, limit: int | None = None) -> str:
    """A horizontal bar chart as inline SVG, largest first (ties by label); past ``limit`` bars
    (``MAX_BARS`` by default) the rest are summed into one."""
    limit = MAX_BARS if limit is None else limit
    bars = counts if isinstance(counts, Bars) else Bars.of(counts, limit)
    items = list(bars.top[:limit])
    if bars.labels > limit:
        items = items[:limit - 1]
        rest = bars.total - sum(c for _, c in items)
        items.append((f"({bars.labels - limit + 1} more)", rest))
    if not items:
        return (f'<figure class="chart"><figcaption>{esc(title)}</figcaption>'
                f'<p class="empty">none</p></figure>')
    row, label_w, bar_w = 22, 180, 300
    top = max(c for _, c in items)
    bars = []
    for n, (label, count) in enumerate(items):
        y = n * row
        width = round(bar_w * count / top, 1) if top else 0
        short = label if len(label) <= 16 else label[:15] + "…"
        bars.append(
            f'<g><title>{esc(label)}: {count}</title>'
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{esc(short)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{width}" height="{row - 6}"></rect>'
            f'<text x="{label_w + width + 4}" y="{y + 15}" class="count">{count}</text></g>')
    height = row * len(items)
    return (f'<figure class="chart"><figcaption>{esc(title)}</figcaption>'
            f'<svg role="img" aria-label="{esc(title)}" width="{label_w + bar_w + 60}" '
            f'height="{height}" viewBox="0 0 {label_w + bar_w + 60} {height}">'
            f'{"".join(bars)}</svg></figure>')


def _overview(data: ReleaseData) -> str:
    change_counts = data.changes_by("change")
    cards = [("documents", data.total("documents")), ("metrics", data.total("metrics")),
             ("quarantined rows", data.total("quarantine")),
             ("rejected files", data.total("rejected")),
             ("added", change_counts["added"]), ("removed", change_counts["removed"]),
             ("changed", change_counts["changed"]),
             ("texts not shown", sum(t is None for t in data.texts.values()))]
    card_html = "".join(f'<div class="card"><b>{n}</b><span>{esc(k)}</span></div>' for k, n in cards)
    charts = [
        bar_chart("metrics by kind", data.chart("kind")),
        bar_chart("metrics by catalog metric", data.chart("metric")),
        bar_chart("metrics by place", data.chart("place")),
        bar_chart("metrics by document", data.chart("document")),
        bar_chart("quarantined rows by check", data.chart("check")),
    ]
    partial = ""
    if data.total("documents") > len(data.documents):
        partial = (f'<p class="note">The page shows the texts and metrics of the first '
                   f'{len(data.documents)} of {data.total("documents")} documents (by file name); '
                   f'the counts and charts cover the whole release, and every row is in the '
                   f'Parquet files and the DuckDB file.</p>')
    rejected = ""
    if data.rejected:
        rows = "".join(f"<tr><td>{esc(r['source_file'])}</td><td>{esc(r['reason'])}</td></tr>"
                       for r in data.rejected)
        rejected = (f'<h3>Rejected files</h3><table class="plain"><thead><tr><th>file</th>'
                    f'<th>reason</th></tr></thead><tbody>{rows}</tbody></table>')
    quarantined = ""
    if data.quarantine:
        rows = "".join(
            f'<tr data-q="{j}"><td>{esc(q.get("table"))}</td><td>{esc(q.get("source_file"))}</td>'
            f'<td>{esc(q.get("quote"))}</td><td>{esc(q.get("check"))}</td>'
            f'<td>{esc(q.get("reason"))}</td></tr>' for j, q in enumerate(data.quarantine))
        quarantined = (f'<h3>Quarantined rows</h3><table class="plain" id="quarantine-table">'
                       f'<thead><tr><th>table</th><th>file</th><th>quote</th><th>check</th>'
                       f'<th>reason</th></tr></thead><tbody>{rows}</tbody></table>')
    return (f'<div class="cards">{card_html}</div>{partial}<div class="charts">{"".join(charts)}</div>'
            f'{quarantined}{rejected}')


def _documents(data: ReleaseData, spans: dict[str, list[Span]]) -> str:
    per_doc = Counter(m["source_file"] for m in data.metrics)
    per_doc_q = Counter(q.get("source_file") for q in data.quarantine)
    out = []
    is_open = " open" if len(data.documents) <= 50 else ""
    for i, doc in enumerate(data.documents):
        name = doc["source_file"]
        meta = " · ".join(esc(v) for v in (doc.get("publisher"), doc.get("published"),
                                              doc.get("place"), doc.get("encoding"),
                                              f"{doc.get('n_chars')} characters") if v)
        text = data.texts.get(name)
        if text is None:
            body = f'<p class="note">{esc(data.notes.get(name, "text not available"))}</p>'
        else:
            body = f'<div class="text">{_highlighted(text, tuple(spans.get(name, ())))}</div>'
        out.append(
            f'<details class="doc" id="doc-{i}"{is_open}><summary>'
            + (f'<b>{esc(doc["title"])}</b> <span class="file">{esc(name)}</span>'
               if doc.get("title") else f'<b class="file">{esc(name)}</b>')
            + f' <span class="badge">{per_doc[name]} metrics</span>'
            + (f' <span class="badge q">{per_doc_q[name]} quarantined</span>'
               if per_doc_q[name] else "")
            + f'</summary><p class="meta">{meta}</p>{body}</details>')
    return "".join(out) or '<p class="empty">no documents</p>'


def _changes(data: ReleaseData) -> str:
    parent = data.manifest.get("parent")
    if not parent:
        return '<p class="empty">This is the first release: there is no parent to compare with.</p>'
    counts, causes = data.changes_by("change"), data.changes_by("cause")
    summary = (f'<p>Against {esc(parent)}: {counts["added"]} added, {counts["removed"]} removed, '
               f'{counts["changed"]} changed.</p>')
    if not data.changes:
        return summary
    rows = "".join(
        f'<tr class="{esc(c["change"])}"><td>{esc(c["change"])}</td><td>{esc(c["source_file"])}</td>'
        f'<td class=num>{esc(c["char_start"])}</td><td>{esc(c["quote"])}</td>'
        f'<td>{esc(c["fields"])}</td><td class=json>{esc(c.get("old"))}</td>'
        f'<td class=json>{esc(c.get("new"))}</td><td>{esc(c["cause"])}</td></tr>'
        for c in data.changes[:MAX_CHANGES])
    hidden = data.total("changes") - len(data.changes[:MAX_CHANGES])
    more = (f'<p class="note">{hidden} more changes are in changes.parquet.</p>'
            if hidden > 0 else "")
    return (summary + bar_chart("changes by cause", causes)
            + f'<table class="plain" id="changes-table"><thead><tr><th>change</th><th>file</th>'
              f'<th>offset</th><th>quote</th><th>fields</th><th>old</th><th>new</th><th>cause</th>'
              f'</tr></thead><tbody>{rows}</tbody></table>{more}')


# --- where the page goes ----------------------------------------------------------------------

def report_decorator(raw_dir: Path) -> Decorator:
    """A publish hook that writes ``report.html`` into the staged release folder."""
    def decorate(staging: Path, manifest: dict[str, Any]) -> None:
        (staging / REPORT_FILE).write_text(build_report(staging, Path(raw_dir), manifest),
                                           encoding="utf-8", newline="")
    return decorate


def report_for(output: Path, version: str | None, raw_dir: Path | None) -> Path:
    """The page of a release (the newest when ``version`` is None or ``latest``).

    A release that carries its page is left as it is; for an older one the page is written to
    ``output/reports/<version>.html``, never into the immutable release folder.
    """
    version, folder = release_folder(Path(output), None if version in (None, "latest") else version)
    inside = folder / REPORT_FILE
    if inside.is_file():
        return inside
    target = Path(output) / REPORTS / f"{version}.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(build_report(folder, raw_dir), encoding="utf-8", newline="")
    os.replace(tmp, target)
    return target
