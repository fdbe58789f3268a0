"""Prefect's temporary server started early by the command: the same server Prefect would
start, used only where Prefect would start one, and never left running."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request

import flows.temporary_server as temporary_server
from flows.temporary_server import SERVER_ENV, TemporaryServer, command, serving


def test_the_command_line_and_environment_are_those_of_prefects_own_temporary_server(monkeypatch):
    import prefect.server.api.server as server_module
    from prefect.server.api.server import SubprocessASGIServer

    seen: dict = {}
    monkeypatch.setattr(server_module.subprocess, "Popen",
                        lambda args, env, **kwargs: seen.update(args=args, env=env))
    monkeypatch.setattr(SubprocessASGIServer, "_instances", {})
    SubprocessASGIServer(port=54321)._run_uvicorn_command()
    assert seen["args"] == command(54321)
    # Besides SERVER_ENV, Prefect passes the caller's environment and the settings it loaded,
    # which the early server inherits from the command's environment or reads from the same
    # files itself; anything else it added would be missing from ours.
    from prefect.settings import get_current_settings

    loaded = get_current_settings().to_environment_variables(exclude_unset=True)
    own = {key: value for key, value in seen["env"].items()
           if key not in os.environ and key not in loaded}
    assert own == SERVER_ENV


class FakeServer:
    api_url = "http://127.0.0.1:9/api"

    def __init__(self, healthy: bool) -> None:
        self.healthy, self.stopped, self.waited = healthy, False, None

    def wait(self, timeout: float) -> bool:
        self.waited = timeout
        return self.healthy

    def stop(self) -> None:
        self.stopped = True


def _api_url() -> str | None:
    from prefect.settings import get_current_settings

    return get_current_settings().api.url


def test_flows_use_the_early_server_where_prefect_would_start_one():
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        server = FakeServer(healthy=True)
        with serving(server):  # type: ignore[arg-type]
            assert _api_url() == server.api_url
        assert _api_url() is None and not server.stopped  # stopped at exit, after Prefect's hooks
        assert server.waited is not None and server.waited > 0


def test_a_configured_server_wins_and_the_early_one_is_stopped_unused():
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:4200/api"}):
        server = FakeServer(healthy=True)
        with serving(server):  # type: ignore[arg-type]
            assert _api_url() == "http://127.0.0.1:4200/api"
        assert server.stopped and server.waited is None


def test_a_server_that_does_not_come_up_leaves_the_choice_to_prefect():
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        server = FakeServer(healthy=False)
        with serving(server):  # type: ignore[arg-type]
            assert _api_url() is None
        assert server.stopped
    with serving(None):
        pass  # nothing launched: nothing to do


def test_an_exited_server_process_is_not_waited_for():
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    server = TemporaryServer(process, 9)
    start = time.monotonic()
    assert not server.wait(timeout=60)
    assert time.monotonic() - start < 30  # it saw the exit instead of polling to the timeout
    server.stop()


def test_nothing_is_launched_where_the_settings_may_name_a_server(monkeypatch, tmp_path):
    for key in temporary_server.DECIDING + ("PREFECT_PROFILE",):
        monkeypatch.delenv(key, raising=False)
    profiles = tmp_path / "profiles.toml"
    monkeypatch.setenv("PREFECT_PROFILES_PATH", str(profiles))
    folder = tmp_path / "work"
    folder.mkdir()
    assert not temporary_server.may_be_configured(folder)  # no profiles file at all
    profiles.write_text('active = "local"\n[profiles.local]\nPREFECT_LOGGING_LEVEL = "INFO"\n'
                        '[profiles.remote]\nPREFECT_API_URL = "http://10.0.0.1:4200/api"\n',
                        encoding="utf-8")
    assert not temporary_server.may_be_configured(folder)
    monkeypatch.setenv("PREFECT_PROFILE", "remote")
    assert temporary_server.may_be_configured(folder)  # the active profile names a server
    monkeypatch.delenv("PREFECT_PROFILE")
    profiles.write_text("not toml [", encoding="utf-8")
    assert temporary_server.may_be_configured(folder)  # unreadable: Prefect decides
    profiles.unlink()
    for name, text in ((".env", "PREFECT_API_URL=x\n"), ("prefect.toml", "[api]\n"),
                       ("pyproject.toml", "[tool.prefect.api]\nurl = 'x'\n")):
        (folder / name).write_text(text, encoding="utf-8")
        assert temporary_server.may_be_configured(folder), name
        (folder / name).unlink()
    (folder / "pyproject.toml").write_text("[project]\nname = 'x'\n", encoding="utf-8")
    assert not temporary_server.may_be_configured(folder)
    monkeypatch.setenv("PREFECT_SERVER_EPHEMERAL_ENABLED", "false")
    assert temporary_server.may_be_configured(folder)
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    launched = []
    monkeypatch.setattr(TemporaryServer, "launch", classmethod(lambda cls: launched.append(1)))
    monkeypatch.setattr(temporary_server, "_running", None)
    assert temporary_server.launch_unless_configured() is None and launched == []


def test_a_launched_server_answers_is_reused_and_is_gone_once_stopped(monkeypatch, tmp_path):
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))  # its own database, not the user's
    for key in temporary_server.DECIDING + ("PREFECT_PROFILE", "PREFECT_PROFILES_PATH"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(temporary_server, "_running", None)
    server = temporary_server.launch_unless_configured()
    assert server is not None
    try:
        assert temporary_server.launch_unless_configured() is server  # a second command's
        assert server.wait(timeout=120)
        with urllib.request.urlopen(f"{server.api_url}/health", timeout=10) as response:
            assert response.status == 200
    finally:
        server.stop()
    assert server.process.poll() is not None
