"""The row groups two versions of a table share byte for byte, and the rows of the others.

A release's tables are its batches' parts joined by copying their row groups
(:mod:`dangjian.parquet_concat`), and a batch kept from an earlier run is copied as it was. So
a release and its parent share every row group but those of the batches that changed, and
what differs between them is in the row groups they do not share: comparing those alone is
comparing the tables, at the cost of what changed.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow
import pyarrow.parquet as pq

from dangjian import queries
from dangjian.parquet_concat import ParquetConcatError, row_group_digests

#: The most bytes (uncompressed) of the row groups the ranges of unshared rows take in (those
#: groups and any other whose rows fall in their ranges) that are compared as such: the changes
#: table joins them in the process's shared DuckDB database, which has no memory limit of its
#: own. Past it, the tables are compared whole from the files, under a memory limit.
MAX_UNSHARED_BYTES = 128 * 2 ** 20


#: A row group: its file, its index there and its digest.
Group = tuple[Path, int, bytes]


def unshared_ranges(files: list[Path], parent_files: list[Path],
                    force: list[str] | None = None) -> list[tuple[str, str]] | None:
    """Ranges of ``source_file`` (first and last name, in order, not overlapping) that hold
    every row of the row groups either side has and the other does not (each pair of equal row
    groups shared once), and of both groups of any pair that may hold a source file of
    ``force``, by their statistics: a reader of tables sorted by source_file that filters on
    them reads those row groups only, and any other row it finds is in a group both sides
    share, the same on both. None when a group has no statistics of source_file, when the
    groups the ranges take in hold more than ``MAX_UNSHARED_BYTES``, or when the files cannot be
    read so."""
    if not files:
        return None
    spans = []
    try:
        with _opened() as readers:
            groups = _unshared_groups(files, parent_files, force, readers)
            if groups is None:
                return None
            for path, index, _ in groups[0] + groups[1]:
                stats = _source_file_statistics(readers[path].metadata.row_group(index))
                if stats is None or not stats.has_min_max:
                    return None
                spans.append((stats.min, stats.max))
            ranges: list[tuple[str, str]] = []
            for low, high in sorted(spans):
                if ranges and low <= ranges[-1][1]:
                    ranges[-1] = (ranges[-1][0], max(high, ranges[-1][1]))
                else:
                    ranges.append((low, high))
            if ranges and _bytes_in(ranges, readers) > MAX_UNSHARED_BYTES:
                return None  # the ranges take in many shared groups too (a table not sorted)
    except _UNREADABLE:
        return None
    return ranges


def _bytes_in(ranges: list[tuple[str, str]], readers: dict[Path, Any]) -> int:
    """The bytes (uncompressed) of every row group of the files of ``readers`` that may hold a
    row in ``ranges`` (a group without statistics may)."""
    return sum(group.total_byte_size for reader in readers.values()
               for group in map(reader.metadata.row_group, range(reader.metadata.num_row_groups))
               if _may_hold(group, ranges))


def unshared_relations(files: list[Path], parent_files: list[Path],
                       force: list[str] | None = None) -> tuple[str, str] | None:
    """SQL relations of the rows of the row groups the two sides do not share (and of those that
    may hold a file of ``force``), read by DuckDB from the files by the ranges of
    :func:`unshared_ranges`: ``files``' rows, then ``parent_files'``. A range may take in rows
    of a shared group: those are the same on both sides. None as :func:`unshared_ranges`."""
    if not parent_files:
        return None
    ranges = unshared_ranges(files, parent_files, force)
    if ranges is None:
        return None
    where = in_ranges(ranges)

    def rows(side: list[Path]) -> str:
        paths = ", ".join(queries.literal(f) for f in side)
        return f"(SELECT * FROM read_parquet([{paths}]) WHERE {where})"

    return rows(files), rows(parent_files)


def in_ranges(ranges: list[tuple[str, str]]) -> str:
    """A SQL condition that holds for the rows whose ``source_file`` is in one of ``ranges``."""
    return " OR ".join(f"source_file BETWEEN {queries.literal(low)} AND {queries.literal(high)}"
                       for low, high in ranges) or "false"


#: What reading a file's footer or row groups can raise when it is not what a join wrote.
_UNREADABLE = (OSError, ValueError, KeyError, ParquetConcatError, pyarrow.ArrowException)


@contextmanager
def _opened() -> Iterator[dict[Path, Any]]:
    """Readers by file, filled by the caller, closed at the end."""
    readers: dict[Path, Any] = {}
    try:
        yield readers
    finally:
        for reader in readers.values():
            reader.close()


def _unshared_groups(files: list[Path], parent_files: list[Path], force: list[str] | None,
                     readers: dict[Path, Any]) -> tuple[list[Group], list[Group]] | None:
    """The row groups of each side that the other does not share (each pair of equal row groups
    shared once), and both groups of any pair that may hold a source file of ``force`` (by the
    source_file statistics); ``readers`` receives an open reader of every file. None when
    they hold more than ``MAX_UNSHARED_BYTES``."""
    new = [(f, i, d) for f in files for i, d in enumerate(row_group_digests(f))]
    old = [(f, i, d) for f in parent_files for i, d in enumerate(row_group_digests(f))]
    readers.update((f, pq.ParquetFile(f)) for f in dict.fromkeys([*files, *parent_files]))
    spare: dict[bytes, list[int]] = {}
    for k, (_, _, digest) in enumerate(old):
        spare.setdefault(digest, []).append(k)
    pairs: dict[int, int] = {}  # a group of files -> its equal group of parent_files
    for k, (_, _, digest) in enumerate(new):
        if spare.get(digest):
            pairs[k] = spare[digest].pop()
    if force:
        names = [(name, name) for name in force]

        def held(group: Group) -> bool:
            return _may_hold(readers[group[0]].metadata.row_group(group[1]), names)

        pairs = {k: j for k, j in pairs.items() if not (held(new[k]) or held(old[j]))}
    shared = set(pairs.values())
    new = [g for k, g in enumerate(new) if k not in pairs]
    old = [g for k, g in enumerate(old) if k not in shared]
    if sum(readers[path].metadata.row_group(i).total_byte_size
           for path, i, _ in new + old) > MAX_UNSHARED_BYTES:
        return None  # most rows differ (other batches, other rules): compare on disk
    return new, old


def same_groups(files: list[Path], parent_files: list[Path]) -> bool:
    """Whether ``files`` hold the row groups of ``parent_files``, byte for byte, each as often
    (in any order): then the two hold the same rows. Files without rows count for nothing, as
    joining parts skips them. False when either cannot be read so."""
    def groups(paths: list[Path]) -> Counter[bytes]:
        return Counter(digest for path in paths if pq.read_metadata(path).num_rows
                       for digest in row_group_digests(path))

    try:
        return groups(files) == groups(parent_files)
    except (OSError, ValueError, KeyError, ParquetConcatError, pyarrow.ArrowException):
        return False


def _may_hold(meta: Any, ranges: list[tuple[str, str]]) -> bool:
    """Whether a row group (its metadata) may hold a source file in one of ``ranges`` (first and
    last name) by its statistics; a group without them may."""
    stats = _source_file_statistics(meta)
    if stats is None or not stats.has_min_max:
        return True
    return any(low <= stats.max and stats.min <= high for low, high in ranges)


def _source_file_statistics(meta: Any) -> Any:
    """The statistics of a row group's source_file column (None without)."""
    for j in range(meta.num_columns):
        column = meta.column(j)
        if column.path_in_schema == "source_file":
            return column.statistics
    return None
