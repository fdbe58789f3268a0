"""Imported once by the workers' fork server (see :mod:`dangjian.workers`): importing it loads
and initialises everything a batch needs, so each forked worker starts warm.

The warm-up stages a one-document batch the way a worker does (read, extract, validate, write
parts, cache) in a temporary folder: first calls of pandera's validation, Parquet writing and
SQLite cost tenths of a second each, which every worker would otherwise pay on its first batch.
What it initialises is the same as the first real batch would, so the rows of a batch never
depend on it.
"""
from __future__ import annotations

import gc

SAMPLE = "宁波日报 2021年1月1日\n\n示例\n\n全市共有基层党组织32037个，党员56.1万名，比上年增长3.5%。\n"


def warm_up() -> None:
    import tempfile
    from pathlib import Path

    from schemas.tables import skip_dask_dataframe

    skip_dask_dataframe()
    from dangjian.pipeline import stage_files

    with tempfile.TemporaryDirectory(prefix="dangjian-warm-up-") as folder:
        raw, work = Path(folder) / "raw", Path(folder) / "work"
        raw.mkdir()
        work.mkdir()
        (raw / "warm-up.txt").write_text(SAMPLE, encoding="utf-8")
        stage_files(str(raw), ["warm-up.txt"], 0, str(work), str(Path(folder) / "cache"))


try:
    warm_up()
except Exception:  # noqa: BLE001 - a failed warm-up only means each worker warms up on its own
    pass
# What the server holds now is shared with every worker it forks until either writes to it; the
# garbage collector's passes would write to all of it (and copy it into each worker).
gc.freeze()
