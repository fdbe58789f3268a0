"""Prefect's temporary server, started before Prefect is imported.

With no ``PREFECT_API_URL``, the first flow call makes Prefect start a temporary server (uvicorn
in a subprocess, over the SQLite database in ``PREFECT_HOME``) and wait for it. That server
spends 8-10 s of one core loading Prefect's API, and it starts only once the command has
imported Prefect and its own modules, so the command waits for it with a core idle. Started
here, at the top of the command, it loads beside those imports instead.

It is the server Prefect would start, by the same command line (a test compares the two), and
it is used only where Prefect would have started one. It is not started where the environment
or the active Prefect profile names a server or turns temporary servers off, nor where a
``prefect.toml``, ``.env`` or ``pyproject.toml`` in the working folder may hold Prefect settings;
and :func:`serving` checks the settings Prefect loads in the end, stopping it unused when they
name a server. When it does not come up, Prefect starts its own as before. It is stopped when
the command exits normally; a command killed by a signal leaves it running, as it leaves
Prefect's own.
"""
from __future__ import annotations

import atexit
import importlib.util
import os
import socket
import subprocess
import sys
import time
import tomllib
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
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
        while not self.healthy and time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False  # it exited: the port was taken, or the database is unusable
            try:
                with opener.open(f"{self.api_url}/health", timeout=2) as response:
                    # still running: not another process that took the port meanwhile
                    self.healthy = response.status == 200 and self.process.poll() is None
            except OSError:
                pass
            if not self.healthy:
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


#: Files in the working folder that Prefect reads settings from.
SETTINGS_FILES = ("prefect.toml", ".env")
#: The settings that decide whether Prefect would start a temporary server.
DECIDING = ("PREFECT_API_URL", "PREFECT_SERVER_EPHEMERAL_ENABLED")

_running: TemporaryServer | None = None  # the process's server, reused by later commands


def launch_unless_configured() -> TemporaryServer | None:
    """Start the server unless the settings may name another one (:func:`may_be_configured`);
    the process's running one if it has it; None where it cannot be started."""
    global _running
    if _running is not None and _running.process.poll() is None:
        return _running
    if may_be_configured():
        return None
    try:
        _running = TemporaryServer.launch()
    except (OSError, ModuleNotFoundError):
        return None
    return _running


def may_be_configured(cwd: Path | None = None) -> bool:
    """Whether Prefect's settings may name a server or turn temporary servers off, read without
    importing Prefect: the environment, the active profile, and the working folder's settings
    files (whose contents are left to Prefect). :func:`serving` makes the exact check."""
    if any(key in os.environ for key in DECIDING):
        return True
    folder = Path.cwd() if cwd is None else cwd
    if any((folder / name).exists() for name in SETTINGS_FILES):
        return True
    try:
        if "[tool.prefect" in (folder / "pyproject.toml").read_text(encoding="utf-8"):
            return True
    except (OSError, UnicodeDecodeError):
        pass
    home = Path(os.environ.get("PREFECT_HOME", Path.home() / ".prefect")).expanduser()
    profiles = Path(os.environ.get("PREFECT_PROFILES_PATH", home / "profiles.toml")).expanduser()
    try:
        data = tomllib.loads(profiles.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return False
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return True  # unreadable here: Prefect decides
    active = os.environ.get("PREFECT_PROFILE") or data.get("active") or "ephemeral"
    profile = (data.get("profiles") or {}).get(active) or {}
    return not isinstance(profile, dict) or any(key in profile for key in DECIDING)


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
