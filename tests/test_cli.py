import re

import pytest

from flows.cli import build_parser, main
from tests.conftest import RAW, ROOT


def _commands():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices


def test_every_command_has_help_an_example_and_is_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name, parser in _commands().items():
        assert parser.description and "Example:" in (parser.epilog or ""), name
        assert re.search(rf"dangjian {name}\b", readme), f"README does not document {name}"


def test_extract_prints_a_table(capsys):
    assert main(["extract", str(RAW / "000_165ad2e5e478a72b.txt")]) == 0
    out = capsys.readouterr().out
    assert "32037个" in out and "基层党组织" in out


def test_extract_missing_file_is_a_clear_error(capsys, tmp_path):
    assert main(["extract", str(tmp_path / "nope.txt")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_release_missing_raw_is_a_clear_error(capsys, tmp_path):
    assert main(["release", "--raw", str(tmp_path / "nope"), "--output", str(tmp_path)]) == 2
    assert "raw folder not found" in capsys.readouterr().err


def test_unknown_command_exits_nonzero():
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2


def test_verify_and_diff_commands(tmp_path, capsys):
    from dangjian.publish import publish
    from tests.test_publish import _tables

    out = tmp_path / "out"
    publish(out, _tables(2), "c" * 64)
    publish(out, _tables(3), "d" * 64)
    assert main(["diff", "1.0.0", "--output", str(out)]) == 0
    assert "1 added, 0 removed, 0 changed" in capsys.readouterr().out
    assert main(["verify", "--output", str(out), "--no-raw"]) == 0
    assert "ok" in capsys.readouterr().out.lower()
    target = out / "releases" / "1.1.0" / "metrics.parquet"
    target.chmod(0o644)
    data = bytearray(target.read_bytes())
    data[-20] ^= 0xFF
    target.write_bytes(bytes(data))
    assert main(["verify", "1.1.0", "--output", str(out), "--no-raw"]) == 1
    assert "sha256" in capsys.readouterr().out
    assert main(["verify", "9.9.9", "--output", str(out)]) == 2


def test_a_run_over_the_latest_releases_corpus_and_rules_starts_no_workers_early(tmp_path,
                                                                                 monkeypatch):
    import dangjian.cache as cache_module
    from dangjian.corpus import list_raw
    from flows.cli import _same_as_latest
    from tests.conftest import build_release

    raw, out = tmp_path / "raw", tmp_path / "out"
    assert not _same_as_latest(RAW, list_raw(RAW), out)  # no release yet
    build_release(out, raw, n_files=2)
    files = list_raw(raw)
    assert _same_as_latest(raw, files, out)
    (raw / files[0]).write_text("全市共有党员9万名。", encoding="utf-8")
    assert not _same_as_latest(raw, files, out)
    build_release(out, raw)
    files = list_raw(raw)
    assert _same_as_latest(raw, files, out)
    monkeypatch.setattr(cache_module, "rules_fingerprint", lambda: "other rules")
    assert not _same_as_latest(raw, files, out)


def test_release_in_a_fresh_process_prints_its_summary_and_leaves_nothing_behind(tmp_path):
    """With no Prefect server configured: the command's own early start of Prefect's temporary
    server is used (Prefect starts none) and stopped at exit. The command freezes its heap
    during the run; thawed before exit, the interpreter's last collection reaches every object,
    so DuckDB's bindings find nothing leaked."""
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    marker = f"dangjian-test-{os.getpid()}-{time.time_ns()}"
    env = {key: value for key, value in os.environ.items()
           if key not in ("PREFECT_API_URL", "PREFECT_PROFILE")}
    env.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_LOGGING_LEVEL="INFO",
               DANGJIAN_TEST_MARKER=marker,  # Prefect's default profiles, not the user's
               PREFECT_PROFILES_PATH=str(tmp_path / "no-profiles.toml"))
    done = subprocess.run([sys.executable, "-m", "flows.cli", "release", "--raw", str(RAW),
                           "--output", str(tmp_path / "out")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    printed = " ".join((done.stdout + done.stderr).split())
    assert "new release 1.0.0" in printed
    assert "leaked" not in printed
    assert "Starting temporary server" not in printed  # Prefect did not start one of its own
    if Path("/proc/self/environ").exists():  # no process that inherited the marker is left
        left = []
        for environ in Path("/proc").glob("[0-9]*/environ"):
            try:
                if marker.encode() in environ.read_bytes():
                    left.append(environ.parent.name)
            except OSError:
                continue  # gone meanwhile, or not ours to read
        assert left == []


def test_the_command_exits_with_its_code_after_every_other_exit_hook(tmp_path, monkeypatch):
    """``run`` ends the process from the last exit hook (no teardown of the heap), with the
    command's code; a command that raises leaves as Python makes it leave."""
    import atexit
    import os
    import subprocess
    import sys

    import flows.cli as cli

    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    missing = subprocess.run([sys.executable, "-m", "flows.cli", "release", "--raw",
                              str(tmp_path / "missing")], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=300)
    assert missing.returncode == 2 and "raw folder not found" in missing.stderr
    # A hook registered after the command's own (as Prefect's and multiprocessing's are) runs.
    hook = tmp_path / "hook.py"
    hook.write_text("import atexit, sys\nimport flows.cli as cli\n"
                    "cli.main = lambda: (atexit.register(print, 'later hook ran'), 3)[1]\n"
                    "cli.run()\n", encoding="utf-8")
    done = subprocess.run([sys.executable, str(hook)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 3 and "later hook ran" in done.stdout

    hooks = []
    monkeypatch.setattr(atexit, "register", lambda fn: hooks.append(fn))
    monkeypatch.setattr(atexit, "unregister", lambda fn: hooks.remove(fn))
    monkeypatch.setattr(cli, "main", lambda: (_ for _ in ()).throw(ValueError("bad")))
    with pytest.raises(ValueError):
        cli.run()
    assert hooks == []  # the quick exit was taken back
