"""The words a deploy is told in: a release's status and the name of each progress step.

They are a contract, not decoration: statuses are stored in the state database and shown by
`otterstack releases` and `status --json`; step names are in every release log (JSON lines
that `otterstack logs` replays) and in the lines a pusher reads. Enums make a typo a
NameError instead of a silently new word. Both are StrEnums, so a member equals, prints,
formats and serializes (JSON, SQLite) as its plain string and old records still read.
"""

from enum import StrEnum


class ReleaseStatus(StrEnum):
    """Where a release record is in its life (the `status` column of `releases`)."""

    DEPLOYING = "deploying"  # being built, started or checked; or its deploy died (recovery)
    ACTIVE = "active"  # the app's serving release (at most one per app)
    SUPERSEDED = "superseded"  # served before; kept for rollback while it has a worktree
    FAILED = "failed"  # its deploy failed and it was removed; the old release kept serving
    INTERRUPTED = "interrupted"  # its deploy process died; recovery cleaned it up


class Step(StrEnum):
    """The step a progress event belongs to: the second column of a progress line."""

    # the push and its checks (hooks)
    PUSH = "push"
    CHECK = "check"
    # taking the app and naming the release
    QUEUE = "queue"
    LOCK = "lock"
    RELEASE = "release"
    DRY_RUN = "dry-run"
    PLAN = "plan"
    OVERRIDE = "override"
    # preparing it
    CHECKOUT = "checkout"
    CONFIG = "config"
    POLICY = "policy"
    VOLUMES = "volumes"
    BUILD = "build"
    STATE = "state"
    COMMAND = "command"
    # starting it and switching traffic
    START = "start"
    HEALTH = "health"
    HEALTHY = "healthy"
    TRAEFIK = "traefik"
    SWITCH = "switch"
    SERVED = "served"
    # retiring the old one
    DRAIN = "drain"
    STOP = "stop"
    CLEANUP = "cleanup"
    # watching it under real traffic (usecases/watch.py)
    WATCH = "watch"
    # other commands and outcomes
    ROLLBACK = "rollback"
    RECOVER = "recover"
    PRUNE = "prune"
    REMOVE = "remove"
    NOTIFY = "notify"
    ERROR = "error"
    RESULT = "result"  # the final ==> line (Progress.result); `logs -f` stops after it


class Phase(StrEnum):
    """Where a deploy's time went: each phase ends where the next begins (usecases/deploy.py marks
    them); `otterstack releases --json` shows the seconds of each, the result line too."""

    QUEUED = "queued"  # waiting for the app's lock (another deploy ran)
    CHECKOUT = "checkout"  # recovery, the commit's checkout, its compose file and plan
    BUILD = "build"  # building images (or tagging a retained release's: a rollback)
    START = "start"  # singletons, the release command, `compose up`
    HEALTHY = "healthy"  # until every service is healthy
    PROVEN = "proven"  # until Traefik sends real requests to it
    OLD_STOPPED = "old_stopped"  # the old release drained and stopped (or kept), pruning


class WatchStatus(StrEnum):
    """Where the watch after a switch is (rules/watch.py judges it): its verdict after each
    scrape of Traefik's metrics, and the outcome a release keeps."""

    WATCHING = "watching"  # inside its window, nothing wrong yet
    PASSED = "passed"  # the window ended without a failure: "watched: N requests, M errors"
    FAILED = "failed"  # rolled back by watch, with the reason and its numbers
    ENDED = "ended"  # a newer push, or a rollback by hand, ended it before its window did
