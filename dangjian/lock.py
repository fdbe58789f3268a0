"""One writer at a time: an exclusive lock on the output folder while a release is published.

``fcntl.flock`` on ``<output>/.lock``: the kernel drops the lock when the holder dies, even by
SIGKILL, so a crashed run never leaves a stale lock behind. A second run waits up to ``timeout``
seconds and then gives up with a message that names the holder.
"""
from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE = ".lock"


class LockTimeout(RuntimeError):
    """Another run holds the output folder."""


@contextmanager
def output_lock(output: Path, timeout: float = 600.0, poll: float = 0.2) -> Iterator[None]:
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    path = output / LOCK_FILE
    handle = open(path, "a+", encoding="utf-8")
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "unknown"
                    raise LockTimeout(
                        f"another run is publishing to {output} (held by {holder}); "
                        f"waited {timeout:g} s — try again when it has finished") from None
                time.sleep(poll)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()  # closing releases the lock
