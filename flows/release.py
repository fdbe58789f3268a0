"""The release flow: scan raw/, extract in batches, validate, publish.

Only orchestration lives here; every step is a plain function of the ``dangjian`` package.
Documents are processed in batches, one task per batch, because a Prefect task run costs tens of
milliseconds: one task per document would cost more than the extraction itself. Batch tasks write
their rows as Parquet parts and return counts, so the flow never holds the corpus in memory and
batches can run on other processes or machines (Dask) that share the output folder. A batch whose
files are all as in an earlier run is linked in from the cache by the flow itself, without a task.
"""
from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from prefect import flow, task
from prefect.context import FlowRunContext
from prefect.futures import as_completed
from prefect.logging import get_run_logger
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from dangjian.batching import batches
from dangjian.corpus import Scan, corpus_hash, list_raw, scan_files
from dangjian.cache import CACHE_DIR, DIGEST_INDEX, ExtractionCache
from dangjian.pipeline import BatchCounts, corpus_metadata, document_keys, reuse_batch, stage_files
from dangjian.publish import (DUCKDB_FILE, PublishResult, duckdb_copy_ahead, publish_parts,
                              unchanged_release)
from dangjian.report import report_decorator
from dangjian.staging import new_workdir
from dangjian.workers import pool as worker_pool
from flows.runners import DEFAULT_BATCH_SIZE

ProgressCallback = Callable[[int, int], None]
# Not a flow parameter: parameters travel with the run context to worker processes and must
# pickle, and a progress display cannot.
_progress_callbacks: list[ProgressCallback] = []


@contextmanager
def reporting_progress(callback: ProgressCallback) -> Iterator[None]:
    """Call ``callback(done, total)`` as batches finish, for flow runs in this block."""
    _progress_callbacks.append(callback)
    try:
        yield
    finally:
        _progress_callbacks.remove(callback)


def _report(done: int, total: int) -> None:
    for callback in list(_progress_callbacks):
        callback(done, total)


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
    cached: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class QuarantineError(RuntimeError):
    """Raised in strict mode when any row failed validation."""


@task(name="scan-corpus")
def scan_corpus(raw_dir: str, cache_dir: str | None = None) -> tuple[list[str], Scan, str]:
    """The corpus files, their scan (the sha256 of each, read once for the corpus hash and the
    batch keys; with a cache, only those new or changed since the last run) and the corpus
    hash."""
    files = list_raw(Path(raw_dir))
    index = Path(cache_dir) / DIGEST_INDEX if cache_dir else None
    scan = scan_files(Path(raw_dir), files, index)
    return files, scan, corpus_hash(Path(raw_dir), files, scan.digests)


@task(name="extract-batch")
def extract_batch(raw_dir: str, files: list[str], index: int, workdir: str,
                  cache_dir: str | None, reuse: bool = True,
                  digests: dict[str, str | None] | None = None,
                  plain: list[str] | None = None) -> BatchCounts:
    """Stage one batch; ``digests``, the sha256 of its files from the scan, spare it reading
    them again for its cache key, and ``plain``, those the scan found plain, a system call
    each (12 ms for a batch of 1,146 files)."""
    if reuse and (reused := reuse_cached(raw_dir, files, index, workdir, cache_dir, digests,
                                         frozenset(plain or ()))) is not None:
        return reused
    if _pool_size:
        # The workers run a function of the dangjian package: they never import Prefect.
        return _pool().submit(stage_files, raw_dir, files, index, workdir, cache_dir,
                              digests, plain).result()
    return stage_files(raw_dir, files, index, workdir, cache_dir, digests, plain)


def reuse_cached(raw_dir: str, files: list[str], index: int, workdir: str,
                 cache_dir: str | None, digests: dict[str, str | None] | None = None,
                 plain: frozenset[str] = frozenset()) -> BatchCounts | None:
    """The counts of a batch whose files are as in an earlier run, its parts linked in from the
    cache; None when it must be extracted. Costs a hash of its files (none when ``digests``
    has them, and no system call for those in ``plain``) and no worker."""
    if not cache_dir:
        return None
    cache = ExtractionCache(Path(cache_dir))
    key = cache.batch_key(Path(raw_dir), files, _metadata(raw_dir), digests, plain)
    return reuse_batch(files, index, Path(workdir), cache, key)


_workers: ProcessPoolExecutor | None = None
_workers_size = 0
_pool_size = 0
_keep_workers = False
_pool_lock = threading.Lock()


def _pool() -> ProcessPoolExecutor:
    """The run's worker processes, started on first need (a run with nothing to extract starts
    none), forked from a warm server process (see :mod:`dangjian.workers`)."""
    global _workers, _workers_size
    with _pool_lock:
        if _workers is not None and _workers_size != _pool_size:
            _stop_workers()
        if _workers is None:
            _workers, _workers_size = worker_pool(_pool_size), _pool_size
        return _workers


def _stop_workers() -> None:
    global _workers
    if _workers is not None:
        _workers.shutdown(cancel_futures=True)
    _workers = None


@contextmanager
def _worker_pool(processes: int) -> Iterator[None]:
    global _pool_size
    _pool_size = max(processes, 0)
    try:
        yield
    except BaseException:
        _stop_workers()  # a worker may be stuck in a batch that will never be collected
        raise
    finally:
        if not _keep_workers:
            _stop_workers()
        _pool_size = 0


@contextmanager
def workers_kept() -> Iterator[None]:
    """Keep the batch workers from one flow run to the next in this process, as ``serve
    --warm`` does: a night's few changed batches then go to workers that have extracted before,
    instead of new forks that first warm their copy of the fork server's memory (a few tenths
    of a second each). They hold their memory between runs; they stop when the block ends."""
    global _keep_workers
    _keep_workers = True
    try:
        yield
    finally:
        _keep_workers = False
        with _pool_lock:
            _stop_workers()


