"""Where batch tasks run: threads, local processes, or a Dask cluster.

Extraction is pure Python, so threads share one core; ``process`` uses every core of the
machine but costs seconds to start its workers; ``auto`` (the default) takes threads for a small
corpus and processes for a large one; ``dask`` runs the batches on an existing cluster
(``--dask-address``) or on a local one. Batches write their parts to the output folder, which
workers must therefore share.
"""
from __future__ import annotations

import os

from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner

RUNNERS = ("auto", "process", "thread", "dask")
#: From this many files on, ``auto`` starts worker processes.
PROCESS_THRESHOLD = 400


def task_runner(kind: str = "auto", workers: int | None = None,
                dask_address: str | None = None, n_files: int = 0) -> TaskRunner:
    workers = workers or os.cpu_count() or 1
    if kind == "auto":
        kind = "process" if n_files >= PROCESS_THRESHOLD and workers > 1 else "thread"
    if kind == "thread":
        return ThreadPoolTaskRunner(max_workers=workers)
    if kind == "process":
        return ProcessPoolTaskRunner(max_workers=workers)
    if kind == "dask":
        from prefect_dask import DaskTaskRunner

        if dask_address:
            return DaskTaskRunner(address=dask_address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1,
                                              "processes": True, "dashboard_address": None})
    raise ValueError(f"unknown task runner {kind!r}: choose one of {', '.join(RUNNERS)}")
