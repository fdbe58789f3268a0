"""Serve a flow on a schedule and run each scheduled run in this very process.

Prefect's own runner (``flow.serve``) starts a fresh Python process for every run, which then
imports Prefect, pandas and the extraction rules again: seconds of fixed cost a night, however
little changed. Served warm, one process keeps all of that loaded, and the batch workers too
(when the caller keeps them, as ``dangjian serve --warm`` does), so a night's run costs what its
new files cost. Between runs the process collects its garbage and freezes what survives (see
:func:`flows.runners.freeze_heap`). The price is isolation: runs
follow one another in one interpreter, and one that crashes it stops the schedule until the
process is restarted (run it under a supervisor such as systemd).

The deployment is registered with the server as ``flow.serve`` registers it; this process then
polls for its scheduled runs, claims each (Pending) so that no other process runs it, and runs
it through Prefect's flow engine, so runs, states and logs show in the Prefect UI as usual.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from prefect import Flow
from prefect.client.orchestration import SyncPrefectClient
from prefect.context import SyncClientContext
from prefect.flow_engine import run_flow
from prefect.states import Pending
from prefect.utilities.engine import propose_state_sync

from flows.runners import freeze_heap, heap_frozen, without_heartbeat

logger = logging.getLogger("dangjian.serve")
POLL_SECONDS = 5.0


@contextmanager
def warm_session() -> Iterator[SyncPrefectClient]:
    """What the runs of a warm process share: one API client, which the flow engine takes
    instead of making its own for each run (a new client builds a TLS context, loading the CA
    bundle even for a plain-HTTP server: 60-80 ms a run here), and no heartbeat thread.

    The client checks the server's API version once, not once a run; and once connected, it
    retries a refused connection (``PREFECT_CLIENT_MAX_RETRIES`` times, with backoff), so a run
    that starts while the server restarts waits for it instead of failing at once."""
    with SyncClientContext.get_or_create() as context, without_heartbeat():
        yield context.client


def serve_warm(flow: Flow[..., Any], *, name: str, cron: str | None = None,
               interval: float | None = None, parameters: dict[str, Any] | None = None,
               description: str | None = None, poll_seconds: float = POLL_SECONDS,
               max_runs: int | None = None) -> int:
    """Register ``flow`` as deployment ``name`` with a schedule and run its scheduled runs here,
    one after another, until interrupted (or after ``max_runs`` runs). Returns the number run."""
    deployment = flow.to_deployment(name=name, cron=cron, interval=interval,
                                    parameters=parameters or {}, description=description)
    deployment_id = deployment.apply()
    logger.info("serving deployment %s/%s in this process", flow.name, name)
    done = 0
    # Set once for all runs: a temporary setting costs a tenth of a second, a client 60-80 ms.
    with warm_session() as client, heap_frozen(collect=True):
        while max_runs is None or done < max_runs:
            try:
                due = client.get_scheduled_flow_runs_for_deployments(
                    [deployment_id], scheduled_before=datetime.now(timezone.utc))
            except Exception as exc:  # noqa: BLE001 - a server restart must not end the schedule
                logger.warning("could not read scheduled runs (%s); trying again", exc)
                due = []
            for flow_run in sorted(due, key=lambda r: r.expected_start_time or r.created):
                try:
                    claimed = propose_state_sync(client, Pending(), flow_run_id=flow_run.id)
                except Exception as exc:  # noqa: BLE001 - aborted, or the server is away
                    logger.warning("could not claim flow run %s (%s)", flow_run.name, exc)
                    continue
                if not claimed.is_pending():
                    continue  # taken by another process, or cancelled meanwhile
                try:
                    run_flow(flow, flow_run=flow_run, parameters=flow_run.parameters,
                             return_type="state")
                except Exception:  # noqa: BLE001 - the engine records the failure; keep serving
                    logger.exception("flow run %s failed", flow_run.name)
                freeze_heap(collect=True)  # while idle, not during the next run
                done += 1
                if max_runs is not None and done >= max_runs:
                    break
            else:
                time.sleep(poll_seconds)
    return done
