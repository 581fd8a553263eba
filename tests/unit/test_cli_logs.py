"""`otterstack logs APP --app`: Compose's own logs (a Swarm app's: `docker service logs` of
its services), straight to the terminal, bounded unless followed."""

from types import SimpleNamespace

import pytest

from otterstack_hooks.adapters.compose.runtime import ComposeRuntime
from otterstack_hooks.adapters.local.process import StepTimeout
from otterstack_hooks.adapters.local.state import State
from otterstack_hooks.adapters.swarm.runtime import SwarmRuntime
from otterstack_hooks.cli import logs as cli
from otterstack_hooks.core.errors import OtterError


@pytest.fixture
def state(tmp_path):
    state = State(tmp_path / "state.db")
    state.upsert_app("myapp", "/r")
    return state


def test_logs_of_the_active_release_are_bounded_unless_followed(state, monkeypatch):
    release = state.new_release("myapp", "1" * 40, "main", "push", "dev", 1)
    state.activate(release, None)
    app = state.get_app("myapp")
    runs: list[tuple[list[str], float | None]] = []
    monkeypatch.setattr(cli, "passthrough", lambda args, timeout: runs.append((args, timeout))
                        or 7)
    assert cli._container_logs(state, app, "", False) == 7
    assert cli._container_logs(state, app, "", True) == 7
    project = release.project
    assert runs == [
        (["docker", "compose", "-p", project, "logs", "--tail", "200"], cli.LOGS_TIMEOUT),
        (["docker", "compose", "-p", project, "logs", "--tail", "200", "--follow"], None)]
    assert cli.LOGS_TIMEOUT == 120


def test_a_service_kept_across_releases_is_read_from_its_own_project(state, monkeypatch):
    release = state.new_release("myapp", "1" * 40, "main", "push", "dev", 1)
    state.activate(release, None)
    kept = {"myapp-state": [SimpleNamespace(service="db")]}
    monkeypatch.setattr(ComposeRuntime, "_host_containers", lambda self, project:
                        kept.get(project, []))
    runs = []
    monkeypatch.setattr(cli, "passthrough", lambda args, timeout: runs.append(args) or 0)
    cli._container_logs(state, state.get_app("myapp"), "db", False)
    cli._container_logs(state, state.get_app("myapp"), "web", False)
    assert runs == [["docker", "compose", "-p", "myapp-state", "logs", "--tail", "200", "--",
                     "db"],
                    ["docker", "compose", "-p", release.project, "logs", "--tail", "200", "--",
                     "web"]]


def test_logs_without_an_active_release(state):
    with pytest.raises(OtterError, match="has no active release"):
        cli._container_logs(state, state.get_app("myapp"), "", False)


@pytest.fixture
def swarm(state, monkeypatch):
    """A Swarm app with an active release r1 (web, worker) and a kept db; what would run."""
    state.upsert_app("shop", "/r", runtime="swarm")
    release = state.new_release("shop", "2" * 40, "main", "push", "dev", 1)
    state.activate(release, None)
    stacks = {release.project: [f"{release.project}_worker", f"{release.project}_web"],
              "shop-state": ["shop-state_db"]}
    monkeypatch.setattr(SwarmRuntime, "_services", lambda self, stack: [
        {"Spec": {"Name": name}} for name in stacks.get(stack, [])])
    runs: list[tuple[list, float | None]] = []
    monkeypatch.setattr(cli, "passthrough", lambda args, timeout: runs.append((args, timeout))
                        or 0)
    monkeypatch.setattr(cli, "passthrough_all",
                        lambda commands, timeout: runs.append((commands, timeout)) or 0)
    return SimpleNamespace(app=state.get_app("shop"), project=release.project, runs=runs)


def logs(name):
    return ["docker", "service", "logs", "--tail", "200", "--no-trunc", "--", name]


def test_a_swarm_apps_logs_are_its_services_one_after_the_other_bounded(state, swarm):
    assert cli._container_logs(state, swarm.app, "", False) == 0
    (first, first_timeout), (second, second_timeout) = swarm.runs
    assert (first, second) == (logs(f"{swarm.project}_web"), logs(f"{swarm.project}_worker"))
    assert 0 < second_timeout <= first_timeout <= cli.LOGS_TIMEOUT  # one limit for them all


def test_a_swarm_apps_logs_followed_are_read_all_at_once_without_a_limit(state, swarm):
    assert cli._container_logs(state, swarm.app, "", True) == 0
    follow = ["docker", "service", "logs", "--tail", "200", "--no-trunc", "--follow", "--"]
    assert swarm.runs == [([[*follow, f"{swarm.project}_web"],
                            [*follow, f"{swarm.project}_worker"]], None)]


def test_a_swarm_apps_kept_service_and_a_missing_one(state, swarm):
    assert cli._container_logs(state, swarm.app, "db", False) == 0
    assert swarm.runs == [(logs("shop-state_db"), pytest.approx(cli.LOGS_TIMEOUT, abs=5))]
    with pytest.raises(OtterError, match="no service 'cron'"):
        cli._container_logs(state, swarm.app, "cron", False)


def test_a_swarm_apps_logs_past_the_limit_stop(state, swarm, monkeypatch):
    clock = iter([0.0, 10.0, cli.LOGS_TIMEOUT + 1])
    monkeypatch.setattr(cli.time, "monotonic", lambda: next(clock))
    with pytest.raises(StepTimeout):
        cli._container_logs(state, swarm.app, "", False)
    assert [args for args, _ in swarm.runs] == [logs(f"{swarm.project}_web")]
