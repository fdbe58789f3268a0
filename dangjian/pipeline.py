"""One batch of raw files in, table rows out: read, extract, give meaning, classify, validate.

Plain functions with no Prefect import, so the flow can run them as a few coarse tasks and tests
can call them directly.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pandera.pandas as pa

from dangjian import EXTRACTOR_VERSION
from dangjian.cache import ExtractionCache
from dangjian.corpus import RawDocument, Rejection, read_document
from dangjian.documents import METADATA_FILE, describe, load_metadata
from dangjian.text import Cleaned, clean, clean_view
from schemas.catalog import classify
from schemas.tables import TABLES, columns, skip_dask_dataframe

if TYPE_CHECKING:
    from dangjian.extract import Mention


@dataclass
class BatchResult:
    documents: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    cached: int = 0

    def extend(self, other: "BatchResult") -> None:
        self.documents += other.documents
        self.metrics += other.metrics
        self.rejected += other.rejected
        self.cached += other.cached


def metric_id(source_file: str, doc_id: str, start: int, end: int) -> str:
    """Stable id of a mention: the same span of the same text in the same file keeps it (two
    files with identical bytes are two documents, so the file name is part of the id)."""
    return hashlib.sha256(f"{source_file}\0{doc_id}:{start}:{end}".encode()).hexdigest()[:20]


def _to_original(mentions: list[Mention], cleaned: Cleaned, original: str) -> list[Mention]:
    """Move spans found in the clean text back onto the original; quote and context follow."""
    if cleaned.origin is None:
        return mentions
    for m in mentions:
        m.start, m.end = cleaned.span_in_original(m.start, m.end)
        m.quote = original[m.start:m.end]
        s_start, s_end = cleaned.span_in_original(m.sentence.start, m.sentence.end)
        m.context = original[s_start:s_end].strip()
    return mentions


def document_rows(doc: RawDocument, meta: dict[str, str] | None) -> tuple[dict[str, Any], list[Mention]]:
    """The documents row of one text and its annotated mentions, offsets into ``doc.text``."""
    # Imported here: the rules compile their patterns and jieba loads its dictionaries on
    # import (seconds), which a flow's process whose batches run in workers, and a run whose
    # documents all come from the cache, never need.
    from dangjian.extract import extract
    from dangjian.meaning import DocumentContext, annotate

    cleaned = clean(doc.text)
    view = clean_view(cleaned.text)
    info = describe(cleaned.text, view, meta)
    mentions = annotate(cleaned.text, extract(cleaned.text, view),
                        DocumentContext(info.home, info.published), view)
    mentions = _to_original(mentions, cleaned, doc.text)
    row = {
        "doc_id": doc.doc_id, "source_file": doc.source_file, "title": info.title,
        "publisher": info.publisher,
        "published": pd.Timestamp(info.published) if info.published else None,
        "url": info.url, "place": info.home, "encoding": doc.encoding, "script": info.script,
        "n_chars": len(doc.text),
    }
    return row, mentions


def metric_row(doc: RawDocument, m: Mention) -> dict[str, Any]:
    return {
        "metric_id": metric_id(doc.source_file, doc.doc_id, m.start, m.end),
        "doc_id": doc.doc_id, "source_file": doc.source_file,
        "char_start": m.start, "char_end": m.end, "quote": m.quote, "context": m.context,
        "value": m.value, "value_high": m.value_high, "unit": m.unit, "qualifier": m.qualifier,
        "quantity_kind": m.quantity_kind, "statistic": m.statistic, "subject": m.subject,
        "metric": classify(m.subject, m.quantity_kind), "geography": m.geography,
        "period": m.period, "extractor": m.extractor, "extractor_version": EXTRACTOR_VERSION,
    }


def process_batch(raw_dir: Path, source_files: list[str],
                  metadata: dict[str, dict[str, str]]) -> BatchResult:
    """Rows for a batch of corpus files; a file that cannot be read becomes a rejected row."""
    result = BatchResult()
    read = _read_batch(raw_dir, source_files, metadata, result)
    _extract_into(result, read)
    return result


def _read_batch(raw_dir: Path, source_files: list[str], metadata: dict[str, dict[str, str]],
                result: BatchResult) -> list[tuple[RawDocument, dict[str, str] | None]]:
    """The batch's documents with their metadata rows; unreadable files go to ``result``."""
    root = Path(raw_dir).resolve()
    read: list[tuple[RawDocument, dict[str, str] | None]] = []
    for source_file in source_files:
        item = read_document(raw_dir, source_file, root=root)
        if isinstance(item, Rejection):
            result.rejected.append(item.as_row())
            continue
        read.append((item, metadata_row(metadata, source_file)))
    return read


