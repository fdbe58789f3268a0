"""Prefect's temporary server, started before Prefect is imported.

With no ``PREFECT_API_URL``, the first flow call makes Prefect start a temporary server (uvicorn
in a subprocess, over the SQLite database in ``PREFECT_HOME``) and wait for it. That server
spends 8-10 s of one core loading Prefect's API, and it starts only once the command has
imported Prefect and its own modules, so the command waits for it with a core idle. Started
here, at the top of the command, it loads beside those imports instead.

It is the server Prefect would start, by the same command line (a test compares the two), and
it is used only where Prefect would have started one: :func:`serving` checks Prefect's
settings once they are loaded, and stops it unused when they name a server (a profile may set
``PREFECT_API_URL`` where the environment does not). When it does not come up, Prefect starts
its own as before.
"""
from __future__ import annotations

import atexit
import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: What Prefect's own temporary server gets besides the caller's environment: no UI, and the
#: services of an ephemeral server (``prefect.server.api.server.SubprocessASGIServer``).
SERVER_ENV = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
              "PREFECT__SERVER_FINAL": "1"}


def command(port: int) -> list[str]:
    """The command line of Prefect's temporary server on ``port``."""
    spec = importlib.util.find_spec("prefect")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("prefect is not installed")
    app_dir = Path(list(spec.submodule_search_locations)[0]).parent
    return [sys.executable, "-m", "uvicorn", "--app-dir", str(app_dir), "--factory",
            "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "error", "--lifespan", "on"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TemporaryServer:
    """A temporary Prefect server in a subprocess; stopped at exit."""

    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.port = port
        self.healthy = False

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @classmethod
    def launch(cls) -> "TemporaryServer":
        port = _free_port()
        process = subprocess.Popen(command(port), env={**os.environ, **SERVER_ENV},
                                   stdin=subprocess.DEVNULL)
        server = cls(process, port)
        # Registered now, it runs after the hooks registered later and after threading's, in
        # which Prefect's services send their last events and logs to it.
        atexit.register(server.stop)
        return server

    def wait(self, timeout: float) -> bool:
        """Whether the server answers its health check within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not self.healthy and time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False  # it exited: the port was taken, or the database is unusable
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as response:
                    self.healthy = response.status == 200
            except OSError:
                time.sleep(0.05)
        return self.healthy

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        atexit.unregister(self.stop)


def launch_unless_configured() -> TemporaryServer | None:
    """Start the server unless the environment names one (settings a profile holds are checked
    by :func:`serving`); None where it cannot be started."""
    if os.environ.get("PREFECT_API_URL"):
        return None
    try:
        return TemporaryServer.launch()
    except (OSError, ModuleNotFoundError):
        return None


@contextmanager
def serving(server: TemporaryServer | None) -> Iterator[None]:
    """Flow calls inside use ``server``, where Prefect would otherwise start its own."""
    if server is None:
        yield
        return
    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

    settings = get_current_settings()
    if (settings.api.url or not settings.server.ephemeral.enabled
            or not server.wait(settings.server.ephemeral.startup_timeout_seconds)):
        server.stop()  # a server is configured, or this one did not come up: Prefect decides
        yield
        return
    with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
        yield
