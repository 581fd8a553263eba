"""State: migrations, app settings, release transitions."""

import sqlite3

import pytest

from otterstack_hooks.adapters.local.migrations import MIGRATIONS
from otterstack_hooks.adapters.local.state import State
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.vocabulary import ReleaseStatus


def test_migrates_an_old_database_in_place(tmp_path):
    db = tmp_path / "state.db"
    conn = sqlite3.connect(db)
    conn.executescript(MIGRATIONS[0] + "; PRAGMA user_version = 1;")
    conn.execute("INSERT INTO apps (name, repo, created_at) VALUES ('a', '/r', 0)")
    conn.commit()
    conn.close()
    state = State(db)
    app = state.require_app("a")
    assert app.traefik_routing is False and app.require_healthcheck is True
    assert state.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert oct(db.stat().st_mode & 0o777) == "0o600"


def test_release_lifecycle(tmp_path):
    state = State(tmp_path / "state.db")
    state.upsert_app("a", "/r", traefik_routing=True)
    r1 = state.new_release("a", "1" * 40, "refs/heads/main", "push", "dev", 1)
    assert (r1.name, r1.project, r1.status) == ("r1", "a-r1", ReleaseStatus.DEPLOYING)
    state.activate(r1, None)
    r2 = state.new_release("a", "2" * 40, "refs/heads/main", "push", "dev", 1)
    state.activate(r2, state.release(r1.id))
    assert [r.status for r in state.releases("a")] == [ReleaseStatus.ACTIVE,
                                                       ReleaseStatus.SUPERSEDED]
    assert state.active_release("a").name == "r2"


def test_unknown_settings_and_apps_are_clear_errors(tmp_path):
    state = State(tmp_path / "state.db")
    with pytest.raises(OtterError, match="no app named 'nope'"):
        state.require_app("nope")
    state.upsert_app("a", "/r")
    with pytest.raises(OtterError, match="unknown setting"):
        state.set_app_setting("a", "rm -rf", "1")
    with pytest.raises(OtterError, match="unknown global setting"):
        state.set_setting("nope", "x")


def test_apps_from_before_the_compose_policy_are_marked_for_recording(tmp_path):
    from otterstack_hooks.core.records import ALLOW_NOT_RECORDED
    db = tmp_path / "state.db"
    conn = sqlite3.connect(db)
    conn.executescript(MIGRATIONS[0] + "; PRAGMA user_version = 1;")
    conn.execute("INSERT INTO apps (name, repo, created_at) VALUES ('old', '/r', 0)")
    conn.commit()
    conn.close()
    state = State(db)
    assert state.require_app("old").allow == ALLOW_NOT_RECORDED
    assert state.upsert_app("new", "/r2").allow == ""
