from hypothesis import given, settings
from hypothesis import strategies as st
import pytest

from dangjian.batching import MAX_FACTOR, batches, ends_batch

NAMES = [f"{i:06d}.txt" for i in range(20000)]


def test_batches_cover_the_files_in_order_within_their_bounds():
    cut = batches(NAMES, 100)
    assert [name for batch in cut for name in batch] == NAMES
    assert all(ends_batch(batch[-1], 100) or len(batch) == MAX_FACTOR * 100 for batch in cut[:-1])
    assert 85 <= len(NAMES) / len(cut) <= 115  # about the size asked for, on average


def test_an_inserted_file_changes_only_its_own_batch():
    before = batches(NAMES, 100)
    after = batches(sorted([*NAMES, "010000a.txt"]), 100)
    changed = [batch for batch in after if batch not in before]
    assert len(changed) <= 2 and any("010000a.txt" in batch for batch in changed)
    assert len(after) - len(changed) >= len(before) - 2


def test_positional_cuts_would_have_moved_every_later_batch():
    """The failure the boundaries avoid, as a check that the test above can fail."""
    def positional(files, size):
        return [files[i:i + size] for i in range(0, len(files), size)]
    before = positional(NAMES, 100)
    after = positional(sorted([*NAMES, "010000a.txt"]), 100)
    assert sum(batch not in before for batch in after) > 50


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=8), unique=True, max_size=300),
       st.integers(min_value=1, max_value=40), st.integers(min_value=0, max_value=299))
def test_a_removed_file_moves_no_cut_beyond_the_next_boundary(names, size, which):
    names = sorted(names)
    before = batches(names, size)
    assert [n for b in before for n in b] == names
    if not names:
        assert before == []
        return
    gone = names.pop(which % len(names))
    after = batches(names, size)
    assert [n for b in after for n in b] == names
    # The batches that end after the first name-chosen boundary behind the removed file.
    later = [n for n in names if n > gone]
    boundary = next((n for n in later if ends_batch(n, size)), None)
    tail = [b for b in before if boundary is not None and b[0] > boundary]
    assert after[len(after) - len(tail):] == tail
    # Before it, nothing moves either.
    head = [b for b in before if b[-1] < gone]
    assert after[:len(head)] == head
    assert len(after) - len(head) - len(tail) <= len(before) - len(head) - len(tail) + 1


def test_size_one_is_one_file_per_batch_and_size_zero_is_refused():
    assert batches(list("abc"), 1) == [["a"], ["b"], ["c"]]
    with pytest.raises(ValueError):
        batches(["a"], 0)


def test_a_name_is_hashed_once_per_process(monkeypatch):
    from dangjian import batching

    names = [f"night-{i:05d}.txt" for i in range(3000)]
    first = batches(names, 100)
    hashed = []
    real = batching.hashlib.blake2b
    monkeypatch.setattr(batching.hashlib, "blake2b",
                        lambda data, **kw: hashed.append(data) or real(data, **kw))
    assert batches(names, 100) == first and hashed == []
    assert batches([*names, "night-new.txt"], 100)[-1][-1] == "night-new.txt"
    assert hashed == ["night-new.txt".encode("utf-8")]
