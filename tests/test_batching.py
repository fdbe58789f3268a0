import statistics

from hypothesis import given, settings
from hypothesis import strategies as st
import pytest

from dangjian.batching import batches, bounds, ends_batch

NAMES = [f"{i:06d}.txt" for i in range(20000)]


def test_batches_cover_the_files_in_order_within_their_bounds():
    least, most, spread = bounds(100)
    assert (least, most, spread) == (76, 150, 25)
    cut = batches(NAMES, 100)
    assert [name for batch in cut for name in batch] == NAMES
    assert all(least <= len(batch) <= most for batch in cut[:-1])
    assert all(ends_batch(batch[-1], spread) or len(batch) == most for batch in cut[:-1])
    # no name-chosen boundary is skipped once the floor is passed
    assert all(not ends_batch(name, spread) for batch in cut for name in batch[least - 1:-1])
    assert 95 <= len(NAMES) / len(cut) <= 105  # the size asked for, on average


def test_the_batch_a_file_falls_in_is_about_the_mean_size():
    """What a night's re-run after one changed file costs: without the floor, sizes spread
    geometrically and the batch of a file picked at random is about 1.4 times the size asked
    for."""
    cut = batches(NAMES, 100)
    by_file = sum(len(batch) ** 2 for batch in cut) / len(NAMES)
    assert by_file <= 1.1 * len(NAMES) / len(cut)


def test_an_inserted_file_changes_its_own_batch_and_at_most_the_next():
    before = batches(NAMES, 100)
    after = batches(sorted([*NAMES, "010000a.txt"]), 100)
    changed = [batch for batch in after if batch not in before]
    assert len(changed) <= 2 and any("010000a.txt" in batch for batch in changed)
    assert len(after) - len(changed) >= len(before) - 2


def test_an_inserted_or_removed_file_restages_about_one_batch():
    """Over many single changes: the batches after the change fall back on the same boundaries
    within a batch or two (the floor can shift a boundary name, rarely)."""
    before = {tuple(batch) for batch in batches(NAMES, 100)}
    restaged = []
    for k in range(0, len(NAMES), 83):
        for names in (NAMES[:k] + NAMES[k + 1:], sorted([*NAMES, NAMES[k] + "a"])):
            after = batches(names, 100)
            restaged.append(sum(len(batch) for batch in after if tuple(batch) not in before))
    assert statistics.mean(restaged) <= 150
    assert sorted(restaged)[int(0.95 * len(restaged))] <= 300


def test_positional_cuts_would_have_moved_every_later_batch():
    """The failure the boundaries avoid, as a check that the tests above can fail."""
    def positional(files, size):
        return [files[i:i + size] for i in range(0, len(files), size)]
    before = positional(NAMES, 100)
    after = positional(sorted([*NAMES, "010000a.txt"]), 100)
    assert sum(batch not in before for batch in after) > 50


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=8), unique=True, max_size=300),
       st.integers(min_value=1, max_value=40), st.integers(min_value=0, max_value=299))
def test_a_removed_file_moves_no_cut_before_it_nor_after_the_cuts_meet_again(names, size, which):
    names = sorted(names)
    before = batches(names, size)
    assert [n for b in before for n in b] == names
    if not names:
        assert before == []
        return
    gone = names.pop(which % len(names))
    after = batches(names, size)
    assert [n for b in after for n in b] == names
    # Before it, nothing moves.
    head = [b for b in before if b[-1] < gone]
    assert after[:len(head)] == head
    # After the first cut that falls after the same name in both, nothing moves either.
    ends_before = {b[-1] for b in before}
    meet = next((i for i, b in enumerate(after) if b[-1] > gone and b[-1] in ends_before), None)
    if meet is not None:
        tail = after[meet + 1:]
        assert before[len(before) - len(tail):] == tail


def test_size_one_is_one_file_per_batch_and_size_zero_is_refused():
    assert batches(list("abc"), 1) == [["a"], ["b"], ["c"]]
    with pytest.raises(ValueError):
        batches(["a"], 0)


@pytest.mark.parametrize("size", [2, 3, 4, 8, 40, 1000])
def test_small_and_large_sizes_keep_the_mean_and_a_boundary_chosen_by_the_names(size):
    least, most, spread = bounds(size)
    assert spread >= 2 and 1 <= least <= size <= most
    names = [f"{i:07d}" for i in range(max(20000, 100 * size))]
    cut = batches(names, size)
    assert 0.9 * size <= len(names) / len(cut) <= 1.1 * size


def test_a_name_is_hashed_once_per_process(monkeypatch):
    from dangjian import batching

    names = [f"night-{i:05d}.txt" for i in range(3000)]
    first = batches(names, 100)
    hashed = []
    real = batching.hashlib.blake2b
    monkeypatch.setattr(batching.hashlib, "blake2b",
                        lambda data, **kw: hashed.append(data) or real(data, **kw))
    assert batches(names, 100) == first and hashed == []
    grown = [*names, *(f"night-new-{i:03d}.txt" for i in range(200))]
    assert batches(grown, 100)[:len(first) - 1] == first[:-1]
    # only new names are hashed, once each (those a batch passes before its floor not at all)
    assert hashed and len(set(hashed)) == len(hashed)
    assert all(name.startswith(b"night-new-") for name in hashed)
