"""`otterstack status`: a Swarm app's services with their tasks and nodes; a Compose app's
output stays as it was."""

from types import SimpleNamespace

import pytest
from fakes import FakeRuntime

from otterstack_hooks.adapters.local.state import State
from otterstack_hooks.cli import status as cli
from otterstack_hooks.rules.health import ContainerSnapshot
from otterstack_hooks.rules.swarm.stack_view import service_summary

NODES = {"n2": "os-n2", "n3": "os-n3"}


def running(slot, node):
    return {"Slot": slot, "NodeID": node, "DesiredState": "running",
            "Status": {"State": "running"}}


@pytest.fixture
def runtime(monkeypatch):
    """The app's Runtime, as wiring would choose it; release one-r1 runs a healthy web."""
    runtime = FakeRuntime()
    runtime.running["one-r1"] = [ContainerSnapshot(
        id="c1", name="one-r1-web-1", service="web", status="running", health="healthy",
        restart_count=0, exit_code=0, running_for=60.0)]
    monkeypatch.setattr(cli, "runtime_for", lambda app: runtime)
    return runtime


@pytest.fixture
def state(tmp_path, monkeypatch, runtime):
    state = State(tmp_path / "state.db")
    monkeypatch.setattr(cli, "open_state", lambda: state)
    yield state
    state.close()


def activate(state, app):
    release = state.new_release(app, "1" * 40, "main", "push", "dev", 1)
    state.activate(release, None)
    return release


def status(app=None):
    return SimpleNamespace(app=app, json=False)


def test_a_compose_app_is_shown_as_before(state, capsys, runtime):
    state.upsert_app("one", "/r")
    release = activate(state, "one")
    state.update_release(release.id, services="web=1")  # as every deploy records it
    runtime.fail["services"] = "not a Swarm app: its services are not read"
    assert cli.cmd_status(status()) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "one  (branch main, traefik routing off)"
    assert lines[2:] == [f"    {'one-r1-web-1':<40} {'running':<10} healthy"]


def test_a_swarm_app_shows_its_services_tasks_and_nodes(state, capsys, runtime):
    state.upsert_app("shop", "/r", runtime="swarm", traefik_routing=True)
    release = activate(state, "shop")
    runtime.spans_nodes = True
    runtime.services = stacks = {
        release.project: [service_summary(release.project, {"Spec": {
            "Name": f"{release.project}_web", "Mode": {"Replicated": {"Replicas": 2}}}},
            [running(1, "n2"), running(2, "n3")], NODES)],
        "shop-state": [service_summary("shop-state", {"Spec": {
            "Name": "shop-state_db", "Mode": {"Replicated": {"Replicas": 1}}}},
            [running(1, "n2")], NODES)]}
    assert cli.cmd_status(status()) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "shop  (branch main, traefik routing on, on Swarm)"
    assert lines[2:] == ["    web  2/2 running: 1 on os-n2, 2 on os-n3",
                         "  kept across releases (stack shop-state):",
                         "    db  1/1 running: 1 on os-n2"]
    data = cli._app_status(state, state.get_app("shop"))
    assert data["runtime"] == "swarm"
    assert data["active"]["swarm_services"] == stacks[release.project]
    assert data["state_swarm_services"] == stacks["shop-state"]


def test_a_swarm_that_cannot_be_read_is_said_and_the_rest_still_shows(state, capsys,
                                                                       runtime):
    state.upsert_app("shop", "/r", runtime="swarm")
    activate(state, "shop")
    runtime.spans_nodes = True
    runtime.fail["services"] = "reading the stack: this node is not a swarm manager"
    assert cli.cmd_status(status("shop")) == 0
    out = capsys.readouterr().out
    assert "active: r1" in out
    assert ("  the Swarm's services are not readable: reading the stack: this node is not a "
            "swarm manager") in out.splitlines()
