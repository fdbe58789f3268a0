"""Distribute releases: publish a release folder to a shared place and download one back, checked.

A distribution point (a directory, ``file://``, ``s3://`` or anything else fsspec writes to) holds::

    <url>/releases/<version>/   the release folder's files, manifest.json written last
    <url>/index.json            {"format": 1, "latest": ..., "releases": [{version, created,
                                 parent, manifest_sha256, manifest_bytes, extra_files}]}

``manifest.json`` checks the tables; ``index.json`` checks ``manifest.json`` itself and the files
the manifest does not list (data card, ``datapackage.json``, report), so every byte a download
exposes has been compared with a published sha256. Downloads read over http(s) with the standard
library (no new dependency) and over everything else through fsspec.

Releases are immutable here too: publishing a version that is already there with other content
is refused, publishing the same content again only completes what is missing. One publisher at a
time per distribution point; ``index.json`` is rebuilt from the release folders it lacks, so a
lost update mends itself on the next publish.
"""
from __future__ import annotations

import hashlib
import json
import os
import posixpath
import shutil
import tempfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Protocol
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlsplit
from urllib.request import Request, urlopen

import fsspec
from fsspec.implementations.local import LocalFileSystem

from dangjian import __version__
from dangjian.verify import (MANIFEST, RELEASES, VERSION_RE, ReleaseNotFoundError, file_digest,
                             manifest_entry_problems, release_folder, verify_folder)
from dangjian.publish import version_key

INDEX = "index.json"
LATEST_POINTER = "LATEST"
INDEX_FORMAT = 1
DEFAULT_TIMEOUT = 30.0
CHUNK = 1 << 20
#: index.json and manifest.json are read whole; a bigger answer is not ours.
MAX_JSON_BYTES = 16 << 20


class DistributeError(Exception):
    """A release could not be published or downloaded."""


class RemoteError(DistributeError):
    """The distribution point could not be read (HTTP status, connection, timeout)."""


class RemoteNotFoundError(RemoteError, FileNotFoundError):
    """A file is not at the distribution point."""


class UnsafeManifestError(DistributeError, ValueError):
    """A manifest or index names files that could land outside the release folder."""


class ReleaseConflictError(DistributeError):
    """The same version already exists with different content; releases are never rewritten."""


class ReleaseInvalidError(DistributeError):
    """The local release fails verification, so it is not published."""


class ChecksumError(DistributeError):
    """A downloaded file's sha256 or size differs from the published one."""

    def __init__(self, name: str, expected: str | int, got: str | int, what: str = "sha256"):
        self.name, self.expected, self.got, self.what = name, expected, got, what
        super().__init__(f"{name}: {what} expected {expected}, got {got}")


# --- reading a distribution point ---------------------------------------------------------------

class _Reader(Protocol):
    def location(self, rel: str) -> str: ...

    def chunks(self, rel: str) -> Iterator[bytes]: ...


@dataclass(frozen=True)
class _HttpReader:
    """http(s) through urllib: no aiohttp needed, every socket operation bounded by timeout."""

    base: str
    timeout: float

    def location(self, rel: str) -> str:
        return self.base.rstrip("/") + "/" + "/".join(quote(part) for part in rel.split("/"))

    def chunks(self, rel: str) -> Iterator[bytes]:
        url = self.location(rel)
        request = Request(url, headers={"Accept-Encoding": "identity",
                                        "User-Agent": f"dangjian/{__version__}"})
        try:
            response = urlopen(request, timeout=self.timeout)
        except HTTPError as exc:
            exc.close()
            if exc.code in (404, 410):
                raise RemoteNotFoundError(f"{url}: not found (HTTP {exc.code})") from None
            raise RemoteError(f"{url}: HTTP {exc.code} {exc.reason}") from None
        except (URLError, OSError) as exc:
            raise RemoteError(f"{url}: {getattr(exc, 'reason', exc)}") from exc
        with response:
            try:
                while chunk := response.read(CHUNK):
                    yield chunk
            except OSError as exc:  # timeouts and resets mid-body
                raise RemoteError(f"{url}: {exc}") from exc


