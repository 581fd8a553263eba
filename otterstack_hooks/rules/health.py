"""Pure health verdicts: is a release ready, still starting, or already lost?

A release is ready when every service with a HEALTHCHECK is `healthy` and every service without
one has been running, without a restart, for the settle period. A container that exits,
restarts or is declared unhealthy fails the release at once instead of at the timeout.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class ContainerSnapshot:
    id: str
    name: str
    service: str
    status: str  # created, running, restarting, exited, dead, paused
    health: str | None  # starting, healthy, unhealthy; None without a HEALTHCHECK
    restart_count: int
    exit_code: int
    running_for: float  # seconds since it (last) started
    health_output: str = ""
    restart_policy: str = "no"
    routed: bool = False
    oneoff: bool = False  # a `compose run` container (the release command), not a service
    healthy_since: float | None = None  # when Docker last turned it healthy (epoch seconds)
    stop_grace: float = 10.0  # s between the stop signal and SIGKILL (stop_grace_period)


@dataclass(frozen=True)
class Verdict:
    state: str  # "ready" | "waiting" | "failed"
    detail: str
    failed_container: str | None = None


def completed(snap: ContainerSnapshot) -> bool:
    """A one-shot job (exit 0, no restart policy, not routed) that finished its work."""
    return (snap.status == "exited" and snap.exit_code == 0 and snap.restart_policy == "no"
            and not snap.routed)


def evaluate(
    snapshots: list[ContainerSnapshot], expected: dict[str, int], settle: float,
    baseline: dict[str, int] | None = None,
) -> Verdict:
    """Judge one poll of the release's containers against the services it should have.

    `baseline` maps container id -> restarts it had before this deploy (kept singletons).
    """
    baseline = baseline or {}
    snapshots = [s for s in snapshots if not s.oneoff]
    waiting: list[str] = []
    for snap in snapshots:
        if completed(snap):
            continue
        if snap.status in ("exited", "dead"):
            return Verdict(
                "failed", f"service {snap.service} exited with code {snap.exit_code}", snap.id
            )
        if snap.status == "restarting" or snap.restart_count > baseline.get(snap.id, 0):
            return Verdict(
                "failed",
                f"service {snap.service} is restart-looping (restarted {snap.restart_count}x, "
                f"last exit code {snap.exit_code})",
                snap.id,
            )
        if snap.health == "unhealthy":
            output = f": {snap.health_output}" if snap.health_output else ""
            return Verdict(
                "failed", f"service {snap.service} failed its healthcheck{output}", snap.id
            )
        if snap.status != "running":
            waiting.append(f"{snap.service} {snap.status}")
        elif snap.health == "starting":
            waiting.append(f"{snap.service} health starting")
        elif snap.health is None and snap.running_for < settle:
            waiting.append(f"{snap.service} settling")
    counts: dict[str, int] = {}
    for snap in snapshots:
        counts[snap.service] = counts.get(snap.service, 0) + 1
    for service, want in sorted(expected.items()):
        if counts.get(service, 0) < want:
            waiting.append(f"{service} not created yet")
    if waiting:
        return Verdict("waiting", ", ".join(waiting))
    return Verdict("ready", ", ".join(sorted(_describe(s) for s in snapshots)))


def _describe(snap: ContainerSnapshot) -> str:
    state = "completed" if completed(snap) else "healthy" if snap.health else "running"
    return f"{snap.service} {state}"


def whole_and_healthy(snapshots: list[ContainerSnapshot], services: str) -> bool:
    """Recovery: did an interrupted release start every replica it meant to (`services` is
    its record, "web=2,worker=1"), all running and healthy or completed one-shot jobs?"""
    expected: dict[str, int] = {}
    for item in filter(None, services.split(",")):
        name, _, count = item.partition("=")
        expected[name] = int(count) if count.isdigit() else 1
    counts: dict[str, int] = {}
    for snap in snapshots:
        if snap.oneoff:
            continue
        if completed(snap):
            counts[snap.service] = counts.get(snap.service, 0) + 1
            continue
        if snap.status != "running" or snap.health not in (None, "healthy"):
            return False
        counts[snap.service] = counts.get(snap.service, 0) + 1
    return all(counts.get(name, 0) >= want for name, want in expected.items())
