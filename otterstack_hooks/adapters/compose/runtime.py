"""The Runtime port (ports.Runtime) on one host: Docker Compose for releases, the Docker
Engine's API for what Compose does not say (health, connections, images). Thin: every
decision is in the orchestrators and the pure modules."""

from collections.abc import Mapping, Sequence
from typing import Any

import docker

from otterstack_hooks.adapters.compose import compose_cli as compose
from otterstack_hooks.adapters.docker import drain, engine
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.ports import OnLine, Say
from otterstack_hooks.rules.command_lines import ComposeTarget, compose_logs
from otterstack_hooks.rules.container_view import container_rows
from otterstack_hooks.rules.health import ContainerSnapshot


class ComposeRuntime:
    @property
    def dc(self) -> docker.DockerClient:
        """The process's one client (engine.client), made on first use: a dry run of a bad
        compose file needs no engine."""
        return engine.client()

    def read_config(self, target: ComposeTarget) -> tuple[dict[str, Any], dict[str, Any]]:
        return compose.config_and_raw(target)

    def validate(self, target: ComposeTarget) -> None:
        compose.config(target)

    def build(self, target: ComposeTarget, services: Sequence[str], on_line: OnLine,
              timeout: float) -> None:
        compose.build(target, services, on_line, timeout)

    def up(self, target: ComposeTarget, services: Sequence[str], on_line: OnLine,
           timeout: float) -> None:
        compose.up(target, services, on_line, timeout)

    def run_once(self, target: ComposeTarget, service: str, command: Sequence[str],
                 on_line: OnLine, timeout: float) -> None:
        compose.run_once(target, service, command, on_line, timeout)

    def pull(self, target: ComposeTarget, service: str) -> None:
        compose.pull(target, service)

    def image_has_healthcheck(self, image: str) -> bool | None:
        return engine.image_has_healthcheck(self.dc, image)

    def image_labels(self, image: str) -> dict[str, str] | None:
        return engine.image_labels(self.dc, image)

    def image_project(self, image: str) -> str | None:
        return engine.image_project(self.dc, image)

    def reuse_images(self, source: str, project: str, services: Sequence[str]) -> bool:
        names = {s: f"{source}-{s}" for s in services}
        if not all(engine.image_exists(self.dc, name) for name in names.values()):
            return False
        for service, name in names.items():
            engine.tag_image(self.dc, name, f"{project}-{service}")
        return True

    def ensure_volume(self, app: str, name: str, spec: Mapping[str, Any]) -> bool:
        return engine.ensure_volume(self.dc, app, name, dict(spec))

    def ensure_network(self, app: str, name: str, spec: Mapping[str, Any]) -> bool:
        return engine.ensure_network(self.dc, app, name, dict(spec))

    def containers(self, project: str) -> list[ContainerSnapshot]:
        return self._host_containers(project)

    def _host_containers(self, project: str) -> list[ContainerSnapshot]:
        """The compose project's containers on this host (those of a Swarm app too)."""
        return [engine.snapshot(a) for a in engine.project_containers(self.dc, project)]

    spans_nodes = False

    def container_rows(self, project: str) -> list[dict[str, str]]:
        return container_rows(self._host_containers(project))

    def service_rows(self, project: str) -> list[dict[str, Any]]:
        return []

    def log_commands(self, app: str, release: str | None, kept: str, service: str,
                     follow: bool) -> list[list[str]]:
        """`docker compose logs` of the release, or of the kept project if the service is
        one of its."""
        project = release or ""
        if service and service in {c.service for c in self._host_containers(kept)}:
            project = kept
        if not project:
            raise OtterError(f"{app} has no active release")
        return [compose_logs(project, service, follow)]

    def logs_tail(self, container_id: str, lines: int) -> list[str]:
        return engine.logs_tail(self.dc, container_id, lines)

    def fingerprints(self, project: str) -> dict[str, tuple[str, str, int]]:
        return engine.service_fingerprints(self.dc, project)

    def drain(self, project: str, label: str, timeout: float, say: Say) -> None:
        say(drain.verdict_text(drain.drain(self.dc, project, label, timeout, say)))

    def stop(self, project: str, services: Sequence[str] = ()) -> None:
        compose.stop(project, services=services)

    def start(self, project: str, services: Sequence[str]) -> None:
        compose.start(project, services)

    def remove(self, project: str, timeout: int | None = None) -> None:
        """`down --rmi local`, then the image tags it leaves (a rollback runs the same image
        under its own tag): best effort, a left tag costs disk only."""
        compose.down(project, timeout=timeout, remove_images=True)
        try:
            engine.remove_project_images(self.dc, project)
        except OtterError:
            pass

    def projects(self) -> set[str]:
        return engine.projects(self.dc)

    def app_resources(self, app: str, preview: str | None = None
                      ) -> tuple[list[str], list[str]]:
        return engine.app_resources(self.dc, app, preview)

    def remove_volume(self, name: str) -> None:
        engine.remove_volume(self.dc, name)

    def remove_network(self, name: str) -> None:
        engine.remove_network(self.dc, name)