@dataclass(frozen=True)
class _FsReader:
    """Directories, file:// and s3:// (when s3fs is installed), through fsspec."""

    fs: Any
    root: str

    def location(self, rel: str) -> str:
        return posixpath.join(self.root, rel)

    def chunks(self, rel: str) -> Iterator[bytes]:
        path = self.location(rel)
        try:
            handle = self.fs.open(path, "rb")
        except FileNotFoundError:
            raise RemoteNotFoundError(f"{path}: not found") from None
        except OSError as exc:
            raise RemoteError(f"{path}: {exc}") from exc
        with handle:
            while chunk := handle.read(CHUNK):
                yield chunk


def _is_http(url: str) -> bool:
    return urlsplit(url).scheme.lower() in ("http", "https")


def _reader(url: str, timeout: float) -> _Reader:
    if _is_http(url):
        return _HttpReader(url, timeout)
    fs, root = fsspec.core.url_to_fs(url)
    return _FsReader(fs, root)


def _read_small(reader: _Reader, rel: str, limit: int = MAX_JSON_BYTES) -> bytes:
    """A whole small file, refusing one larger than ``limit`` rather than filling memory."""
    data = bytearray()
    with closing(reader.chunks(rel)) as chunks:
        for chunk in chunks:
            data += chunk
            if len(data) > limit:
                raise RemoteError(f"{reader.location(rel)}: larger than {limit} bytes")
    return bytes(data)


# --- index.json ---------------------------------------------------------------------------------

def _parse_index(data: bytes, where: str) -> dict[str, Any]:
    """The index as {"latest", "releases"}; malformed content is an error, never guessed at."""
    try:
        index = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DistributeError(f"{where} is not valid JSON: {exc}") from None
    releases = index.get("releases") if isinstance(index, dict) else None
    if not isinstance(releases, list) or not all(
            isinstance(e, dict) and isinstance(e.get("version"), str) for e in releases):
        raise DistributeError(f"{where} has no list of releases with versions")
    return index


def _read_index(reader: _Reader) -> dict[str, Any] | None:
    try:
        data = _read_small(reader, INDEX)
    except RemoteNotFoundError:
        return None
    return _parse_index(data, reader.location(INDEX))


def _resolve_version(reader: _Reader, index: dict[str, Any] | None, version: str) -> str:
    """``latest`` through index.json (or the releases/LATEST pointer); any version is validated
    because it becomes a folder name."""
    if version == "latest":
        if index is not None:
            version = index.get("latest")
        else:
            try:
                version = _read_small(reader, f"{RELEASES}/{LATEST_POINTER}", 1024).decode().strip()
            except RemoteNotFoundError:
                raise ReleaseNotFoundError(
                    f"no {INDEX} or {RELEASES}/{LATEST_POINTER} at {reader.location('')}") from None
            except UnicodeDecodeError:
                raise DistributeError(f"{RELEASES}/{LATEST_POINTER} is not text") from None
        if not isinstance(version, str) or not VERSION_RE.match(version):
            raise UnsafeManifestError(f"the distribution point names an invalid latest version: "
                                      f"{version!r}")
    elif not VERSION_RE.match(version):
        raise ValueError(f"not a release version: {version!r}")
    return version


def _index_entry(index: dict[str, Any] | None, version: str) -> dict[str, Any] | None:
    if index is None:
        return None
    return next((e for e in index["releases"] if e["version"] == version), None)


# --- download ------------------------------------------------------------------------------------

