"""What a deploy needs from the world, as small interfaces (ports).

The orchestrators (usecases/) decide with the pure modules and act only through these: a
Runtime that runs releases (Compose on one Docker Engine, adapters/compose/runtime.py, or
Docker Swarm, adapters/swarm/runtime.py), a Router that sends them traffic (Traefik's docker or
swarm provider), a Store that remembers them (SQLite, adapters/local/state.py), a Repo that
holds their code (git, adapters/git/repo.py) and a Notifier that tells the app's target about
them (adapters/local/notify.py). Unit tests put fakes behind the same ports
(tests/unit/fakes.py), so every rule of deploy, failure, recovery, rollback and pruning runs in
milliseconds without Docker. mypy (in the test command) checks that each adapter and each fake
has every method of its port with compatible types: both are plugged into `Ports` in typed
code (wiring.py, fakes.World.ports).
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from otterstack_hooks.core.records import App, Release
from otterstack_hooks.core.vocabulary import ReleaseStatus
from otterstack_hooks.rules.command_lines import ComposeTarget
from otterstack_hooks.rules.health import ContainerSnapshot
from otterstack_hooks.rules.preview.lifecycle import LivePreview
from otterstack_hooks.rules.traefik.routing_plan import Probe, TraefikInfo

OnLine = Callable[[str], None]
Say = Callable[[str], None]


class Runtime(Protocol):
    """Runs releases: builds, starts, inspects, stops and removes them."""

    def read_config(self, target: ComposeTarget) -> tuple[dict[str, Any], dict[str, Any]]:
        """The effective config and the un-interpolated one (for the compose policy)."""

    def validate(self, target: ComposeTarget) -> None:
        """Raise OtterError if the merged files (with our overrides) are not valid."""

    def build(self, target: ComposeTarget, services: Sequence[str], on_line: OnLine,
              timeout: float) -> None: ...

    def up(self, target: ComposeTarget, services: Sequence[str], on_line: OnLine,
           timeout: float) -> None: ...

    def run_once(self, target: ComposeTarget, service: str, command: Sequence[str],
                 on_line: OnLine, timeout: float) -> None: ...

    def pull(self, target: ComposeTarget, service: str) -> None: ...

    def image_has_healthcheck(self, image: str) -> bool | None:
        """None: the image is not on this host (yet)."""

    def image_labels(self, image: str) -> dict[str, str] | None:
        """A local image's labels (its containers get them); None if it is not here (yet)."""

    def image_project(self, image: str) -> str | None:
        """The compose project that built a local image; None if none did (or unknown)."""

    def reuse_images(self, source: str, project: str, services: Sequence[str]) -> bool:
        """Tag `source`'s built images for `project`; False if one is gone."""

    def ensure_volume(self, app: str, name: str, spec: Mapping[str, Any]) -> bool:
        """True if it was created now."""

    def ensure_network(self, app: str, name: str, spec: Mapping[str, Any]) -> bool: ...

    def containers(self, project: str) -> list[ContainerSnapshot]:
        """Every container of the project, running or not."""

    def logs_tail(self, container_id: str, lines: int) -> list[str]: ...

    def fingerprints(self, project: str) -> dict[str, tuple[str, str, int]]:
        """service -> (container id, config hash, restarts): what `up` recreated."""

    def drain(self, project: str, label: str, timeout: float, say: Say) -> None:
        """Wait (at most `timeout` s) until the project serves no request."""

    def stop(self, project: str, services: Sequence[str] = ()) -> None:
        """Graceful: SIGTERM, then the service's own stop grace period. All services, or
        the named ones."""

    def start(self, project: str, services: Sequence[str]) -> None:
        """Start stopped services of a release again, as they were (no recreation)."""

    def remove(self, project: str, timeout: int | None = None) -> None:
        """Containers, networks and built images of the project; never a named volume."""

    def projects(self) -> set[str]: ...

    def app_resources(self, app: str, preview: str | None = None
                      ) -> tuple[list[str], list[str]]:
        """The app's kept (volumes, networks): production's (`preview` None), or those of
        its preview `preview` (a slug); told apart by their labels (rules/preview/naming)."""

    def remove_volume(self, name: str) -> None: ...

    def remove_network(self, name: str) -> None: ...

    spans_nodes: bool
    """Whether services run as tasks, maybe on other nodes (Swarm), which `otterstack status`
    shows each with its tasks and their nodes (`service_rows`), or only as containers on this
    host (Compose)."""

    def container_rows(self, project: str) -> list[dict[str, str]]:
        """What `otterstack status` shows of the project's containers on this host, by name:
        name, service, status and health ("no healthcheck" without one)."""

    def service_rows(self, project: str) -> list[dict[str, Any]]:
        """What `otterstack status` shows of the project's services across nodes, each with
        its tasks and their nodes (stack_view.service_summary); read only if `spans_nodes`."""

    def log_commands(self, app: str, release: str | None, kept: str, service: str,
                     follow: bool) -> list[list[str]]:
        """The commands that print the last lines (or, `follow`, the stream) of the running
        services' own logs: the named `service` of the project `kept` across releases or of
        the active `release` (None: none is active), else every service of `release`.
        OtterError if there is no such service or no active release."""


