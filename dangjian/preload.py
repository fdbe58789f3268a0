"""Imported once by the workers' fork server (see :mod:`dangjian.workers`): importing it loads
and initialises everything a batch needs, so each forked worker starts warm.

The warm-up extracts a two-sentence text and validates empty tables; what it initialises is
the same as the first real batch would, so the rows of a batch never depend on it.
"""
from __future__ import annotations

SAMPLE = "宁波日报 2021年1月1日\n\n示例\n\n全市共有基层党组织32037个，党员56.1万名，比上年增长3.5%。\n"


def warm_up() -> None:
    from schemas.tables import skip_dask_dataframe

    skip_dask_dataframe()
    from dangjian.corpus import RawDocument
    from dangjian.pipeline import document_rows, frame, validate

    document_rows(RawDocument("warm-up.txt", "0" * 64, SAMPLE, "utf-8"), None)
    for table in ("documents", "metrics", "rejected", "quarantine"):
        validate(table, frame(table, []))


try:
    warm_up()
except Exception:  # noqa: BLE001 - a failed warm-up only means each worker warms up on its own
    pass
