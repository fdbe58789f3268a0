import threading

import pytest

from flows.runners import HEARTBEAT_SETTING, resolve, without_heartbeat


def _heartbeat_threads() -> int:
    return sum(1 for t in threading.enumerate()
               if any(getattr(arg, "__name__", "") == "heartbeat_loop"
                      for arg in getattr(t, "_args", ())))


def _flow():
    from prefect import flow

    @flow(name="heartbeat-probe")
    def probe() -> int:
        return _heartbeat_threads()

    return probe


def test_flow_runs_send_no_heartbeat_by_default(prefect_harness, monkeypatch):
    monkeypatch.delenv(HEARTBEAT_SETTING, raising=False)
    probe = _flow()
    assert probe() == 1  # Prefect's default: a heartbeat thread per flow run
    with without_heartbeat():
        assert probe() == 0


def test_an_explicit_heartbeat_setting_is_kept(prefect_harness, monkeypatch):
    monkeypatch.setenv(HEARTBEAT_SETTING, "60")
    with without_heartbeat():
        assert _flow()() == 1


def test_resolve_picks_processes_for_a_large_corpus_only():
    assert resolve("auto", 2, 10_000) == ("process", 2)
    assert resolve("auto", 2, 10) == ("thread", 2)
    assert resolve("auto", 1, 10_000) == ("thread", 1)
    with pytest.raises(ValueError):
        resolve("fibers", 2, 1)


def test_freeze_heap_hides_live_objects_and_first_collects_dead_frozen_cycles():
    import gc
    import weakref

    from flows.runners import freeze_heap

    class Node:
        pass

    node = Node()
    node.itself = node  # a cycle: only the collector frees it
    ref = weakref.ref(node)
    gc.freeze()  # as an earlier freeze_heap() left it
    try:
        del node
        gc.collect()
        assert ref() is not None  # frozen objects are out of the collector's reach
        freeze_heap()
        assert ref() is not None and gc.get_freeze_count() > 0
        freeze_heap(collect=True)  # between warm runs: thawed, collected, frozen again
        assert ref() is None and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_a_frozen_heap_is_thawed_after_its_block():
    import gc

    from flows.runners import heap_frozen

    assert gc.get_freeze_count() == 0
    with heap_frozen():
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
