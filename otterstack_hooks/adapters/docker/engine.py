"""Docker Engine API I/O (docker SDK): container state, logs, images, networks."""

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import docker
import docker.errors
import requests.exceptions

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.names import printable
from otterstack_hooks.rules.compose.model import is_routed
from otterstack_hooks.rules.health import ContainerSnapshot
from otterstack_hooks.rules.preview.naming import selects
from otterstack_hooks.rules.swarm.stack import STACK_LABEL

PROJECT_LABEL = "com.docker.compose.project"
DOCKER_STOP_GRACE = 10  # s: Docker's stop timeout when the container sets none
SERVICE_LABEL = "com.docker.compose.service"
APP_LABEL = "dev.otterstack.app"


@contextmanager
def engine_errors(action: str) -> Iterator[None]:
    """Turn Engine API failures into one actionable line."""
    try:
        yield
    except docker.errors.DockerException as exc:
        raise OtterError(
            f"Docker Engine error while {action}: {printable(str(exc), 300)}; check that dockerd "
            "is running and this user may use its socket (`docker info`)"
        ) from exc
    except requests.exceptions.RequestException as exc:
        raise OtterError(
            f"cannot reach the Docker Engine while {action} ({type(exc).__name__}); start "
            "dockerd and check `docker info`"
        ) from exc


@functools.cache
def client() -> docker.DockerClient:
    """The process's one Docker client (its connection pool is shared by every adapter)."""
    with engine_errors("connecting"):
        return docker.from_env(timeout=60)


def _parse_time(text: str) -> datetime | None:
    if not text or text.startswith("0001-"):
        return None
    text = text.rstrip("Z")
    if "." in text:
        head, frac = text.split(".", 1)
        text = f"{head}.{frac[:6]}"
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def snapshot(attrs: dict[str, Any]) -> ContainerSnapshot:
    """The facts health decisions need, from one container's inspect data."""
    state = attrs.get("State", {})
    health = state.get("Health")
    started = _parse_time(state.get("StartedAt", ""))
    running_for = (datetime.now(UTC) - started).total_seconds() if started else 0.0
    log = (health or {}).get("Log") or []
    output = printable(" ".join(str(log[-1].get("Output", "")).split()), 200) if log else ""
    labels = attrs.get("Config", {}).get("Labels") or {}
    return ContainerSnapshot(
        id=attrs["Id"],
        name=attrs.get("Name", "").lstrip("/"),
        service=labels.get(SERVICE_LABEL, "?"),
        status=state.get("Status", "unknown"),
        health=health.get("Status") if health else None,
        restart_count=int(attrs.get("RestartCount", 0)),
        exit_code=int(state.get("ExitCode", 0)),
        running_for=running_for,
        health_output=output,
        restart_policy=((attrs.get("HostConfig") or {}).get("RestartPolicy") or {}).get(
            "Name") or "no",
        routed=is_routed(labels),
        oneoff=labels.get("com.docker.compose.oneoff", "").lower() == "true",
        healthy_since=healthy_since(attrs),
        stop_grace=float(DOCKER_STOP_GRACE if attrs.get("Config", {}).get("StopTimeout") is None
                         else attrs["Config"]["StopTimeout"]),
    )


def healthy_since(attrs: dict[str, Any]) -> float | None:
    """When Docker last turned this container healthy: the end of the first passing check
    after the last failing one in its health log; None without a healthcheck."""
    log = ((attrs.get("State") or {}).get("Health") or {}).get("Log") or []
    since = None
    for entry in log:
        if entry.get("ExitCode") == 0:
            if since is None:
                since = _parse_time(entry.get("End", ""))
        else:
            since = None
    return since.timestamp() if since else None


def project_containers(dc: docker.DockerClient, project: str) -> list[dict[str, Any]]:
    """Inspect data of every container of a compose project, running or not."""
    with engine_errors(f"listing containers of {project}"):
        found = dc.api.containers(all=True, filters={"label": f"{PROJECT_LABEL}={project}"})
        result = []
        for item in found:
            try:
                result.append(dc.api.inspect_container(item["Id"]))
            except docker.errors.NotFound:
                continue
        return result


def stack_services(dc: docker.DockerClient, stack: str, *labels: str) -> list[dict[str, Any]]:
    """The services of a Swarm stack (with every one of `labels` too, if given)."""
    with engine_errors(f"listing the services of {stack}"):
        wanted = [f"{STACK_LABEL}={stack}", *labels]
        return list(dc.api.services(filters={"label": wanted if labels else wanted[0]}))


def projects(dc: docker.DockerClient) -> set[str]:
    with engine_errors("listing compose projects"):
        found = dc.api.containers(all=True, filters={"label": PROJECT_LABEL})
    return {c["Labels"].get(PROJECT_LABEL, "") for c in found}


def logs_tail(dc: docker.DockerClient, container_id: str, lines: int = 10) -> list[str]:
    try:
        raw = dc.api.logs(container_id, tail=lines, stdout=True, stderr=True)
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        return []
    return [printable(line, 200) for line in raw.decode("utf-8", "replace").splitlines()]


def image_has_healthcheck(dc: docker.DockerClient, image: str) -> bool | None:
    """Whether an image declares a HEALTHCHECK; None if the image is not there."""
    try:
        attrs = dc.api.inspect_image(image)
    except docker.errors.ImageNotFound:
        return None
    test = (attrs.get("Config") or {}).get("Healthcheck", {}) or {}
    return bool(test.get("Test")) and test.get("Test") != ["NONE"]


