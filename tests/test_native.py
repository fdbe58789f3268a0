"""The rule modules compiled by mypyc and their sources: the same rows, and never a stale build."""
from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import pickle
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import dangjian
from dangjian import native

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(dangjian.__file__).parent

#: Runs in a fresh interpreter: how the rules run there, and the rows of a batch of ``argv[1]``.
_EXTRACT = """
import pickle, sys
from pathlib import Path
import dangjian
from dangjian.corpus import list_raw
from dangjian.pipeline import process_batch
raw = Path(sys.argv[1])
result = process_batch(raw, list_raw(raw), {})
files = {name: getattr(sys.modules["dangjian." + name], "__file__", "")
         for name in ("text", "numerals", "extract", "places", "meaning")}
tables = [result.documents, result.metrics, result.rejected]
sys.stdout.buffer.write(pickle.dumps((dangjian.RULES_RUN, files, tables)))
"""


def _extract(raw: Path, pure: bool) -> tuple[str, dict[str, str], list[list[dict]]]:
    env = {k: v for k, v in os.environ.items() if k != native.PURE_ENV}
    if pure:
        env[native.PURE_ENV] = "1"
    out = subprocess.run([sys.executable, "-c", _EXTRACT, str(raw)], env=env, cwd=ROOT,
                         capture_output=True, check=True, timeout=600)
    return pickle.loads(out.stdout)


def _corpus(folder: Path, n: int = 600) -> Path:
    """The seeds, the bad inputs and ``n`` documents of recombined seed sentences whose numbers
    vary (as the benchmark makes them), with some in traditional script and full-width digits."""
    rng = random.Random(3)
    folder.mkdir()
    sentences: list[str] = []
    for path in sorted((ROOT / "raw").glob("*.txt")):
        shutil.copy(path, folder / path.name)
        sentences += re.findall(r"[^。！？\n]+[。！？]", path.read_text(encoding="utf-8"))
    for path in sorted((ROOT / "tests" / "bad_inputs").iterdir()):
        shutil.copy(path, folder / f"bad {path.name}")
    digits = re.compile(r"\d+(?:\.\d+)?")
    for i in range(n):
        body = "\n".join(digits.sub(lambda m: str(rng.randint(1, 10 ** len(m.group(0)))),
                                    rng.choice(sentences)) for _ in range(rng.randint(3, 15)))
        if i % 5 == 0:
            body = body.replace("党", "黨").replace("个", "個").replace("组", "組")
        if i % 7 == 0:
            body = body.translate({ord(d): 0xFF10 + int(d) for d in "0123456789"})
        (folder / f"doc{i:04d}.txt").write_text(f"示例日报 2021年5月{i % 28 + 1}日\n\n{body}\n",
                                               encoding="utf-8")
    return folder


def test_compiled_and_source_rules_give_the_same_rows(tmp_path):
    raw = _corpus(tmp_path / "raw")
    run, files, tables = _extract(raw, pure=False)
    if run != "compiled":
        pytest.skip(f"the rules here run from source ({run}): nothing to compare")
    pure_run, pure_files, pure_tables = _extract(raw, pure=True)
    assert pure_run == "forced"
    assert all(path.endswith(".py") for path in pure_files.values()), pure_files
    assert not any(path.endswith(".py") for path in files.values()), files
    assert len(tables[1]) > 3000  # the comparison covers thousands of metrics
    assert tables == pure_tables


def test_this_install_runs_what_it_built():
    built = any(native._compiled(name) for name in native.MODULES)
    forced = os.environ.get(native.PURE_ENV, "") not in ("", "0")
    assert dangjian.RULES_RUN == ("source" if not built else "forced" if forced else "compiled")
    from dangjian import extract

    assert extract.__file__.endswith(".py") == (dangjian.RULES_RUN != "compiled")


def _source_tree(root: Path) -> Path:
    """``root`` holding a copy of the rule sources (and native.py) in ``dangjian/``."""
    (root / "dangjian").mkdir(parents=True)
    for name in (*native.MODULES, "native"):
        shutil.copy(PACKAGE / f"{name}.py", root / "dangjian" / f"{name}.py")
    return root


def _fake_build(tmp_path: Path, digest: bool, modules: tuple[str, ...] = native.MODULES) -> Path:
    """A copy of the rule sources with an empty file where each compiled module of ``modules``
    would lie (the finder goes by file name), and with ``digest`` one that cannot be loaded
    where the digest module would lie."""
    folder = _source_tree(tmp_path) / "dangjian"
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    for name in modules:
        (folder / f"{name}{suffix}").write_bytes(b"")
    if digest:
        (folder / f"{native.DIGEST_MODULE}{suffix}").write_bytes(b"not a library")
    return folder


def test_a_build_without_its_digest_is_broken(tmp_path):
    folder = _fake_build(tmp_path, digest=False)
    assert native.state(folder, pure="") == "broken"
    assert native.state(folder, pure="1") == "forced"


def test_an_unreadable_digest_is_broken(tmp_path):
    folder = _fake_build(tmp_path, digest=True)
    assert native.state(folder, pure="") == "broken"


