"""Build: the rule modules are compiled with mypyc (about a third faster), else left as Python.

Everything else is declared in ``pyproject.toml``. Compiling is attempted only when extensions
are built (not for metadata). Without mypyc, on a type error, without a C compiler, or with
``DANGJIAN_PURE_PYTHON=1`` set, the package installs as plain Python and runs the same rules
from source (see ``dangjian/native.py``); compiled modules an earlier editable install left in
the source tree are removed then, so they do not outlive the choice. pip shows this build's
warnings with ``-v``; ``python -c "import dangjian; print(dangjian.RULES_RUN)"`` tells.
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).parent


def _native(root: Path = HERE):  # noqa: ANN202 - dangjian/native.py as a module, loaded alone
    spec = importlib.util.spec_from_file_location("_dangjian_native_build",
                                                  root / "dangjian" / "native.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _remove_built(root: Path, native) -> None:  # noqa: ANN001 - the module of _native()
    """Compiled rule modules left in the source tree by an earlier in-place build."""
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        for name in (*native.MODULES, native.DIGEST_MODULE):
            (root / "dangjian" / f"{name}{suffix}").unlink(missing_ok=True)
        (root / f"{native.GROUP}__mypyc{suffix}").unlink(missing_ok=True)


def _python_rules(root: Path, native, why: str | None = None) -> list[Extension]:  # noqa: ANN001
    """No extensions: the rules install as Python, and nothing compiled is left beside them."""
    if why:
        print(f"warning: {why}; the rules install as Python", file=sys.stderr)
    _remove_built(root, native)
    return []


def _rule_extensions(root: Path = HERE) -> list[Extension]:
    """The compiled rules' extensions, or none (with a warning) when they cannot be built."""
    native = _native(root)
    if os.environ.get(native.PURE_ENV, "") not in ("", "0"):
        return _python_rules(root, native)
    try:
        from mypyc.build import mypycify
    except ImportError as error:
        return _python_rules(root, native, f"mypyc unavailable ({error})")
    # pip runs this from the project's folder, which mypyc takes the paths from
    paths = [f"dangjian/{name}.py" for name in (*native.MODULES, native.DIGEST_MODULE)]
    try:
        digest = root / "dangjian" / f"{native.DIGEST_MODULE}.py"
        digest.write_text('"""Written by setup.py: the digest of the rule sources compiled with '
                          f'it."""\nSOURCES = "{native.sources_digest(root / "dangjian")}"\n',
                          encoding="utf-8")
        extensions = mypycify(paths, opt_level="3", group_name=native.GROUP)
    except (Exception, SystemExit) as error:  # noqa: BLE001 - mypy exits on a type error
        return _python_rules(root, native, f"mypyc failed ({error})")
    for extension in extensions:
        extension.optional = True  # a failed C compile is a warning, not a failed install
    return extensions


class BuildRules(build_ext):
    """build_ext that generates the rules' C code only when extensions are built."""

    def finalize_options(self) -> None:
        self.distribution.ext_modules = _rule_extensions()
        super().finalize_options()


if __name__ == "__main__":  # as setuptools runs it (tests import the functions above)
    # A placeholder, so that setuptools builds extensions (and the wheel is tagged for this
    # Python); BuildRules replaces it with the compiled rules.
    setup(ext_modules=[Extension("dangjian._placeholder", sources=[])],
          cmdclass={"build_ext": BuildRules})
