"""The raw corpus: which files a release reads, and each file read as a document or rejected.

Every file under ``raw/`` (the metadata file and hidden files aside) ends up as a document or as
a rejection with its reason; nothing is skipped without a word.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from dangjian.decode import DecodeError, decode
from dangjian.documents import METADATA_FILE

#: Files larger than this are rejected as too large rather than read whole.
MAX_BYTES = 100 * 1024 * 1024


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


def file_digests(raw_dir: Path, files: list[str]) -> dict[str, str | None]:
    """sha256 of each file's bytes, read once for the corpus hash and the batch keys; None for a
    file that cannot be read (it is rejected, with its reason, when it is processed)."""
    digests: dict[str, str | None] = {}
    top = os.fspath(raw_dir)
    for name in files:
        try:
            with open(os.path.join(top, name), "rb") as handle:
                digests[name] = hashlib.file_digest(handle, "sha256").hexdigest()
        except OSError:
            digests[name] = None
    return digests


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_document(raw_dir: Path, source_file: str, max_bytes: int = MAX_BYTES,
                  root: Path | None = None) -> RawDocument | Rejection:
    """Read one corpus file; any failure is a Rejection with its reason, never an exception.

    ``root``: the real path of ``raw_dir``, when a caller reading many files has resolved it.
    """
    raw_dir = Path(raw_dir)
    path = raw_dir / source_file
    try:
        resolved = path.resolve(strict=True)
        if not resolved.is_relative_to(root or raw_dir.resolve()):
            return Rejection(source_file, None, None, f"outside_raw: link to {resolved.name} outside raw/")
        if not resolved.is_file():
            return Rejection(source_file, None, None, "not_a_file: not a regular file")
        size = resolved.stat().st_size
        if size > max_bytes:
            return Rejection(source_file, None, size, f"too_large: {size} bytes, limit {max_bytes}")
        data = resolved.read_bytes()
    except OSError as exc:
        return Rejection(source_file, None, None, f"unreadable: {exc.strerror or exc}")
    digest = sha256_bytes(data)
    try:
        decoded = decode(data)
    except DecodeError as exc:
        return Rejection(source_file, digest, len(data), f"{exc.reason}: {exc.detail}")
    return RawDocument(source_file, digest, decoded.text, decoded.encoding)


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
