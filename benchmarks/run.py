"""Benchmark: throughput, peak memory and incremental re-runs on synthetic corpora.

A corpus of N documents is made by recombining the sentences of ``raw/`` with their numbers
varied: every document is new text with the same kinds of metrics, in about the density of
``raw/`` (all its sentences are drawn, with a number or without). For each N it measures:

- extraction alone: characters per second of ``process_batch`` over 1,000 documents in a fresh
  process, no cache, and of two such processes side by side over 500 documents each (how far a
  second core helps on the machine);
- end to end: ``dangjian release`` from an empty output folder, wall time and characters per
  second, and the peak resident memory of the whole process tree (sampled every 0.1 s);
- re-run: ``dangjian release`` again with nothing changed, then after one document changed
  (cache warm, as a nightly run), each a fresh process as a cron job or Prefect's runner starts
  it; and after one document changed in one warm process, as ``dangjian serve --warm`` runs a
  schedule (five runs, after one that warms the process up). The warm re-runs follow each full
  run, and their share of the full run is taken against that run: this machine's speed drifts
  by up to half within minutes, and a share of two times taken at different moments measures
  the drift as much as the code. Where each warm re-run's time went is read from the times
  Prefect recorded for its flow run and task runs (:func:`phases`). The corpus is restored
  after them.

Wall times depend on what else the machine runs: each result also gives the CPU seconds of the
release's process tree and the load average before it started.

Runs go to a Prefect server started once for the benchmark, as scheduled runs of ``dangjian
serve`` do (``--ephemeral`` instead lets each run start Prefect's temporary server, which adds
several seconds per run). They start :data:`SETTLE_S` seconds apart, as a schedule's runs find
the server idle.

Results go to ``benchmarks/results.json`` (and stdout), replacing earlier results of the same
sizes on the same machine. This is not a test: nothing is asserted.

    python benchmarks/run.py --sizes 1000 10000 100000
    python benchmarks/run.py --sizes 1000 10000 --repeats 3   # best of three full runs
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

import dangjian
from flows.runners import DEFAULT_BATCH_SIZE

ROOT = Path(__file__).resolve().parent.parent
#: Seconds left between runs. Scheduled runs are hours apart; back to back, a run would start
#: while Prefect's SQLite server still records the last one's events, and its first write can
#: meet "database is locked": the server answers 503 and the client waits two seconds.
SETTLE_S = 5.0
SENTENCE = re.compile(r"[^。！？\n]+[。！？]")
DIGITS = re.compile(r"\d+(?:\.\d+)?")


def seed_sentences(raw: Path) -> list[str]:
    sentences = []
    for path in sorted(raw.glob("*.txt")):
        sentences += [s.strip() for s in SENTENCE.findall(path.read_text(encoding="utf-8"))]
    return [s for s in sentences if s]


def vary(sentence: str, rng: random.Random) -> str:
    def repl(match: re.Match[str]) -> str:
        text = match.group(0)
        if len(text) == 4 and text.startswith(("19", "20")):
            return text  # a year stays a year
        if "." in text:
            return f"{rng.uniform(0.1, 99.9):.1f}"
        return str(rng.randint(1, 10 ** min(len(text), 6)))
    return DIGITS.sub(repl, sentence)


def make_corpus(folder: Path, n: int, sentences_per_doc: int, seed: int = 7) -> int:
    """Write n documents; returns the total number of characters."""
    rng = random.Random(seed)
    pool = seed_sentences(ROOT / "raw")
    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for i in range(n):
        body = "\n".join(vary(rng.choice(pool), rng) for _ in range(sentences_per_doc))
        text = f"宁波日报 2021年{rng.randint(1, 12)}月{rng.randint(1, 28)}日\n\n合成文档{i}\n\n{body}\n"
        sub = folder / f"{i // 1000:03d}"
        sub.mkdir(exist_ok=True)
        (sub / f"doc{i:06d}.txt").write_text(text, encoding="utf-8")
        total += len(text)
    return total


class PeakRSS:
    """Samples the summed RSS of a process and its children until stopped."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self._stop.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in procs
                                               if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.1)

    def __enter__(self) -> "PeakRSS":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def release(raw: Path, output: Path, env: dict[str, str]) -> tuple[float, int, float]:
    """Wall seconds, peak RSS and CPU seconds (of the process and the workers it waited for)."""
    time.sleep(SETTLE_S)
    cmd = [sys.executable, "-m", "flows.cli", "release", "--raw", str(raw), "--output", str(output)]
    cpu = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    with PeakRSS(proc.pid) as rss:
        out, _ = proc.communicate()
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"release failed:\n{out[-3000:]}")
    return elapsed, rss.peak, _children_cpu() - cpu


