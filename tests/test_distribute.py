"""publish_release and download_release, over a real HTTP server on the loopback address."""
from __future__ import annotations

import hashlib
import json
import shutil
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import fsspec
import pytest

from dangjian.distribute import (ChecksumError, ReleaseConflictError, ReleaseInvalidError,
                                 RemoteError, UnsafeManifestError, download_release, publish_release)
from dangjian.verify import ReleaseNotFoundError, verify_folder
from tests.conftest import build_release

TIMEOUT = 5.0


@pytest.fixture(scope="module")
def releases(tmp_path_factory) -> dict[str, Path]:
    """Output ``a`` holds 1.0.0 (two texts) and 1.1.0 (three); output ``b`` holds a different
    1.0.0 (three texts). Tests only read these."""
    root = tmp_path_factory.mktemp("dist-src")
    assert build_release(root / "a", root / "raw_a", n_files=2) == "1.0.0"
    assert build_release(root / "a", root / "raw_a", n_files=3) == "1.1.0"
    assert build_release(root / "b", root / "raw_b", n_files=3) == "1.0.0"
    return {"a": root / "a", "b": root / "b", "raw": root / "raw_a"}


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    """Loopback requests must never be sent to a proxy from the environment."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


class _Handler(SimpleHTTPRequestHandler):
    timeout = TIMEOUT  # a stuck client cannot hold a server thread forever

    def do_GET(self):
        self.server.requests.append(self.path)
        super().do_GET()

    def log_message(self, format, *args):  # keep test output clean; requests are recorded
        pass


@contextmanager
def serve(directory: Path) -> Iterator[tuple[str, list[str]]]:
    """A static HTTP server for ``directory`` on 127.0.0.1 (a free port), and its request log."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(directory)))
    server.daemon_threads = True
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        assert host == "127.0.0.1"
        yield f"http://{host}:{port}", server.requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=TIMEOUT)


def _tree(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file()}


def test_publish_then_download_over_http_verifies(releases, tmp_path):
    site = tmp_path / "site"
    url = publish_release(releases["a"], "1.0.0", str(site))
    assert url == f"{site}/releases/1.0.0"
    with serve(site) as (base, _):
        path = download_release(base, "1.0.0", tmp_path / "dl", timeout=TIMEOUT)
    assert path == tmp_path / "dl" / "1.0.0"
    assert _tree(path) == _tree(releases["a"] / "releases" / "1.0.0")  # data card etc. too
    report = verify_folder(path, releases["raw"])
    assert report.ok, report.problems
    assert [p.name for p in (tmp_path / "dl").iterdir()] == ["1.0.0"]


def test_latest_resolves_through_index(releases, tmp_path):
    site = tmp_path / "site"
    publish_release(releases["a"], "1.1.0", f"file://{site}")
    publish_release(releases["a"], "1.0.0", str(site))  # an older one published later
    index = json.loads((site / "index.json").read_text())
    assert index["latest"] == "1.1.0"
    assert [e["version"] for e in index["releases"]] == ["1.0.0", "1.1.0"]
    newest = index["releases"][1]
    manifest = (site / "releases" / "1.1.0" / "manifest.json").read_bytes()
    assert newest["parent"] == "1.0.0" and newest["created"]
    assert newest["manifest_sha256"] == hashlib.sha256(manifest).hexdigest()
    assert set(json.loads(manifest)["files"]) >= {"README.md", "datapackage.json"}
    assert [p.name for p in site.iterdir() if p.name.startswith(".")] == []  # no temp index
    with serve(site) as (base, _):
        path = download_release(base, "latest", tmp_path / "dl", timeout=TIMEOUT)
    assert path.name == "1.1.0" and verify_folder(path).ok


def test_tampered_file_on_server_is_refused_and_leaves_nothing(releases, tmp_path):
    site = tmp_path / "site"
    publish_release(releases["a"], "1.0.0", str(site))
    victim = site / "releases" / "1.0.0" / "metrics.parquet"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    expected = json.loads((site / "releases" / "1.0.0" / "manifest.json").read_text())[
        "files"]["metrics.parquet"]["sha256"]
    to_dir = tmp_path / "dl"
    to_dir.mkdir()
    with serve(site) as (base, _), pytest.raises(ChecksumError) as caught:
        download_release(base, "1.0.0", to_dir, timeout=TIMEOUT)
    assert caught.value.name == "metrics.parquet" and caught.value.expected == expected
    assert caught.value.got == hashlib.sha256(data).hexdigest()
    assert "metrics.parquet" in str(caught.value) and expected in str(caught.value)
    assert list(to_dir.iterdir()) == []


