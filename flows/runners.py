"""Where batches run: threads, local worker processes, or a Dask cluster.

Extraction is pure Python, so threads share one core. ``process`` keeps Prefect's tasks in
threads and hands each batch to a pool of plain worker processes that import only the
``dangjian`` package: Prefect's own process pool would start a Prefect engine, and with no server
configured a temporary Prefect server, in every worker. ``auto`` (the default) takes threads for
a small corpus and processes for a large one. ``dask`` runs the batch tasks on an existing
cluster (``--dask-address``) or on a local one; batches write their parts to the output folder,
which the workers must therefore share.
"""
from __future__ import annotations

import gc

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prefect.task_runners import TaskRunner

RUNNERS = ("auto", "process", "thread", "dask")
#: From this many files on, ``auto`` starts worker processes.
PROCESS_THRESHOLD = 400
#: Documents per batch task, on average (see dangjian.batching). Each batch costs a Prefect
#: task run (its states are events the server records: about a tenth of a second of the server's
#: CPU each, on the same cores) and a validation and Parquet parts of its own. At 10,000
#: documents on two cores, against one local Prefect server, in alternating runs: batches of 500
#: took 34.1-34.4 s end to end, of 1,000 30.7-32.0 s and of 2,000 32.1-32.3 s (the last batches
#: leave a core idle longer), all before batches had a floor; since, warm re-runs at 10,000 in
#: alternating sets of six did no better with 750 (1.64 s) than with 1,000 (1.55 s). A fixed
#: size, not one derived from the corpus: a growing archive must keep its batch boundaries, or
#: no batch is reused.
DEFAULT_BATCH_SIZE = 1000


@dataclass
class RunPlan:
    task_runner: "TaskRunner"
    processes: int  # worker processes for the batches; 0 runs them in the task's own thread


def resolve(kind: str = "auto", workers: int | None = None, n_files: int = 0) -> tuple[str, int]:
    """The runner ``auto`` stands for, and the number of workers; imports no Prefect, so the
    command line can start worker processes before it loads Prefect."""
    if kind not in RUNNERS:
        raise ValueError(f"unknown task runner {kind!r}: choose one of {', '.join(RUNNERS)}")
    workers = workers or os.cpu_count() or 1
    if kind == "auto":
        kind = "process" if n_files >= PROCESS_THRESHOLD and workers > 1 else "thread"
    return kind, workers


def plan(kind: str = "auto", workers: int | None = None, dask_address: str | None = None,
         n_files: int = 0) -> RunPlan:
    from prefect.task_runners import ThreadPoolTaskRunner

    kind, workers = resolve(kind, workers, n_files)
    if kind == "thread":
        return RunPlan(ThreadPoolTaskRunner(max_workers=workers), 0)
    if kind == "process":
        # Twice as many task threads as processes: while a finished batch's task run reports
        # back to Prefect, the next batch already waits in the pool's queue, so no process idles.
        return RunPlan(ThreadPoolTaskRunner(max_workers=2 * workers), workers)
    if kind == "dask":
        from prefect_dask import DaskTaskRunner

        if dask_address:
            return RunPlan(DaskTaskRunner(address=dask_address), 0)
        return RunPlan(DaskTaskRunner(cluster_kwargs={
            "n_workers": workers, "threads_per_worker": 1, "processes": True,
            "dashboard_address": None}), 0)
    raise AssertionError(kind)


#: Set in the environment, Prefect's own setting wins over :func:`without_heartbeat`.
HEARTBEAT_SETTING = "PREFECT_FLOWS_HEARTBEAT_FREQUENCY"


@contextmanager
def without_heartbeat() -> Iterator[None]:
    """Flow runs started in this block send no heartbeat, unless the environment sets
    ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``.

    Prefect ends a synchronous flow run by joining its heartbeat thread, which sleeps in steps
    of a second: half a second a run on average, a sixth of a nightly run that finds one changed
    file. Heartbeats only feed automations that mark a silent run as crashed; the command line
    reports a failed run by its exit status.
    """
    if os.environ.get(HEARTBEAT_SETTING):
        yield
        return
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


@contextmanager
def heap_frozen(collect: bool = False) -> Iterator[None]:
    """:func:`freeze_heap` for the block, thawed after it: the interpreter's last collection at
    exit must see every object, or native extensions (DuckDB's bindings) report them leaked."""
    freeze_heap(collect)
    try:
        yield
    finally:
        gc.unfreeze()


def freeze_heap(collect: bool = False) -> None:
    """Hide every object alive now from the garbage collector, as ``gc.freeze`` does.

    A process holding Prefect, pandas and the rules has millions of objects, and each full
    collection during a run walks them all (about a fifth of a second, once or twice in a
    night's run). Frozen, they are left out; what a run creates is still collected. With
    ``collect``, earlier frozen objects are thawed and the garbage among them collected first,
    so that a long-lived process (``serve --warm``, between runs) never keeps dead cycles."""
    if collect:
        gc.unfreeze()
        gc.collect()
    gc.freeze()