def metadata_row(metadata: dict[str, dict[str, str]], source_file: str) -> dict[str, str] | None:
    """The metadata file's row for a corpus file: by its path, else by its bare name."""
    if not metadata:  # most corpora have none, and a run looks up every file
        return None
    return metadata.get(source_file) or metadata.get(Path(source_file).name)


def document_keys(cache: ExtractionCache, digests: dict[str, str | None],
                  metadata: dict[str, dict[str, str]]) -> set[str]:
    """The cache keys of the corpus's documents as the scan found them (``digests``, the sha256
    of each file's bytes, is each document's ``doc_id``)."""
    return {cache.key(digest, name, metadata_row(metadata, name))
            for name, digest in digests.items() if digest is not None}


def _extract_into(result: BatchResult,
                  read: list[tuple[RawDocument, dict[str, str] | None]]) -> None:
    """Extract ``read`` into ``result``; a document whose extraction fails is rejected."""
    for item, meta in read:
        try:
            doc_row, mentions = document_rows(item, meta)
        except Exception as exc:  # a rule bug must cost one file, not the run
            result.rejected.append(Rejection(
                item.source_file, item.doc_id, len(item.text.encode("utf-8")),
                f"extraction_failed: {type(exc).__name__}: {exc}").as_row())
            continue
        result.documents.append(doc_row)
        result.metrics.extend(metric_row(item, m) for m in mentions)


