"""Swarm's tasks, read as the container snapshots the health gate judges (pure).

The health gate (health.evaluate) was written for containers; on Swarm a service's replicas
are tasks, which may run on other nodes. Each task Swarm wants running becomes one snapshot:

- Swarm holds a task with a HEALTHCHECK in `starting` until the check passes, then marks it
  `running`; Traefik's swarm provider routes only `running` tasks. So `starting` reads as
  health "starting" and `running` as "healthy" (for a service with a check).
- Swarm notices an unhealthy container late (seconds to tens of seconds after Docker marks
  it so); for a task on this node the container's own health is read (`local`), so an
  unhealthy release fails at once, with its check's output.
- Swarm replaces a task that exits or turns unhealthy with a new one in the same slot, so a
  failed task of the slot since the service last changed counts as a restart: the gate fails
  at once instead of waiting for the timeout while Swarm retries. Its error ("unhealthy
  container", "non-zero exit (1)") is kept for the pusher.
"""

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from otterstack_hooks.rules.compose.model import is_routed
from otterstack_hooks.rules.health import ContainerSnapshot

RUNNING_STATES = ("running",)
STARTING_STATES = ("new", "pending", "assigned", "accepted", "ready", "preparing", "starting")
FAILED_STATES = ("failed", "rejected", "orphaned")


def parse_time(text: str) -> float | None:
    """Docker's RFC 3339 time with nanoseconds (`2026-12-07T00:01:33.123456789Z`)."""
    if not text or text.startswith("0001-"):
        return None
    head, _, frac = text.rstrip("Z").partition(".")
    try:
        moment = datetime.fromisoformat(head).replace(tzinfo=UTC)
    except ValueError:
        return None
    return moment.timestamp() + (float(f"0.{frac[:6]}") if frac.isdigit() else 0.0)


def service_name(stack: str, swarm_name: str) -> str:
    """`shop-r7_web` -> `web`: the compose service a stack's service was made from."""
    return swarm_name.removeprefix(f"{stack}_")


def snapshots(stack: str, service: Mapping[str, Any], tasks: Iterable[Mapping[str, Any]],
              has_healthcheck: bool, now: float,
              local: Mapping[str, tuple[str, str]] | None = None) -> list[ContainerSnapshot]:
    """One snapshot per task Swarm wants running, of one service of a stack. `local`: the
    health (and its check's last output) of the task containers on this node, by id."""
    local = local or {}
    spec = service.get("Spec") or {}
    labels = spec.get("Labels") or {}
    name = service_name(stack, spec.get("Name", "?"))
    changed = parse_time(str((service.get("UpdateStatus") or {}).get("StartedAt") or "")) \
        or parse_time(str(service.get("CreatedAt", ""))) or 0.0
    tasks = list(tasks)
    failed_by_slot: dict[Any, list[Mapping[str, Any]]] = {}
    for task in tasks:
        state = (task.get("Status") or {}).get("State", "")
        created = parse_time(str(task.get("CreatedAt", ""))) or 0.0
        if state in FAILED_STATES and created >= changed:
            failed_by_slot.setdefault(_slot(task), []).append(task)
    result = []
    for task in tasks:
        if task.get("DesiredState") != "running":
            continue
        status = task.get("Status") or {}
        state = status.get("State", "")
        failures = sorted(failed_by_slot.get(_slot(task), []),
                          key=lambda t: str(t.get("CreatedAt", "")))
        last = failures[-1] if failures else None
        last_error = str((last.get("Status") or {}).get("Err", "")) if last else ""
        since = parse_time(str(status.get("Timestamp", ""))) or now
        if state in RUNNING_STATES:
            shown, health = "running", ("healthy" if has_healthcheck else None)
        elif state in STARTING_STATES:
            shown = "running" if state == "starting" else "created"
            health = "starting" if has_healthcheck and state == "starting" else None
        elif state == "complete":
            shown, health = "exited", None
        else:
            shown, health = "exited", None
        container = str(status.get("ContainerStatus", {}).get("ContainerID") or "")
        own, output = local.get(container, ("", ""))
        if own == "unhealthy" and state not in RUNNING_STATES:
            health, last_error = "unhealthy", output or last_error
        elif "unhealthy" in last_error and health != "healthy":
            health = "unhealthy"
        result.append(ContainerSnapshot(
            id=str(task.get("ID", "")),
            name=f"{spec.get('Name', name)}.{_slot(task) or task.get('NodeID', '')}",
            service=name,
            status=shown,
            health=health,
            restart_count=len(failures),
            exit_code=int(((last or task).get("Status") or {}).get("ContainerStatus", {})
                          .get("ExitCode") or 0),
            running_for=max(0.0, now - since) if state in RUNNING_STATES else 0.0,
            health_output=last_error,
            restart_policy="any",
            routed=is_routed({str(k): str(v) for k, v in labels.items()}),
            healthy_since=since if state in RUNNING_STATES and has_healthcheck else None,
        ))
    return result


def _slot(task: Mapping[str, Any]) -> Any:
    return task.get("Slot") or task.get("NodeID")

