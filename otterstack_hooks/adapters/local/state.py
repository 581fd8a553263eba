"""The SQLite store: apps, their settings, every release and the push keys, as the records of
core/records.py. Only I/O lives here; the schema is adapters/local/migrations.py."""

import json
import sqlite3
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

from otterstack_hooks.adapters.local.migrations import MIGRATIONS
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.records import App, Release
from otterstack_hooks.core.settings import app_defaults, app_setting, global_setting
from otterstack_hooks.core.vocabulary import ReleaseStatus
from otterstack_hooks.rules.preview.lifecycle import LivePreview
from otterstack_hooks.rules.preview.naming import PreviewNames
from otterstack_hooks.rules.ssh_gate import SshKey


def _row_to(cls: type, row: sqlite3.Row) -> Any:
    names = {f.name for f in fields(cls)}
    values = {k: row[k] for k in row.keys() if k in names}
    for f in fields(cls):
        if f.type == "bool" or f.type is bool:
            values[f.name] = bool(values[f.name])
        elif f.type is ReleaseStatus:
            values[f.name] = ReleaseStatus(values[f.name])
    return cls(**values)


PRODUCTION = ""  # the `preview` of production's releases


def _preview(row: sqlite3.Row) -> LivePreview:
    urls = tuple(u for u in row["urls"].split("\n") if u)
    return LivePreview(row["branch"], row["slug"], row["sha"], row["pushed_at"],
                       urls[0] if urls else "", row["created_at"], urls,
                       tuple(json.loads(row["hosts"]).items()) if row["hosts"] else ())