def test_longer_file_is_refused_and_a_new_to_dir_is_removed(releases, tmp_path):
    site = tmp_path / "site"
    publish_release(releases["a"], "1.0.0", str(site))
    with open(site / "releases" / "1.0.0" / "README.md", "ab") as handle:
        handle.write(b"\nappended\n")
    to_dir = tmp_path / "new" / "dl"
    with serve(site) as (base, _), pytest.raises(ChecksumError) as caught:
        download_release(base, "1.0.0", to_dir, timeout=TIMEOUT)
    assert caught.value.name == "README.md" and caught.value.what == "bytes"
    assert not to_dir.exists()


def test_tampered_manifest_is_refused_through_the_index(releases, tmp_path):
    site = tmp_path / "site"
    publish_release(releases["a"], "1.0.0", str(site))
    path = site / "releases" / "1.0.0" / "manifest.json"
    path.write_text(path.read_text().replace('"parent": null', '"parent": "0.9.0"'))
    with serve(site) as (base, _), pytest.raises(ChecksumError, match="manifest.json"):
        download_release(base, "1.0.0", tmp_path / "dl", timeout=TIMEOUT)
    assert not (tmp_path / "dl").exists()


@pytest.mark.parametrize("name", ["../evil", "/etc/passwd", "..\\evil", "sub/evil", ".evil"])
def test_unsafe_manifest_is_refused_before_anything_is_written(tmp_path, name):
    site = tmp_path / "site"
    folder = site / "releases" / "6.6.6"
    folder.mkdir(parents=True)
    files = {"metrics.parquet": {"sha256": "0" * 64, "bytes": 0, "rows": 0},
             name: {"sha256": hashlib.sha256(b"evil").hexdigest(), "bytes": 4}}
    (folder / "manifest.json").write_text(json.dumps({"version": "6.6.6", "files": files}))
    (folder / "metrics.parquet").write_bytes(b"")
    to_dir = tmp_path / "dl"
    with serve(site) as (base, requests), pytest.raises(UnsafeManifestError, match="unsafe"):
        download_release(base, "6.6.6", to_dir, timeout=TIMEOUT)
    assert not to_dir.exists() and not (tmp_path / "evil").exists()
    assert not any("evil" in r for r in requests)  # refused before any file was fetched
    assert requests == ["/index.json", "/releases/6.6.6/manifest.json"]


