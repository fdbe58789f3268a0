"""Document-level facts: title, publisher, publication date, script and home place.

They come from the text where it says them (a page header, ``来源:`` and ``发布时间:`` lines) and
otherwise from the corpus metadata file ``raw/metadata.csv``, whose columns are ``source_file,
title, publisher, published, url, place``. A file with no metadata row still works; a metadata
value overrides what the text says only where the text says nothing.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from dangjian.places import NATIONWIDE, find_places, home_place
from dangjian.text import script_of

METADATA_FILE = "metadata.csv"
METADATA_COLUMNS = ("source_file", "title", "publisher", "published", "url", "place")
_DATE = re.compile(r"(20\d{2}|19\d{2})\s*[年\-/.]\s*(\d{1,2})\s*[月\-/.]\s*(\d{1,2})")
_PUBLISHER = re.compile(r"(?:来源|來源|稿源)\s*[:：]\s*([^\s|｜]{2,20})")
_HAN = re.compile(r"[\u4e00-\u9fff]")  # compiled once: re's own cache costs a look-up a line
_NAV = re.compile(r"上一篇|下一篇|上一版|下一版|标题导航|放大|缩小|首页|版权所有|阅读次数|字体|记者|通讯员|[:>|]")


# Central media: a text of theirs is about the whole country unless its title names a place.
NATIONAL_PUBLISHERS = ("人民日报", "人民网", "新华社", "新华网", "光明日报", "经济日报", "求是", "央视",
                       "中央电视台", "中国组织人事报", "中国青年报", "法治日报", "学习时报", "共产党员网",
                       "中国共产党新闻网", "党建网")


def _home(view: str, title: str | None, publisher: str | None) -> str | None:
    if publisher and publisher.startswith(NATIONAL_PUBLISHERS):
        named = find_places(title) if title else []
        return named[0].canonical if named else NATIONWIDE
    return home_place(view)


@dataclass
class DocumentInfo:
    title: str | None
    publisher: str | None
    published: date | None
    url: str | None
    script: str
    home: str | None


class MetadataError(ValueError):
    """The metadata file cannot be read; the message says which line and why."""


def load_metadata(raw_dir: Path) -> dict[str, dict[str, str]]:
    """Rows of ``raw/metadata.csv`` by ``source_file``; an absent file is an empty mapping."""
    path = Path(raw_dir) / METADATA_FILE
    if not path.exists():
        return {}
    rows: dict[str, dict[str, str]] = {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or "source_file" not in reader.fieldnames:
            raise MetadataError(f"{path}: needs a header with a source_file column")
        for line, row in enumerate(reader, start=2):
            name = (row.get("source_file") or "").strip()
            if not name:
                raise MetadataError(f"{path}:{line}: empty source_file")
            rows[name] = {k: (v or "").strip() for k, v in row.items() if k}
    return rows


def _parse_date(text: str) -> date | None:
    match = _DATE.search(text)
    if not match:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def _title(lines: list[str]) -> str | None:
    for line in lines[:25]:
        line = line.strip()
        han = len(_HAN.findall(line))
        if han >= 4 and len(line) <= 40 and not _NAV.search(line) and not _DATE.search(line):
            return line
        if len(line) > 60:  # body text reached: no headline in this file
            return None
    return None


def describe(text: str, view: str, meta: dict[str, str] | None = None) -> DocumentInfo:
    """What the text and its metadata row say about a document."""
    meta = meta or {}
    head = view[:800]
    lines = head.splitlines()
    publisher = _PUBLISHER.search(head)
    published = _parse_date("\n".join(lines[:12]))
    title = _title(text[:800].splitlines())
    return DocumentInfo(
        title=title or meta.get("title") or None,
        publisher=(publisher.group(1) if publisher else None) or meta.get("publisher") or None,
        published=published or _parse_date(meta.get("published", "")),
        url=meta.get("url") or None,
        script=script_of(text, view),
        home=meta.get("place") or _home(view, title, publisher.group(1) if publisher else
                                        meta.get("publisher")),
    )
