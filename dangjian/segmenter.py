"""jieba, the word segmenter behind subjects, imported so that it loads in a third of the time.

Every process that extracts (each run's worker server, ``dangjian extract``) loads jieba's
dictionaries once, and on a run's critical path: the workers start when that load is done.
Two things in jieba 0.42 cost more than the loading itself:

- it reads its prefix dictionary cache (9 MB, half a million words) with ``marshal.load`` on
  the open file, which reads object by object through Python calls: 1.5 s here, against
  0.5 s for ``marshal.loads`` over the file's bytes, which builds the same objects;
- it finds its data files through ``pkg_resources`` (0.2 s to import, deprecated) when that
  is installed, and by its own path otherwise, which names the same files.

Neither changes what jieba reads or how it segments; both are the same objects from the same
files.
"""
from __future__ import annotations

import logging
import marshal
import sys
from typing import Any, BinaryIO


class WholeFileMarshal:
    """The ``marshal`` module as jieba uses it, except that ``load`` reads the file whole."""

    dump = staticmethod(marshal.dump)
    dumps = staticmethod(marshal.dumps)
    loads = staticmethod(marshal.loads)

    @staticmethod
    def load(file: BinaryIO) -> Any:
        return marshal.loads(file.read())


def _import_jieba() -> Any:
    hidden = "pkg_resources" not in sys.modules
    if hidden:
        sys.modules["pkg_resources"] = None  # type: ignore[assignment]  # jieba falls back
    try:
        import jieba
        import jieba.posseg  # noqa: F401  (loads the part-of-speech table)
    finally:
        if hidden:
            del sys.modules["pkg_resources"]
    jieba.marshal = WholeFileMarshal  # the module name jieba's loader looks up when it runs
    jieba.setLogLevel(logging.WARNING)
    return jieba


jieba = _import_jieba()
