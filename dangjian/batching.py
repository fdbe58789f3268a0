"""The corpus cut into batches whose boundaries are chosen by the file names themselves.

A batch is reused from the cache only when all its files are as before, so boundaries must not
move when the archive grows. Cutting the sorted names every ``size`` files would move every
boundary after a file inserted in the middle (a new issue of a paper named by date), and a
night's run would stage the rest of the archive again. Instead, as content-defined chunking
does for bytes (rsync, restic), a batch ends after a name whose hash falls in a fixed class,
whatever came before it. An inserted or removed file changes only the batch it falls in, and the
next one when it is itself a boundary. Batches stay runs of the sorted names, so parts sorted by
file stay in order.
"""
from __future__ import annotations

import hashlib

#: A run of names with no boundary is cut every this many times the chosen size, which bounds
#: a batch's memory; only a change within such a run moves the cuts after it, up to the run's end.
MAX_FACTOR = 2

#: :func:`ends_batch` of the names seen, by batch size: a process that runs night after night
#: (``serve --warm``) cuts the same archive again, and hashing every name was a tenth of the
#: night's scan. Cleared when it holds more names than this.
_ends: dict[int, dict[str, bool]] = {}
MAX_KEPT_NAMES = 1 << 20


def batches(files: list[str], size: int) -> list[list[str]]:
    """``files`` (sorted) in consecutive batches of about ``size`` files on average, at most
    ``MAX_FACTOR * size``; a batch ends after a name that hashes into a class of probability
    ``1 / size``."""
    if size < 1:
        raise ValueError("batch size must be at least 1")
    most = MAX_FACTOR * size
    out: list[list[str]] = []
    current: list[str] = []
    known = _ends.setdefault(size, {})
    if len(known) > MAX_KEPT_NAMES:
        known.clear()
    for name in files:
        current.append(name)
        ends = known.get(name)
        if ends is None:
            ends = known[name] = ends_batch(name, size)
        if len(current) >= most or ends:
            out.append(current)
            current = []
    if current:
        out.append(current)
    return out


def ends_batch(name: str, size: int) -> bool:
    """Whether a batch of mean ``size`` ends after ``name``: a stable hash (not Python's salted
    ``hash``), the same on every machine and run."""
    if size == 1:
        return True
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % size == 0