def frame(table: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows as a DataFrame with exactly the table's columns, in order."""
    df = pd.DataFrame(rows, columns=columns(table))
    return df.reset_index(drop=True)


def _jsonable(value: Any) -> Any:
    # Any missing value, NaT of a date column too (a missing date beside a present one).
    if pd.api.types.is_scalar(value) and pd.isna(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value


def validate(table: str, df: pd.DataFrame) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The rows that pass the table's model, and quarantine rows for those that fail.

    Validation is lazy so every failing check of every row is reported; a row that fails any
    check leaves the table and appears in quarantine once per failed check.
    """
    model = TABLES[table]
    if df.empty and list(df.columns) == columns(table):
        return df, []  # nothing to check, and the columns are the model's: skip the fixed cost
    try:
        return model.validate(df, lazy=True), []
    except pa.errors.SchemaErrors as errors:
        cases, message = errors.failure_cases, str(errors)
    bad_index = cases["index"].dropna().unique()
    if len(bad_index) == 0:  # a table-wide failure (a missing column): nothing can be published
        raise ValueError(f"{table}: {message}") from None
    quarantine: list[dict[str, Any]] = []
    names = _check_names(model)
    for (index, check), group in cases.dropna(subset=["index"]).groupby(["index", "check"], sort=True):
        row = df.loc[int(index)]
        check = str(check)
        if check in names:  # a dataframe-level check reports its message as its name
            check, reason = names[check], check
        else:
            failed = ", ".join(sorted({str(c) for c in group["column"].dropna()}))
            values = ", ".join(sorted({str(v) for v in group["failure_case"]}))[:200]
            reason = f"{failed} failed {check} (value {values})"
        quarantine.append({
            "table": table, "doc_id": row.get("doc_id"), "source_file": row.get("source_file"),
            "char_start": row.get("char_start"), "char_end": row.get("char_end"),
            "quote": row.get("quote"), "check": check, "reason": reason,
            "row": json.dumps({k: _jsonable(v) for k, v in row.items()}, ensure_ascii=False,
                              sort_keys=True),
        })
    good = df.drop(index=[int(i) for i in bad_index]).reset_index(drop=True)
    return model.validate(good, lazy=True), quarantine


def _check_names(model: type[pa.DataFrameModel]) -> dict[str, str]:
    """Names of the model's dataframe-level checks, by their error message."""
    return {check.error: check.name for check in model.to_schema().checks if check.error}


@dataclass(frozen=True)
class BatchCounts:
    """What a staged batch reports back to the flow: counts only, never rows."""

    files: int
    documents: int
    metrics: int
    rejected: int
    quarantined: int
    quarantine_reasons: tuple[str, ...]
    cached: int = 0


def reuse_batch(source_files: list[str], index: int, workdir: Path, cache: ExtractionCache | None,
                key: str | None) -> BatchCounts | None:
    """The counts of a batch whose parts were kept by an earlier run, linked in as ``index``."""
    if cache is None or key is None or (counts := cache.reuse_batch(key, workdir, index)) is None:
        return None
    return BatchCounts(**{**counts, "quarantine_reasons": tuple(counts["quarantine_reasons"]),
                          "cached": len(source_files)})


def stage_batch(raw_dir: Path, source_files: list[str], index: int, workdir: Path,
                metadata: dict[str, dict[str, str]],
                cache: ExtractionCache | None = None,
                digests: dict[str, str | None] | None = None,
                plain: frozenset[str] = frozenset()) -> BatchCounts:
    """Process a batch, validate its rows and write them as parts ``index`` of the run's tables.

    With a cache, a batch whose files, bytes and metadata are all as in an earlier run reuses
    that run's validated parts without reading a document again; otherwise each document seen
    before under the same name and metadata takes its validated rows from the kept batch that
    holds them, and only the others are extracted and validated. ``digests`` are the files'
    sha256 when the caller has them (the scan's): the batch's key then reads no file, and the
    kept documents are found by them, so that only the others are read; ``plain``, the files the
    scan found plain (see :class:`dangjian.corpus.Scan`), spares the key a system call each.
    """
    from dangjian.staging import write_part

    key = cache.batch_key(raw_dir, source_files, metadata, digests, plain) if cache else None
    reused = reuse_batch(source_files, index, workdir, cache, key)
    if reused is not None:
        return reused
    result = BatchResult()
    keys: dict[str, str] = {}
    kept = KeptRows()
    if cache and digests is not None:
        # The scan hashed every file: documents kept before are found by their digests, and
        # only the others are read (a night's changed batch is mostly kept documents).
        keys = {name: cache.key(digest, name, metadata_row(metadata, name))
                for name in source_files if (digest := digests.get(name)) is not None}
        kept = _kept_rows(cache, keys)
        keys = {name: keys[name] for name in kept.files}
    read = _read_batch(raw_dir, [f for f in source_files if f not in kept.files], metadata,
                       result)
    if cache:
        keys.update((item.source_file, cache.key(item.doc_id, item.source_file, meta))
                    for item, meta in read)
        if digests is None:
            kept = _kept_rows(cache, keys)
    result.cached = len(kept.files)
    _extract_into(result, [(item, meta) for item, meta in read
                           if item.source_file not in kept.files])
    tables = kept.tables
    quarantine: list[dict[str, Any]] = []
    rows = {}
    with_row: set[str] = set(kept.files)  # the files with a documents row in the part
    for table in ("documents", "metrics", "rejected"):
        good, bad = validate(table, frame(table, getattr(result, table)))
        quarantine += bad
        rows[table] = write_part(workdir, table, index, good, tables.get(table))
        if table == "documents":
            with_row.update(good["source_file"])
    checked, _ = validate("quarantine", frame("quarantine", quarantine))
    n_quarantined = write_part(workdir, "quarantine", index, checked, tables.get("quarantine"))
    reasons = {f"{q['table']}: {q['reason']}" for q in quarantine}
    if "quarantine" in tables:
        reasons.update(f"{t}: {r}" for t, r in zip(tables["quarantine"]["table"].to_pylist(),
                                                     tables["quarantine"]["reason"].to_pylist()))
    counts = BatchCounts(len(source_files), rows["documents"], rows["metrics"], rows["rejected"],
                         n_quarantined, tuple(sorted(reasons)), result.cached)
    as_read = {**{f: digests.get(f) for f in kept.files}, **_as_read(result, read)} \
        if digests is not None else {}
    if cache and key and (digests is None or as_read == {f: digests.get(f) for f in source_files}):
        # Kept under a key from the caller's digests only if the files were read with those
        # bytes: a file that changed in between must not leave its new rows under its old key.
        cache.keep_batch(key, workdir, index, {**counts.__dict__, "cached": 0})
        # Only documents with a documents row are served from a kept batch: not those whose
        # extraction failed or whose documents row is in quarantine.
        cache.remember([k for f, k in keys.items() if f in with_row], key)
    return counts


@dataclass
class KeptRows:
    """Validated rows of documents staged before: the files served and their rows by table."""

    files: set[str] = field(default_factory=set)
    tables: dict[str, Any] = field(default_factory=dict)  # table → pyarrow.Table


def _kept_rows(cache: ExtractionCache, keys: dict[str, str]) -> KeptRows:
    """The rows kept for the documents ``keys`` (file name → document key) found in the cache;
    a document whose kept batch is gone, or holds no documents row for it, is not served."""
    import pyarrow
    import pyarrow.compute as pc

    located = cache.locate(list(keys.values()))
    by_batch: dict[str, set[str]] = {}
    for name, key in keys.items():
        if key in located:
            by_batch.setdefault(located[key], set()).add(name)
    kept = KeptRows()
    parts: dict[str, list[Any]] = {}
    for batch, names in sorted(by_batch.items()):
        found = cache.document_rows(batch, names)
        if found is None:
            continue  # the kept batch is gone or unreadable: extract them again
        present = set(found["documents"]["source_file"].to_pylist())
        if present != names:
            wanted = pyarrow.array(sorted(present), pyarrow.string())
            found = {t: rows.filter(pc.is_in(rows["source_file"], value_set=wanted))
                     for t, rows in found.items()}
        kept.files |= present
        for table, rows in found.items():
            parts.setdefault(table, []).append(rows)
    kept.tables = {table: pyarrow.concat_tables(rows) for table, rows in parts.items()}
    return kept


def _as_read(result: BatchResult,
             read: list[tuple[RawDocument, dict[str, str] | None]]) -> dict[str, str | None]:
    """The sha256 of each file of a staged batch, as it was read."""
    seen: dict[str, str | None] = {item.source_file: item.doc_id for item, _ in read}
    seen.update((r["source_file"], r["sha256"]) for r in result.rejected)
    return seen


@lru_cache(maxsize=4)
def _metadata_at(raw_dir: str, mtime: float) -> dict[str, dict[str, str]]:
    return load_metadata(Path(raw_dir))


def corpus_metadata(raw_dir: str | Path) -> dict[str, dict[str, str]]:
    """The metadata file, read once per process and again only when it changes."""
    path = Path(raw_dir) / METADATA_FILE
    return _metadata_at(str(raw_dir), path.stat().st_mtime if path.exists() else 0.0)


def stage_files(raw_dir: str, source_files: list[str], index: int, workdir: str,
                cache_dir: str | None,
                digests: dict[str, str | None] | None = None,
                plain: list[str] | None = None) -> BatchCounts:
    """:func:`stage_batch` with plain arguments, as a worker process receives them."""
    cache = ExtractionCache(Path(cache_dir)) if cache_dir else None
    return stage_batch(Path(raw_dir), source_files, index, Path(workdir), corpus_metadata(raw_dir),
                       cache, digests, frozenset(plain or ()))


def init_worker() -> None:
    """Set up a worker process that runs :func:`stage_files` for a flow: it needs no dask."""
    skip_dask_dataframe()
