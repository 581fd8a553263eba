"""Fakes behind OtterStack's own ports (core/ports.py), for unit tests of the deploy rules.

They keep just enough of the world to make the orchestrators' decisions observable: which
projects run which containers in which state, which commands ran in which order (`calls`),
which project the router sends a request to. Failures are scripted per step. No Docker, no
git, no Traefik: a whole deploy runs in milliseconds.
"""

import io
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from otterstack_hooks.adapters.local.paths import Paths
from otterstack_hooks.adapters.local.progress import Progress
from otterstack_hooks.adapters.local.state import State
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.ports import Ports
from otterstack_hooks.rules.command_lines import ComposeTarget
from otterstack_hooks.rules.container_view import container_rows
from otterstack_hooks.rules.health import ContainerSnapshot
from otterstack_hooks.rules.preview.naming import selects
from otterstack_hooks.rules.swarm.stack import APP_LABEL
from otterstack_hooks.rules.traefik.routing_plan import Probe, TraefikInfo

RELEASE = re.compile(r"(?P<app>.+)-r(?P<number>\d+)")
ROUTER = re.compile(r"traefik\.(?P<protocol>http|tcp|udp)\.routers\.(?P<name>[^.]+)\.(?P<key>.+)")


class _Loader(yaml.SafeLoader):
    """Compose's own tags (`!override`, `!reset`) read as the plain value."""


_Loader.add_multi_constructor("!", lambda loader, suffix, node: (
    loader.construct_mapping(node) if isinstance(node, yaml.MappingNode)
    else loader.construct_sequence(node) if isinstance(node, yaml.SequenceNode)
    else loader.construct_scalar(node)))


