"""The steps more than one use case takes, over the ports: wait until a release is healthy,
prove the router serves it, take it out of traffic, let it finish its requests and stop it,
remove one that never served. Each reads as the lines the pusher sees."""

import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from otterstack_hooks.adapters.local.process import StepTimeout
from otterstack_hooks.adapters.local.progress import Progress
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.ports import Ports, Repo
from otterstack_hooks.core.records import App, Release
from otterstack_hooks.core.vocabulary import ReleaseStatus, Step
from otterstack_hooks.rules.health import ContainerSnapshot, evaluate
from otterstack_hooks.rules.notify_target import build_event
from otterstack_hooks.rules.preview.lifecycle import LivePreview
from otterstack_hooks.rules.traefik.routing_plan import (
    Probe,
    RoutingPlan,
    TraefikInfo,
    explain_foreign,
    judge_answers,
)

MAX_DETAIL_LINES = 400
SERVE_PROOF_SECONDS = 15  # per router, after the API shows it enabled
ENABLE_SECONDS = 30  # until the API shows every new router enabled with its servers up


class Details:
    """Command output: all of it to the release log, the first lines to the terminal."""

    def __init__(self, out: Progress, step: Step):
        self.out, self.step, self.count = out, step, 0

    def __call__(self, line: str) -> None:
        self.count += 1
        if self.count == MAX_DETAIL_LINES + 1:
            self.out.detail(self.step, "... the rest is in the release log "
                            "(`otterstack logs APP --release RELEASE`)")
        self.out.detail(self.step, line, terminal=self.count <= MAX_DETAIL_LINES)


@contextmanager
def limit(app: App, setting: str, what: str) -> Iterator[None]:
    """A step that ran past its time limit: name it, the limit and the setting to raise."""
    try:
        yield
    except StepTimeout as exc:
        raise OtterError(
            f"{what} did not finish in {exc.seconds:.0f} s ({setting}) and was stopped "
            f"with every process it started; if it needs longer: `otterstack config "
            f"{app.name} {setting} SECONDS`") from exc


def release_named(ports: Ports, app: str, name: str) -> Release | None:
    """The app's release called `name` (`r7`), whatever its status; None if there is none."""
    return next((r for r in ports.store.releases(app, limit=100000) if r.name == name), None)


def tell(ports: Ports, app: App, kind: str, release: Release, serving: str = "") -> None:
    """Tell the app's notification target about a release; a preview's event names the
    preview (its record, read now: a first push's `started` has no URL yet)."""
    if not app.notify:
        return
    preview = None
    if release.preview:
        known = next((p for p in ports.store.previews(app.name) if p.slug == release.preview),
                     LivePreview("", release.preview, release.sha, 0.0))
        preview = known.notice()
    deliver(ports, app, build_event(
        kind, app.name, release.name, release.sha, release.status, release.reason,
        release.duration, serving, when=time.time(), pushed_by=release.pushed_by,
        preview=preview))


def deliver(ports: Ports, app: App, event: dict[str, Any]) -> None:
    """Send one event to the app's target; a failure to tell is a warning, never more."""
    if not app.notify:
        return
    problem = ports.notifier.send(app.notify, event, ports.out.redact)
    if problem:
        ports.out.warn(Step.NOTIFY, f"could not send the {event['event']} event: {problem}")


def wait_healthy(ports: Ports, app: App, project: str, expected: dict[str, int],
                 timeout: int, services: tuple[str, ...] | None = None,
                 baseline: dict[str, int] | None = None) -> float:
    """Poll until every expected service is ready; fail at once on exit/restart/unhealthy.
    `services` limits the poll to those services (the singletons of the state project).
    Returns when Docker marked it healthy (what Traefik reacts to), not when we polled."""
    expected = {name: count for name, count in expected.items() if count}
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        snaps = ports.runtime.containers(project)
        if services is not None:
            snaps = [s for s in snaps if s.service in services]
        verdict = evaluate(snaps, expected, app.settle_seconds, baseline or {})
        if verdict.state == "ready":
            ports.out.step(Step.HEALTHY, verdict.detail)
            marks = [s.healthy_since for s in snaps if s.healthy_since is not None]
            return max(marks, default=time.time())
        if verdict.state == "failed":
            for line in ports.runtime.logs_tail(verdict.failed_container or "", 8):
                ports.out.detail(Step.HEALTH, line)
            raise OtterError(verdict.detail)
        if verdict.detail != last:
            ports.out.step(Step.HEALTH, f"waiting: {verdict.detail}")
            last = verdict.detail
        if time.monotonic() > deadline:
            raise OtterError(f"not healthy after {timeout} s ({verdict.detail}); raise the "
                             f"limit with `otterstack config {app.name} health_timeout N`")
        time.sleep(0.5)


def prove_served(ports: Ports, plan: RoutingPlan, release: Release,
                 old: Release | None) -> None:
    """Prove the router serves the new release: every router enabled with its servers UP in
    the API, then real requests on each entrypoint answered by the new release."""
    names = [(r.protocol, r.name) for r in plan.routers]
    ports.out.step(Step.SWITCH, f"waiting for Traefik to enable {len(names)} router(s)")
    ports.router.wait_enabled(plan.traefik, names, ENABLE_SECONDS,
                              lambda text: ports.out.step(Step.SWITCH, f"waiting: {text}"),
                              release.started_at - 5)
    ports.out.step(Step.SWITCH, "Traefik shows every new router enabled, servers UP")
    prove_answers(ports, plan.probes, plan.id_header, release, old)
    for note in plan.notes:
        ports.out.step(Step.SERVED, note)


