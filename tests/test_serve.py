"""A real Prefect server on a free loopback port, the deployment served with a short interval,
and a scheduled run that publishes a release. Everything is stopped at the end."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import RAW

START_TIMEOUT = 180
RUN_TIMEOUT = 240


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prefect server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise TimeoutError("prefect server did not become healthy")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def test_serve_without_server_explains_what_to_do(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    proc = subprocess.run([sys.executable, "-m", "flows.cli", "serve", "--interval", "60"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2 and "prefect server start" in proc.stderr


@contextmanager
def _served(tmp_path, *extra):
    """A Prefect server on a free port and ``dangjian serve`` every 5 s against it, over a copy
    of raw/; yields (raw, out, serve log); stops both at the end."""
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    home = tmp_path / "prefect-home"
    raw = tmp_path / "raw"
    shutil.copytree(RAW, raw)
    out = tmp_path / "out"
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_API_URL": api,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_SERVER_UI_ENABLED": "false",
           "PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(port)}
    logs = tmp_path / "logs"
    logs.mkdir()
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
         "--port", str(port), "--no-ui"],
        env=env, stdout=open(logs / "server.log", "w"), stderr=subprocess.STDOUT,
        start_new_session=True)
    serve = None
    try:
        _wait_healthy(api, server, START_TIMEOUT)
        serve = subprocess.Popen(
            [sys.executable, "-m", "flows.cli", "serve", "--interval", "5", "--raw", str(raw),
             "--output", str(out), *extra],
            env=env, cwd=str(Path(__file__).resolve().parent.parent),
            stdout=open(logs / "serve.log", "w"), stderr=subprocess.STDOUT, start_new_session=True)
        yield raw, out, serve, logs / "serve.log"
    finally:
        if serve is not None:
            _stop(serve)
        _stop(server)


def _wait_for_release(out, serve, log, version=None):
    deadline = time.monotonic() + RUN_TIMEOUT
    latest = out / "releases" / "LATEST"
    while time.monotonic() < deadline:
        assert serve.poll() is None, log.read_text()[-3000:]
        if latest.exists() and (version is None or latest.read_text().strip() == version):
            return latest.read_text().strip()
        time.sleep(1)
    raise AssertionError(f"no release {version or ''} in time:\n" + log.read_text()[-3000:])


def test_scheduled_run_publishes_a_release(tmp_path):
    with _served(tmp_path) as (raw, out, serve, log):
        version = _wait_for_release(out, serve, log)
        assert (out / "releases" / version / "metrics.parquet").is_file()


def test_warm_serve_runs_each_scheduled_run_in_one_process(tmp_path):
    with _served(tmp_path, "--warm") as (raw, out, serve, log):
        assert _wait_for_release(out, serve, log) == "1.0.0"
        first = next(raw.glob("*.txt"))
        first.write_text(first.read_text(encoding="utf-8") + "\n全市新建党支部12个。\n",
                         encoding="utf-8")
        assert _wait_for_release(out, serve, log, "1.1.0") == "1.1.0"
        assert serve.poll() is None  # the same process serves on
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
