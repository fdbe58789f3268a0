"""The raw corpus: which files a release reads, and each file read as a document or rejected.

Every file under ``raw/`` (the metadata file and hidden files aside) ends up as a document or as
a rejection with its reason; nothing is skipped without a word.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dangjian.decode import DecodeError, decode
from dangjian.documents import METADATA_FILE

#: Files larger than this are rejected as too large rather than read whole.
MAX_BYTES = 100 * 1024 * 1024
#: How long after its last change a file's hash is trusted to its size, inode and times.
RACY_SECONDS = 2
_POSIX = os.name == "posix"


@dataclass(frozen=True)
class RawDocument:
    source_file: str
    doc_id: str
    text: str
    encoding: str


@dataclass(frozen=True)
class Rejection:
    source_file: str
    sha256: str | None
    bytes: int | None
    reason: str

    def as_row(self) -> dict[str, object]:
        return {"source_file": self.source_file, "sha256": self.sha256, "bytes": self.bytes,
                "reason": self.reason}


def list_raw(raw_dir: Path) -> list[str]:
    """Paths of the corpus files relative to ``raw_dir``, sorted, POSIX style."""
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise FileNotFoundError(f"raw folder not found: {raw_dir}")
    found = []
    top = os.fspath(raw_dir)
    # plain strings, not Path objects: a nightly run lists the whole archive
    for root, dirs, files in os.walk(top, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        folder = os.path.relpath(root, top).replace(os.sep, "/")
        prefix = "" if folder == "." else folder + "/"
        for name in files:
            if name.startswith(".") or (name == METADATA_FILE and not prefix):
                continue
            found.append(prefix + name)
    return sorted(found)


@dataclass(frozen=True)
class Scan:
    """One pass over the corpus files: the sha256 of each (None for a file that cannot be read),
    and the ``plain`` ones, regular files (not links) of at most :data:`PLAIN_MAX_BYTES`. A batch
    of plain files can be keyed from the scan alone, without a system call per file again."""

    digests: dict[str, str | None]
    plain: frozenset[str]


#: The largest file :class:`Scan` counts as plain.
PLAIN_MAX_BYTES = 1 << 27


def file_digests(raw_dir: Path, files: list[str],
                 index: Path | None = None) -> dict[str, str | None]:
    """sha256 of each file's bytes, read once for the corpus hash and the batch keys; None for a
    file that cannot be read (it is rejected, with its reason, when it is processed). See
    :func:`scan_files`."""
    return scan_files(raw_dir, files, index).digests


def scan_files(raw_dir: Path, files: list[str], index: Path | None = None) -> Scan:
    """The digests of :func:`file_digests` and which files are plain.

    With ``index`` (a JSON file the function keeps), a file whose size, inode and change times
    are those it had when it was last hashed is not read again, as git's index does: a nightly
    run over a large archive then reads only the new and changed files. A file changed less than
    :data:`RACY_SECONDS` before it was hashed is not remembered, since a second change within
    the file system's clock tick could leave its times as they were. A link is hashed, and
    remembered, by its target.
    """
    # A night's run of a large archive is mostly this loop, so it builds no list for a file the
    # index vouches for: the file keeps its entry (the same list).
    top = os.fspath(raw_dir)
    # On POSIX, prefix + name is os.path.join(top, name) for a relative name, and cheaper.
    prefix = os.path.join(top, "")
    known = _load_index(index) if index is not None else {}
    remembered: dict[str, list[Any]] = {}
    digests: dict[str, str | None] = {}
    plain: list[str] = []
    horizon = time.time_ns() - RACY_SECONDS * 1_000_000_000
    for name in files:
        path = prefix + name if _POSIX and not name.startswith("/") else os.path.join(top, name)
        try:
            info = os.lstat(path)
            is_plain = stat.S_ISREG(info.st_mode) and info.st_size <= PLAIN_MAX_BYTES
            if stat.S_ISLNK(info.st_mode):
                info = os.stat(path)
            size, mtime, ctime = info.st_size, info.st_mtime_ns, info.st_ctime_ns
            entry = known.get(name)
            if (type(entry) is list and len(entry) == 5 and entry[0] == size
                    and entry[1] == mtime and entry[2] == ctime and entry[3] == info.st_ino
                    and type(entry[4]) is str):
                digest = digests[name] = entry[4]
            else:
                entry = None
                digest = digests[name] = sha256_file(path, size)
            if is_plain:
                plain.append(name)
            if mtime < horizon and ctime < horizon:
                remembered[name] = entry or [size, mtime, ctime, info.st_ino, digest]
        except OSError:
            digests[name] = None
    if index is not None and remembered != known:
        _save_index(index, remembered)
    return Scan(digests, frozenset(plain))


#: Files up to this size are hashed from one read: for texts of a few kilobytes that is about a
#: third faster than ``hashlib.file_digest``'s loop (0.33 s against 0.46 s for 10,000 files).
READ_WHOLE = 1 << 22


def sha256_file(path: str, size: int) -> str:
    """sha256 of the file at ``path``, whose size the caller has from a stat."""
    with open(path, "rb") as handle:
        if size <= READ_WHOLE:
            return hashlib.sha256(handle.read()).hexdigest()
        return hashlib.file_digest(handle, "sha256").hexdigest()


#: The index as this process last read or wrote it, by the file's device, inode, size and
#: modification time: a process that runs night after night (``serve --warm``) parses it again
#: only when another process has rewritten it (or it scans another index meanwhile). Any version
#: of the index is safe to use, since each entry is a fact (these size, inode and times had this
#: digest) that a file is checked against before it is trusted.
_last_index: tuple[tuple[int, int, int, int], dict[str, list[Any]]] | None = None


def _index_stamp(index: Path) -> tuple[int, int, int, int]:
    info = os.stat(index)
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns


def _load_index(index: Path) -> dict[str, list[Any]]:
    """The index's entries (not to be changed: they may be the ones kept for the next run)."""
    global _last_index
    try:
        stamp = _index_stamp(index)
        last = _last_index
        if last is not None and last[0] == stamp:
            return last[1]
        data = json.loads(Path(index).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    _last_index = (stamp, data)
    return data


def _save_index(index: Path, entries: dict[str, list[Any]]) -> None:
    """Write ``entries`` (kept as they are for the next scan: not to be changed after)."""
    global _last_index
    index = Path(index)
    try:
        index.parent.mkdir(parents=True, exist_ok=True)
        tmp = index.with_name(f".{index.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(entries, separators=(",", ":")), encoding="utf-8")
        stamp = _index_stamp(tmp)
        os.replace(tmp, index)
        _last_index = (stamp, entries)
    except OSError:
        pass  # only an optimisation: the next run hashes every file again


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_document(raw_dir: Path, source_file: str, max_bytes: int = MAX_BYTES,
                  root: Path | None = None) -> RawDocument | Rejection:
    """Read one corpus file; any failure is a Rejection with its reason, never an exception.

    ``root``: the real path of ``raw_dir``, when a caller reading many files has resolved it.
    """
    raw_dir = Path(raw_dir)
    # Plain strings and os calls, not Path objects: a batch reads thousands of files, and
    # building Paths costs as much as the system calls.
    path = os.path.join(raw_dir, source_file)
    try:
        resolved = _real_path(path)
        if not _is_within(resolved, root or raw_dir.resolve()):
            return Rejection(source_file, None, None,
                             f"outside_raw: link to {os.path.basename(resolved)} outside raw/")
        info = _regular_file(resolved)
        if info is None:
            return Rejection(source_file, None, None, "not_a_file: not a regular file")
        size = info.st_size
        if size > max_bytes:
            return Rejection(source_file, None, size, f"too_large: {size} bytes, limit {max_bytes}")
        with open(resolved, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        return Rejection(source_file, None, None, f"unreadable: {exc.strerror or exc}")
    digest = sha256_bytes(data)
    try:
        decoded = decode(data)
    except DecodeError as exc:
        return Rejection(source_file, digest, len(data), f"{exc.reason}: {exc.detail}")
    return RawDocument(source_file, digest, decoded.text, decoded.encoding)


def _real_path(path: str) -> str:
    """``Path(path).resolve(strict=True)`` as a string."""
    try:
        return os.path.realpath(path, strict=True)
    except OSError:
        # fails again the way Path does (a symlink loop becomes a RuntimeError there)
        return os.fspath(Path(path).resolve(strict=True))


def _is_within(path: str, root: Path) -> bool:
    """``Path(path).is_relative_to(root)`` for a real path: on POSIX, real paths are normalised
    and a string prefix up to a separator says the same."""
    top = os.fspath(root)
    if os.name != "posix" or top.startswith("//") or path.startswith("//"):
        return Path(path).is_relative_to(root)
    return path == top or path.startswith(top if top.endswith("/") else top + "/")


#: The errors for which ``Path.is_file`` says False instead of raising.
_NOT_A_FILE_ERRNOS = (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP)


def _regular_file(path: str) -> os.stat_result | None:
    """The stat of ``path`` when it is a regular file, else None (what ``Path.is_file`` and
    ``Path.stat`` say, in one system call)."""
    try:
        info = os.stat(path)
    except OSError as exc:
        if exc.errno in _NOT_A_FILE_ERRNOS:
            return None
        raise
    except ValueError:  # a name the file system cannot encode
        return None
    return info if stat.S_ISREG(info.st_mode) else None


def corpus_hash(raw_dir: Path, files: list[str], digests: dict[str, str | None] | None = None) -> str:
    """sha256 over the names and contents of the corpus files and the metadata file."""
    digests = file_digests(raw_dir, files) if digests is None else digests
    digest = hashlib.sha256()
    for name in files:
        digest.update(name.encode() + b"\0")
        if (content := digests.get(name)) is not None:
            digest.update(bytes.fromhex(content))
    digest.update(METADATA_FILE.encode() + b"\0")
    metadata = Path(raw_dir) / METADATA_FILE
    if metadata.is_file():
        digest.update(hashlib.sha256(metadata.read_bytes()).digest())
    return digest.hexdigest()
