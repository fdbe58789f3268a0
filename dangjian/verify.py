"""Verify a published release: its files against its manifest, and its rows against the raw texts.

A release is trusted only as far as it can be re-checked. :func:`verify_release` recomputes every
file's sha256 and size and compares them with ``manifest.json``, checks that the manifest names
only plain file names inside the release folder, compares row counts with the Parquet metadata
and, given the raw folder, checks each metric's provenance: the raw file at ``source_file`` still
has the sha256 ``doc_id`` and its decoded text holds ``quote`` at ``char_start:char_end``.

Problems are collected, not raised, so one run lists everything that is wrong; only a release
that is not there at all raises :class:`ReleaseNotFoundError`.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from dangjian.corpus import Rejection, read_document
from dangjian.publish import list_versions

RELEASES = "releases"
MANIFEST = "manifest.json"
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
#: Versions name folders and URLs, so they are restricted to characters that are safe in both.
VERSION_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$")
CHUNK = 1 << 20
PROVENANCE_COLUMNS = ["metric_id", "doc_id", "source_file", "char_start", "char_end", "quote"]


class ReleaseNotFoundError(FileNotFoundError):
    """The release folder or its manifest is missing: there is nothing to verify."""


@dataclass
class VerifyReport:
    """What was checked and every problem found, each as a short sentence."""

    version: str
    path: Path
    problems: list[str] = field(default_factory=list)
    files_checked: int = 0
    documents_checked: int = 0
    rows_checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """One line for a command's output; the problems follow, one a line."""
        head = (f"release {self.version}: {self.files_checked} files, "
                f"{self.documents_checked} raw documents, {self.rows_checked} metric rows checked; "
                + ("ok" if self.ok else f"{len(self.problems)} problems"))
        return "\n".join([head, *(f"  - {p}" for p in self.problems)])


def unsafe_name_reason(name: object) -> str | None:
    """Why a manifest file name could escape or confuse its release folder, or None if safe.

    Release folders are flat, so a name must be one plain path component: no separators (of
    either kind), no ``.``/``..`` or hidden names, no drive letters, no control characters.
    """
    if not isinstance(name, str) or not name:
        return "empty or not a string"
    if "/" in name or "\\" in name:
        return "contains a path separator"
    if name.startswith("."):
        return "is hidden or a parent/current folder reference"
    if ":" in name:
        return "contains a colon (drive letter or stream name)"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "contains a control character"
    if len(name.encode("utf-8")) > 255:
        return "is longer than 255 bytes"
    if name == MANIFEST:
        return "is the manifest itself"
    return None


def manifest_entry_problems(name: str, info: object) -> list[str]:
    """Problems with one manifest entry's form (name, sha256, bytes), before any file is read."""
    reason = unsafe_name_reason(name)
    if reason:
        return [f"manifest names an unsafe file {name!r}: it {reason}"]
    if not isinstance(info, dict):
        return [f"manifest entry for {name} is not an object"]
    problems = []
    if not isinstance(info.get("sha256"), str) or not SHA256_RE.match(info["sha256"]):
        problems.append(f"manifest entry for {name} has no valid sha256")
    size = info.get("bytes")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        problems.append(f"manifest entry for {name} has no valid byte count")
    return problems


