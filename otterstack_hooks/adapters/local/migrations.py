"""The state database's schema, as numbered migrations applied in order inside one
transaction each (adapters/local/state.py applies them), so an older data dir is upgraded in
place and never half-migrated. The settings themselves (names, types, defaults) are declared in
core/settings.py; the DEFAULT clauses below only filled the rows that existed when a column was
added, and no insert relies on them."""

from otterstack_hooks.core.settings import app_defaults

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
    # And SSH keys: who may push which apps (adapters/local/keys.py, rules/ssh_gate.py).
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
    # 14: the watch after a switch (rules/watch.py, docs/design/watch.md): how long, from how
    # many requests, above which share of 5xx (percent) a served release is rolled back
    f"""
    ALTER TABLE apps ADD COLUMN watch_seconds INTEGER NOT NULL
        DEFAULT {app_defaults()["watch_seconds"]};
    ALTER TABLE apps ADD COLUMN watch_min_requests INTEGER NOT NULL
        DEFAULT {app_defaults()["watch_min_requests"]};
    ALTER TABLE apps ADD COLUMN watch_max_error_ratio INTEGER NOT NULL
        DEFAULT {app_defaults()["watch_max_error_ratio"]};
    UPDATE apps SET retire_after = {app_defaults()["retire_after"]} WHERE retire_after IS NULL;
    """,
    # 15: what the watch after a switch follows and found (usecases/watch.py): the release's
    # Traefik services and the replaced release's baseline (JSON, written at the switch),
    # then its outcome (WatchStatus, '' = not watched) with its numbers and words (and, as
    # since 11, retire_after for an app row that named none)
    f"""
    ALTER TABLE releases ADD COLUMN watch_services TEXT NOT NULL DEFAULT '';
    ALTER TABLE releases ADD COLUMN watch_baseline TEXT NOT NULL DEFAULT '';
    ALTER TABLE releases ADD COLUMN watch_status TEXT NOT NULL DEFAULT '';
    ALTER TABLE releases ADD COLUMN watch_requests INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE releases ADD COLUMN watch_errors INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE releases ADD COLUMN watch_detail TEXT NOT NULL DEFAULT '';
    UPDATE apps SET retire_after = {app_defaults()["retire_after"]} WHERE retire_after IS NULL;
    """,
    # 16: previews of other branches (rules/preview, docs/design/previews.md), off for every
    # app until an admin turns them on; the previews that live (one row per app and slug:
    # what rules/preview/lifecycle reads), and the preview a release belongs to (its slug;
    # '' for production, which every production query asks for)
    f"""
    ALTER TABLE apps ADD COLUMN previews INTEGER NOT NULL
        DEFAULT {int(app_defaults()["previews"])};
    ALTER TABLE apps ADD COLUMN preview_domain TEXT NOT NULL
        DEFAULT '{app_defaults()["preview_domain"]}';
    ALTER TABLE apps ADD COLUMN preview_limit INTEGER NOT NULL
        DEFAULT {app_defaults()["preview_limit"]};
    ALTER TABLE apps ADD COLUMN preview_ttl INTEGER NOT NULL
        DEFAULT {app_defaults()["preview_ttl"]};
    ALTER TABLE releases ADD COLUMN preview TEXT NOT NULL DEFAULT '';
    CREATE INDEX releases_preview ON releases(app, preview, id);
    CREATE TABLE previews (
        app TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
        slug TEXT NOT NULL,
        branch TEXT NOT NULL,
        sha TEXT NOT NULL,
        created_at REAL NOT NULL,
        pushed_at REAL NOT NULL,
        urls TEXT NOT NULL DEFAULT '',
        hosts TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (app, slug)
    );
    UPDATE apps SET retire_after = {app_defaults()["retire_after"]} WHERE retire_after IS NULL;
    """,
]
