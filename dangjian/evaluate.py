"""Score extracted metrics against hand annotations in the gold format.

The gold format is one JSON object per mention in ``<doc>.jsonl`` (see
``tests/gold/GUIDELINES.md``). A prediction and a gold mention are paired when their spans
overlap, largest overlap first, one to one; detection counts the pairs, strict also needs the
value and unit right, and each field is scored over the pairs. Users can score a release against
their own annotations with ``dangjian evaluate``.
"""
from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

FIELDS = ("value", "unit", "qualifier", "kind", "statistic", "subject", "subject_exact",
          "geography", "period")
_PRED_COLUMN = {"kind": "quantity_kind", "subject_exact": "subject"}


def load_gold(gold_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Gold mentions by document file name."""
    gold: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(Path(gold_dir).glob("*.jsonl")):
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip()]
        gold[rows[0]["doc"] if rows else path.stem + ".txt"] = rows
    return gold


def _clean(text: Any) -> str:
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return ""
    return "".join(c for c in str(text) if not unicodedata.category(c)[0] in "PSZ")


def _close(a: Any, b: Any) -> bool:
    if a is None or b is None or (isinstance(a, float) and math.isnan(a)):
        return a is None and b is None
    return abs(float(a) - float(b)) <= 1e-6 * max(1.0, abs(float(b)))


def _year(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    match = re.search(r"\d{4}", str(value))
    return match.group(0) if match else str(value)


def field_correct(name: str, pred: dict[str, Any], gold: dict[str, Any]) -> bool | None:
    """Whether one field of a matched pair is right; None when the pair is not scored on it."""
    if name == "value":
        high_ok = gold.get("value_high") is None or _close(pred.get("value_high"), gold["value_high"])
        return _close(pred.get("value"), gold["value"]) and high_ok
    if name == "unit":
        return _clean(pred.get("unit")) == _clean(gold.get("unit"))
    if name in ("qualifier", "kind", "statistic"):
        return str(pred.get(_PRED_COLUMN.get(name, name)) or "").strip() == str(gold.get(name) or "").strip()
    if name in ("subject", "subject_exact"):
        p, g = _clean(pred.get("subject")), _clean(gold.get("subject"))
        if name == "subject_exact":
            return p == g
        ps, gs = set(p), set(g)
        if not ps or not gs:
            return ps == gs
        common = len(ps & gs)
        return common > 0 and 2 * common / (len(ps) + len(gs)) >= 0.66
    if name == "geography":
        if gold.get("geography") is None:
            return None
        p, g = _clean(pred.get("geography")), _clean(gold["geography"])
        return bool(p) and (p in g or g in p)
    if name == "period":
        if gold.get("period") is None:
            return None
        return _year(pred.get("period")) == _year(gold["period"])
    raise KeyError(name)


def pair(preds: list[dict[str, Any]], golds: list[dict[str, Any]]) -> list[tuple[dict, dict]]:
    """One-to-one pairs of overlapping spans, largest overlap first."""
    candidates = []
    for i, p in enumerate(preds):
        for j, g in enumerate(golds):
            overlap = min(p["char_end"], g["end"]) - max(p["char_start"], g["start"])
            if overlap > 0:
                candidates.append((-overlap, abs(p["char_start"] - g["start"]), i, j))
    used_p, used_g, pairs = set(), set(), []
    for _, _, i, j in sorted(candidates):
        if i not in used_p and j not in used_g:
            used_p.add(i), used_g.add(j)
            pairs.append((preds[i], golds[j]))
    return pairs


@dataclass
class Score:
    gold: int
    pred: int
    matched: int
    strict: int
    fields: dict[str, tuple[int, int]]

    @staticmethod
    def _f1(p: float, r: float) -> float:
        return 0.0 if p + r == 0 else 2 * p * r / (p + r)

    @property
    def precision(self) -> float:
        return self.matched / self.pred if self.pred else 1.0

    @property
    def recall(self) -> float:
        return self.matched / self.gold if self.gold else 1.0

    @property
    def f1(self) -> float:
        return self._f1(self.precision, self.recall)

    @property
    def strict_f1(self) -> float:
        p = self.strict / self.pred if self.pred else 1.0
        r = self.strict / self.gold if self.gold else 1.0
        return self._f1(p, r)

    def accuracy(self, name: str) -> float:
        correct, scored = self.fields[name]
        return correct / scored if scored else 1.0

    def as_dict(self) -> dict[str, float]:
        out = {"gold": self.gold, "pred": self.pred, "matched": self.matched,
               "precision": self.precision, "recall": self.recall, "f1": self.f1,
               "strict_f1": self.strict_f1}
        out.update({name: self.accuracy(name) for name in FIELDS})
        return out


def score(predictions: Iterable[dict[str, Any]], gold: dict[str, list[dict[str, Any]]]) -> Score:
    """Micro-averaged score of prediction rows (contract columns) over the gold documents."""
    by_doc: dict[str, list[dict[str, Any]]] = {}
    for row in predictions:
        by_doc.setdefault(Path(str(row["source_file"])).name, []).append(row)
    total = Score(0, 0, 0, 0, {name: (0, 0) for name in FIELDS})
    for doc, golds in gold.items():
        preds = by_doc.get(doc, [])
        pairs = pair(preds, golds)
        total.gold += len(golds)
        total.pred += len(preds)
        total.matched += len(pairs)
        for p, g in pairs:
            if field_correct("value", p, g) and field_correct("unit", p, g):
                total.strict += 1
            for name in FIELDS:
                verdict = field_correct(name, p, g)
                if verdict is not None:
                    correct, scored = total.fields[name]
                    total.fields[name] = (correct + int(verdict), scored + 1)
    return total
