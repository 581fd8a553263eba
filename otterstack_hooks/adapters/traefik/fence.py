"""Take a running release out of Traefik's docker provider, and back in, with a fence
(rules/traefik/fence.py says why a fence and not a pause or a label): thin I/O over Docker
and Traefik's API.

The fence is a container of Traefik's own image (present on this host, since Traefik runs
from it) that runs Traefik with no provider, listening on its own loopback only: it serves
nothing, costs about 13 MiB, and exists only for its labels. It reads no configuration file
(an empty tmpfs over the places Traefik looks), so a user's image with a baked-in static
configuration cannot make it do more.
"""

import time
from typing import Any

import docker
import docker.errors

from otterstack_hooks.adapters.docker.engine import PROJECT_LABEL, engine_errors
from otterstack_hooks.adapters.traefik.api_client import release_routers
from otterstack_hooks.rules.swarm.stack import APP_LABEL
from otterstack_hooks.rules.traefik.fence import (
    FENCE_LABEL,
    FENCE_PORT,
    fence_labels,
    routers_of,
)
from otterstack_hooks.rules.traefik.routing_plan import TraefikInfo

FENCE_LIMIT_SECONDS = 10  # until Traefik's API shows the change, after the fence's event
_NO_CONFIG = "/etc/traefik"  # Traefik looks here, in $HOME/.config and in its workdir


def fence_name(project: str) -> str:
    return f"otterstack-fence-{project}"


def router_names(dc: docker.DockerClient, project: str) -> dict[str, set[str]]:
    """The router names the labels of the project's containers (running or not) define, by
    protocol: the exact names its routers are found by in Traefik's API."""
    with engine_errors(f"reading the labels of {project}"):
        containers = dc.api.containers(all=True, filters={"label": f"{PROJECT_LABEL}={project}"})
    return routers_of(c.get("Labels") or {} for c in containers)


def withdraw(dc: docker.DockerClient, info: TraefikInfo, project: str,
             timeout: float = FENCE_LIMIT_SECONDS) -> bool:
    """Take `project` out of Traefik while it keeps running and serving what it has: start
    its fence (its `start` event makes Traefik re-read every container) and wait until the
    API lists none of the project's routers; True once it lists none. The fence stays until
    `unfence`: no later re-read can route the release again."""
    with engine_errors(f"taking {project} out of Traefik"):
        containers = dc.api.containers(filters={"label": f"{PROJECT_LABEL}={project}",
                                                "status": "running"})
        labels = fence_labels([c.get("Labels") or {} for c in containers], project)
        if labels and info.image:
            _start_fence(dc, info, project, labels)
    return _wait(info, project, router_names(dc, project), present=False, timeout=timeout)


def readmit(dc: docker.DockerClient, info: TraefikInfo, project: str,
            timeout: float = FENCE_LIMIT_SECONDS) -> bool:
    """Undo `withdraw` for a release that still runs (an instant rollback whose proof
    failed): remove its fence and wait until Traefik lists its routers again."""
    unfence(dc, project)
    return _wait(info, project, router_names(dc, project), present=True, timeout=timeout)


def unfence(dc: docker.DockerClient, project: str) -> None:
    """Remove the fence of `project`, if any: once the release has exited, or to route it
    again. Found by label, never by name."""
    with engine_errors(f"removing the fence of {project}"):
        for container in dc.api.containers(all=True,
                                           filters={"label": f"{FENCE_LABEL}={project}"}):
            _remove(dc, container["Id"])


def sweep(dc: docker.DockerClient, app: str) -> list[str]:
    """Remove every fence of `app` whose release no longer runs (a deploy killed between a
    release's stop and its fence's removal); the projects whose fences were removed. Only
    the app's own (by the app label the fence copied): the caller holds the app's lock, so
    none of them is being removed meanwhile, while other apps' deploys run beside it."""
    removed = []
    with engine_errors("removing fences left behind"):
        for container in dc.api.containers(all=True, filters={
                "label": [FENCE_LABEL, f"{APP_LABEL}={app}"]}):
            project = (container.get("Labels") or {}).get(FENCE_LABEL, "")
            running = project and dc.api.containers(
                filters={"label": f"{PROJECT_LABEL}={project}", "status": "running"})
            if not running:
                _remove(dc, container["Id"])
                removed.append(project)
    return removed


def _remove(dc: docker.DockerClient, container: str) -> None:
    """Remove a fence; one already gone, or being removed, is done."""
    try:
        dc.api.remove_container(container, force=True)
    except docker.errors.NotFound:
        return
    except docker.errors.APIError as exc:
        if exc.status_code != 409:  # "removal ... is already in progress"
            raise


def _start_fence(dc: docker.DockerClient, info: TraefikInfo, project: str,
                 labels: dict[str, str]) -> None:
    """Start the fence; one already running for this project (same labels, the release has
    not changed) is kept."""
    _remove_stale(dc, project, labels)
    if dc.api.containers(filters={"label": f"{FENCE_LABEL}={project}", "status": "running"}):
        return
    dc.containers.run(
        info.image,
        command=[f"--entrypoints.fence.address=127.0.0.1:{FENCE_PORT}", "--log.level=ERROR"],
        name=fence_name(project),
        detach=True,
        labels=labels,
        network=info.network or None,
        tmpfs={_NO_CONFIG: "size=1m"},
        working_dir=_NO_CONFIG,
        environment={"HOME": _NO_CONFIG, "XDG_CONFIG_HOME": _NO_CONFIG},
        mem_limit="64m",
    )


def _remove_stale(dc: docker.DockerClient, project: str, labels: dict[str, str]) -> None:
    """A fence of this project that is not running, or was made for other labels (left
    behind by a killed deploy), is removed before a new one starts under the same name."""
    for container in dc.api.containers(all=True, filters={"label": f"{FENCE_LABEL}={project}"}):
        has = container.get("Labels") or {}
        if container.get("State") != "running" or any(has.get(k) != v
                                                       for k, v in labels.items()):
            _remove(dc, container["Id"])


def _wait(info: TraefikInfo, project: str, names: dict[str, set[str]], present: bool,
          timeout: float) -> bool:
    """Poll the API (it answers in ms) until it lists the project's routers (`names`, from
    its labels: `present`) or lists none; False at `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        listed: list[dict[str, Any]] | None = release_routers(info.api_url, project, names)
        if listed is not None and bool(listed) == present:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.03)
