"""The ``dangjian`` command: a thin layer over the flows and the ``dangjian`` package.

Examples::

    dangjian release                      # raw/ -> output/releases/<version>/ and output/dangjian.duckdb
    dangjian release --raw texts --output build --strict
    dangjian extract raw/000_165ad2e5e478a72b.txt
    dangjian evaluate --gold tests/gold --pred output/releases/1.0.0/metrics.parquet
"""
from __future__ import annotations

import argparse
import atexit
import logging
import os
import sys
from pathlib import Path
from typing import Sequence

from flows.runners import DEFAULT_BATCH_SIZE

# Settings for Prefect's embedded server, before Prefect is imported: no telemetry lookups
# (they fail offline and log errors), and time for a first start that runs migrations.
_PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_LOGGING_TO_API_BATCH_INTERVAL": "0.3",
}


def _prefect_env() -> None:
    for key, value in _PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)


def _console():
    from rich.console import Console

    return Console(stderr=True)


def cmd_release(args: argparse.Namespace) -> int:
    from dangjian.corpus import list_raw
    from flows.runners import resolve

    console = _console()
    if not Path(args.raw).is_dir():
        console.print(f"[red]error:[/] raw folder not found: {args.raw}")
        return 2
    if args.dask_address and args.task_runner != "dask":
        console.print("[red]error:[/] --dask-address needs --task-runner dask")
        return 2
    files = list_raw(Path(args.raw))
    n_files = len(files)
    _prefect_env()
    server = None
    if args.task_runner != "dask":  # left to Prefect: a cluster may not reach this loopback
        from flows.temporary_server import launch_unless_configured

        server = launch_unless_configured()  # it loads while this process imports Prefect
    if resolve(args.task_runner, args.workers, n_files)[0] == "process" and (
            args.no_cache or not _same_as_latest(Path(args.raw), files, Path(args.output))):
        from dangjian.workers import prestart

        prestart()  # the workers' warm-up runs on another core while Prefect loads here
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from dangjian.lock import LockTimeout
    from flows.release import QuarantineError, release_flow, reporting_progress
    from flows.runners import heap_frozen, plan, without_heartbeat
    from flows.temporary_server import serving

    logging.getLogger("distributed").setLevel(logging.WARNING)
    if args.task_runner != "dask":
        from schemas.tables import skip_dask_dataframe

        skip_dask_dataframe()
    run_plan = plan(args.task_runner, args.workers, args.dask_address, n_files=n_files)
    flow = release_flow.with_options(task_runner=run_plan.task_runner)
    with Progress(TextColumn("extracting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task_id = bar.add_task("extract", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task_id, completed=done, total=total)

        try:
            # what the imports made lives as long as the run: out of the collector's way
            with serving(server), reporting_progress(progress), without_heartbeat(), \
                    heap_frozen():
                summary = flow(raw_dir=args.raw, output_dir=args.output, batch_size=args.batch_size,
                               strict=args.strict, cache=not args.no_cache,
                               processes=run_plan.processes)
        except QuarantineError as exc:
            console.print(f"[red]strict mode:[/] {exc}")
            return 1
        except LockTimeout as exc:
            console.print(f"[red]busy:[/] {exc}")
            return 3
    state = "new release" if summary.created else "no change since release"
    console.print(f"[bold]{state} {summary.version}[/]"
                  + (f" (parent {summary.parent})" if summary.created and summary.parent else ""))
    console.print(f"  documents   {summary.documents}   rejected files {summary.rejected}"
                  f"   from cache {summary.cached}")
    console.print(f"  metrics     {summary.metrics}   quarantined rows {summary.quarantined}")
    console.print(f"  release     {summary.path}")
    console.print(f"  duckdb      {summary.duckdb}")
    return 0


def _same_as_latest(raw: Path, files: list[str], output: Path) -> bool:
    """Whether the latest release was built from this corpus by these rules, so that the run
    will most likely stop after its scan and need no worker. A cheap guess before Prefect is
    imported (the flow makes the real check): the file hashes come from the cache's index."""
    import json

    from dangjian.cache import CACHE_DIR, DIGEST_INDEX, rules_fingerprint
    from dangjian.corpus import corpus_hash, file_digests

    try:
        version = (output / "releases" / "LATEST").read_text(encoding="utf-8").strip()
        manifest = json.loads((output / "releases" / version / "manifest.json")
                              .read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if (manifest.get("code_version") or {}).get("rules") != rules_fingerprint():
        return False
    digests = file_digests(raw, files, output / CACHE_DIR / DIGEST_INDEX)
    return manifest.get("input_corpus_hash") == corpus_hash(raw, files, digests)


def cmd_extract(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from dangjian.corpus import Rejection, read_document
    from dangjian.pipeline import document_rows
    from schemas.catalog import classify

    path = Path(args.file)
    if not path.is_file():
        print(f"error: no such file: {path}", file=sys.stderr)
        return 2
    item = read_document(path.parent, path.name)
    if isinstance(item, Rejection):
        print(f"error: {path} cannot be read: {item.reason}", file=sys.stderr)
        return 1
    row, mentions = document_rows(item, None)
    table = Table(title=f"{path.name}: {len(mentions)} metrics ({row['encoding']}, {row['script']})")
    for column in ("span", "quote", "value", "unit", "qualifier", "kind", "statistic", "subject",
                   "metric", "geography", "period", "rule"):
        table.add_column(column, overflow="fold")
    for m in mentions:
        value = f"{m.value:g}" + (f"–{m.value_high:g}" if m.value_high is not None else "")
        table.add_row(f"{m.start}-{m.end}", m.quote, value, m.unit, m.qualifier, m.quantity_kind,
                      m.statistic, m.subject, classify(m.subject, m.quantity_kind),
                      m.geography or "", m.period or "", m.extractor)
    console = Console()
    if not console.is_terminal:  # piped: do not fold the table to a guessed width
        console = Console(width=240)
    console.print(table)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    import pyarrow.parquet as pq

    from dangjian.evaluate import FIELDS, load_gold, score

    rows = pq.read_table(args.pred).to_pylist()
    result = score(rows, load_gold(Path(args.gold)))
    figures = result.as_dict()
    print(f"gold {result.gold}  predicted {result.pred}  matched {result.matched}")
    for name in ("precision", "recall", "f1", "strict_f1", *FIELDS):
        print(f"{name:>14}  {figures[name]:.3f}")
    return 0


def _release_folder(output: str, version: str | None) -> Path:
    from dangjian.publish import latest_version, releases_dir

    version = version if version and version != "latest" else latest_version(Path(output))
    folder = releases_dir(Path(output)) / (version or "")
    if not version or not (folder / "manifest.json").is_file():
        raise FileNotFoundError(f"no release {version or '(none published)'} in {output}")
    return folder


def cmd_diff(args: argparse.Namespace) -> int:
    from dangjian.diff import diff_releases, summarize

    try:
        old, new = _release_folder(args.output, args.old), _release_folder(args.output, args.new)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    changes = diff_releases(old, new)
    counts = summarize(changes)
    print(f"{old.name} -> {new.name}: {counts['added']} added, {counts['removed']} removed, "
          f"{counts['changed']} changed")
    for change in changes[: args.limit]:
        detail = f" [{change['fields']}]" if change["fields"] else ""
        print(f"{change['change']:8} {change['source_file']}:{change['char_start']} "
              f"{change['quote']}{detail} ({change['cause']})")
    if len(changes) > args.limit:
        print(f"… {len(changes) - args.limit} more (--limit)")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from dangjian.verify import ReleaseNotFoundError, verify_release

    raw = None if args.no_raw else Path(args.raw)
    try:
        report = verify_release(Path(args.output), None if args.version in (None, "latest")
                                else args.version, raw)
    except (ReleaseNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0 if report.ok else 1


def cmd_publish(args: argparse.Namespace) -> int:
    from dangjian.distribute import DistributeError, publish_release

    try:
        where = publish_release(Path(args.output), args.version, args.to)
    except (DistributeError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"published to {where}")
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    from dangjian.distribute import DistributeError, download_release

    try:
        folder = download_release(args.from_url, args.version, Path(args.to))
    except (DistributeError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"downloaded and checked {folder}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    import webbrowser

    from dangjian.report import report_for
    from dangjian.verify import ReleaseNotFoundError

    raw = Path(args.raw) if Path(args.raw).is_dir() else None
    try:
        path = report_for(Path(args.output), args.version, raw)
    except (ReleaseNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(path)
    if args.open:
        webbrowser.open(path.resolve().as_uri())
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    _prefect_env()
    if not os.environ.get("PREFECT_API_URL"):
        print("error: schedules need a Prefect server; start one with\n"
              "  prefect server start --host 127.0.0.1 --port 4200\n"
              "and point this command at it with\n"
              "  export PREFECT_API_URL=http://127.0.0.1:4200/api", file=sys.stderr)
        return 2
    if bool(args.cron) == bool(args.interval):
        print("error: give exactly one of --cron and --interval", file=sys.stderr)
        return 2
    parameters = {"raw_dir": str(Path(args.raw).resolve()),
                  "output_dir": str(Path(args.output).resolve()),
                  "batch_size": args.batch_size, "strict": args.strict}
    description = "Build a Dangjian Metrics release from the raw texts on a schedule."
    if args.warm:
        from dangjian.workers import prestart
        from flows.runners import plan
        from schemas.tables import skip_dask_dataframe

        skip_dask_dataframe()
        kind = "process" if (os.cpu_count() or 1) > 1 else "thread"  # a served archive grows
        if kind == "process":
            prestart()
        from flows.release import release_flow, workers_kept
        from flows.warm import serve_warm

        run_plan = plan(kind)
        with workers_kept():
            serve_warm(release_flow.with_options(task_runner=run_plan.task_runner),
                       name=args.name, cron=args.cron or None, interval=args.interval or None,
                       parameters={**parameters, "processes": run_plan.processes},
                       description=description)
        return 0
    from prefect.deployments.runner import EntrypointType

    from flows.release import release_flow

    release_flow.serve(
        name=args.name, cron=args.cron or None, interval=args.interval or None,
        parameters=parameters, pause_on_shutdown=False,
        entrypoint_type=EntrypointType.MODULE_PATH, description=description,
    )
    return 0


def _run_options(p: argparse.ArgumentParser) -> None:
    """What a release run reads and writes: shared by ``release`` and ``serve``."""
    p.add_argument("--raw", default="raw", help="folder of raw texts (default: raw)")
    p.add_argument("--output", default="output", help="output folder (default: output)")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                   help=f"documents per task on average (default: {DEFAULT_BATCH_SIZE})")
    p.add_argument("--strict", action="store_true", help="fail a run when any row is quarantined")


def _release_options(p: argparse.ArgumentParser, raw_help: str) -> None:
    """Which published release, and where its raw texts are: shared by ``verify`` and ``report``."""
    p.add_argument("version", nargs="?", default=None, help="release version (default: latest)")
    p.add_argument("--output", default="output", help="output folder (default: output)")
    p.add_argument("--raw", default="raw", help=f"{raw_help} (default: raw)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dangjian", description="Build and inspect releases of Dangjian Metrics (党建指标).",
        epilog="Example: dangjian release --raw raw --output output")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("release", help="build a release from the raw texts",
                       description="Run the release flow: read raw/, extract every metric, "
                                   "validate, publish Parquet and DuckDB.",
                       epilog="Example: dangjian release --raw raw --output output")
    _run_options(p)
    p.add_argument("--no-cache", action="store_true",
                   help="extract every document again instead of reusing output/cache")
    p.add_argument("--task-runner", choices=("auto", "process", "thread", "dask"), default="auto",
                   help="where batches run: threads for a small corpus and processes for a large "
                        "one (auto, the default), local processes, threads, or Dask")
    p.add_argument("--workers", type=int, default=None,
                   help="processes, threads or local Dask workers (default: CPU count)")
    p.add_argument("--dask-address", default=None,
                   help="scheduler of an existing Dask cluster, e.g. tcp://HOST:8786")
    p.set_defaults(func=cmd_release)

    p = sub.add_parser("serve", help="serve a deployment that builds a release on a schedule",
                       description="Serve the release flow as a Prefect deployment on a cron or "
                                   "interval schedule. Needs a Prefect server (PREFECT_API_URL); "
                                   "runs until stopped.",
                       epilog='Example: dangjian serve --cron "0 2 * * *"')
    p.add_argument("--cron", default=None, help='cron schedule, e.g. "0 2 * * *" (02:00 daily)')
    p.add_argument("--interval", type=float, default=None, help="or every N seconds")
    p.add_argument("--name", default="nightly-release", help="deployment name")
    p.add_argument("--warm", action="store_true",
                   help="run each scheduled run in this process, which keeps Prefect, the rules "
                        "and the worker processes loaded: a night with few new files costs "
                        "seconds less, at the price of isolation between runs")
    _run_options(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("extract", help="print the metrics of one text as a table",
                       description="Extract the metrics of one file and print them; nothing is written.",
                       epilog="Example: dangjian extract raw/000_165ad2e5e478a72b.txt")
    p.add_argument("file", help="a text file")
    p.set_defaults(func=cmd_extract)

    p = sub.add_parser("evaluate", help="score a metrics table against gold annotations",
                       description="Score metrics.parquet against annotations in the gold format "
                                   "(one <doc>.jsonl per document, see tests/gold/GUIDELINES.md).",
                       epilog="Example: dangjian evaluate --gold tests/gold "
                              "--pred output/releases/1.0.0/metrics.parquet")
    p.add_argument("--gold", required=True, help="folder of <doc>.jsonl annotation files")
    p.add_argument("--pred", required=True, help="a metrics.parquet")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("diff", help="metrics added, removed and changed between two releases",
                       description="Compare two releases by metric_id and say why rows changed.",
                       epilog="Example: dangjian diff 1.0.0 1.1.0")
    p.add_argument("old", help="the older release version")
    p.add_argument("new", nargs="?", default="latest", help="the newer one (default: latest)")
    p.add_argument("--output", default="output", help="output folder (default: output)")
    p.add_argument("--limit", type=int, default=50, help="changes to list (default: 50)")
    p.set_defaults(func=cmd_diff)

    p = sub.add_parser("verify", help="re-check a release's checksums and every metric's provenance",
                       description="Check every file against manifest.json and every metric row "
                                   "against the raw text it quotes; exit 1 on any mismatch.",
                       epilog="Example: dangjian verify 1.0.0 --raw raw")
    _release_options(p, raw_help="raw folder for provenance")
    p.add_argument("--no-raw", action="store_true", help="check the files only")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("report", help="the HTML report of a release: texts, highlights, tables",
                       description="Print the path of a release's self-contained report.html "
                                   "(every metric highlighted in its text, a searchable table, "
                                   "changes against the parent); for a release published without "
                                   "one, write it to OUTPUT/reports/VERSION.html.",
                       epilog="Example: dangjian report --open")
    _release_options(p, raw_help="raw folder the texts are read from")
    p.add_argument("--open", action="store_true", help="open the report in a web browser")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("publish", help="copy a release to a directory, file:// or s3:// location",
                       description="Copy a release and keep the destination's index.json.",
                       epilog="Example: dangjian publish --to file:///srv/dangjian latest")
    p.add_argument("version", nargs="?", default="latest", help="release version (default: latest)")
    p.add_argument("--to", required=True, help="destination: a folder, file://, s3://")
    p.add_argument("--output", default="output", help="output folder (default: output)")
    p.set_defaults(func=cmd_publish)

    p = sub.add_parser("download", help="fetch a release over http(s), file:// or s3:// and check it",
                       description="Download a release; every file's sha256 is checked before "
                                   "the release folder appears.",
                       epilog="Example: dangjian download latest --from https://example.org/dangjian")
    p.add_argument("version", help="release version or latest")
    p.add_argument("--from", dest="from_url", required=True, help="where releases are published")
    p.add_argument("--to", default="downloads", help="folder to put the release in (default: downloads)")
    p.set_defaults(func=cmd_download)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


_exit_code = [0]


def _leave() -> None:
    """The last exit hook: flush what Python would and end the process without tearing the
    interpreter down object by object."""
    logging.shutdown()  # its own hook, registered at import, would run after this one
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(_exit_code[0])


def run() -> None:
    """The ``dangjian`` command: :func:`main`, then a quick exit.

    Once a command is done, freeing the heap that Prefect, pandas, pyarrow and DuckDB built
    takes Python over a second at exit (measured at 10,000 documents), for nothing. So the last
    exit hook ends the process, after every other hook has run: Prefect's services drain their
    events and logs in threading's hooks, which come first, and the worker pools and the fork
    server stop in theirs. Errors and interrupts leave as Python makes them leave.
    """
    atexit.register(_leave)  # registered first, so run last
    try:
        code = main()
    except BaseException:
        atexit.unregister(_leave)
        raise
    _exit_code[0] = code
    sys.exit(code)


if __name__ == "__main__":
    run()