def prove_answers(ports: Ports, probes: Sequence[Probe], header: str, release: Release,
                  old: Release | None) -> None:
    """Real requests on each router's entrypoints, until they are answered by `release` and
    by no other (at most SERVE_PROOF_SECONDS per router)."""
    by_router: dict[str, list[Probe]] = {}
    for check in probes:
        by_router.setdefault(check.router, []).append(check)
    for checks in by_router.values():
        deadline = time.monotonic() + SERVE_PROOF_SECONDS
        while True:
            answers = [(check, *ports.router.probe(check, header)) for check in checks]
            proven, seen = judge_answers(answers, release.project, release.name)
            if proven:
                ports.out.step(Step.SERVED, seen)
                break
            if time.monotonic() > deadline:
                foreign = next((by for _, _, by in answers
                                if by not in (None, release.project)), None)
                why = (f": {explain_foreign(foreign, old.project if old else None)}"
                       if foreign else "")
                raise OtterError(f"Traefik does not send requests to the new release "
                                 f"({seen}){why}")
            time.sleep(0.05)


def drain_and_stop(ports: Ports, app: App, project: str, label: str,
                   stop: Callable[[], None]) -> None:
    """Let a release that may have served finish its requests, then `stop` it (which is
    graceful: the compose file's stop_grace_period). Nothing running: just `stop`."""
    if any(s.status == "running" for s in ports.runtime.containers(project)):
        ports.runtime.drain(project, label, app.drain_timeout,
                            lambda text: ports.out.step(Step.DRAIN, text))
    stop()


def may_be_routed(ports: Ports, project: str) -> bool:
    """Whether the router may send requests to some container of the project: a routed one
    that runs and is healthy (or has no healthcheck), even if the release never was whole."""
    return any(s.routed and s.status == "running" and s.health in (None, "healthy")
               for s in ports.runtime.containers(project))


def take_out_if_routed(ports: Ports, app: App, release: Release, step: Step,
                       traefik: TraefikInfo | None) -> None:
    """Before a release that never became active is removed: if Traefik may be sending it
    requests (`down -t 0` would cut them), take it out of Traefik and let them finish.
    `traefik`: the one found for this deploy, if any. A problem here is a warning: the
    removal that follows must still happen."""
    if not app.traefik_routing:
        return
    try:
        if not may_be_routed(ports, release.project):
            return
        traefik = traefik or ports.router.detect()
        if traefik is None:
            return
        ports.out.step(step, f"{release.name} was healthy, so Traefik may be sending it "
                       "requests: taking it out of Traefik first")
        if ports.router.withdraw(traefik, release.project):
            ports.out.step(step, f"Traefik no longer routes to {release.name}")
        else:
            ports.out.warn(step, f"Traefik may still list routers of {release.name}; "
                           "stopping it gracefully anyway")
        drain_and_stop(ports, app, release.project, release.name,
                       lambda: stop_withdrawn(ports, app, traefik, release.project,
                                              release.name))
    except OtterError as exc:
        ports.out.warn(step, str(exc))


def stop_withdrawn(ports: Ports, app: App, traefik: TraefikInfo, project: str,
                   label: str) -> None:
    """Stop a release taken out of Traefik, after its drain. It stays out while it exits
    (withdraw fenced it: rules/traefik/fence.py), however long its stop grace period, whatever
    it does with SIGTERM; once it has exited, nothing of it can be routed and the fence goes. A stop
    that fails leaves the fence: the release may still run."""
    ports.out.step(Step.STOP, stop_text(label, ports.runtime.containers(project)))
    ports.runtime.stop(project)
    ports.router.unfence(traefik, project)


def stop_text(label: str, snaps: Sequence[ContainerSnapshot]) -> str:
    """What a stop waits for, at most: the longest stop grace period of what runs."""
    grace = max((s.stop_grace for s in snaps if s.status in ("running", "paused")), default=0)
    if not grace:
        return f"stopping {label}"
    return f"stopping {label}: up to {grace:g} s stop grace period"


def forget(ports: Ports, app: App, repo: Repo, release: Release, status: ReleaseStatus,
           reason: str) -> None:
    """Drop a removed release's checkout, point the singletons' directory back at the active
    release (of production, or of the release's preview: each has its own), record why it
    ended."""
    repo.remove_worktree(ports.paths.worktree(app.name, release.name))
    shutil.rmtree(ports.paths.generated(app.name, release.name), ignore_errors=True)
    active = ports.store.active_release(app.name, release.preview)
    if (ports.paths.current(app.name, release.preview).is_symlink() and active
            and active.worktree):
        ports.paths.point_current(app.name, Path(active.worktree), release.preview)
    ports.store.update_release(release.id, status=status, reason=reason,
                               finished_at=time.time(), worktree="")


def retire_kept(ports: Ports, app: App, release: Release) -> None:
    """The end of a replaced release's window for an instant rollback: it is out of traffic
    (newer routers outrank it), so let what it still serves finish, stop it, and record
    that it is no longer kept."""
    def stop() -> None:
        snaps = ports.runtime.containers(release.project)
        ports.out.step(Step.STOP, stop_text(release.name, snaps))
        ports.runtime.stop(release.project)

    drain_and_stop(ports, app, release.project, release.name, stop)
    ports.store.update_release(release.id, retire_at=None)


def remove_volume(ports: Ports, volume: str) -> None:
    """Remove a kept volume (its data), or say why it cannot be: on a Swarm, a volume may
    live on a node only its engine reaches."""
    try:
        ports.runtime.remove_volume(volume)
    except OtterError as exc:
        ports.out.warn(Step.REMOVE, str(exc))
        return
    ports.out.step(Step.REMOVE, f"removed volume {volume}")
