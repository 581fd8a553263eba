"""A Swarm app's stacks as `otterstack status` shows them, which services `otterstack logs
--app` reads, and whether a stack runs images the app built (pure).

The Engine API's services, tasks and nodes come in as plain dicts; what comes out is what
the user sees: `web  2/2 running: 1 on os-n2, 2 on os-n3`.
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.rules.swarm.tasks import service_name


def node_names(nodes: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """node id -> its hostname (or the short id if it has none)."""
    return {str(n.get("ID", "")): str((n.get("Description") or {}).get("Hostname")
                                      or str(n.get("ID", ""))[:12]) for n in nodes}


def service_summary(stack: str, service: Mapping[str, Any], tasks: Iterable[Mapping[str, Any]],
                    nodes: Mapping[str, str]) -> dict[str, Any]:
    """One service of a stack: the replicas it should have, how many run, and each task Swarm
    wants running or about to (slot, node, state and Swarm's error, e.g. `no suitable
    node`)."""
    spec = service.get("Spec") or {}
    mode = spec.get("Mode") or {}
    # `ready`: a task Swarm starts once an update has stopped the one it replaces, or that
    # waits for a node (pending, with Swarm's reason)
    wanted = [t for t in tasks if t.get("DesiredState") in ("running", "ready")]
    listed = []
    for task in wanted:
        status = task.get("Status") or {}
        node_id = str(task.get("NodeID") or "")
        listed.append({"slot": int(task.get("Slot") or 0),
                       "node": nodes.get(node_id, node_id[:12]) if node_id else "",
                       "state": str(status.get("State") or "?"),
                       "error": str(status.get("Err") or "")})
    listed.sort(key=lambda t: (t["slot"], t["node"]))
    if "Replicated" in mode:
        desired = int((mode.get("Replicated") or {}).get("Replicas") or 0)
    else:  # global: one task per node it may run on
        desired = len(listed)
    return {"service": service_name(stack, str(spec.get("Name", "?"))),
            "swarm_service": str(spec.get("Name", "?")),
            "mode": "replicated" if "Replicated" in mode else "global",
            "desired": desired,
            "running": sum(1 for t in listed if t["state"] == "running"),
            "tasks": listed}


def _where(task: Mapping[str, Any]) -> str:
    node = task["node"] or "no node yet"
    return f"{task['slot']} on {node}" if task["slot"] else node


def summary_line(summary: Mapping[str, Any], width: int = 0) -> str:
    """`web  2/2 running: 1 on os-n2, 2 on os-n3`; tasks in other states follow, each state
    with its tasks and Swarm's first error for them (`; pending: 3 on no node yet (no
    suitable node ...)`)."""
    by_state: dict[str, list[Mapping[str, Any]]] = {}
    for task in summary["tasks"]:
        by_state.setdefault(task["state"], []).append(task)
    head = f"{summary['service']:<{width}}  {summary['running']}/{summary['desired']} running"
    if not summary["tasks"]:
        return head + (" (scaled to 0)" if summary["desired"] == 0 else ": no task yet")
    parts = []
    for state in ["running", *sorted(s for s in by_state if s != "running")]:
        tasks = by_state.get(state)
        if not tasks:
            continue
        text = ", ".join(_where(t) for t in tasks)
        if state != "running":
            text = f"{state}: {text}"
            error = next((t["error"] for t in tasks if t["error"]), "")
            if error:
                text += f" ({error})"
        parts.append(text)
    if "running" in by_state:
        return f"{head}: {'; '.join(parts)}"
    return f"{head}; {'; '.join(parts)}"


def summary_lines(summaries: Sequence[Mapping[str, Any]]) -> list[str]:
    """The services of a stack, their names aligned."""
    width = max((len(s["service"]) for s in summaries), default=0)
    return [summary_line(s, width) for s in sorted(summaries, key=lambda s: s["service"])]


def log_services(app: str, release_stack: str | None, release: Sequence[str], state_stack: str,
                 state: Sequence[str], service: str) -> list[str]:
    """The Swarm services whose logs `otterstack logs APP --app [SERVICE]` shows, like the
    Compose path: a named service of the state stack (kept across releases) or of the active
    release; without a name, every service of the active release. `release` and `state` are
    the stacks' Swarm service names (`shop-r7_web`)."""
    if service:
        for stack, names in ((state_stack, state), (release_stack, release)):
            if stack and f"{stack}_{service}" in names:
                return [f"{stack}_{service}"]
    if release_stack is None:
        raise OtterError(f"{app} has no active release")
    if service:
        known = sorted({service_name(release_stack, n) for n in release}
                       | {service_name(state_stack, n) for n in state})
        raise OtterError(f"{app} has no service {service!r} on the Swarm (its services: "
                         f"{', '.join(known) or 'none'})")
    if not release:
        raise OtterError(f"the stack {release_stack} of {app}'s active release has no services "
                         f"(`docker stack ps {release_stack}`)")
    return sorted(release)


def built_here(app: str, swarm_service: str, stack: str, image: str) -> bool:
    """Whether a stack's service runs an image the app built: SwarmRuntime tags those
    `[REGISTRY/]<app>-<service>` (by commit, or by digest once pushed)."""
    reference = image.split("@", 1)[0]
    last = reference.rsplit("/", 1)[-1]
    repository = last.split(":", 1)[0]
    return repository == f"{app}-{service_name(stack, swarm_service)}"
