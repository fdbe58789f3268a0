import importlib.util
import marshal
import subprocess
import sys

import pytest

from dangjian.segmenter import WholeFileMarshal, jieba


def test_whole_file_marshal_reads_what_marshal_wrote(tmp_path):
    value = ({"党组织": 12, "基层": 7, "": 0}, 19)
    path = tmp_path / "cache"
    with path.open("wb") as file:
        WholeFileMarshal.dump(value, file)
    with path.open("rb") as file:
        assert WholeFileMarshal.load(file) == value
    with path.open("rb") as file:
        assert marshal.load(file) == value


def test_jieba_loads_its_cache_through_it(tmp_path, monkeypatch):
    assert jieba.marshal is WholeFileMarshal
    built = jieba.Tokenizer()
    built.tmp_dir = str(tmp_path)
    built.initialize()  # no cache yet: built from the dictionary and written to tmp_path
    assert (tmp_path / "jieba.cache").is_file()

    def no_rebuild(*args, **kwargs):
        raise AssertionError("the cache was not read")

    calls = []
    real = WholeFileMarshal.load
    monkeypatch.setattr(jieba.Tokenizer, "gen_pfdict", no_rebuild)
    monkeypatch.setattr(WholeFileMarshal, "load",
                        staticmethod(lambda file: calls.append(1) or real(file)))
    loaded = jieba.Tokenizer()
    loaded.tmp_dir = str(tmp_path)
    loaded.initialize()
    assert calls == [1]
    assert loaded.FREQ == built.FREQ and loaded.total == built.total
    assert loaded.lcut("基层党组织书记", HMM=False) == built.lcut("基层党组织书记", HMM=False)


#: Python 3.11's venvs hold setuptools, and with it pkg_resources; newer ones may not.
HAS_PKG_RESOURCES = importlib.util.find_spec("pkg_resources") is not None


@pytest.mark.parametrize("preloaded", [False, True])
def test_jieba_finds_its_data_without_pkg_resources(preloaded):
    if preloaded and not HAS_PKG_RESOURCES:
        pytest.skip("pkg_resources is not installed")
    code = ("import sys\n"
            + ("import pkg_resources\n" if preloaded else "")
            + "from dangjian.segmenter import jieba\n"
            "print('pkg_resources' in sys.modules, sys.modules.get('pkg_resources', 'absent') is None)\n"
            "print(' '.join(f'{w}/{t}' for w, t in jieba.posseg.cut('新建基层党组织', HMM=False)))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    # not imported for jieba, and not left behind as a blocked module either
    assert out[0] == ("True False" if preloaded else "False False")
    assert out[1] == "新建/ns 基层/n 党组织/nt"  # tags from jieba's own dictionary file


def test_the_flow_process_imports_neither_the_rules_nor_jieba():
    # with the process runner the batches run in workers: the flow's process needs none of them
    code = ("import sys\n"
            "import flows.release\n"
            "print(sorted(m for m in ('dangjian.extract', 'dangjian.meaning', "
            "'dangjian.segmenter', 'jieba', 'cn2an') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_pkg_resources_is_not_hidden_while_other_threads_run():
    code = ("import sys, threading\n"
            "stop = threading.Event()\n"
            "other = threading.Thread(target=stop.wait)\n"
            "other.start()\n"
            "try:\n"
            "    from dangjian.segmenter import jieba\n"
            "finally:\n"
            "    stop.set()\n"
            "print('pkg_resources' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    # jieba imported it, as it does by itself, when it is installed
    assert result.stdout.strip() == str(HAS_PKG_RESOURCES)