class FakeRuntime:
    """Releases as dicts of container snapshots. `fail[step]` raises at that step (build, up,
    run_once, remove, stop, services); `health[service]` is what a started container of it
    reports (healthy by default; "unhealthy", "starting", or "exited" for a crash)."""

    def __init__(self) -> None:
        self.running: dict[str, list[ContainerSnapshot]] = {}
        self.calls: list[tuple[Any, ...]] = []
        self.fail: dict[str, str] = {}
        self.health: dict[str, str] = {}
        self.images: set[str] = set()
        self.volumes: set[str] = set()
        self.networks: set[str] = set()
        self.resource_labels: dict[str, dict[str, str]] = {}  # volume/network -> labels
        self.labels: dict[tuple[str, str], dict[str, str]] = {}  # (project, service) -> labels
        self.image_label_sets: dict[str, dict[str, str]] = {}  # image -> its own labels
        self.services: dict[str, list[dict[str, Any]]] = {}  # project -> service_rows

    def _maybe_fail(self, step: str) -> None:
        if step in self.fail:
            raise OtterError(self.fail[step])

    @staticmethod
    def _compose(target: ComposeTarget) -> dict[str, Any]:
        """The file as `compose config` shows it: a volume or network without a name is
        named `<project>_<key>`."""
        data = yaml.safe_load((target.directory / target.files[0]).read_text())
        named = {kind: {key: {"name": f"{target.project}_{key}", **(spec or {})}
                        if not (spec or {}).get("external") else spec
                        for key, spec in (data.get(kind) or {}).items()}
                 for kind in ("volumes", "networks")}
        return {"name": target.project, "services": data.get("services") or {}, **named}

    @staticmethod
    def _merged_labels(target: ComposeTarget, service: str) -> dict[str, str]:
        """The service's labels over every -f file, later files winning (as Compose merges
        them, our generated override replacing the user's with `!override`)."""
        labels: dict[str, str] = {}
        for name in target.files:
            data = yaml.load((target.directory / name).read_text(), _Loader) or {}
            found = ((data.get("services") or {}).get(service) or {}).get("labels")
            if isinstance(found, dict):
                labels = {k: str(v) for k, v in found.items()}
        return labels

    def read_config(self, target: ComposeTarget) -> tuple[dict[str, Any], dict[str, Any]]:
        self.calls.append(("config", target.project))
        config = self._compose(target)
        return config, config

    def validate(self, target: ComposeTarget) -> None:
        missing = [f for f in target.files if not (target.directory / f).is_file()]
        assert not missing, missing

    def build(self, target: ComposeTarget, services, on_line, timeout: float) -> None:
        self.calls.append(("build", target.project, tuple(services)))
        on_line("#1 building")
        self._maybe_fail("build")
        self.images.update(f"{target.project}-{s}" for s in services)

    def up(self, target: ComposeTarget, services, on_line, timeout: float) -> None:
        self.calls.append(("up", target.project, tuple(services)))
        self._maybe_fail("up")
        containers = [c for c in self.running.get(target.project, [])
                      if c.service not in services]
        for service in services:
            labels = self._merged_labels(target, service)
            self.labels[target.project, service] = labels
            routed = str(labels.get("traefik.enable", "")).lower() == "true"
            health = self.health.get(service, "healthy")
            crashed = health == "exited"
            containers.append(ContainerSnapshot(
                id=f"{target.project}-{service}-1", name=f"{target.project}-{service}-1",
                service=service, status="exited" if crashed else "running",
                health=None if crashed else health, restart_count=0,
                exit_code=1 if crashed else 0, running_for=60.0, routed=routed,
                healthy_since=time.time() if health == "healthy" else None))
        self.running[target.project] = containers

    def run_once(self, target: ComposeTarget, service: str, command, on_line,
                 timeout: float) -> None:
        self.calls.append(("run_once", target.project, service, tuple(command)))
        self._maybe_fail("run_once")

    def pull(self, target: ComposeTarget, service: str) -> None:
        self.calls.append(("pull", target.project, service))

    def image_has_healthcheck(self, image: str) -> bool | None:
        return None

    def image_labels(self, image: str) -> dict[str, str] | None:
        return self.image_label_sets.get(image, {})

    def image_project(self, image: str) -> str | None:
        return None

    def reuse_images(self, source: str, project: str, services) -> bool:
        self.calls.append(("reuse_images", source, project, tuple(services)))
        if not all(f"{source}-{s}" in self.images for s in services):
            return False
        self.images.update(f"{project}-{s}" for s in services)
        return True

    def ensure_volume(self, app: str, name: str, spec) -> bool:
        created = name not in self.volumes
        self.volumes.add(name)
        self.resource_labels.setdefault(name, {**(spec.get("labels") or {}), APP_LABEL: app})
        return created

    def ensure_network(self, app: str, name: str, spec) -> bool:
        self.networks.add(name)
        self.resource_labels.setdefault(name, {**(spec.get("labels") or {}), APP_LABEL: app})
        return False

    def containers(self, project: str) -> list[ContainerSnapshot]:
        return list(self.running.get(project, []))

    spans_nodes = False  # True: a Swarm's, whose `services` status shows

    def container_rows(self, project: str) -> list[dict[str, str]]:
        return container_rows(self.running.get(project, []))

    def service_rows(self, project: str) -> list[dict[str, Any]]:
        self._maybe_fail("services")
        return self.services.get(project, [])

    def log_commands(self, app: str, release: str | None, kept: str, service: str,
                     follow: bool) -> list[list[str]]:
        """`logs PROJECT [SERVICE]`: the named service's project (`kept` first), else the
        release's."""
        if service and service in {c.service for c in self.running.get(kept, [])}:
            release = kept
        if release is None:
            raise OtterError(f"{app} has no active release")
        return [["logs", release, service, *(["--follow"] if follow else [])]]

    def logs_tail(self, container_id: str, lines: int) -> list[str]:
        return [f"log of {container_id}"]

    def fingerprints(self, project: str) -> dict[str, tuple[str, str, int]]:
        return {c.service: (c.id, "hash", c.restart_count)
                for c in self.running.get(project, [])}

    def drain(self, project: str, label: str, timeout: float, say) -> None:
        self.calls.append(("drain", project))
        say(f"drained {label}")

    def stop(self, project: str, services=()) -> None:
        self.calls.append(("stop", project, *services))
        self._maybe_fail("stop")
        self.running[project] = [
            replace(c, status="exited", health=None) if not services or c.service in services
            else c for c in self.running.get(project, [])]

    def start(self, project: str, services) -> None:
        self.calls.append(("start", project, *services))
        self.running[project] = [
            replace(c, status="running", health="healthy" if c.routed else None)
            if c.service in services else c for c in self.running.get(project, [])]

    def remove(self, project: str, timeout: int | None = None) -> None:
        self.calls.append(("remove", project, timeout))
        self._maybe_fail("remove")
        self.running.pop(project, None)
        self.images = {i for i in self.images if not i.startswith(f"{project}-")}

    def projects(self) -> set[str]:
        return set(self.running)

    def app_resources(self, app: str, preview: str | None = None
                      ) -> tuple[list[str], list[str]]:
        """By label, as the engine's: a volume made before labels were kept counts as
        production's when its name says so."""
        def mine(name: str) -> bool:
            labels = self.resource_labels.get(name)
            if labels is None:
                return preview is None and name.startswith(f"{app}_")
            return selects(labels, app, preview)
        return sorted(filter(mine, self.volumes)), sorted(filter(mine, self.networks))

    def remove_volume(self, name: str) -> None:
        self.calls.append(("remove_volume", name))
        self.volumes.discard(name)

    def remove_network(self, name: str) -> None:
        self.calls.append(("remove_network", name))
        self.networks.discard(name)

    def commands(self, *kinds: str) -> list[tuple[Any, ...]]:
        """The calls of these kinds, in order."""
        return [c for c in self.calls if c[0] in kinds]


