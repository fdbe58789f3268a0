"""The warm serve loop without a server: what it runs, and that a server away for a moment or
a failing run does not end the schedule (the end-to-end run is in test_serve.py)."""
from contextlib import nullcontext
from types import SimpleNamespace

import flows.warm as warm


class _Flow:
    name = "dangjian-release"

    def to_deployment(self, **kwargs):
        return SimpleNamespace(apply=lambda: "deployment-id")


class _Client:
    def __init__(self, answers):
        self.answers = iter(answers)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def get_scheduled_flow_runs_for_deployments(self, ids, scheduled_before):
        assert ids == ["deployment-id"]
        answer = next(self.answers)
        if isinstance(answer, Exception):
            raise answer
        return answer


def _run(name, parameters):
    return SimpleNamespace(id=name, name=name, parameters=parameters, expected_start_time=None,
                           created=name)


def test_scheduled_runs_are_claimed_and_run_here_in_order_through_outages(monkeypatch):
    first, second, third = _run("a", {"n": 1}), _run("b", {"n": 2}), _run("c", {"n": 3})
    client = _Client([ConnectionError("server restarting"), [second, first], [],
                      [third]])
    taken = {"b"}  # another process claimed run b first
    ran = []
    monkeypatch.setattr(warm, "warm_session", lambda: nullcontext(client))
    monkeypatch.setattr(warm, "propose_state_sync", lambda c, state, flow_run_id: SimpleNamespace(
        is_pending=lambda: flow_run_id not in taken))

    def run_flow(flow, flow_run, parameters, return_type):
        ran.append(parameters)
        if parameters["n"] == 1:
            raise RuntimeError("a run that fails")

    monkeypatch.setattr(warm, "run_flow", run_flow)
    monkeypatch.setattr(warm.time, "sleep", lambda seconds: None)
    assert warm.serve_warm(_Flow(), name="nightly", interval=5, max_runs=2) == 2
    assert ran == [{"n": 1}, {"n": 3}]


def test_runs_in_a_warm_session_share_its_api_client(prefect_harness, monkeypatch):
    from prefect import flow
    from prefect.client.orchestration import SyncPrefectClient

    made = []
    init = SyncPrefectClient.__init__

    def counted(self, *args, **kwargs):
        made.append(self)
        init(self, *args, **kwargs)

    monkeypatch.setattr(SyncPrefectClient, "__init__", counted)

    @flow
    def nightly() -> int:
        return 1

    nightly()
    assert made  # on its own, a run makes a client
    made.clear()
    with warm.warm_session() as client:
        assert nightly() == 1 and nightly() == 1
    assert made == [client]