def image_labels(dc: docker.DockerClient, image: str) -> dict[str, str] | None:
    """A local image's labels; None if the image is not here (yet)."""
    try:
        attrs = dc.api.inspect_image(image)
    except docker.errors.ImageNotFound:
        return None
    return dict((attrs.get("Config") or {}).get("Labels") or {})


def image_project(dc: docker.DockerClient, image: str) -> str | None:
    """The compose project that built a local image (Compose labels what it builds), or
    None: not built by Compose, not here, or the engine cannot say."""
    try:
        attrs = dc.api.inspect_image(image)
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        return None
    return ((attrs.get("Config") or {}).get("Labels") or {}).get(PROJECT_LABEL) or None


def ping(dc: docker.DockerClient) -> None:
    with engine_errors("checking the engine"):
        dc.ping()


def ensure_volume(dc: docker.DockerClient, app: str, name: str, spec: dict[str, Any]) -> bool:
    """Create a per-app named volume unless it exists; True if created. Never removes one."""
    with engine_errors(f"creating volume {name}"):
        try:
            dc.volumes.get(name)
            return False
        except docker.errors.NotFound:
            pass
        dc.volumes.create(name, driver=spec.get("driver") or "local",
                          driver_opts=spec.get("driver_opts") or {},
                          labels={**(spec.get("labels") or {}), APP_LABEL: app})
        return True


def ensure_network(dc: docker.DockerClient, app: str, name: str, spec: dict[str, Any]) -> bool:
    """Create a per-app network shared by all releases unless it exists; True if created."""
    with engine_errors(f"creating network {name}"):
        if any(n.name == name for n in dc.networks.list(names=[name])):
            return False
        dc.networks.create(name, driver=spec.get("driver") or "bridge",
                           internal=bool(spec.get("internal")),
                           attachable=bool(spec.get("attachable")),
                           labels={**(spec.get("labels") or {}), APP_LABEL: app})
        return True


def service_fingerprints(dc: docker.DockerClient, project: str
                         ) -> dict[str, tuple[str, str, int]]:
    """service -> (container id, compose config hash, restart count): kept or recreated."""
    result = {}
    for attrs in project_containers(dc, project):
        labels = attrs.get("Config", {}).get("Labels") or {}
        result[labels.get(SERVICE_LABEL, "?")] = (
            attrs["Id"], labels.get("com.docker.compose.config-hash", ""),
            int(attrs.get("RestartCount", 0)))
    return result


def image_exists(dc: docker.DockerClient, name: str) -> bool:
    try:
        dc.api.inspect_image(name)
        return True
    except docker.errors.ImageNotFound:
        return False


def tag_image(dc: docker.DockerClient, source: str, target: str) -> None:
    with engine_errors(f"tagging {source} as {target}"):
        dc.api.tag(source, target, "latest")


def app_resources(dc: docker.DockerClient, app: str, preview: str | None = None
                  ) -> tuple[list[str], list[str]]:
    """Names of the volumes and networks OtterStack created for an app's production
    (`preview` None) or for one of its previews, selected by their labels: Docker filters
    on a label that is there, so those of other previews (or of production) are told apart
    by reading each one's labels (naming.selects)."""
    label = {"label": f"{APP_LABEL}={app}"}
    with engine_errors(f"listing the volumes and networks of {app}"):
        volumes = [str(v.name) for v in dc.volumes.list(filters=label)
                   if selects(v.attrs.get("Labels") or {}, app, preview)]
        networks = [str(n.name) for n in dc.networks.list(filters=label)
                    if selects(n.attrs.get("Labels") or {}, app, preview)]
    return sorted(volumes), sorted(networks)


def remove_volume(dc: docker.DockerClient, name: str) -> None:
    with engine_errors(f"removing volume {name}"):
        dc.volumes.get(name).remove()


def remove_network(dc: docker.DockerClient, name: str) -> None:
    with engine_errors(f"removing network {name}"):
        dc.networks.get(name).remove()


def remove_project_images(dc: docker.DockerClient, project: str) -> None:
    """Untag the images a release built (`<project>-<service>`) that `compose down --rmi`
    left because another release (a rollback) runs the same image under its own tag. Only
    the exact tag of a service the image was built for (its compose label) goes: a name
    that merely starts the same (`shop-r1-r1-web`, app shop-r1's, for project shop-r1) is
    another app's."""
    try:
        for image in dc.images.list(filters={"reference": f"{project}-*"}):
            service = (image.labels or {}).get(SERVICE_LABEL)
            tag = f"{project}-{service}:latest"
            if service and tag in image.tags:
                dc.images.remove(tag, noprune=False)
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        pass  # best effort: a left tag costs disk, not correctness


def service_images(services: list[dict[str, Any]]) -> set[str]:
    """The image references Swarm services run (`name:tag`, without a pinned digest)."""
    return {str(((s["Spec"].get("TaskTemplate") or {}).get("ContainerSpec") or {}).get(
        "Image", "")).partition("@")[0] for s in services}


def untag_unused(dc: docker.DockerClient, references: set[str]) -> None:
    """Untag each of `references` (`name:tag`) that no Swarm service runs any more: the
    commit tags of a preview's stacks, which keep no release to roll back to. Best effort,
    as remove_project_images."""
    try:
        used = service_images(list(dc.api.services()))
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        return
    for reference in sorted(references - used):
        try:
            dc.images.remove(reference, noprune=False)
        except (docker.errors.DockerException, requests.exceptions.RequestException):
            continue  # a left tag costs disk, not correctness