class FakeRouter:
    """A Traefik that routes each app's request to its newest release that runs a healthy,
    routed container and was not withdrawn (per-release routers, newer outranks older).
    `refuse` makes wait_enabled fail with that text; `answer_as` forces who answers.
    Its metrics count `answered[service][code]`; `traffic` (if set) runs before each read,
    as the users' requests between two reads; `no_metrics` is why there are none."""

    def __init__(self, runtime: FakeRuntime, present: bool = True):
        self.runtime = runtime
        self.present = present
        self.refuse = ""
        self.answer_as: str | None = None
        self.withdrawn: set[str] = set()
        self.left_fenced: list[str] = []
        self.calls: list[tuple[Any, ...]] = []
        self.answered: dict[str, dict[str, int]] = {}
        self.traffic: Callable[[FakeRouter], None] | None = None
        self.no_metrics = ""

    info = TraefikInfo("traefik", "http://127.0.0.1:1", "edge", {"web": 80})

    def detect(self) -> TraefikInfo | None:
        return self.info if self.present else None

    def routers_of(self, info: TraefikInfo, project: str) -> list[dict[str, Any]] | None:
        """The project's routers as Traefik's API lists them: from the labels of its running,
        healthy containers, unless withdrawn."""
        if project in self.withdrawn:
            return []
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for snap in self.runtime.running.get(project, []):
            if snap.status != "running" or snap.health not in (None, "healthy"):
                continue
            for key, value in self.runtime.labels.get((project, snap.service), {}).items():
                match = ROUTER.fullmatch(key)
                if match:
                    router = found.setdefault((match["protocol"], match["name"]), {
                        "name": f"{match['name']}@docker", "protocol": match["protocol"],
                        "defined": match["name"]})
                    if match["key"] == "rule":
                        router["rule"] = value
                    elif match["key"] == "priority":
                        router["priority"] = int(value)
                    elif match["key"] == "entrypoints":
                        router["entryPoints"] = value.split(",")
        return list(found.values())

    def wait_enabled(self, info, routers, timeout, say, since) -> None:
        self.calls.append(("wait_enabled", tuple(name for _, name in routers)))
        if self.refuse:
            raise OtterError(self.refuse)

    def serving(self, app: str) -> str | None:
        """The project this app's requests reach now."""
        live = []
        for project, containers in self.runtime.running.items():
            match = RELEASE.fullmatch(project)
            if (match and match["app"] == app and project not in self.withdrawn
                    and any(c.routed and c.status == "running" and c.health == "healthy"
                            for c in containers)):
                live.append((int(match["number"]), project))
        return max(live)[1] if live else None

    def probe(self, check: Probe, header: str) -> tuple[int, str | None]:
        self.calls.append(("probe", check.router))
        if self.answer_as is not None:
            return 200, self.answer_as
        project = next(p for p in self.runtime.running if check.router.endswith(f"~{p}"))
        release = RELEASE.fullmatch(project)
        assert release is not None, project
        answered = self.serving(release["app"])
        if answered:
            self.answer(release["app"], 1)  # Traefik counts a proof's request too
        return (200, answered) if answered else (502, None)

    def withdraw(self, info: TraefikInfo, project: str) -> bool:
        self.calls.append(("withdraw", project))
        self.withdrawn.add(project)
        return True

    def readmit(self, info: TraefikInfo, project: str) -> bool:
        self.calls.append(("readmit", project))
        self.withdrawn.discard(project)
        return True

    def unfence(self, info: TraefikInfo, project: str) -> None:
        """Marks the end of the withdraw in the runtime's calls, so a test sees that the
        release stopped while it was out."""
        self.calls.append(("unfence", project))
        self.runtime.calls.append(("unfence", project))

    def sweep(self, app: str) -> list[str]:
        """`left_fenced`: what a killed deploy left out of Traefik; forgotten once swept."""
        swept, self.left_fenced = self.left_fenced, []
        return swept

    def answer(self, app: str, requests: int, errors: int = 0) -> None:
        """`requests` to the app, answered by the release serving it now (`web-<project>`),
        `errors` of them with 500."""
        service = f"web~{self.serving(app)}@docker"
        codes = self.answered.setdefault(service, {})
        codes["200"] = codes.get("200", 0) + requests - errors
        codes["500"] = codes.get("500", 0) + errors

    def scrape_metrics(self, info: TraefikInfo, timeout: float) -> str:
        """The counters as Traefik's Prometheus text."""
        self.calls.append(("scrape_metrics",))
        if self.no_metrics:
            raise OtterError(self.no_metrics)
        if self.traffic is not None:
            self.traffic(self)
        lines = ["# TYPE traefik_service_requests_total counter"]
        lines += [f'traefik_service_requests_total{{code="{code}",method="GET",'
                  f'protocol="http",service="{service}"}} {count}'
                  for service, codes in self.answered.items() for code, count in codes.items()
                  if count]
        return "\n".join(lines) + "\n"


