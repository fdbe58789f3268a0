"""Shared fixtures: the seed corpus, its gold annotations and a Prefect test harness."""
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