def test_a_build_missing_a_module_is_broken(tmp_path, monkeypatch):
    # even when its digest matches the sources: a partial build cannot run compiled
    folder = _fake_build(tmp_path, digest=False, modules=native.MODULES[:-1])
    monkeypatch.setattr(native, "_recorded_digest", lambda folder: native.sources_digest(folder))
    assert native.state(folder, pure="") == "broken"
    whole = _fake_build(tmp_path / "whole", digest=False)
    assert native.state(whole, pure="") == "compiled"  # what the patch alone would say


def test_no_build_runs_the_sources(tmp_path):
    folder = _source_tree(tmp_path) / "dangjian"
    assert native.state(folder, pure="1") == "source"


def test_the_digest_follows_every_rule_source(tmp_path):
    folder = _source_tree(tmp_path) / "dangjian"
    before = native.sources_digest(folder)
    assert before == native.sources_digest(PACKAGE)
    for name in native.MODULES:
        path = folder / f"{name}.py"
        original = path.read_bytes()
        path.write_bytes(original + b"\n")
        assert native.sources_digest(folder) != before, name
        path.write_bytes(original)


@pytest.mark.skipif(not any(native._compiled(name) for name in native.MODULES),
                    reason="this install did not compile the rules")
def test_an_edited_source_runs_from_source_with_a_warning(tmp_path):
    # a copy of the built package (and mypyc's shared library) in which one rule is edited
    site = tmp_path / "site"
    shutil.copytree(PACKAGE, site / "dangjian", ignore=shutil.ignore_patterns("__pycache__"))
    library = Path(importlib.util.find_spec(f"{native.GROUP}__mypyc").origin)
    shutil.copy(library, site / library.name)
    text = site / "dangjian" / "text.py"
    text.write_text(text.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != native.PURE_ENV}
    env["PYTHONPATH"] = str(site)
    out = subprocess.run([sys.executable, "-c", "import dangjian, dangjian.extract as e; "
                          "print(dangjian.RULES_RUN, e.__file__)"], env=env, cwd=tmp_path,
                         capture_output=True, text=True, check=True, timeout=120)
    run, path = out.stdout.split()
    assert run == "stale"
    assert path == str(site / "dangjian" / "extract.py")
    assert "install again" in out.stderr


def _setup_module():
    spec = importlib.util.spec_from_file_location("_dangjian_setup", ROOT / "setup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # not as __main__: defines the build, builds nothing
    return module


def _fake_mypyc(monkeypatch, mypycify) -> None:
    """``mypyc.build`` as the build imports it, with ``mypycify`` in it."""
    module = type(sys)("mypyc.build")
    module.mypycify = mypycify
    monkeypatch.setitem(sys.modules, "mypyc.build", module)


def test_the_build_compiles_every_rule_module_and_their_digest(tmp_path, monkeypatch):
    from setuptools import Extension

    root = _source_tree(tmp_path)
    asked = {}

    def mypycify(paths, **options):
        asked.update(paths=paths, **options)
        return [Extension(path[:-3].replace("/", "."), sources=[]) for path in paths]

    _fake_mypyc(monkeypatch, mypycify)
    monkeypatch.delenv(native.PURE_ENV, raising=False)
    extensions = _setup_module()._rule_extensions(root)
    assert asked["paths"] == [f"dangjian/{name}.py"
                              for name in (*native.MODULES, native.DIGEST_MODULE)]
    assert asked["group_name"] == native.GROUP
    assert extensions and all(extension.optional for extension in extensions)
    written = (root / "dangjian" / f"{native.DIGEST_MODULE}.py").read_text(encoding="utf-8")
    assert f'SOURCES = "{native.sources_digest(root / "dangjian")}"' in written


@pytest.mark.parametrize("failure", ["no mypyc", "type error", "crash", "pure"])
def test_a_build_that_cannot_compile_installs_the_python_rules(tmp_path, monkeypatch, capsys,
                                                               failure):
    root = _source_tree(tmp_path)
    monkeypatch.delenv(native.PURE_ENV, raising=False)
    if failure == "no mypyc":
        monkeypatch.setitem(sys.modules, "mypyc.build", None)  # import fails
    else:
        def mypycify(paths, **options):
            if failure == "pure":  # would compile: only the variable keeps it from doing so
                from setuptools import Extension

                return [Extension("dangjian.text", sources=[])]
            raise SystemExit(1) if failure == "type error" else RuntimeError("no compiler")

        _fake_mypyc(monkeypatch, mypycify)
    if failure == "pure":
        monkeypatch.setenv(native.PURE_ENV, "1")
    # what an earlier in-place build left: it must not outlive a build of the Python rules
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    left = [root / "dangjian" / f"{name}{suffix}"
            for name in (*native.MODULES, native.DIGEST_MODULE)]
    left.append(root / f"{native.GROUP}__mypyc{suffix}")
    for path in left:
        path.write_bytes(b"")
    assert _setup_module()._rule_extensions(root) == []
    assert not any(path.exists() for path in left)
    if failure != "pure":
        assert "the rules install as Python" in capsys.readouterr().err
