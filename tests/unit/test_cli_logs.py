"""`otterstack logs APP --containers`: Compose's own logs, straight to the terminal, bounded
unless followed."""

import pytest

from otterstack_hooks import cli
from otterstack_hooks.errors import OtterError
from otterstack_hooks.state import State


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


def test_logs_without_an_active_release(state):
    with pytest.raises(OtterError, match="has no active release"):
        cli._container_logs(state, state.get_app("myapp"), "", False)
