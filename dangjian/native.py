"""The rule modules run compiled (by mypyc, when the install could build them) or from source.

Compiled, the same code extracts about a third faster and gives the same rows (a test compares
the two on the seeds and a synthetic corpus). A compiled module is used only while it matches
its source: the build compiles, with the rules, a module holding the digest of the sources it
compiled; when a source has changed since (a rule edited in an editable install), every rule
module runs from source, with a warning, until the next install compiles them again. Set
``DANGJIAN_PURE_PYTHON=1`` to run the source anyway (a debugger or a profiler sees into it).

This module is read by ``setup.py`` too, so it imports only the standard library.
"""
from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import warnings
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

#: Compiled together: mypyc calls across them directly, so they run compiled all or none.
MODULES = ("text", "numerals", "extract", "places", "meaning")
#: Written by the build (``SOURCES = "<digest>"``) and compiled with the rules.
DIGEST_MODULE = "_native_digest"
#: Name of the extension mypyc's shared code is built into.
GROUP = "dangjian_native"
PURE_ENV = "DANGJIAN_PURE_PYTHON"

_HERE = Path(__file__).parent


def sources_digest(folder: Path = _HERE) -> str:
    """sha256 of the rule modules' sources, as the build records it."""
    digest = hashlib.sha256()
    for name in MODULES:
        digest.update(name.encode() + b"\0" + (folder / f"{name}.py").read_bytes())
    return digest.hexdigest()


def _compiled(name: str, folder: Path = _HERE) -> ModuleSpec | None:
    """The spec of ``dangjian.<name>`` when it would load from a built extension in ``folder``."""
    spec = importlib.machinery.PathFinder.find_spec(f"dangjian.{name}", [str(folder)])
    if spec is not None and isinstance(spec.loader, importlib.machinery.ExtensionFileLoader):
        return spec
    return None


def _recorded_digest(folder: Path) -> str | None:
    spec = _compiled(DIGEST_MODULE, folder)
    if spec is None or spec.loader is None:
        return None
    try:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except ImportError:
        return None
    value = getattr(module, "SOURCES", None)
    return value if isinstance(value, str) else None


def state(folder: Path = _HERE, pure: str | None = None) -> str:
    """How the rule modules in ``folder`` would run: ``compiled``, ``source`` (none built),
    ``forced`` (``pure``, by default ``$DANGJIAN_PURE_PYTHON``, is set), ``stale`` (built from
    other sources than the ones in ``folder``) or ``broken`` (some modules or the digest missing
    or unloadable)."""
    built = [_compiled(name, folder) is not None for name in MODULES]
    if not any(built):
        return "source"
    if (os.environ.get(PURE_ENV, "") if pure is None else pure) not in ("", "0"):
        return "forced"
    recorded = _recorded_digest(folder) if all(built) else None
    if recorded is None:
        return "broken"
    return "compiled" if recorded == sources_digest(folder) else "stale"


_WARNINGS = {
    "stale": "the compiled rule modules were built from other sources than the ones beside "
             "them (edited since the install): running the sources; install again (pip install "
             "-e .) to compile them",
    "broken": "the compiled rule modules are incomplete or cannot be loaded: running the "
              "sources; install again (pip install -e .) to compile them",
}


class _SourceFirst(importlib.abc.MetaPathFinder):
    """Loads the rule modules from their ``.py`` files even where a compiled one lies beside."""

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        package, _, name = fullname.rpartition(".")
        if package != "dangjian" or name not in MODULES:
            return None
        return importlib.util.spec_from_file_location(fullname, _HERE / f"{name}.py")


def choose() -> str:
    """Decide how the rule modules run, before any of them is imported; returns :func:`state`.
    Anything but a complete build of these very sources runs them all from source."""
    decided = state()
    if decided in _WARNINGS:
        warnings.warn(_WARNINGS[decided], RuntimeWarning, stacklevel=3)
    if decided in ("forced", "stale", "broken") and not any(
            isinstance(finder, _SourceFirst) for finder in sys.meta_path):
        sys.meta_path.insert(0, _SourceFirst())
    return decided