_EXTRACTION_ONLY = """
import sys, time
from pathlib import Path
from dangjian.corpus import list_raw
from dangjian.pipeline import process_batch
raw, start, limit = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
files = list_raw(raw)
measured, warm = files[start:min(start + limit, len(files) - 20)], files[-20:]
chars = sum(len((raw / f).read_text(encoding="utf-8")) for f in measured)
process_batch(raw, warm, {})  # imports, gazetteer, dictionaries
print("ready", flush=True)
sys.stdin.readline()  # start together with the other processes
begin = time.perf_counter()
process_batch(raw, measured, {})
print(chars, time.perf_counter() - begin, flush=True)
"""


def extraction_only(raw: Path, processes: int = 1, per_process: int = 1000) -> float:
    """Characters per second of ``process_batch`` in fresh processes side by side, each over its
    own ``per_process`` documents, warmed up on other documents so that no cache of a text helps.
    """
    procs = [subprocess.Popen([sys.executable, "-c", _EXTRACTION_ONLY, str(raw),
                               str(i * per_process), str(per_process)], cwd=ROOT, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
             for i in range(processes)]
    for proc in procs:
        if proc.stdout is None or proc.stdout.readline().strip() != "ready":
            raise RuntimeError("an extraction process did not start")
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    chars, seconds = 0, 0.0
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError("an extraction process failed")
        done, elapsed = out.split()
        chars, seconds = chars + int(done), max(seconds, float(elapsed))
    return chars / seconds


_WARM_RERUNS = """
import json, sys, time
from pathlib import Path

if __name__ == "__main__":
    from flows.cli import _prefect_env

    _prefect_env()  # the settings the command line runs with
    from dangjian.corpus import list_raw
    from dangjian.workers import prestart
    from benchmarks.run import phases
    from flows.release import release_flow, workers_kept
    from flows.runners import freeze_heap, plan
    from flows.warm import warm_session
    from schemas.tables import skip_dask_dataframe

    skip_dask_dataframe()
    raw, output, runs = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    SETTLE_S = float(sys.argv[4])
    files = list_raw(raw)
    run_plan = plan("auto", n_files=len(files))
    if run_plan.processes:
        prestart()
    flow = release_flow.with_options(task_runner=run_plan.task_runner)
    times, flow_runs = [], []
    originals = {}
    try:
        with workers_kept(), warm_session() as client:  # as serve --warm runs them
            for i in range(runs + 1):  # the first warms the process up and is not counted
                changed = raw / files[(i + 1) * len(files) // (runs + 2)]
                originals.setdefault(changed, changed.read_bytes())
                changed.write_text(changed.read_text(encoding="utf-8")
                                   + f"\\n全市新建党支部{i + 3}个。\\n", encoding="utf-8")
                time.sleep(SETTLE_S)
                freeze_heap(collect=True)  # as serve --warm does between runs
                start = time.perf_counter()
                state = flow(raw_dir=str(raw), output_dir=output, processes=run_plan.processes,
                             return_state=True)
                if i:
                    times.append(time.perf_counter() - start)
                    flow_runs.append(state.state_details.flow_run_id)
                summary = state.result()
                assert summary.created and summary.cached == len(files) - 1, summary
            found = phases(client, flow_runs, times)
    finally:  # the corpus as it was, for the full runs that follow
        for path, data in originals.items():
            path.write_bytes(data)
    print(json.dumps({"times": times, "phases": found}))
"""


def phases(client, flow_runs: list, walls: list[float], wait_s: float = 30.0) -> list[dict]:
    """Where each warm re-run's time went, from the times Prefect recorded for its flow run and
    task runs: ``prefect`` (creating, starting and ending the flow run: the wall time outside
    it), ``scan``, ``batches`` (the extract-batch tasks, first start to last end), ``publish``
    and ``flow`` (the rest of the flow function: planning, linking kept batches). A run whose
    tasks the server has not all recorded within ``wait_s`` is left out."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    tasks = ("scan_corpus", "extract_batch", "publish_release")  # each re-run runs all three

    def recorded(runs: list) -> bool:
        ended = [t for t in runs if t.start_time is not None and t.end_time is not None]
        return len(ended) == len(runs) and all(any(t.task_key.startswith(name) for t in ended)
                                               for name in tasks)

    deadline = time.monotonic() + wait_s
    while True:  # the server records task runs from events, a moment after they end
        by_run: dict = {flow_run: [] for flow_run in flow_runs}
        for task in client.read_task_runs(limit=200, flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=flow_runs))):
            by_run.setdefault(task.flow_run_id, []).append(task)
        if all(recorded(runs) for runs in by_run.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    found = []
    for flow_run, wall in zip(flow_runs, walls):
        if not recorded(by_run[flow_run]):
            continue

        def span(name: str) -> float:
            named = [t for t in by_run[flow_run] if t.task_key.startswith(name)]
            return (max(t.end_time for t in named) - min(t.start_time for t in named)).total_seconds()

        total = client.read_flow_run(flow_run).total_run_time.total_seconds()
        scan, batches, publish = (span(name) for name in tasks)
        found.append({"prefect": round(wall - total, 3), "scan": round(scan, 3),
                      "flow": round(total - scan - batches - publish, 3),
                      "batches": round(batches, 3), "publish": round(publish, 3)})
    return found


def warm_reruns(raw: Path, output: Path, env: dict[str, str],
                runs: int = 5) -> tuple[list[float], list[dict]]:
    """Seconds of each re-run after one changed document in one warm process, as
    ``dangjian serve --warm`` runs a schedule (the first re-run warms up and is not counted),
    and where the time of each went (:func:`phases`)."""
    proc = subprocess.run([sys.executable, "-c", _WARM_RERUNS, str(raw), str(output), str(runs),
                           str(SETTLE_S)],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"warm re-runs failed:\n{proc.stderr[-3000:]}")
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    return found["times"], found["phases"]


def _release_rows(output: Path, table: str) -> int:
    latest = (output / "releases" / "LATEST").read_text(encoding="utf-8").strip()
    manifest = json.loads((output / "releases" / latest / "manifest.json").read_text(encoding="utf-8"))
    return manifest["files"][f"{table}.parquet"]["rows"]


def bench(n: int, sentences_per_doc: int, workdir: Path, env: dict[str, str],
          repeats: int = 1) -> dict:
    """Measure one corpus size; wall times are the best of ``repeats`` runs (peak memory the
    highest), since other work on the machine only ever adds to them; the warm re-runs are
    five after each full run, given as medians (see the module's docstring)."""
    raw, output = workdir / f"raw-{n}", workdir / f"out-{n}"
    chars = make_corpus(raw, n, sentences_per_doc)
    load = os.getloadavg()[0]
    runs: list[tuple[float, int, float]] = []
    warm_sets: list[list[float]] = []
    warm_phases: list[dict] = []
    metrics = 0
    for _ in range(repeats):
        shutil.rmtree(output, ignore_errors=True)
        runs.append(release(raw, output, env))
        if not metrics:
            metrics = _release_rows(output, "metrics")
        # Right after each full run: the share of the two is the figure that matters, and this
        # machine's speed drifts by half within minutes, so both are taken under the same drift.
        times, where = warm_reruns(raw, output, env)
        warm_sets.append(sorted(times))
        warm_phases += where
    full, _, full_cpu = min(runs)
    peak = max(run[1] for run in runs)
    warm = sorted(t for times in warm_sets for t in times)
    # in the order of the full runs, as end_to_end_runs_s and rerun_warm_runs_s
    shares = [statistics.median(times) / run[0] for run, times in zip(runs, warm_sets)]
    # The warm re-runs restored the files they changed, but the latest release holds them
    # changed: one run puts the output back in step with the corpus, untimed.
    release(raw, output, env)
    unchanged = min(release(raw, output, env)[0] for _ in range(repeats))
    files = sorted(raw.rglob("*.txt"))
    reruns = []
    for i in range(repeats):
        changed = files[i * len(files) // repeats]
        changed.write_text(changed.read_text(encoding="utf-8") + f"\n全市新建党支部{12 + i}个。\n",
                           encoding="utf-8")
        reruns.append(release(raw, output, env))
    rerun, _, rerun_cpu = min(reruns)
    rerun_peak = max(run[1] for run in reruns)
    result = {
        "documents": n, "characters": chars, "metrics": metrics,
        "metrics_per_1000_chars": round(metrics / chars * 1000, 2),
        "rerun_nothing_changed_s": round(unchanged, 2),
        "extraction_chars_per_s": round(extraction_only(raw)),
        "extraction_two_processes_chars_per_s": round(extraction_only(raw, processes=2,
                                                                     per_process=500)),
        "end_to_end_s": round(full, 2), "end_to_end_chars_per_s": round(chars / full),
        "end_to_end_runs_s": [round(run[0], 2) for run in runs],
        "end_to_end_cpu_s": round(full_cpu, 1), "peak_rss_mb": round(peak / 2 ** 20, 1),
        "rerun_one_changed_s": round(rerun, 2), "rerun_cpu_s": round(rerun_cpu, 1),
        "rerun_peak_rss_mb": round(rerun_peak / 2 ** 20, 1),
        "rerun_share_of_full": round(rerun / full, 4),
        "rerun_one_changed_warm_s": round(statistics.median(warm), 2),
        "rerun_warm_runs_s": [[round(t, 2) for t in times] for times in warm_sets],
        # each full run's warm re-runs (their median) against that full run; the median of those
        "rerun_warm_share_of_full": round(statistics.median(shares), 4),
        "rerun_warm_shares": [round(share, 4) for share in shares],
        "rerun_warm_share_of_best_full": round(statistics.median(warm) / full, 4),
        # the median of each phase over all warm re-runs (see phases())
        "rerun_warm_phases_s": {key: round(statistics.median(p[key] for p in warm_phases), 3)
                                for key in (warm_phases[0] if warm_phases else {})},
        "rerun_warm_phases_runs": len(warm_phases),
        "batch_size": DEFAULT_BATCH_SIZE, "repeats": repeats,
        "load_average_before": round(load, 2),
        "date": time.strftime("%Y-%m-%d"),
    }
    shutil.rmtree(raw)
    shutil.rmtree(output)
    return result


def prefect_server(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """A Prefect server on a free loopback port, for the benchmark's runs."""
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host",
                             "127.0.0.1", "--port", str(port), "--no-ui"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    api = f"http://127.0.0.1:{port}/api"
    for _ in range(180):
        try:
            with urllib.request.urlopen(f"{api}/health", timeout=2):
                return proc, api
        except OSError:
            time.sleep(1)
    proc.kill()
    raise RuntimeError("the Prefect server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--sentences", type=int, default=40, help="sentences per document")
    parser.add_argument("--ephemeral", action="store_true",
                        help="no shared Prefect server: each run starts a temporary one")
    parser.add_argument("--repeats", type=int, default=1,
                        help="runs per measurement; the best wall time is reported")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results.json")
    args = parser.parse_args()
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_HOME": tempfile.mkdtemp(prefix="prefect-home-")}
    server = None
    if not args.ephemeral:
        server, env["PREFECT_API_URL"] = prefect_server(env)
    machine = {"platform": platform.platform(), "python": platform.python_version(),
               "cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2 ** 30, 1),
               "prefect": "temporary server per run" if args.ephemeral else "one local server",
               "rules": dangjian.RULES_RUN}  # compiled by mypyc, or run from source
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="dangjian-bench-") as tmp:
            for n in args.sizes:
                results.append(bench(n, args.sentences, Path(tmp), env, args.repeats))
                print(json.dumps(results[-1]), flush=True)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
    report = {"machine": machine, "date": time.strftime("%Y-%m-%d"),
              "results": _merged(args.out, machine, results)}
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.out}")


def _merged(path: Path, machine: dict, results: list[dict]) -> list[dict]:
    """These results, with those of other sizes from an earlier run on the same machine."""
    try:
        earlier = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return results
    if earlier.get("machine") != machine:
        return results
    measured = {r["documents"] for r in results}
    kept = [r for r in earlier.get("results", []) if r.get("documents") not in measured]
    return sorted(kept + results, key=lambda r: r["documents"])


if __name__ == "__main__":
    main()