def test_index_naming_an_unsafe_latest_is_refused(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.json").write_text(json.dumps({"latest": "../..", "releases": []}))
    with serve(site) as (base, _), pytest.raises(UnsafeManifestError):
        download_release(base, "latest", tmp_path / "dl", timeout=TIMEOUT)
    assert not (tmp_path / "dl").exists()


def test_publishing_the_same_release_twice_is_a_no_op(releases, tmp_path):
    site = tmp_path / "site"
    publish_release(releases["a"], "1.0.0", str(site))
    stamps = {p: p.stat().st_mtime_ns for p in (site / "releases").rglob("*")}
    before = _tree(site)
    assert publish_release(releases["a"], "1.0.0", str(site)) == f"{site}/releases/1.0.0"
    assert _tree(site) == before
    assert {p: p.stat().st_mtime_ns for p in (site / "releases").rglob("*")} == stamps


def test_different_content_under_the_same_version_is_refused(releases, tmp_path):
    site = tmp_path / "site"
    publish_release(releases["a"], "1.0.0", str(site))
    before = _tree(site)
    with pytest.raises(ReleaseConflictError, match="1.0.0"):
        publish_release(releases["b"], "1.0.0", str(site))
    assert _tree(site) == before


def test_same_release_with_a_missing_file_is_completed(releases, tmp_path):
    site = tmp_path / "site"
    publish_release(releases["a"], "1.0.0", str(site))
    before = _tree(site)
    (site / "releases" / "1.0.0" / "documents.parquet").unlink()
    publish_release(releases["a"], "1.0.0", str(site))
    assert _tree(site) == before


def test_a_lost_index_update_is_mended(releases, tmp_path):
    site = tmp_path / "site"
    publish_release(releases["a"], "1.0.0", str(site))
    good = json.loads((site / "index.json").read_text())["releases"][0]
    (site / "index.json").unlink()
    publish_release(releases["a"], "1.1.0", str(site))
    index = json.loads((site / "index.json").read_text())
    assert [e["version"] for e in index["releases"]] == ["1.0.0", "1.1.0"]
    assert index["releases"][0] == good


def test_an_invalid_local_release_is_not_published(releases, tmp_path):
    output = tmp_path / "output"
    shutil.copytree(releases["a"], output)
    (output / "releases" / "1.0.0" / "rejected.parquet").write_bytes(b"not parquet")
    with pytest.raises(ReleaseInvalidError, match="rejected.parquet"):
        publish_release(output, "1.0.0", str(tmp_path / "site"))
    assert not (tmp_path / "site" / "releases" / "1.0.0").exists()


def test_publishing_refuses_http_and_missing_releases(releases, tmp_path):
    with pytest.raises(ValueError, match="http"):
        publish_release(releases["a"], "1.0.0", "http://127.0.0.1:9/")
    with pytest.raises(ReleaseNotFoundError):
        publish_release(releases["a"], "7.0.0", str(tmp_path / "site"))


def test_missing_release_on_server(releases, tmp_path):
    site = tmp_path / "site"
    publish_release(releases["a"], "1.0.0", str(site))
    with serve(site) as (base, _):
        with pytest.raises(ReleaseNotFoundError, match="2.0.0"):
            download_release(base, "2.0.0", tmp_path / "dl", timeout=TIMEOUT)
        with pytest.raises(ReleaseNotFoundError):
            download_release(base + "/nowhere", "latest", tmp_path / "dl", timeout=TIMEOUT)
    assert not (tmp_path / "dl").exists()


def test_downloading_again_is_a_no_op_and_never_replaces_another(releases, tmp_path):
    site_a, site_b = tmp_path / "a", tmp_path / "b"
    publish_release(releases["a"], "1.0.0", str(site_a))
    publish_release(releases["b"], "1.0.0", str(site_b))
    first = download_release(str(site_a), "1.0.0", tmp_path / "dl")
    before = _tree(first)
    assert download_release(f"file://{site_a}", "latest", tmp_path / "dl") == first
    with pytest.raises(ReleaseConflictError):
        download_release(str(site_b), "1.0.0", tmp_path / "dl")
    assert _tree(first) == before and [p.name for p in (tmp_path / "dl").iterdir()] == ["1.0.0"]


def test_download_from_an_output_folder_without_index(releases, tmp_path):
    """A plain output folder serves too: latest from releases/LATEST, the manifest's files."""
    path = download_release(str(releases["a"]), "latest", tmp_path / "dl")
    assert path.name == "1.1.0" and verify_folder(path, releases["raw"]).ok


def test_generic_fsspec_target_round_trip(releases, tmp_path):
    """memory:// takes the code path s3:// would (no local rename, objects written whole)."""
    url = f"memory://dist-{uuid.uuid4().hex}"
    try:
        publish_release(releases["a"], "1.1.0", url)
        publish_release(releases["a"], "1.0.0", url)
        path = download_release(url, "latest", tmp_path / "dl")
        assert path.name == "1.1.0" and verify_folder(path, releases["raw"]).ok
        assert _tree(path) == _tree(releases["a"] / "releases" / "1.1.0")
    finally:
        fs, root = fsspec.core.url_to_fs(url)
        if fs.exists(root):
            fs.rm(root, recursive=True)


def test_a_silent_server_times_out(tmp_path):
    """A server that accepts the connection and never answers costs the timeout, no more."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        start = time.monotonic()
        with pytest.raises(RemoteError):
            download_release(f"http://127.0.0.1:{port}", "latest", tmp_path / "dl", timeout=0.5)
        assert time.monotonic() - start < TIMEOUT
    assert not (tmp_path / "dl").exists()
