"""Table parts written by batch tasks, and their assembly into one Parquet file per table.

A run does not hold its corpus in memory: each batch writes its validated rows as Parquet parts
in the run's work folder (``<output>/.work/<token>/<table>/<batch>.parquet``) and returns only
counts. Publishing joins the parts, in batch order, into one file per table by copying their row
groups as they are encoded (``dangjian.parquet_concat``): a batch's rows are encoded once, when
it is staged, and a kept batch never again. A table's bytes are therefore those of its parts:
they depend on the rows and on the batch boundaries (the file names and the batch size), never
on the order rows were found in, nor on which batches came from the cache.
"""
from __future__ import annotations

import hashlib
import os
import secrets
import shutil
from pathlib import Path

import pandas as pd
import pyarrow
import pyarrow.parquet as pq

from dangjian.parquet_concat import concatenate
from schemas.tables import arrow_schema

WORK = ".work"
#: Rows per row group of a part (a batch is far smaller, unless its documents are huge).
ROW_GROUP_ROWS = 65536
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
    # One contiguous chunk: the writer cuts pages and gives up on a dictionary at chunk
    # boundaries too, and these must not depend on where the rows came from.
    rows = to_arrow(table, df, kept).combine_chunks()
    pq.write_table(rows, tmp, row_group_size=ROW_GROUP_ROWS, **WRITER_OPTIONS)
    os.replace(tmp, folder / f"{index:08d}.parquet")
    return rows.num_rows


def parts(workdir: Path, table: str) -> list[Path]:
    return sorted((Path(workdir) / table).glob("*.parquet"))


def assemble(table: str, sources: list[Path], target: Path) -> tuple[int, str, int]:
    """Join the parts ``sources``, in order, into ``target``; returns (rows, sha256, bytes)."""
    digest = hashlib.sha256()
    rows = concatenate(sources, target, digest)
    if rows == 0:  # no part has rows: a file with the schema alone
        schema = arrow_schema(table).with_metadata({"dangjian.table": table})
        pq.write_table(schema.empty_table(), target, **WRITER_OPTIONS)
        return rows, file_sha256(target), target.stat().st_size
    return rows, digest.hexdigest(), target.stat().st_size


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
