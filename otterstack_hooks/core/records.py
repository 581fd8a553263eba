"""What the state remembers, as values: an app with its settings, and a release. Pure, so the
use cases, the rules and the Store port can all name them; the SQLite store
(adapters/local/state.py) reads and writes them."""

import json
from dataclasses import dataclass, fields
from typing import Any

from otterstack_hooks.core.vocabulary import ReleaseStatus

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
    watch_seconds: int  # seconds a served release is watched under real traffic; 0: off
    watch_min_requests: int  # requests the watch needs before an error ratio counts
    watch_max_error_ratio: int  # percent of 5xx a watched release may answer (rules/watch)
    previews: bool  # a push to another branch deploys its preview (rules/preview)
    preview_domain: str  # previews answer at <slug>.<preview_domain>; empty: none
    preview_limit: int  # previews that may live at once
    preview_ttl: int  # days a preview lives without a push

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
    # the watch after its switch (usecases/watch.py, rules/watch.py)
    watch_services: str = ""  # JSON list: its Traefik services, as the metrics name them
    watch_baseline: str = ""  # JSON: the replaced release, its requests, errors and span
    watch_status: str = ""  # vocabulary.WatchStatus; empty: not watched
    watch_requests: int = 0  # what it answered while watched
    watch_errors: int = 0  # of which 5xx
    watch_detail: str = ""  # `watched: N requests, M errors`, or why it was rolled back
    preview: str = ""  # the slug of the preview it belongs to; empty: production's

    @property
    def duration(self) -> float | None:
        return None if self.finished_at is None else self.finished_at - self.started_at

    def phase_seconds(self) -> dict[str, float]:
        return json.loads(self.phases) if self.phases else {}

    def as_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "probes"}
        data["duration"] = self.duration
        data["phases"] = self.phase_seconds()
        data["watch_services"] = json.loads(self.watch_services) if self.watch_services else []
        data["watch_baseline"] = json.loads(self.watch_baseline) if self.watch_baseline else None
        return data

    @property
    def note(self) -> str:
        """What `otterstack releases` shows of it: why it ended, else what its watch saw."""
        return self.reason.splitlines()[0] if self.reason else self.watch_detail


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, default=str)
