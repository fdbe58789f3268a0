"""The row groups two versions of a table share byte for byte, and the rows of the others.

A release's tables are its batches' parts joined by copying their row groups
(:mod:`dangjian.parquet_concat`), and a batch kept from an earlier run is copied as it was. So
a release and its parent share every row group but those of the batches that changed, and
what differs between them is in the row groups they do not share: comparing those alone is
comparing the tables, at the cost of what changed.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow
import pyarrow.parquet as pq

from dangjian.parquet_concat import ParquetConcatError, row_group_digests

#: The most bytes (uncompressed) of unshared row groups read into memory; past it, the rows are
#: compared by DuckDB from the files, under its memory limit.
MAX_UNSHARED_BYTES = 128 * 2 ** 20


@dataclass
class Unshared:
    """The rows of the row groups that a release's table and its parent's do not share byte for
    byte (:func:`dangjian.parquet_concat.row_group_digests`): ``new`` of the release, ``old`` of
    the parent. Kept batches are copied into each release as they are, so a night that changed
    one document leaves one row group unshared, and only its rows need comparing."""

    new: pyarrow.Table
    old: pyarrow.Table


def unshared_rows(files: list[Path], parent_files: list[Path], force: list[str] | None = None,
                  columns: list[str] | None = None) -> Unshared | None:
    """The rows (``columns``, or all) of the row groups of ``files`` and ``parent_files`` that
    the other side does not have byte for byte (each pair of equal row groups shared once), and
    of both groups of any pair that may hold a source file of ``force`` (by the source_file
    statistics). None when they cannot be read so, or are too many to hold in memory."""
    if not files:
        return None
    readers: dict[Path, Any] = {}
    try:
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
            pairs = {k: j for k, j in pairs.items()
                     if not (_may_hold(readers, new[k], force) or _may_hold(readers, old[j], force))}
        shared = set(pairs.values())
        new = [g for k, g in enumerate(new) if k not in pairs]
        old = [g for k, g in enumerate(old) if k not in shared]
        if sum(readers[path].metadata.row_group(i).total_byte_size
               for path, i, _ in new + old) > MAX_UNSHARED_BYTES:
            return None  # most rows differ (other batches, other rules): compare on disk
        empty = readers[files[0]].schema_arrow.empty_table()
        if columns is not None:
            empty = empty.select(columns)
        return Unshared(_read(readers, new, columns, empty), _read(readers, old, columns, empty))
    except (OSError, ValueError, KeyError, ParquetConcatError, pyarrow.ArrowException):
        return None
    finally:
        for reader in readers.values():
            reader.close()


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


def _may_hold(readers: dict[Path, Any], group: tuple[Path, int, bytes], names: list[str]) -> bool:
    meta = readers[group[0]].metadata.row_group(group[1])
    for j in range(meta.num_columns):
        column = meta.column(j)
        if column.path_in_schema == "source_file":
            stats = column.statistics
            if stats is None or not stats.has_min_max:
                return True
            return any(stats.min <= name <= stats.max for name in names)
    return True


def _read(readers: dict[Path, Any], groups: list[tuple[Path, int, bytes]],
          columns: list[str] | None, empty: pyarrow.Table) -> pyarrow.Table:
    by_file: dict[Path, list[int]] = {}
    for path, index, _ in groups:
        by_file.setdefault(path, []).append(index)
    tables = [readers[path].read_row_groups(indexes, columns=columns)
              for path, indexes in by_file.items()]
    return pyarrow.concat_tables(tables) if tables else empty