def _metadata(raw_dir: str) -> dict[str, dict[str, str]]:
    """The metadata file, read once per process and again only when it changes."""
    return corpus_metadata(raw_dir)


@task(name="publish-release")
def publish_release(output_dir: str, workdir: str, digest: str, raw_dir: str = "raw") -> Any:
    return publish_parts(Path(output_dir), Path(workdir), digest,
                         decorators=[report_decorator(Path(raw_dir))])


# Nothing to persist: the release is the run's output, and the summary it returns is small.
# Saying so spares a request a run (Prefect otherwise asks the server whether it keeps
# results by default).
@flow(name="dangjian-release", log_prints=False, persist_result=False)
def release_flow(raw_dir: str = "raw", output_dir: str = "output",
                 batch_size: int = DEFAULT_BATCH_SIZE, strict: bool = False,
                 cache: bool = True, processes: int = 0) -> ReleaseSummary:
    """Build a release of the dataset from the texts in ``raw_dir`` into ``output_dir``.

    With ``cache`` (the default), documents already extracted by the same rules are read from
    ``<output_dir>/cache`` instead of being extracted again. ``processes`` > 0 runs the batches
    in that many local worker processes (with a thread task runner).
    """
    logger = get_run_logger()
    cache_dir = str(Path(output_dir) / CACHE_DIR) if cache else None
    files, scan, digest = scan_corpus(raw_dir, cache_dir)
    digests = scan.digests
    if cache and (same := unchanged_release(Path(output_dir), digest,
                                            allow_quarantine=not strict)) is not None:
        # The same corpus and rules as the latest release: a night with no new file costs a
        # scan and no batch.
        _report(len(files), len(files))
        logger.info("nothing changed since release %s", same.version)
        return _summary(same, output_dir, cached=len(files))
    chunks = batches(files, batch_size)
    logger.info("%d files in %d batches", len(files), len(chunks))
    workdir = new_workdir(Path(output_dir))
    if cache_dir:
        cache = ExtractionCache(Path(cache_dir))
        cache.prune(current=document_keys(cache, digests, _metadata(raw_dir)))
    try:
        # Publishing runs here (a direct call, whatever runs the batches): the DuckDB file is
        # copied meanwhile.
        with duckdb_copy_ahead(Path(output_dir)):
            with _worker_pool(processes):
                counts = _run_batches(raw_dir, chunks, str(workdir), cache_dir, scan)
            quarantined = sum(c.quarantined for c in counts)
            if strict and quarantined:
                reasons = sorted({r for c in counts for r in c.quarantine_reasons})
                raise QuarantineError(f"{quarantined} rows failed validation: "
                                      + "; ".join(reasons[:5]))
            published = publish_release(output_dir, str(workdir), digest, raw_dir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    summary = _summary(published, output_dir, cached=sum(c.cached for c in counts))
    logger.info("release %s: %d documents, %d metrics", summary.version, summary.documents,
                summary.metrics)
    return summary


def _summary(published: PublishResult, output_dir: str, cached: int) -> ReleaseSummary:
    return ReleaseSummary(
        documents=published.rows["documents"], rejected=published.rows["rejected"],
        metrics=published.rows["metrics"], quarantined=published.rows["quarantine"],
        version=published.version, created=published.created, parent=published.parent,
        path=str(published.path), duckdb=str(Path(output_dir) / DUCKDB_FILE), cached=cached,
    )


def _unvisited() -> Callable[[Any], Any]:
    """What keeps Prefect from walking a batch's names and digests in search of futures to
    wait on (a tenth of a second of this process per 1,000 files, taken from the workers):
    ``quote`` where tasks run in threads (the thread and process runners). A quote pickled for
    another process comes back wrapping a 1-tuple, so Dask gets the values themselves (and its
    runner walks the parameters to send them anyway)."""
    runner = getattr(FlowRunContext.get(), "task_runner", None)
    return quote if isinstance(runner, ThreadPoolTaskRunner) else (lambda value: value)


def _run_batches(raw_dir: str, chunks: list[list[str]], workdir: str, cache_dir: str | None,
                 scan: Scan) -> list[BatchCounts]:
    total = sum(len(c) for c in chunks)
    done = 0
    counts: list[BatchCounts] = []
    todo: list[int] = []
    _report(0, total)
    for i, chunk in enumerate(chunks):
        # An unchanged batch is linked in here: a task run costs more than the check, and a
        # nightly run finds most batches unchanged.
        reused = reuse_cached(raw_dir, chunk, i, workdir, cache_dir, scan.digests, scan.plain)
        if reused is None:
            todo.append(i)
        else:
            counts.append(reused)
            done += reused.files
            _report(done, total)
    futures = []
    unwalked = _unvisited()
    # Largest first: batches vary in size, and the run ends when its last batch does, so the
    # small ones are kept to even out the workers at the end.
    for i in sorted(todo, key=lambda i: -len(chunks[i])):
        known = {name: scan.digests.get(name) for name in chunks[i]} if cache_dir else None
        plain = [name for name in chunks[i] if name in scan.plain] if cache_dir else None
        futures.append(extract_batch.submit(raw_dir, unwalked(chunks[i]), i, workdir, cache_dir,
                                            False, unwalked(known), unwalked(plain)))
    for future in as_completed(futures) if futures else ():
        result = future.result()
        counts.append(result)
        done += result.files
        _report(done, total)
    return counts
