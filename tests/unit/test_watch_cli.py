"""What people see of the watch after a switch outside the deploy: `releases` (and --json),
the push following the watch's lines, and `logs -f` stopping at the watch's last line."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from otterstack_hooks.adapters.local.state import State
from otterstack_hooks.cli import hooks
from otterstack_hooks.cli import logs as cli_logs
from otterstack_hooks.cli import status as cli_status

RESULT = {"event": "deployed shop 1111111 (r2) in 3.1 s", "step": "result", "kind": "ok",
          "elapsed": 3.1, "watch": True}
WATCHING = {"event": "watching r2 under real traffic: 1,204 requests, 0 errors",
            "step": "watch", "kind": "info", "elapsed": 8.1}
LAST = {"event": "watched: 14,530 requests, 3 errors", "step": "watch", "kind": "info",
        "elapsed": 63.1, "watch_end": True}
BEFORE = {"event": "watching r2 under real traffic for 60 s (no baseline)", "step": "watch",
          "kind": "info", "elapsed": 3.0}


@pytest.fixture
def state(tmp_path, monkeypatch):
    state = State(tmp_path / "state.db")
    state.upsert_app("shop", "/r", traefik_routing=True)
    for module in (cli_status, cli_logs):
        monkeypatch.setattr(module, "open_state", lambda: state)
    yield state
    state.close()


def release(state: State, log: Path, *events: dict, **values) -> object:
    """A release of shop whose log holds `events`."""
    row = state.new_release("shop", "1" * 40, "main", "push", "dev", 1)
    log.write_text("".join(json.dumps(e) + "\n" for e in events))
    state.update_release(row.id, log_path=str(log), served_at=row.started_at, **values)
    return state.release(row.id)


def test_releases_show_what_the_watch_found(state, tmp_path, capsys):
    rolled = ("rolled back by watch: 212 of 340 requests answered 5xx (baseline 0.3 %)")
    release(state, tmp_path / "r1.log", status="superseded", reason=rolled,
            watch_status="failed", watch_requests=340, watch_errors=212, watch_detail=rolled)
    release(state, tmp_path / "r2.log", status="active", watch_status="passed",
            watch_requests=1204, watch_errors=0,
            watch_detail="watched: 1,204 requests, 0 errors")
    assert cli_status.cmd_releases(SimpleNamespace(app="shop", json=False, limit=20,
                                                   preview=None)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].endswith("  watched: 1,204 requests, 0 errors")
    assert lines[2].endswith(f"  {rolled}")
    cli_status.cmd_releases(SimpleNamespace(app="shop", json=True, limit=20, preview=None))
    data = json.loads(capsys.readouterr().out)
    assert {k: data[1][k] for k in ("reason", "watch_status", "watch_requests", "watch_errors",
                                    "watch_services", "watch_baseline")} == {
        "reason": rolled, "watch_status": "failed", "watch_requests": 340,
        "watch_errors": 212, "watch_services": [], "watch_baseline": None}


def test_the_push_shows_the_watch_after_the_result_line_until_its_last(state, tmp_path,
                                                                        capsys):
    watched = release(state, tmp_path / "r2.log", BEFORE, RESULT, WATCHING, LAST,
                      status="active", watch_status="watching")
    hooks._follow_watch(state.require_app("shop"), watched, False)
    assert capsys.readouterr().out.splitlines() == [
        "    8.1s  watch     watching r2 under real traffic: 1,204 requests, 0 errors",
        "   63.1s  watch     watched: 14,530 requests, 3 errors"]


def test_the_push_stops_following_when_the_pusher_is_gone(state, tmp_path, monkeypatch):
    watched = release(state, tmp_path / "r2.log", RESULT, WATCHING,
                      status="active", watch_status="watching")
    printed = []

    def gone(*args, **kwargs):
        printed.append(args)
        raise BrokenPipeError(32, "Broken pipe")
    monkeypatch.setattr("builtins.print", gone)
    monkeypatch.setattr(hooks.time, "sleep", lambda s: pytest.fail("followed on"))
    hooks._follow_watch(state.require_app("shop"), watched, False)
    assert len(printed) == 1


def test_logs_follow_a_watched_release_to_the_watchs_last_line(state, tmp_path, capsys):
    release(state, tmp_path / "r2.log", BEFORE, RESULT, WATCHING, LAST, status="active",
            watch_status="passed")
    args = SimpleNamespace(app="shop", containers=None, release=None, follow=True, json=False,
                           preview=None)
    assert cli_logs.cmd_logs(args) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "   63.1s  watch     watched: 14,530 requests, 3 errors")


def test_logs_stop_following_a_watch_whose_last_line_is_overdue(state, tmp_path, capsys):
    """The watch process died (a reboot): its release still says watching."""
    row = release(state, tmp_path / "r2.log", RESULT, WATCHING, status="active",
                  watch_status="watching")
    state.update_release(row.id, served_at=row.started_at - 3600)
    args = SimpleNamespace(app="shop", containers=None, release=None, follow=True, json=False,
                           preview=None)
    assert cli_logs.cmd_logs(args) == 0
    assert "watching r2" in capsys.readouterr().out