def file_digest(path: Path) -> tuple[str, int]:
    """sha256 and size of a file, read in chunks so large tables do not fill memory."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def release_folder(output: Path, version: str | None) -> tuple[str, Path]:
    """The version and folder to verify; the newest release when ``version`` is None."""
    root = Path(output) / RELEASES
    if version is None:
        version = _newest(root)
    if not VERSION_RE.match(version):
        raise ValueError(f"not a release version: {version!r}")
    folder = root / version
    if not (folder / MANIFEST).is_file():
        raise ReleaseNotFoundError(f"release {version} not found: no {folder / MANIFEST}")
    return version, folder


def _newest(root: Path) -> str:
    """The highest version with a manifest; folders, not the LATEST pointer, are the truth."""
    found = list_versions(root.parent)
    if not found:
        raise ReleaseNotFoundError(f"no release found under {root}")
    return found[-1]


def verify_release(output: Path, version: str | None = None,
                   raw_dir: Path | None = None) -> VerifyReport:
    """Re-check release ``version`` (the newest when None) under ``output/releases``.

    Raises :class:`ReleaseNotFoundError` when the release is missing; everything else that is
    wrong is listed in the report's ``problems``.
    """
    version, folder = release_folder(output, version)
    return verify_folder(folder, raw_dir, version)


def verify_folder(folder: Path, raw_dir: Path | None = None,
                  version: str | None = None) -> VerifyReport:
    """Re-check one release folder (e.g. one just downloaded) against its manifest and raw texts."""
    folder = Path(folder)
    if not (folder / MANIFEST).is_file():
        raise ReleaseNotFoundError(f"no {MANIFEST} in {folder}")
    report = VerifyReport(version or folder.name, folder)
    manifest = _load_manifest(folder, report)
    if manifest is None:
        return report
    if manifest.get("version") != report.version:
        report.problems.append(f"manifest says version {manifest.get('version')!r}, "
                               f"folder is {report.version!r}")
    files = manifest.get("files")
    if not isinstance(files, dict):
        report.problems.append("manifest has no files object")
        return report
    for name, info in sorted(files.items()):
        _check_file(folder, name, info, report)
    if raw_dir is not None:
        _check_provenance(folder, Path(raw_dir), files, report)
    return report


def _load_manifest(folder: Path, report: VerifyReport) -> dict[str, Any] | None:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        report.problems.append(f"{MANIFEST} cannot be read as JSON: {exc}")
        return None
    if not isinstance(manifest, dict):
        report.problems.append(f"{MANIFEST} is not a JSON object")
        return None
    return manifest


def _check_file(folder: Path, name: str, info: Any, report: VerifyReport) -> None:
    """sha256, size and (for Parquet) row count of one manifest file."""
    form = manifest_entry_problems(name, info)
    if form:
        report.problems.extend(form)
        return
    path = folder / name
    if path.is_symlink() or not path.is_file():
        report.problems.append(f"{name} is missing or not a regular file")
        return
    report.files_checked += 1
    digest, size = file_digest(path)
    if size != info["bytes"]:
        report.problems.append(f"{name} has {size} bytes, manifest says {info['bytes']}")
    if digest != info["sha256"]:
        report.problems.append(f"{name} sha256 is {digest}, manifest says {info['sha256']}")
    if name.endswith(".parquet") and "rows" in info:
        _check_rows(path, name, info["rows"], report)


def _check_rows(path: Path, name: str, expected: Any, report: VerifyReport) -> None:
    try:
        rows = pq.ParquetFile(path).metadata.num_rows
    except Exception as exc:  # any damage pyarrow reports is a problem to list, not a crash
        report.problems.append(f"{name} cannot be read as Parquet: {exc}")
        return
    if rows != expected:
        report.problems.append(f"{name} has {rows} rows, manifest says {expected}")


def _check_provenance(folder: Path, raw_dir: Path, files: dict[str, Any],
                      report: VerifyReport) -> None:
    """Every metric row's quote is in its raw text, and that text's hash is its doc_id."""
    if not raw_dir.is_dir():
        report.problems.append(f"raw folder {raw_dir} not found")
        return
    if "metrics.parquet" not in files:
        report.problems.append("manifest lists no metrics.parquet to check provenance of")
        return
    try:
        rows = pq.read_table(folder / "metrics.parquet", columns=PROVENANCE_COLUMNS).to_pylist()
    except Exception as exc:  # damage already reported per file; say why provenance was skipped
        report.problems.append(f"metrics.parquet cannot be read for provenance: {exc}")
        return
    by_file: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_file[row["source_file"]].append(row)
    for source_file in sorted(by_file):
        _check_document(raw_dir, source_file, by_file[source_file], report)


def _check_document(raw_dir: Path, source_file: str, rows: list[dict[str, Any]],
                    report: VerifyReport) -> None:
    """One raw file read once, then each of its metric rows checked against it."""
    report.documents_checked += 1
    report.rows_checked += len(rows)
    doc = read_document(raw_dir, source_file)
    if isinstance(doc, Rejection):
        report.problems.append(f"raw file {source_file} cannot be read: {doc.reason}")
        return
    for doc_id in sorted({row["doc_id"] for row in rows} - {doc.doc_id}):
        report.problems.append(f"raw file {source_file} has sha256 {doc.doc_id}, "
                               f"metrics say doc_id {doc_id}")
    for row in rows:
        start, end = row["char_start"], row["char_end"]
        found = doc.text[start:end]
        if found != row["quote"]:
            report.problems.append(f"metric {row['metric_id']}: {source_file}[{start}:{end}] is "
                                   f"{found!r}, quote is {row['quote']!r}")