def download_release(from_url: str, version: str, to_dir: Path,
                     timeout: float = DEFAULT_TIMEOUT) -> Path:
    """Download release ``version`` (or ``latest``) from ``from_url`` into ``to_dir/<version>``.

    Every file is fetched into a hidden temporary folder in ``to_dir`` and checked against its
    published sha256 and size before the folder is renamed into place, so ``to_dir`` ends with
    the whole release or, on any error, nothing new. Manifests naming unsafe paths are refused
    before anything is written. A folder already holding the same release is returned as is.

    Raises ReleaseNotFoundError, UnsafeManifestError, ChecksumError, ReleaseConflictError (a
    different release of that version is already in ``to_dir``) or RemoteError.
    """
    from_url = str(from_url)
    reader = _reader(from_url, timeout)
    index = _read_index(reader)
    version = _resolve_version(reader, index, version)
    entry = _index_entry(index, version)
    manifest_bytes = _fetch_manifest(reader, version, entry)
    files = _manifest_files(manifest_bytes, version)
    extras = _extra_files(entry, version)
    if set(files) & set(extras):
        raise UnsafeManifestError(f"index entry of release {version} lists manifest files again: "
                                  + ", ".join(sorted(set(files) & set(extras))))
    wanted = {**files, **extras}
    to_dir = Path(to_dir)
    target = to_dir / version
    if target.exists():
        return _existing_download(target, manifest_bytes, version)
    return _download_into(reader, version, wanted, manifest_bytes, to_dir)


def _fetch_manifest(reader: _Reader, version: str, entry: dict[str, Any] | None) -> bytes:
    """manifest.json, checked against index.json's sha256 when the index lists the release."""
    rel = f"{RELEASES}/{version}/{MANIFEST}"
    try:
        data = _read_small(reader, rel)
    except RemoteNotFoundError:
        raise ReleaseNotFoundError(f"release {version} not found at {reader.location(rel)}") from None
    if entry is not None and entry.get("manifest_sha256") is not None:
        got = hashlib.sha256(data).hexdigest()
        if got != entry["manifest_sha256"]:
            raise ChecksumError(MANIFEST, entry["manifest_sha256"], got)
    return data


def _manifest_files(data: bytes, version: str) -> dict[str, dict[str, Any]]:
    """The manifest's files, refused whole if any entry is unsafe or malformed."""
    try:
        manifest = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DistributeError(f"manifest of release {version} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise DistributeError(f"manifest of release {version} has no files object")
    if manifest.get("version") != version:
        raise DistributeError(f"manifest at {version} says version {manifest.get('version')!r}")
    files = manifest["files"]
    _refuse_unsafe(files, f"manifest of release {version}")
    return files


def _extra_files(entry: dict[str, Any] | None, version: str) -> dict[str, dict[str, Any]]:
    """Files beside the tables (data card, datapackage.json), checked through index.json."""
    extras = (entry or {}).get("extra_files") or {}
    if not isinstance(extras, dict):
        raise UnsafeManifestError(f"index entry of release {version} has malformed extra_files")
    _refuse_unsafe(extras, f"index entry of release {version}")
    return extras


def _refuse_unsafe(files: dict[str, Any], what: str) -> None:
    problems = [p for name, info in files.items() for p in manifest_entry_problems(name, info)]
    if problems:
        raise UnsafeManifestError(f"{what} refused: " + "; ".join(problems))


def _existing_download(target: Path, manifest_bytes: bytes, version: str) -> Path:
    """Downloading again is a no-op; a different release under that name is never replaced."""
    local = target / MANIFEST
    if local.is_file() and local.read_bytes() == manifest_bytes:
        return target
    raise ReleaseConflictError(f"{target} already exists and is not the published release {version}")


def _download_into(reader: _Reader, version: str, wanted: dict[str, dict[str, Any]],
                   manifest_bytes: bytes, to_dir: Path) -> Path:
    """Fetch into a temporary folder, check, then rename; remove everything on any failure."""
    created = not to_dir.exists()
    to_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".download-{version}-", dir=to_dir))
    try:
        for name, info in sorted(wanted.items()):
            _download_file(reader, f"{RELEASES}/{version}/{name}", staging / name, name, info)
        (staging / MANIFEST).write_bytes(manifest_bytes)
        os.chmod(staging, 0o755)
        target = to_dir / version
        if target.exists():
            raise ReleaseConflictError(f"{target} appeared while downloading; not replaced")
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created:
            _remove_if_empty(to_dir)
        raise
    return target