class Router(Protocol):
    """Sends traffic to releases: today Traefik's docker provider."""

    def detect(self) -> TraefikInfo | None: ...

    def routers_of(self, info: TraefikInfo, project: str) -> list[dict[str, Any]] | None:
        """The routers the router runs for a project, found by the exact names its own
        labels define (each with `defined`, that name); None when it cannot say."""

    def wait_enabled(self, info: TraefikInfo, routers: list[tuple[str, str]], timeout: float,
                     say: Say, since: float) -> None:
        """Until every (protocol, name) router is enabled with its servers up; OtterError
        (with the router's own logged reason since `since`, if any) otherwise."""

    def probe(self, check: Probe, header: str) -> tuple[int, str | None]:
        """A real request: (status, the project that answered); (0, None) if none did."""

    def withdraw(self, info: TraefikInfo, project: str) -> bool:
        """Take a running project out of traffic without cutting its requests; True once the
        router lists none of its routers. It stays out, whatever happens on the host, until
        `readmit` or `unfence`: it may drain and take its whole stop grace period."""

    def readmit(self, info: TraefikInfo, project: str) -> bool:
        """Undo a withdraw of a project that still runs; True once its routers are back."""

    def unfence(self, info: TraefikInfo, project: str) -> None:
        """Forget a withdraw once the project has exited (nothing of it can be routed)."""

    def sweep(self, app: str) -> list[str]:
        """Forget the app's withdraws of projects that no longer run (a deploy killed between
        a stop and its unfence); the projects whose withdraws were forgotten."""

    def scrape_metrics(self, info: TraefikInfo, timeout: float) -> str:
        """The router's Prometheus metrics page as text (Traefik's `/metrics`, beside its
        API), read within `timeout` s: what the watch after a switch counts requests and 5xx
        by (rules/traefik/metrics.py). OtterError, saying why, when it serves none."""


class Store(Protocol):
    """Remembers apps, releases and settings (SQLite, adapters/local/state.State)."""

    def require_app(self, name: str) -> App: ...

    def set_app_setting(self, name: str, key: str, value: Any) -> None: ...

    def setting(self, key: str) -> str: ...

    def new_release(self, app: str, sha: str, ref: str, trigger: str, pushed_by: str,
                    pid: int, preview: str = "") -> Release: ...

    def release(self, rid: int) -> Release: ...

    def update_release(self, rid: int, **values: Any) -> None: ...

    def activate(self, new: Release, old: Release | None) -> None: ...

    # `preview`: production's releases (''), one preview's (its slug), or (None) all
    def active_release(self, app: str, preview: str = "") -> Release | None: ...

    def releases(self, app: str, limit: int = 50, preview: str | None = "") -> list[Release]:
        ...

    def releases_with_status(self, app: str, status: ReleaseStatus, preview: str = ""
                             ) -> list[Release]: ...

    def rollback_target(self, app: str) -> Release | None: ...

    def next_release_number(self) -> int: ...

    def pin(self, name: str, reason: str) -> None: ...

    def reactivate(self, target: Release, current: Release) -> None: ...

    def remove_app(self, name: str) -> None: ...

    def previews(self, app: str) -> list[LivePreview]:
        """The app's live previews, newest push first."""

    def put_preview(self, app: str, preview: LivePreview) -> None: ...

    def remove_preview(self, app: str, slug: str, releases: bool = True) -> None: ...


class Notifier(Protocol):
    """Tells an app's notification target (a URL or a command) about a deploy event."""

    def send(self, target: str, event: dict[str, Any],
             redact: Callable[[str], str]) -> str | None:
        """Why it could not be delivered, or None. Bounded, and never raises: a notification
        is a courtesy, never part of the deploy."""


class Repo(Protocol):
    """One app's code: commits and release checkouts."""

    def resolve_commit(self, ref: str) -> str: ...

    def branch_head(self, branch: str) -> str | None: ...

    def commit_subject(self, sha: str) -> str: ...

    def add_worktree(self, path: Path, sha: str) -> None: ...

    def remove_worktree(self, path: Path) -> None: ...


@dataclass
class Ports:
    """Everything an orchestrator acts through. The store is adapters.local.state.State in
    production and in unit tests alike (SQLite in a temp dir is fast and local); `open_repo`
    opens an app's repo by path; `paths` is adapters.local.paths.Paths and `out`
    adapters.local.progress.Progress (both local files, which a use case may use directly)."""

    runtime: Runtime
    router: Router
    store: Store
    notifier: Notifier
    open_repo: Callable[[str], Repo]
    paths: Any
    out: Any
    schedule_retire: Callable[[str, str, float], None] = lambda app, release, delay: None
    """Run `otterstack retire APP RELEASE` in `delay` s (the end of a rollback window)."""
    schedule_watch: Callable[[str, str], None] = lambda app, release: None
    """Run `otterstack watch --wait APP RELEASE` now, detached: started before the switch,
    it waits for the deploy's decision, and outlives the deploy and the pusher's connection
    (the watch after a switch, usecases/watch.py)."""
