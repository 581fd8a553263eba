"""SQLite state: apps, their settings and every release. Only I/O lives here.

Schema changes are numbered migrations applied in order inside one transaction each, so an
older data dir is upgraded in place and never half-migrated. The settings themselves (names,
types, defaults) are declared in settings.py; the DEFAULT clauses below only filled the rows
that existed when a column was added, and no insert relies on them.
"""

import json
import sqlite3
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.settings import app_defaults, app_setting, global_setting
from otterstack_hooks.core.vocabulary import ReleaseStatus
from otterstack_hooks.rules.ssh_gate import SshKey

MIGRATIONS: list[str] = [
    # 1: apps and releases
    """
    CREATE TABLE apps (
        name TEXT PRIMARY KEY,
        repo TEXT NOT NULL,
        branch TEXT NOT NULL DEFAULT 'main',
        compose_file TEXT NOT NULL DEFAULT '',
        health_timeout INTEGER NOT NULL DEFAULT 300,
        settle_seconds INTEGER NOT NULL DEFAULT 5,
        keep_releases INTEGER NOT NULL DEFAULT 3,
        created_at REAL NOT NULL
    );
    CREATE TABLE releases (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        app TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
        name TEXT NOT NULL DEFAULT '',
        sha TEXT NOT NULL,
        ref TEXT NOT NULL DEFAULT '',
        trigger TEXT NOT NULL,
        pushed_by TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        project TEXT NOT NULL DEFAULT '',
        worktree TEXT NOT NULL DEFAULT '',
        log_path TEXT NOT NULL DEFAULT '',
        pid INTEGER NOT NULL DEFAULT 0,
        started_at REAL NOT NULL,
        healthy_at REAL,
        served_at REAL,
        finished_at REAL
    );
    CREATE INDEX releases_app ON releases(app, id);
    """,
    # 2: Traefik routing, per app and global
    """
    ALTER TABLE apps ADD COLUMN traefik_routing INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE apps ADD COLUMN require_healthcheck INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE releases ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 3: the services a release starts, so recovery can tell a complete release from a torso
    """
    ALTER TABLE releases ADD COLUMN services TEXT NOT NULL DEFAULT '';
    """,
    # 4: pinning an app: pushes are accepted but not deployed
    """
    ALTER TABLE apps ADD COLUMN pinned TEXT NOT NULL DEFAULT '';
    """,
    # 5: release command (migrations) and notification target per app
    """
    ALTER TABLE apps ADD COLUMN release_command TEXT NOT NULL DEFAULT '';
    ALTER TABLE apps ADD COLUMN notify TEXT NOT NULL DEFAULT '';
    """,
    # 6: use Swarm's deploy.labels as container labels (compose files written for Swarm)
    """
    ALTER TABLE apps ADD COLUMN use_deploy_labels INTEGER NOT NULL DEFAULT 0;
    """,
    # 7: how long a release that may have served drains before it stops (seconds; 30 as
    # kamal-proxy: see docs/traefik.md "Draining the old release")
    """
    ALTER TABLE apps ADD COLUMN drain_timeout INTEGER NOT NULL DEFAULT 30;
    """,
    # 8: compose policy: host access each app is allowed (compose_policy.Access tokens). Apps
    # registered before the policy are marked: their first check records what their active
    # release uses as allowed (policy_check.allowed_for), so they keep working.
    # And SSH keys: who may push which apps (keys.py, ssh_gate.py).
    """
    ALTER TABLE apps ADD COLUMN allow TEXT NOT NULL DEFAULT '';
    UPDATE apps SET allow = '?not-recorded';
    CREATE TABLE ssh_keys (
        name TEXT PRIMARY KEY,
        public_key TEXT NOT NULL,
        apps TEXT NOT NULL DEFAULT '',
        admin INTEGER NOT NULL DEFAULT 0,
        added_at REAL NOT NULL
    );
    """,
    # 9: a time limit per step (seconds): a hung build, start or release command ends
    """
    ALTER TABLE apps ADD COLUMN build_timeout INTEGER NOT NULL DEFAULT 1800;
    ALTER TABLE apps ADD COLUMN start_timeout INTEGER NOT NULL DEFAULT 600;
    ALTER TABLE apps ADD COLUMN release_command_timeout INTEGER NOT NULL DEFAULT 900;
    """,
    # 10: instant rollback (the replaced release is kept out of traffic until retire_at; the
    # requests that prove a release serves) and where a deploy's time went (phases, JSON).
    # The setting's value for existing apps comes from the settings schema, not from SQL.
    f"""
    ALTER TABLE apps ADD COLUMN retire_after INTEGER;
    UPDATE apps SET retire_after = {app_defaults()["retire_after"]};
    ALTER TABLE releases ADD COLUMN retire_at REAL;
    ALTER TABLE releases ADD COLUMN phases TEXT NOT NULL DEFAULT '';
    ALTER TABLE releases ADD COLUMN probes TEXT NOT NULL DEFAULT '';
    """,
    # 11: the runtime an app deploys on (one host's Compose, or a Docker Swarm) and the
    # registry its built images go to for the Swarm's other nodes (defaults from the schema;
    # and migration 10 left retire_after NULL on a row that did not name it)
    f"""
    ALTER TABLE apps ADD COLUMN runtime TEXT NOT NULL DEFAULT '{app_defaults()["runtime"]}';
    ALTER TABLE apps ADD COLUMN registry TEXT NOT NULL DEFAULT '{app_defaults()["registry"]}';
    UPDATE apps SET retire_after = {app_defaults()["retire_after"]} WHERE retire_after IS NULL;
    """,
    # 12: the hosts an app's Traefik routers may match (traefik_hosts); the default, empty,
    # sets no limit, so existing apps route as before. retire_after has no SQL default
    # (migration 10): a row inserted since 11 without naming it gets the schema's again.
    f"""
    ALTER TABLE apps ADD COLUMN hosts TEXT NOT NULL DEFAULT '{app_defaults()["hosts"]}';
    UPDATE apps SET retire_after = {app_defaults()["retire_after"]} WHERE retire_after IS NULL;
    """,
    # 13: the bound on a pushed commit's tree, checked in pre-receive before it is unpacked
    # (and, as 11 and 12 did, retire_after for a row that named none)
    f"""
    ALTER TABLE apps ADD COLUMN max_push_files INTEGER NOT NULL
        DEFAULT {app_defaults()["max_push_files"]};
    ALTER TABLE apps ADD COLUMN max_push_mib INTEGER NOT NULL
        DEFAULT {app_defaults()["max_push_mib"]};
    UPDATE apps SET retire_after = {app_defaults()["retire_after"]} WHERE retire_after IS NULL;
    """,
]
ALLOW_NOT_RECORDED = "?not-recorded"

@dataclass
class App:
    """An app and its settings: one attribute per settings.APP_SETTINGS entry (a unit test
    holds them together), plus what is not a setting: name, repo, created_at, pinned."""

    name: str
    repo: str
    branch: str
    compose_file: str
    health_timeout: int
    settle_seconds: int
    keep_releases: int
    created_at: float
    traefik_routing: bool
    require_healthcheck: bool
    pinned: str  # why pushes do not deploy; empty: they do
    release_command: str  # "SERVICE COMMAND ARGS..." run before the release starts
    notify: str  # URL or cmd:COMMAND told about deploy events
    use_deploy_labels: bool  # Swarm's deploy.labels become container labels
    drain_timeout: int  # seconds a release that may have served drains before it stops
    allow: str  # compose policy: host access allowed (compose_policy.Access tokens, comma)
    build_timeout: int  # seconds a build may take before it is killed
    start_timeout: int  # seconds `compose up` may take (the health wait is health_timeout)
    release_command_timeout: int  # seconds the release command may take
    retire_after: int  # seconds a replaced release's routed services stay up for rollback
    runtime: str  # compose (one host) or swarm
    registry: str  # where built images are pushed for a Swarm's nodes; empty: none
    hosts: str  # host patterns its Traefik routers may match (traefik_hosts); empty: any
    max_push_files: int  # files a pushed commit may hold (pre-receive refuses more)
    max_push_mib: int  # MiB a pushed commit's files may hold in all

    @property
    def reads_deploy_labels(self) -> bool:
        """deploy.labels count as the service's labels: asked for, or on a Swarm (where
        they are the labels Traefik's swarm provider reads)."""
        return self.use_deploy_labels or self.runtime == "swarm"


@dataclass
class Release:
    id: int
    app: str
    name: str
    sha: str
    ref: str
    trigger: str
    pushed_by: str
    status: ReleaseStatus
    reason: str
    project: str
    worktree: str
    log_path: str
    pid: int
    started_at: float
    healthy_at: float | None
    served_at: float | None
    finished_at: float | None
    priority: int
    services: str
    retire_at: float | None = None  # kept out of traffic for an instant rollback until then
    phases: str = ""  # JSON: seconds each phase of its deploy took (vocabulary.Phase)
    probes: str = ""  # JSON: the requests that proved it served (routing.Probe fields)

    @property
    def duration(self) -> float | None:
        return None if self.finished_at is None else self.finished_at - self.started_at

    def phase_seconds(self) -> dict[str, float]:
        return json.loads(self.phases) if self.phases else {}

    def as_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "probes"}
        data["duration"] = self.duration
        data["phases"] = self.phase_seconds()
        return data