def _remove_if_empty(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass


def _download_file(reader: _Reader, rel: str, path: Path, name: str, info: dict[str, Any]) -> None:
    """Stream one file to disk, hashing as it comes; stop as soon as it outgrows its size."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "xb") as handle, closing(reader.chunks(rel)) as chunks:
        for chunk in chunks:
            size += len(chunk)
            if size > info["bytes"]:
                raise ChecksumError(name, info["bytes"], f"more than {info['bytes']}", "bytes")
            digest.update(chunk)
            handle.write(chunk)
        handle.flush()
        os.fsync(handle.fileno())
    if size != info["bytes"]:
        raise ChecksumError(name, info["bytes"], size, "bytes")
    if digest.hexdigest() != info["sha256"]:
        raise ChecksumError(name, info["sha256"], digest.hexdigest())


# --- publish -------------------------------------------------------------------------------------

def publish_release(output: Path, version: str, to_url: str) -> str:
    """Copy release ``version`` (or ``latest``) of ``output`` to ``<to_url>/releases/<version>/``
    and record it in ``<to_url>/index.json``; returns the release's URL.

    The local release is verified first (ReleaseInvalidError if it fails). A different release
    already published under that version raises ReleaseConflictError; the same one is a no-op
    apart from completing missing files and the index entry.
    """
    version, folder = release_folder(Path(output), None if version == "latest" else version)
    _require_valid(folder, version)
    manifest_bytes = (folder / MANIFEST).read_bytes()
    manifest = json.loads(manifest_bytes)
    extras = _local_extras(folder, manifest["files"])
    to_url = str(to_url)
    fs, root = _writable_fs(to_url)
    dest = posixpath.join(root, RELEASES, version)
    remote_manifest = _cat_or_none(fs, posixpath.join(dest, MANIFEST))
    if remote_manifest is not None and remote_manifest != manifest_bytes:
        raise ReleaseConflictError(f"release {version} already at {to_url} with a different "
                                   f"manifest; releases are never rewritten")
    fs.makedirs(dest, exist_ok=True)
    _upload(fs, folder, dest, manifest["files"], extras, complete=remote_manifest is not None)
    if remote_manifest is None:  # last: a release is published when its manifest is there
        _write_atomic(fs, posixpath.join(dest, MANIFEST), manifest_bytes)
    _update_index(fs, root, _entry(manifest_bytes, manifest, extras))
    return f"{to_url.rstrip('/')}/{RELEASES}/{version}"


def _require_valid(folder: Path, version: str) -> None:
    report = verify_folder(folder, None, version)
    if not report.ok:
        raise ReleaseInvalidError(f"release {version} fails verification, not published:\n"
                                  + report.summary())


def _local_extras(folder: Path, files: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Regular files the manifest does not list (data card, datapackage.json, report)."""
    extras = {}
    for path in sorted(folder.iterdir()):
        if path.name == MANIFEST or path.name in files or path.name.startswith("."):
            continue
        if path.is_file() and not path.is_symlink():
            digest, size = file_digest(path)
            extras[path.name] = {"sha256": digest, "bytes": size}
    _refuse_unsafe(extras, f"files of {folder}")
    return extras


def _writable_fs(to_url: str) -> tuple[Any, str]:
    if _is_http(to_url):
        raise ValueError("cannot publish over http(s): publish to a directory, file:// or s3:// "
                         "and serve that")
    return fsspec.core.url_to_fs(to_url)


def _cat_or_none(fs: Any, path: str) -> bytes | None:
    try:
        return fs.cat_file(path)
    except FileNotFoundError:
        return None


def _upload(fs: Any, folder: Path, dest: str, files: dict[str, Any],
            extras: dict[str, dict[str, Any]], complete: bool) -> None:
    """Copy each file; when the same release is already there, copy only what is missing or
    of the wrong size, and refuse extras that differ (they are part of the release too)."""
    for name, info in sorted({**files, **extras}.items()):
        rpath = posixpath.join(dest, name)
        if complete and _remote_size(fs, rpath) == info["bytes"]:
            if name in extras and _remote_sha256(fs, rpath) != info["sha256"]:
                raise ReleaseConflictError(f"{rpath} differs from the local {name}; "
                                           f"releases are never rewritten")
            continue
        fs.put_file(str(folder / name), rpath)


def _remote_size(fs: Any, path: str) -> int | None:
    try:
        return fs.size(path)
    except FileNotFoundError:
        return None


def _remote_sha256(fs: Any, path: str) -> str:
    digest = hashlib.sha256()
    with fs.open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _entry(manifest_bytes: bytes, manifest: dict[str, Any],
           extras: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"version": manifest["version"], "created": manifest.get("created"),
            "parent": manifest.get("parent"),
            "manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest(),
            "manifest_bytes": len(manifest_bytes), "extra_files": extras}


def _update_index(fs: Any, root: str, entry: dict[str, Any]) -> None:
    """Add or refresh one release in index.json, add published folders it lacks, and write it
    atomically. A malformed index is rebuilt from the release folders, which are the truth."""
    path = posixpath.join(root, INDEX)
    data = _cat_or_none(fs, path)
    try:
        old = _parse_index(data, path)["releases"] if data is not None else []
    except DistributeError:
        old = []
    entries = {e["version"]: e for e in old}
    entries[entry["version"]] = entry
    _add_unlisted(fs, root, entries)
    ordered = sorted(entries.values(), key=lambda e: version_key(e["version"]))
    index = {"format": INDEX_FORMAT, "latest": ordered[-1]["version"], "releases": ordered}
    text = json.dumps(index, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    _write_atomic(fs, path, text.encode("utf-8"))


def _add_unlisted(fs: Any, root: str, entries: dict[str, dict[str, Any]]) -> None:
    """Entries for published release folders the index does not list (a lost update)."""
    releases = posixpath.join(root, RELEASES)
    if not fs.isdir(releases):
        return
    for path in fs.ls(releases, detail=False):
        version = posixpath.basename(str(path).rstrip("/"))
        if version in entries or not VERSION_RE.match(version):
            continue
        entry = _remote_entry(fs, posixpath.join(releases, version), version)
        if entry is not None:
            entries[version] = entry


def _remote_entry(fs: Any, dest: str, version: str) -> dict[str, Any] | None:
    """An index entry read back from a published folder; None for a folder that is not one."""
    data = _cat_or_none(fs, posixpath.join(dest, MANIFEST))
    try:
        manifest = json.loads(data) if data is not None else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(manifest, dict) or manifest.get("version") != version \
            or not isinstance(manifest.get("files"), dict):
        return None
    extras = {}
    for path in fs.ls(dest, detail=False):
        name = posixpath.basename(str(path).rstrip("/"))
        if name == MANIFEST or name in manifest["files"] or name.startswith("."):
            continue
        extras[name] = {"sha256": _remote_sha256(fs, str(path)), "bytes": fs.size(path)}
    return _entry(data, manifest, extras)


def _write_atomic(fs: Any, path: str, data: bytes) -> None:
    """Local files: write a temporary file beside it and rename over it, so readers see the old
    or the new index, never half. Object stores replace an object atomically on their own."""
    if not isinstance(fs, LocalFileSystem):
        fs.pipe_file(path, data)
        return
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
