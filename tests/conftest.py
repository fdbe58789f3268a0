"""Shared fixtures: the seed corpus, its gold annotations, a Prefect test harness and releases
built without Prefect."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RAW = ROOT / "raw"
GOLD = ROOT / "tests" / "gold"

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


@pytest.fixture(scope="session")
def prefect_harness():
    """A temporary Prefect database for the whole session (starting one takes seconds)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def raw_copy(tmp_path: Path) -> Path:
    """A private copy of the seed corpus that a test may change."""
    target = tmp_path / "raw"
    shutil.copytree(RAW, target)
    return target


def build_release(output: Path, raw: Path, n_files: int | None = None,
                  files: list[str] | None = None, decorators: list | None = None) -> str:
    """A real release of seed texts copied into ``raw`` (the first ``n_files``, or ``files``),
    published without Prefect; returns its version."""
    from dangjian.corpus import corpus_hash, list_raw
    from dangjian.documents import load_metadata
    from dangjian.pipeline import frame, process_batch, validate
    from dangjian.publish import publish

    raw.mkdir(parents=True, exist_ok=True)
    for name in files if files is not None else list_raw(RAW)[:n_files]:
        if not (raw / name).exists():
            shutil.copy2(RAW / name, raw / name)
    present = list_raw(raw)
    batch = process_batch(raw, present, load_metadata(raw))
    tables, quarantine = {}, []
    for name in ("documents", "metrics", "rejected"):
        tables[name], bad = validate(name, frame(name, getattr(batch, name)))
        quarantine += bad
    tables["quarantine"] = frame("quarantine", quarantine)
    return publish(output, tables, corpus_hash(raw, present), decorators=decorators).version
