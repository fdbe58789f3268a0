"""jieba, the word segmenter behind subjects, imported so that its prefix dictionary loads in a
third of the time.

Every process that extracts (each run's worker server, ``dangjian extract``) loads jieba's
dictionaries once, on a run's critical path: the workers start when that load is done. jieba
0.42 reads its prefix dictionary cache (9 MB, half a million words) with ``marshal.load`` on the
open file, which reads object by object through Python calls: 1.5 s here, against 0.5 s for
``marshal.loads`` over the file's bytes, which builds the same objects. And it finds its data
files through ``pkg_resources`` when that is installed (0.2 s to import, and deprecated), by its
own path otherwise; both open the same files of an installed wheel. Where ``pkg_resources`` was
imported already, or other threads run that might import it meanwhile, jieba is left to use it.

Neither changes what jieba reads or how it segments. Its part-of-speech table is still parsed
from ``dict.txt`` on import, as jieba does it.
"""
from __future__ import annotations

import logging
import marshal
import sys
import threading
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
    # Hidden only while no other thread could import it meanwhile (and find it missing).
    hidden = "pkg_resources" not in sys.modules and threading.active_count() == 1
    if hidden:
        sys.modules["pkg_resources"] = None  # type: ignore[assignment]  # jieba falls back
    try:
        import jieba
        import jieba.posseg  # noqa: F401  (parses the part-of-speech table)
    finally:
        if hidden and "pkg_resources" in sys.modules and sys.modules["pkg_resources"] is None:
            del sys.modules["pkg_resources"]
    jieba.marshal = WholeFileMarshal  # the name jieba's loader looks up when it runs
    jieba.setLogLevel(logging.WARNING)
    return jieba


jieba = _import_jieba()
