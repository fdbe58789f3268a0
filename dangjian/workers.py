"""Worker processes for batches, forked from one server process that has warmed up once.

Each worker would otherwise import and initialise the extraction stack on its own (jieba's
dictionaries, the gazetteer, the table models: seconds of CPU per process). With the
``forkserver`` start method, a server process does that once (it imports
:mod:`dangjian.preload`) and every worker is a fork of it, ready at once. The server is a fresh
interpreter, not a fork of the caller, so workers inherit no Prefect state and no threads.
:func:`prestart` starts the server early, so that its warm-up runs on another core while the
caller is still importing its own modules.
"""
from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.context import BaseContext

PRELOAD = "dangjian.preload"


def context() -> BaseContext:
    """forkserver where the platform has it, else spawn (each worker then warms up alone)."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([PRELOAD])
        return ctx
    return multiprocessing.get_context("spawn")


def _noop() -> None:
    """A process that does nothing: starting it starts the fork server."""


def _start_server() -> None:
    process = context().Process(target=_noop, daemon=True)
    process.start()
    process.join()


def prestart() -> threading.Thread:
    """Start the fork server and its warm-up in the background; returns at once."""
    thread = threading.Thread(target=_start_server, name="forkserver-start", daemon=True)
    thread.start()
    return thread


def pool(processes: int) -> ProcessPoolExecutor:
    """A pool of ``processes`` warm workers that run functions of the ``dangjian`` package."""
    from dangjian.pipeline import init_worker

    return ProcessPoolExecutor(max_workers=processes, mp_context=context(),
                               initializer=init_worker)
