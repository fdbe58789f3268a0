"""The release flow end to end under a Prefect test harness."""
import hashlib
import os

import duckdb

import pyarrow.parquet as pq
import pytest

from dangjian import database
from dangjian.publish import list_versions
from flows.release import release_flow, reporting_progress


def test_release_flow_end_to_end(prefect_harness, raw_copy, tmp_path):
    (raw_copy / "empty.txt").write_bytes(b"")
    out = tmp_path / "out"
    seen = []
    with reporting_progress(lambda done, total: seen.append((done, total))):
        summary = release_flow(raw_dir=str(raw_copy), output_dir=str(out), batch_size=2)
    n_files = len(list(raw_copy.glob("*.txt")))
    assert summary.created and summary.version == "1.0.0"
    assert summary.documents + summary.rejected == n_files
    assert summary.rejected == 1 and summary.metrics > 100
    assert seen[-1] == (n_files, n_files)

    folder = out / "releases" / "1.0.0"
    docs = pq.read_table(folder / "documents.parquet").to_pylist()
    metrics = pq.read_table(folder / "metrics.parquet").to_pylist()
    texts = {}
    for doc in docs:
        data = (raw_copy / doc["source_file"]).read_bytes()
        assert doc["doc_id"] == hashlib.sha256(data).hexdigest()
        texts[doc["doc_id"]] = data.decode("utf-8")
    for row in metrics:  # provenance of every row
        assert texts[row["doc_id"]][row["char_start"]:row["char_end"]] == row["quote"]
    assert pq.read_table(folder / "rejected.parquet").to_pylist()[0]["source_file"] == "empty.txt"

    again = release_flow(raw_dir=str(raw_copy), output_dir=str(out))
    assert not again.created and again.version == "1.0.0"
    assert list_versions(out) == ["1.0.0"]


