"""`otterstack status`: a Swarm app's services with their tasks and nodes; a Compose app's
output stays as it was."""

from types import SimpleNamespace

import pytest

from otterstack_hooks.adapters.local.state import State
from otterstack_hooks.cli import main as cli
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.rules.swarm.stack_view import service_summary

NODES = {"n2": "os-n2", "n3": "os-n3"}


def running(slot, node):
    return {"Slot": slot, "NodeID": node, "DesiredState": "running",
            "Status": {"State": "running"}}


@pytest.fixture
def state(tmp_path, monkeypatch):
    state = State(tmp_path / "state.db")
    monkeypatch.setattr(cli, "_state", lambda: state)
    monkeypatch.setattr(cli, "_containers", lambda project: [
        {"name": f"{project}-web-1", "service": "web", "status": "running",
         "health": "healthy"}] if project == "one-r1" else [])
    yield state
    state.close()


def activate(state, app):
    release = state.new_release(app, "1" * 40, "main", "push", "dev", 1)
    state.activate(release, None)
    return release


def status(app=None):
    return SimpleNamespace(app=app, json=False)


def test_a_compose_app_is_shown_as_before(state, capsys, monkeypatch):
    state.upsert_app("one", "/r")
    release = activate(state, "one")
    state.update_release(release.id, services="web=1")  # as every deploy records it
    monkeypatch.setattr(cli, "_stack_services", lambda stack: pytest.fail("not a Swarm app"))
    assert cli.cmd_status(status()) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "one  (branch main, traefik routing off)"
    assert lines[2:] == [f"    {'one-r1-web-1':<40} {'running':<10} healthy"]


def test_a_swarm_app_shows_its_services_tasks_and_nodes(state, capsys, monkeypatch):
    state.upsert_app("shop", "/r", runtime="swarm", traefik_routing=True)
    release = activate(state, "shop")
    stacks = {
        release.project: [service_summary(release.project, {"Spec": {
            "Name": f"{release.project}_web", "Mode": {"Replicated": {"Replicas": 2}}}},
            [running(1, "n2"), running(2, "n3")], NODES)],
        "shop-state": [service_summary("shop-state", {"Spec": {
            "Name": "shop-state_db", "Mode": {"Replicated": {"Replicas": 1}}}},
            [running(1, "n2")], NODES)]}
    monkeypatch.setattr(cli, "_stack_services", lambda stack: stacks[stack])
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
                                                                       monkeypatch):
    state.upsert_app("shop", "/r", runtime="swarm")
    activate(state, "shop")

    def unreadable(stack):
        raise OtterError("reading the stack: this node is not a swarm manager")

    monkeypatch.setattr(cli, "_stack_services", unreadable)
    assert cli.cmd_status(status("shop")) == 0
    out = capsys.readouterr().out
    assert "active: r1" in out
    assert ("  the Swarm's services are not readable: reading the stack: this node is not a "
            "swarm manager") in out.splitlines()