@dataclass
class FakeRepo:
    """Commits as {sha: {path: text}}; `refs` names some of them (branches, tags)."""

    commits: dict[str, dict[str, str]] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)
    subjects: dict[str, str] = field(default_factory=dict)

    def commit(self, files: dict[str, str], subject: str = "change",
               branch: str = "main") -> str:
        sha = f"{len(self.commits) + 1:040x}"
        self.commits[sha] = dict(files)
        self.subjects[sha] = subject
        self.refs[f"refs/heads/{branch}"] = sha
        return sha

    def resolve_commit(self, ref: str) -> str:
        sha = self.refs.get(ref, ref)
        if sha not in self.commits:
            raise OtterError(f"no commit {ref!r}")
        return sha

    def branch_head(self, branch: str) -> str | None:
        return self.refs.get(f"refs/heads/{branch}")

    def commit_subject(self, sha: str) -> str:
        return self.subjects[sha]

    def add_worktree(self, path: Path, sha: str) -> None:
        for name, text in self.commits[sha].items():
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            (path / name).write_text(text)

    def remove_worktree(self, path: Path) -> None:
        import shutil
        shutil.rmtree(path, ignore_errors=True)


ROUTED = """\
services:
  web:
    image: busybox
    healthcheck: {test: [CMD, "true"]}
    labels:
      traefik.enable: "true"
      traefik.http.routers.web.rule: Host(`app.test`)
      traefik.http.services.web.loadbalancer.server.port: "8000"
  worker:
    image: busybox
"""


class FakeNotifier:
    """Records what it is told to send (target, event); `fail` is the reason it gives."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.fail: str | None = None

    def send(self, target: str, event: dict[str, Any],
             redact: Callable[[str], str]) -> str | None:
        self.sent.append((target, {k: redact(v) if isinstance(v, str) else v
                                   for k, v in event.items()}))
        return self.fail


@dataclass
class World:
    """One app `app` on fake ports, with its store and output."""

    tmp: Path
    routed: bool = True
    runtime: FakeRuntime = field(default_factory=FakeRuntime)
    repo: FakeRepo = field(default_factory=FakeRepo)

    def __post_init__(self) -> None:
        self.paths = Paths(self.tmp / "data").ensure()
        self.store = State(self.paths.db)
        self.store.upsert_app("app", str(self.tmp / "app.git"),
                              traefik_routing=self.routed)
        self.router = FakeRouter(self.runtime)
        self.notifier = FakeNotifier()
        self.output = io.StringIO()
        self.scheduled: list[tuple[str, str, float]] = []
        self.watches: list[tuple[str, str]] = []

    def ports(self) -> Ports:
        return Ports(runtime=self.runtime, router=self.router, store=self.store,
                     notifier=self.notifier, open_repo=lambda path: self.repo, paths=self.paths,
                     out=Progress(self.output, False),
                     schedule_retire=lambda *args: self.scheduled.append(args),
                     schedule_watch=lambda *args: self.watches.append(args))

    @property
    def app(self):
        return self.store.require_app("app")

    def statuses(self) -> dict[str, str]:
        return {r.name: r.status for r in self.store.releases("app")}

    def push(self, compose: str = ROUTED, **request: Any):
        """Commit `compose` to main and deploy it as a push would."""
        from otterstack_hooks.usecases.deploy import Deploy, DeployRequest
        sha = self.repo.commit({"compose.yaml": compose})
        request.setdefault("trigger", "push")
        return Deploy(self.ports()).run(DeployRequest(app="app", ref=sha, **request))

    def push_preview(self, branch: str, compose: str = ROUTED, **request: Any):
        """Commit `compose` to `branch` and deploy its preview as a push would (previews on,
        under preview.test, unless the test set them otherwise)."""
        from otterstack_hooks.usecases.deploy import DeployRequest
        from otterstack_hooks.usecases.preview_deploy import PreviewDeploy
        if not self.app.preview_domain:
            self.store.set_app_setting("app", "previews", True)
            self.store.set_app_setting("app", "preview_domain", "preview.test")
        sha = self.repo.commit({"compose.yaml": compose}, branch=branch)
        request.setdefault("trigger", "push")
        return PreviewDeploy(self.ports()).run(DeployRequest(
            app="app", ref=sha, preview_branch=branch, **request))