class State:
    """The state database; every method is one short transaction."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.db = sqlite3.connect(path, timeout=15, isolation_level=None)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA foreign_keys = ON")
            self.db.execute("PRAGMA journal_mode = WAL")
            self._migrate()
        except sqlite3.OperationalError as exc:
            raise OtterError(
                f"state database {path} cannot be used ({exc}); check that the disk is not "
                "full, the file is writable, and no other program holds it locked"
            ) from exc
        path.chmod(0o600)

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        for number, script in enumerate(MIGRATIONS[version:], version + 1):
            self.db.execute("BEGIN IMMEDIATE")
            try:
                for statement in filter(str.strip, script.split(";")):
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {number}")
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        self.db.close()

    def _write(self, sql: str, params: tuple | dict = ()) -> sqlite3.Cursor:
        try:
            return self.db.execute(sql, params)
        except sqlite3.OperationalError as exc:
            raise OtterError(
                f"could not write state to {self.path} ({exc}); the serving release is "
                "untouched: free disk space or stop whatever holds the database, then retry"
            ) from exc

    # apps
    def upsert_app(self, name: str, repo: str, **settings: Any) -> App:
        """Register an app with every setting's default written out (the schema in
        core/settings.py, not the columns' SQL defaults, decides them), or update its repo; then
        apply the given settings, already parsed."""
        existing = self.get_app(name)
        if existing is None:
            row = {"name": name, "repo": repo, "created_at": time.time(), "pinned": "",
                   **app_defaults()}
            self._write(f"INSERT INTO apps ({', '.join(row)}) "
                        f"VALUES ({', '.join(':' + column for column in row)})", row)
        else:
            self._write("UPDATE apps SET repo = ? WHERE name = ?", (repo, name))
        for key, value in settings.items():
            if value is not None:
                self.set_app_setting(name, key, value)
        app = self.get_app(name)
        assert app is not None
        return app

    def get_app(self, name: str) -> App | None:
        row = self.db.execute("SELECT * FROM apps WHERE name = ?", (name,)).fetchone()
        return None if row is None else _row_to(App, row)

    def require_app(self, name: str) -> App:
        app = self.get_app(name)
        if app is None:
            raise OtterError(
                f"no app named {name!r} is registered here; run install.sh {name} to register "
                "it, or `otterstack status` to list the apps"
            )
        return app

    def apps(self) -> list[App]:
        return [_row_to(App, r) for r in self.db.execute("SELECT * FROM apps ORDER BY name")]

    def remove_app(self, name: str) -> None:
        self._write("DELETE FROM releases WHERE app = ?", (name,))
        self._write("DELETE FROM previews WHERE app = ?", (name,))
        self._write("DELETE FROM apps WHERE name = ?", (name,))

    def pin(self, name: str, reason: str) -> None:
        self._write("UPDATE apps SET pinned = ? WHERE name = ?", (reason, name))

    def set_app_setting(self, name: str, key: str, value: Any) -> None:
        """Store a parsed value (settings.Setting.parse makes one from what a user typed)."""
        self._write(f"UPDATE apps SET {app_setting(key).name} = ? WHERE name = ?",
                    (value, name))

    # global settings
    def setting(self, key: str) -> str:
        """A global setting's value; its default from core/settings.py while it was never set."""
        default = global_setting(key).default
        row = self.db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return default if row is None else row[0]

    def set_setting(self, key: str, value: str) -> None:
        global_setting(key)  # an unknown key is refused, naming the known ones
        self._write(
            "INSERT INTO settings (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # releases
    def new_release(self, app: str, sha: str, ref: str, trigger: str, pushed_by: str,
                    pid: int, preview: str = "") -> Release:
        """Insert and name the row in one transaction: a row without a name would make
        recovery act on compose project "" (the current directory's) and on `releases/`.
        A preview's release (`preview`: its slug) is named from the same sequence, so a
        release name is the app's one checkout and log directory whoever it serves."""
        self._write("BEGIN IMMEDIATE")
        try:
            cur = self.db.execute(
                "INSERT INTO releases (app, sha, ref, trigger, pushed_by, status, pid, "
                "started_at, preview) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (app, sha, ref, trigger, pushed_by, ReleaseStatus.DEPLOYING, pid, time.time(),
                 preview),
            )
            rid = cur.lastrowid
            assert rid is not None  # an INSERT always has one
            project = (PreviewNames(app, preview).project(f"r{rid}") if preview
                       else f"{app}-r{rid}")
            self.db.execute(
                "UPDATE releases SET name = ?, project = ? WHERE id = ?",
                (f"r{rid}", project, rid),
            )
            self.db.execute("COMMIT")
        except BaseException as exc:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise OtterError(f"could not record the release in {self.path} ({exc}); the "
                                 "serving release is untouched: free disk space or stop "
                                 "whatever holds the database, then retry") from exc
            raise
        return self.release(rid)

    def release(self, rid: int) -> Release:
        row = self.db.execute("SELECT * FROM releases WHERE id = ?", (rid,)).fetchone()
        return _row_to(Release, row)

    def update_release(self, rid: int, **values: Any) -> None:
        cols = ", ".join(f"{k} = :{k}" for k in values)
        self._write(f"UPDATE releases SET {cols} WHERE id = :id", {**values, "id": rid})

    def activate(self, new: Release, old: Release | None) -> None:
        """Mark the new release active and the old one superseded, atomically."""
        now = time.time()
        self._write("BEGIN IMMEDIATE")
        try:
            if old is not None:
                self.db.execute("UPDATE releases SET status = ? WHERE id = ?",
                                (ReleaseStatus.SUPERSEDED, old.id))
            self.db.execute(
                "UPDATE releases SET status = ?, finished_at = ? WHERE id = ?",
                (ReleaseStatus.ACTIVE, now, new.id),
            )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def reactivate(self, target: Release, current: Release) -> None:
        """An instant rollback: the kept release serves again, the current one is replaced;
        atomically, and the kept one is no longer waiting to retire."""
        self._write("BEGIN IMMEDIATE")
        try:
            self.db.execute("UPDATE releases SET status = ? WHERE id = ?",
                            (ReleaseStatus.SUPERSEDED, current.id))
            self.db.execute("UPDATE releases SET status = ?, retire_at = NULL WHERE id = ?",
                            (ReleaseStatus.ACTIVE, target.id))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    # Every release query is of production's releases (`preview` ''), or of one preview's:
    # a preview's release is never production's active, kept or rollback target.
    def active_release(self, app: str, preview: str = "") -> Release | None:
        row = self.db.execute(
            "SELECT * FROM releases WHERE app = ? AND preview = ? AND status = ? "
            "ORDER BY id DESC LIMIT 1",
            (app, preview, ReleaseStatus.ACTIVE),
        ).fetchone()
        return None if row is None else _row_to(Release, row)

    def releases(self, app: str, limit: int = 50, preview: str | None = "") -> list[Release]:
        """Newest first; `preview` None: production's and every preview's."""
        rows = self.db.execute(
            "SELECT * FROM releases WHERE app = ? AND (? IS NULL OR preview = ?) "
            "ORDER BY id DESC LIMIT ?", (app, preview, preview, limit)
        )
        return [_row_to(Release, r) for r in rows]

    def rollback_target(self, app: str) -> Release | None:
        """Where `rollback` goes by default, and what `prune` must keep: the newest retained
        (superseded, checkout kept) release older than the active one."""
        active = self.active_release(app)
        return next((r for r in self.releases(app, limit=100000)
                     if r.status == ReleaseStatus.SUPERSEDED and r.worktree
                     and (active is None or r.id < active.id)), None)

    def releases_with_status(self, app: str, status: ReleaseStatus,
                             preview: str = PRODUCTION) -> list[Release]:
        rows = self.db.execute(
            "SELECT * FROM releases WHERE app = ? AND preview = ? AND status = ? ORDER BY id",
            (app, preview, status)
        )
        return [_row_to(Release, r) for r in rows]

    # previews (rules/preview/lifecycle reads them)
    def previews(self, app: str) -> list[LivePreview]:
        """The app's live previews, newest push first."""
        rows = self.db.execute("SELECT * FROM previews WHERE app = ? "
                               "ORDER BY pushed_at DESC, slug", (app,))
        return [_preview(r) for r in rows]

    def put_preview(self, app: str, preview: LivePreview) -> None:
        """Record a push of a preview's branch (its first: created now); its URLs and hosts
        once known (an empty `urls` keeps what was recorded)."""
        self._write(
            "INSERT INTO previews (app, slug, branch, sha, created_at, pushed_at, urls, hosts) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(app, slug) DO UPDATE SET "
            "branch = excluded.branch, sha = excluded.sha, pushed_at = excluded.pushed_at, "
            "urls = CASE WHEN excluded.urls = '' THEN urls ELSE excluded.urls END, "
            "hosts = CASE WHEN excluded.urls = '' THEN hosts ELSE excluded.hosts END",
            (app, preview.slug, preview.branch, preview.sha, preview.created_at or time.time(),
             preview.pushed_at, "\n".join(preview.urls),
             json.dumps(dict(preview.hosts)) if preview.hosts else ""))

    def remove_preview(self, app: str, slug: str, releases: bool = True) -> None:
        """Forget a removed preview and (`releases`) its releases."""
        if releases:
            self._write("DELETE FROM releases WHERE app = ? AND preview = ?", (app, slug))
        self._write("DELETE FROM previews WHERE app = ? AND slug = ?", (app, slug))

    def next_release_number(self) -> int:
        """What the next release will be called (r<N>), for a dry run."""
        try:
            row = self.db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'releases'"
                                  ).fetchone()
        except sqlite3.OperationalError:  # no release was ever recorded
            row = None
        return (row[0] if row else 0) + 1

    # SSH keys (adapters/local/keys.py renders them into authorized_keys; rules/ssh_gate.py
    # asks who may do what)
    def ssh_keys(self) -> list["SshKey"]:
        return [_row_to(SshKey, r) for r in self.db.execute("SELECT * FROM ssh_keys ORDER BY name")]

    def ssh_key(self, name: str) -> "SshKey | None":
        row = self.db.execute("SELECT * FROM ssh_keys WHERE name = ?", (name,)).fetchone()
        return None if row is None else _row_to(SshKey, row)

    def put_ssh_key(self, key: "SshKey") -> None:
        self._write("INSERT INTO ssh_keys (name, public_key, apps, admin, added_at) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
                    "public_key = excluded.public_key, apps = excluded.apps, "
                    "admin = excluded.admin",
                    (key.name, key.public_key, key.apps, int(key.admin), key.added_at))

    def remove_ssh_key(self, name: str) -> bool:
        return self._write("DELETE FROM ssh_keys WHERE name = ?", (name,)).rowcount > 0
