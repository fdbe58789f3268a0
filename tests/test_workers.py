import sys

from dangjian import workers
from dangjian.preload import warm_up


def test_warm_up_runs_the_extraction_stack():
    # In the fork server a failing warm-up is swallowed (workers would only start cold): here
    # it must not fail.
    warm_up()
    # the whole path of a batch: extraction, validation, Parquet parts and the SQLite cache
    for module in ("jieba", "dangjian.meaning", "pyarrow.parquet", "sqlite3"):
        assert module in sys.modules, module


def _worker_state() -> tuple[bool, bool, int]:
    import gc

    return "prefect" in sys.modules, "dangjian.meaning" in sys.modules, gc.get_freeze_count()


def test_workers_start_warm_and_without_prefect():
    with workers.pool(1) as pool:
        has_prefect, warm, frozen = pool.submit(_worker_state).result(timeout=300)
    assert not has_prefect
    if workers.context().get_start_method() == "forkserver":
        assert warm  # forked from the server that imported the extraction stack
        assert frozen > 100_000  # its objects are out of the collector's reach, so stay shared


def test_a_batch_in_a_worker_gives_the_rows_of_a_batch_in_process(tmp_path):
    from dangjian.pipeline import stage_files

    raw = tmp_path / "raw"
    raw.mkdir()
    for i in range(3):
        (raw / f"{i}.txt").write_text(f"全市共有党员{i + 1}万名，党组织{100 + i}个。", encoding="utf-8")
    files = sorted(p.name for p in raw.iterdir())
    here, there = tmp_path / "here", tmp_path / "there"
    expected = stage_files(str(raw), files, 0, str(here), None)
    with workers.pool(1) as pool:
        got = pool.submit(stage_files, str(raw), files, 0, str(there), None).result(timeout=300)
    assert got == expected and got.metrics == 6
    for table in ("documents", "metrics", "rejected", "quarantine"):
        assert (here / table / "00000000.parquet").read_bytes() == \
            (there / table / "00000000.parquet").read_bytes()
