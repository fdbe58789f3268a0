"""The seed release scored against the gold set: floors that extraction must keep."""
import pytest

from dangjian.evaluate import load_gold, score
from dangjian.documents import load_metadata
from dangjian.pipeline import process_batch
from tests.conftest import GOLD, RAW

FLOORS = {
    "precision": 0.97, "recall": 0.97, "strict_f1": 0.95, "value": 0.99, "unit": 0.98,
    "qualifier": 0.95, "kind": 0.95, "statistic": 0.92, "period": 0.90,
    "subject": 0.90, "subject_exact": 0.75, "geography": 0.95,
}


@pytest.fixture(scope="module")
def figures():
    files = sorted(p.name for p in RAW.glob("*.txt"))
    rows = process_batch(RAW, files, load_metadata(RAW)).metrics
    return score(rows, load_gold(GOLD)).as_dict()


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_floor(figures, name):
    assert figures[name] >= FLOORS[name], f"{name} {figures[name]:.3f} < {FLOORS[name]}"


def test_gold_set_is_complete():
    gold = load_gold(GOLD)
    assert len(gold) == 5 and sum(len(v) for v in gold.values()) == 162
    for doc, rows in gold.items():
        text = (RAW / doc).read_text(encoding="utf-8")
        for row in rows:
            assert text[row["start"]:row["end"]] == row["quote"]
