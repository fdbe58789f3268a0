"""The release flow: scan raw/, extract in batches, validate, publish.

Only orchestration lives here; every step is a plain function of the ``dangjian`` package.
Documents are processed in batches, one task per batch, because a Prefect task run costs tens of
milliseconds: one task per document would cost more than the extraction itself.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from prefect import flow, task
from prefect.futures import as_completed
from prefect.logging import get_run_logger

from dangjian.corpus import corpus_hash, list_raw
from dangjian.documents import load_metadata
from dangjian.pipeline import BatchResult, frame, process_batch, validate
from dangjian.publish import publish

DEFAULT_BATCH_SIZE = 200
ProgressCallback = Callable[[int, int], None]


@dataclass
class ReleaseSummary:
    documents: int
    rejected: int
    metrics: int
    quarantined: int
    version: str
    created: bool
    parent: str | None
    path: str
    duckdb: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class QuarantineError(RuntimeError):
    """Raised in strict mode when any row failed validation."""


@task(name="scan-corpus")
def scan_corpus(raw_dir: str) -> tuple[list[str], dict[str, dict[str, str]], str]:
    files = list_raw(Path(raw_dir))
    return files, load_metadata(Path(raw_dir)), corpus_hash(Path(raw_dir), files)


@task(name="extract-batch")
def extract_batch(raw_dir: str, files: list[str], metadata: dict[str, dict[str, str]]) -> BatchResult:
    return process_batch(Path(raw_dir), files, metadata)


@task(name="validate-and-publish")
def validate_and_publish(output_dir: str, result: BatchResult, digest: str,
                         strict: bool) -> ReleaseSummary:
    documents, q_docs = validate("documents", frame("documents", result.documents))
    metrics, q_metrics = validate("metrics", frame("metrics", result.metrics))
    rejected, q_rejected = validate("rejected", frame("rejected", result.rejected))
    quarantine_rows = q_docs + q_metrics + q_rejected
    if strict and quarantine_rows:
        reasons = sorted({f"{q['table']}: {q['reason']}" for q in quarantine_rows})
        raise QuarantineError(f"{len(quarantine_rows)} rows failed validation: " + "; ".join(reasons[:5]))
    quarantine, _ = validate("quarantine", frame("quarantine", quarantine_rows))
    tables = {"documents": documents, "metrics": metrics, "quarantine": quarantine,
              "rejected": rejected}
    published = publish(Path(output_dir), tables, digest)
    return ReleaseSummary(
        documents=len(documents), rejected=len(rejected), metrics=len(metrics),
        quarantined=len(quarantine), version=published.version, created=published.created,
        parent=published.parent, path=str(published.path),
        duckdb=str(Path(output_dir) / "dangjian.duckdb"),
    )


def batches(files: list[str], size: int) -> list[list[str]]:
    if size < 1:
        raise ValueError("batch size must be at least 1")
    return [files[i:i + size] for i in range(0, len(files), size)]


@flow(name="dangjian-release", log_prints=False)
def release_flow(raw_dir: str = "raw", output_dir: str = "output",
                 batch_size: int = DEFAULT_BATCH_SIZE, strict: bool = False,
                 progress: ProgressCallback | None = None) -> ReleaseSummary:
    """Build a release of the dataset from the texts in ``raw_dir`` into ``output_dir``."""
    logger = get_run_logger()
    files, metadata, digest = scan_corpus(raw_dir)
    chunks = batches(files, batch_size)
    logger.info("%d files in %d batches", len(files), len(chunks))
    futures = [extract_batch.submit(raw_dir, chunk, metadata) for chunk in chunks]
    merged: dict[int, BatchResult] = {}
    done = 0
    index = {id(f): i for i, f in enumerate(futures)}
    if progress:
        progress(0, len(files))
    for future in as_completed(futures):
        merged[index[id(future)]] = future.result()
        done += len(chunks[index[id(future)]])
        if progress:
            progress(done, len(files))
    result = BatchResult()
    for i in range(len(chunks)):  # batch order, not completion order: reproducible tables
        result.extend(merged[i])
    summary = validate_and_publish(output_dir, result, digest, strict)
    logger.info("release %s: %d documents, %d metrics", summary.version, summary.documents,
                summary.metrics)
    return summary