def test_quarantined_rows_publish_the_rest_or_fail_in_strict_mode(prefect_harness, raw_copy,
                                                                 tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    import dangjian.pipeline as pipeline
    from flows.release import QuarantineError

    real = pipeline.metric_row

    def spoil(doc, mention):  # a rule bug that yields a row the schema refuses
        row = real(doc, mention)
        if row["quote"] == "32037个":
            row["qualifier"] = "roughly"
        return row

    monkeypatch.setattr(pipeline, "metric_row", spoil)
    with pytest.raises(QuarantineError, match="1 rows failed validation"):
        release_flow(raw_dir=str(raw_copy), output_dir=str(tmp_path / "strict"), strict=True)
    assert list_versions(tmp_path / "strict") == []
    summary = release_flow(raw_dir=str(raw_copy), output_dir=str(tmp_path / "lenient"))
    assert summary.quarantined == 1 and summary.created
    folder = tmp_path / "lenient" / "releases" / "1.0.0"
    row = pq.read_table(folder / "quarantine.parquet").to_pylist()[0]
    assert row["table"] == "metrics" and "qualifier" in row["reason"] and row["quote"] == "32037个"
    quotes = pq.read_table(folder / "metrics.parquet").column("quote").to_pylist()
    assert "32037个" not in quotes and "56.1万名" in quotes


def test_dask_and_worker_processes_give_the_same_tables(prefect_harness, raw_copy, tmp_path):
    from flows.runners import plan

    default = release_flow(raw_dir=str(raw_copy), output_dir=str(tmp_path / "a"), batch_size=2)
    flow = release_flow.with_options(task_runner=plan("dask", workers=2).task_runner)
    on_dask = flow(raw_dir=str(raw_copy), output_dir=str(tmp_path / "b"), batch_size=2)
    processes = release_flow(raw_dir=str(raw_copy), output_dir=str(tmp_path / "c"), batch_size=2,
                             processes=2)
    for table in ("documents", "metrics", "quarantine", "rejected"):
        a = (tmp_path / "a" / "releases" / default.version / f"{table}.parquet").read_bytes()
        b = (tmp_path / "b" / "releases" / on_dask.version / f"{table}.parquet").read_bytes()
        c = (tmp_path / "c" / "releases" / processes.version / f"{table}.parquet").read_bytes()
        assert a == b == c, table


def test_second_run_after_one_change_reads_the_rest_from_cache(prefect_harness, raw_copy, tmp_path,
                                                              monkeypatch):
    out = tmp_path / "out"
    first = release_flow(raw_dir=str(raw_copy), output_dir=str(out))
    assert first.cached == 0
    path = raw_copy / "001_fb00645a8e6ebd2d.txt"
    path.write_text(path.read_text(encoding="utf-8") + "\n全区新建党支部12个。\n", encoding="utf-8")
    made = []
    real_open = database.open_copy
    monkeypatch.setattr(database, "open_copy",
                        lambda target, tmp: made.append(tmp) or real_open(target, tmp))
    second = release_flow(raw_dir=str(raw_copy), output_dir=str(out))
    assert second.created and second.version == "1.1.0"
    assert second.cached == first.documents - 1
    assert second.metrics == first.metrics + 1
    # the DuckDB file was copied once, while the batch ran, and that copy took the release
    assert len(made) == 1 and made[0].parent == out.resolve()
    assert made[0].name.startswith(f".dangjian.duckdb.{os.getpid()}-")  # not the publish's own
    assert not list(out.glob(".dangjian.duckdb*"))
    con = duckdb.connect(str(out / "dangjian.duckdb"), read_only=True)
    assert con.execute("SELECT version FROM releases WHERE is_latest").fetchall() == [("1.1.0",)]
    con.close()


def test_workers_are_kept_between_runs_inside_workers_kept_only(prefect_harness, raw_copy,
                                                                tmp_path, monkeypatch):
    import flows.release as release_module
    from flows.release import workers_kept

    pools = []
    real = release_module.worker_pool
    monkeypatch.setattr(release_module, "worker_pool", lambda n: pools.append(n) or real(n))
    path, out = raw_copy / "001_fb00645a8e6ebd2d.txt", str(tmp_path / "out")

    def run_after_a_change(night):
        path.write_text(path.read_text(encoding="utf-8") + f"\n全区新建党支部{night + 5}个。\n",
                        encoding="utf-8")
        return release_flow(raw_dir=str(raw_copy), output_dir=out, processes=1)

    with workers_kept():
        assert run_after_a_change(0).created and run_after_a_change(1).created
        assert len(pools) == 1 and release_module._workers is not None  # one pool, kept
    assert release_module._workers is None  # stopped when the block ends
    assert run_after_a_change(2).created
    assert len(pools) == 2 and release_module._workers is None  # outside: a pool per run


def test_run_plans_keep_a_batch_queued_for_each_worker_process():
    from prefect.task_runners import ThreadPoolTaskRunner

    from flows.runners import PROCESS_THRESHOLD, plan

    small, large = plan("auto", workers=2, n_files=10), plan("auto", workers=2, n_files=PROCESS_THRESHOLD)
    assert small.processes == 0 and isinstance(small.task_runner, ThreadPoolTaskRunner)
    assert large.processes == 2 and large.task_runner._max_workers == 4
    assert plan("thread", workers=3).processes == 0
    with pytest.raises(ValueError):
        plan("fibers")


def test_a_run_with_nothing_changed_extracts_no_batch(prefect_harness, raw_copy, tmp_path,
                                                      monkeypatch):
    import flows.release as release_module

    out = tmp_path / "out"
    first = release_flow(raw_dir=str(raw_copy), output_dir=str(out))

    def no_batches(*args, **kwargs):
        raise AssertionError("batches ran although nothing changed")

    monkeypatch.setattr(release_module, "_run_batches", no_batches)
    again = release_flow(raw_dir=str(raw_copy), output_dir=str(out))
    assert not again.created and again.version == first.version
    assert (again.documents, again.metrics) == (first.documents, first.metrics)
    assert again.cached == again.documents + again.rejected
    with pytest.raises(AssertionError, match="nothing changed"):  # the cache off: a full run
        release_flow(raw_dir=str(raw_copy), output_dir=str(out), cache=False)


def test_batch_parameters_are_quoted_where_tasks_run_in_threads_only(prefect_harness, raw_copy,
                                                                      tmp_path, monkeypatch):
    from prefect.utilities.annotations import quote

    import flows.release as release_module
    from flows.release import _unvisited

    sent, received = [], []
    submit = release_module.extract_batch.submit
    stage = release_module.stage_files

    def spying_submit(*args, **kwargs):
        sent.append((args[1], args[6], args[7]))
        return submit(*args, **kwargs)

    def spying_stage(raw_dir, files, index, workdir, cache_dir, digests=None, plain=None):
        received.append((files, digests, plain))
        return stage(raw_dir, files, index, workdir, cache_dir, digests, plain)

    monkeypatch.setattr(release_module.extract_batch, "submit", spying_submit)
    monkeypatch.setattr(release_module, "stage_files", spying_stage)
    release_flow(raw_dir=str(raw_copy), output_dir=str(tmp_path / "out"), batch_size=2)
    assert sent and all(isinstance(files, quote) and isinstance(digests, quote)
                        and isinstance(plain, quote) for files, digests, plain in sent)
    # the task gets the values themselves: the batch's files, their digests, the plain ones
    assert sorted(map(tuple, (files for files, _, _ in received))) == sorted(
        tuple(files.unquote()) for files, _, _ in sent)
    assert all(isinstance(files, list) and isinstance(digests, dict) and plain == files
               for files, digests, plain in received)
    assert _unvisited()(["a.txt"]) == ["a.txt"]  # no Prefect run to walk it: left as it is


def test_a_run_does_not_ask_the_server_whether_results_persist(prefect_harness, raw_copy,
                                                               tmp_path, monkeypatch):
    """The release is the run's output: the flow says it persists nothing, which spares a
    request to the server a run."""
    import prefect.flow_engine

    asked = []
    real = prefect.flow_engine._get_default_persist_result
    monkeypatch.setattr(prefect.flow_engine, "_get_default_persist_result",
                        lambda: asked.append(1) or real())
    summary = release_flow(raw_dir=str(raw_copy), output_dir=str(tmp_path / "out"))
    assert summary.created and asked == []
    assert release_flow.persist_result is False
