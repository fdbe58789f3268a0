"""A publish killed at any moment leaves the previous release and the DuckDB file intact, the
next run succeeds, and two runs never interleave their writes."""
import hashlib
import signal
import subprocess
import sys
import textwrap
import threading
import time

import duckdb
import pytest

from dangjian.lock import LockTimeout, output_lock
from dangjian.publish import DUCKDB_FILE, latest_version, list_versions, publish, read_manifest
from tests.test_publish import _tables

WRITER = textwrap.dedent("""
    import sys
    from tests.test_publish import _tables
    from dangjian.publish import publish
    tables = _tables(int(sys.argv[2]))
    print("ready", flush=True)
    publish(sys.argv[1], tables, "f" * 64)
""")


def _intact(output, version):
    folder = output / "releases" / version
    manifest = read_manifest(output, version)
    for name, info in manifest["files"].items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == info["sha256"], name
    con = duckdb.connect(str(output / DUCKDB_FILE), read_only=True)
    assert con.execute("select count(*) from releases").fetchone()[0] >= 1
    con.close()


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.1, 0.2, 0.3, 0.45, 0.6])
def test_sigkill_mid_publish(tmp_path, delay):
    """The child says when its tables are ready; the kill lands that long into publishing."""
    from tests.conftest import ROOT

    publish(tmp_path, _tables(2), "c" * 64)
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), "3000"],
                            cwd=str(ROOT), stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    _intact(tmp_path, "1.0.0")
    for version in list_versions(tmp_path):
        _intact(tmp_path, version)
    # the next run succeeds and ends in a consistent state
    result = publish(tmp_path, _tables(3000), "f" * 64)
    assert result.version == latest_version(tmp_path) == "1.1.0"
    assert (tmp_path / "releases" / "LATEST").read_text().strip() == "1.1.0"
    con = duckdb.connect(str(tmp_path / DUCKDB_FILE), read_only=True)
    assert con.execute("select version from releases where is_latest").fetchone()[0] == "1.1.0"
    assert [p.name for p in (tmp_path / "releases").iterdir() if p.name.startswith(".")] == []


def test_second_writer_waits_or_gives_up_with_a_clear_message(tmp_path):
    with output_lock(tmp_path):
        with pytest.raises(LockTimeout, match="another run is publishing"):
            with output_lock(tmp_path, timeout=0.3):
                pass


def test_lock_serialises_two_publishes(tmp_path):
    order = []

    def hold():
        with output_lock(tmp_path):
            order.append("first in")
            time.sleep(0.5)
            order.append("first out")

    thread = threading.Thread(target=hold)
    thread.start()
    time.sleep(0.1)
    publish(tmp_path, _tables(2), "c" * 64, lock_timeout=10)
    order.append("second done")
    thread.join()
    assert order == ["first in", "first out", "second done"]
