"""Table parts written by batch tasks, and their assembly into one Parquet file per table.

A run does not hold its corpus in memory: each batch writes its validated rows as Parquet parts
in the run's work folder (``<output>/.work/<token>/<table>/<batch>.parquet``) and returns only
counts. Publishing streams the parts, in batch order, into one file per table with row groups of
a fixed size, so the bytes depend on the rows and never on how the corpus was batched.
"""
from __future__ import annotations

import hashlib
import os
import secrets
import shutil
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pyarrow
import pyarrow.parquet as pq

from schemas.tables import arrow_schema

WORK = ".work"
ROW_GROUP_ROWS = 65536
#: Parts read ahead of the one being written.
READ_AHEAD = 4
#: Batches hold whole documents and run in file order, so sorting each part by these keys sorts
#: the whole table.
SORT_KEYS = {
    "documents": ["source_file"],
    "metrics": ["source_file", "char_start", "char_end"],
    "quarantine": ["source_file", "char_start", "table", "check", "row"],
    "rejected": ["source_file"],
    "changes": ["source_file", "char_start", "metric_id", "change"],
}
#: zstd at level 1: the same size as the default level here, and a fifth less time to write.
WRITER_OPTIONS = {"compression": "zstd", "compression_level": 1, "use_dictionary": True,
                  "write_statistics": True}


def new_workdir(output: Path) -> Path:
    """A private folder for one run's parts; it records its owner so leftovers can be told."""
    path = Path(output) / WORK / f"{os.getpid()}-{secrets.token_hex(4)}"
    path.mkdir(parents=True)
    return path


def remove_dead_workdirs(output: Path) -> None:
    """Work folders of runs whose process is gone (killed runs leave them behind)."""
    root = Path(output) / WORK
    if not root.is_dir():
        return
    for path in root.iterdir():
        pid = path.name.split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def to_arrow(table: str, df: pd.DataFrame,
             kept: pyarrow.Table | None = None) -> pyarrow.Table:
    """Rows as an Arrow table in the model's schema, with ``kept`` rows (already in it) among
    them, sorted by the table's keys: stable, missing values first, strings by their UTF-8
    bytes, which is the order of their code points."""
    rows = pyarrow.Table.from_pandas(df.reset_index(drop=True), schema=arrow_schema(table),
                                     preserve_index=False)
    rows = rows.replace_schema_metadata({"dangjian.table": table})  # not pandas' own
    if kept is not None and kept.num_rows:
        rows = pyarrow.concat_tables([rows, kept.cast(rows.schema)])
    keys = [(k, "ascending", "at_start") for k in SORT_KEYS[table] if k in rows.column_names]
    return rows.sort_by(keys) if rows.num_rows else rows


def write_part(workdir: Path, table: str, index: int, df: pd.DataFrame,
               kept: pyarrow.Table | None = None) -> int:
    """Write one batch's rows of a table, with ``kept`` rows (validated in an earlier run, in
    the table's schema) among them; returns the number of rows."""
    folder = Path(workdir) / table
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{index:08d}.tmp"
    rows = to_arrow(table, df, kept)
    pq.write_table(rows, tmp, **WRITER_OPTIONS)
    os.replace(tmp, folder / f"{index:08d}.parquet")
    return rows.num_rows


def parts(workdir: Path, table: str) -> list[Path]:
    return sorted((Path(workdir) / table).glob("*.parquet"))


def assemble(table: str, sources: list[Path], target: Path) -> tuple[int, str, int]:
    """Stream ``sources`` into ``target`` in order; returns (rows, sha256, bytes)."""
    schema = arrow_schema(table).with_metadata({"dangjian.table": table})
    rows = 0
    with pq.ParquetWriter(target, schema, **WRITER_OPTIONS) as writer:
        pending: list[pyarrow.Table] = []
        pending_rows = 0
        for part in _read_ahead(sources, schema):
            pending.append(part)
            pending_rows += part.num_rows
            while pending_rows >= ROW_GROUP_ROWS:
                merged = pyarrow.concat_tables(pending)
                # One contiguous chunk per row group: the writer cuts pages and gives up on a
                # dictionary at chunk boundaries too, and these must not depend on the batches.
                writer.write_table(merged.slice(0, ROW_GROUP_ROWS).combine_chunks(),
                                   row_group_size=ROW_GROUP_ROWS)
                rest = merged.slice(ROW_GROUP_ROWS)
                pending, pending_rows = [rest], rest.num_rows
                rows += ROW_GROUP_ROWS
                # The allocator keeps what it freed; a large table would otherwise hold each
                # row group's copy and memory would grow with the corpus.
                pyarrow.default_memory_pool().release_unused()
        if pending_rows or rows == 0:
            merged = pyarrow.concat_tables(pending) if pending else schema.empty_table()
            writer.write_table(merged.combine_chunks(), row_group_size=ROW_GROUP_ROWS)
            rows += merged.num_rows
    return rows, file_sha256(target), target.stat().st_size


def _read_ahead(sources: list[Path], schema: pyarrow.Schema,
                window: int = READ_AHEAD) -> Iterator[pyarrow.Table]:
    """The parts in order, the next few read in threads while the writer compresses: reading
    and decoding release the GIL. Holds at most ``window`` parts beyond the current one."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        queue: deque[Future[pyarrow.Table]] = deque()
        for source in sources:
            queue.append(pool.submit(pq.read_table, source, schema=schema))
            if len(queue) > window:
                yield queue.popleft().result()
        while queue:
            yield queue.popleft().result()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
