"""The corpus cut into batches whose boundaries are chosen by the file names themselves.

A batch is reused from the cache only when all its files are as before, so boundaries must not
move when the archive grows. Cutting the sorted names every ``size`` files would move every
boundary after a file inserted in the middle (a new issue of a paper named by date), and a
night's run would stage the rest of the archive again. Instead, as content-defined chunking
does for bytes (rsync, restic), a batch ends after a name whose hash falls in a fixed class,
whatever came before it. Batches stay runs of the sorted names, so parts sorted by file stay in
order.

As FastCDC does, a batch is not cut before a least number of files, and the class is chosen
so that the mean stays about ``size``: without that floor, sizes spread geometrically (from a
few files to the cap), and the batch a changed file falls in is on average about 1.4 times the
size asked for, since large batches hold more of the files. A night's re-run costs about what
its changed batch does, so the floor makes it cheaper, and the full run's batches more even.
An inserted or removed file usually changes only the batch it falls in; the next one too in
about one case in 7 (size 100) to 15 (size 1,000), when the file is itself a boundary or shifts
a boundary name across the floor or the cap; rarely the cuts take a few batches to meet again.
"""
from __future__ import annotations

import hashlib

#: A run of names with no boundary is cut at ``size + MAX_SPREADS * spread`` files, which
#: bounds a batch's memory; only a change within such a run moves the cuts after it.
MAX_SPREADS = 2

#: :func:`ends_batch` of the names seen, by class size: a process that runs night after night
#: (``serve --warm``) cuts the same archive again, and hashing every name was a tenth of the
#: night's scan. Cleared when it holds more names than this.
_ends: dict[int, dict[str, bool]] = {}
MAX_KEPT_NAMES = 1 << 20


def bounds(size: int) -> tuple[int, int, int]:
    """The least and the most files of a batch of mean ``size`` (the last batch may hold
    fewer), and ``spread``: past the least, a batch ends after a name of probability ``1 /
    spread``, so the mean is about ``least - 1 + spread`` (a little less, for the cap). A
    spread of at least two keeps a boundary to the names for any size above one."""
    if size < 1:
        raise ValueError("batch size must be at least 1")
    if size == 1:
        return 1, 1, 1
    spread = max(2, size // 4)
    return size - spread + 1, size + MAX_SPREADS * spread, spread


def batches(files: list[str], size: int) -> list[list[str]]:
    """``files`` (sorted) in consecutive batches of about ``size`` files on average, from
    ``size - spread + 1`` to ``size + MAX_SPREADS * spread`` (see :func:`bounds`)."""
    least, most, spread = bounds(size)
    out: list[list[str]] = []
    current: list[str] = []
    known = _ends.setdefault(spread, {})
    if len(known) > MAX_KEPT_NAMES:
        known.clear()
    for name in files:
        current.append(name)
        if len(current) < least:
            continue
        ends = known.get(name)
        if ends is None:
            ends = known[name] = ends_batch(name, spread)
        if ends or len(current) >= most:
            out.append(current)
            current = []
    if current:
        out.append(current)
    return out


def ends_batch(name: str, spread: int) -> bool:
    """Whether a batch past its least size ends after ``name`` (probability ``1 / spread``): a
    stable hash (not Python's salted ``hash``), the same on every machine and run."""
    if spread == 1:
        return True
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % spread == 0