def _row_to(cls: type, row: sqlite3.Row) -> Any:
    names = {f.name for f in fields(cls)}
    values = {k: row[k] for k in row.keys() if k in names}
    for f in fields(cls):
        if f.type == "bool" or f.type is bool:
            values[f.name] = bool(values[f.name])
        elif f.type is ReleaseStatus:
            values[f.name] = ReleaseStatus(values[f.name])
    return cls(**values)


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
        settings.py, not the columns' SQL defaults, decides them), or update its repo; then
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
        self._write("DELETE FROM apps WHERE name = ?", (name,))

    def pin(self, name: str, reason: str) -> None:
        self._write("UPDATE apps SET pinned = ? WHERE name = ?", (reason, name))

    def set_app_setting(self, name: str, key: str, value: Any) -> None:
        """Store a parsed value (settings.Setting.parse makes one from what a user typed)."""
        self._write(f"UPDATE apps SET {app_setting(key).name} = ? WHERE name = ?",
                    (value, name))

    # global settings
    def setting(self, key: str) -> str:
        """A global setting's value; its default from settings.py while it was never set."""
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
                    pid: int) -> Release:
        """Insert and name the row in one transaction: a row without a name would make
        recovery act on compose project "" (the current directory's) and on `releases/`."""
        self._write("BEGIN IMMEDIATE")
        try:
            cur = self.db.execute(
                "INSERT INTO releases (app, sha, ref, trigger, pushed_by, status, pid, "
                "started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (app, sha, ref, trigger, pushed_by, ReleaseStatus.DEPLOYING, pid, time.time()),
            )
            rid = cur.lastrowid
            self.db.execute(
                "UPDATE releases SET name = ?, project = ? WHERE id = ?",
                (f"r{rid}", f"{app}-r{rid}", rid),
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

    def active_release(self, app: str) -> Release | None:
        row = self.db.execute(
            "SELECT * FROM releases WHERE app = ? AND status = ? ORDER BY id DESC LIMIT 1",
            (app, ReleaseStatus.ACTIVE),
        ).fetchone()
        return None if row is None else _row_to(Release, row)

    def releases(self, app: str, limit: int = 50) -> list[Release]:
        rows = self.db.execute(
            "SELECT * FROM releases WHERE app = ? ORDER BY id DESC LIMIT ?", (app, limit)
        )
        return [_row_to(Release, r) for r in rows]

    def rollback_target(self, app: str) -> Release | None:
        """Where `rollback` goes by default, and what `prune` must keep: the newest retained
        (superseded, checkout kept) release older than the active one."""
        active = self.active_release(app)
        return next((r for r in self.releases(app, limit=100000)
                     if r.status == ReleaseStatus.SUPERSEDED and r.worktree
                     and (active is None or r.id < active.id)), None)

    def releases_with_status(self, app: str, status: ReleaseStatus) -> list[Release]:
        rows = self.db.execute(
            "SELECT * FROM releases WHERE app = ? AND status = ? ORDER BY id", (app, status)
        )
        return [_row_to(Release, r) for r in rows]

    def next_release_number(self) -> int:
        """What the next release will be called (r<N>), for a dry run."""
        try:
            row = self.db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'releases'"
                                  ).fetchone()
        except sqlite3.OperationalError:  # no release was ever recorded
            row = None
        return (row[0] if row else 0) + 1

    # SSH keys (keys.py renders them into authorized_keys; ssh_gate.py asks who may do what)
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


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, default=str)
