"""`otterstack rollback`: back to a retained release.

Inside the replaced release's window (`retire_after`) its routed services still run, out of
traffic: the rollback is instant. Its stopped workers start again, the current release is
taken out of Traefik (its routers go; the kept release's, which never left, serve), a real
request proves it, and the current release drains and stops. No start of a routed service,
no health wait. Outside the window: the same health gate and switch as a deploy, starting
the images that release built (no build)."""

import json
import time
from collections.abc import Sequence

from otterstack_hooks.adapters.compose import policy_check
from otterstack_hooks.adapters.local.lock import app_lock
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.names import short
from otterstack_hooks.core.ports import Ports
from otterstack_hooks.core.records import App, Release
from otterstack_hooks.core.vocabulary import ReleaseStatus, Step
from otterstack_hooks.rules.traefik.routing_plan import ID_HEADER, Probe, TraefikInfo
from otterstack_hooks.usecases.deploy import Deploy, DeployRequest, Outcome, lock_limit
from otterstack_hooks.usecases.release_steps import (
    drain_and_stop,
    prove_answers,
    stop_withdrawn,
    tell,
)


def rollback_target(app: App, releases: Sequence[Release], default: Release | None,
                    to: str | None) -> Release:
    """The release to go back to: `to` by name (a retained, not active one), else the
    store's default (the newest retained release older than the active one)."""
    if to:
        target = next((r for r in releases if r.name == to), None)
        if target is None or target.status not in (ReleaseStatus.SUPERSEDED,
                                                   ReleaseStatus.ACTIVE):
            raise OtterError(f"{app.name} has no release {to!r} to roll back to; "
                             f"`otterstack releases {app.name}` lists them")
        if target.status == ReleaseStatus.ACTIVE:
            raise OtterError(f"{target.name} is already the active release")
        return target
    if default is None:
        raise OtterError(f"{app.name} has no earlier release to roll back to")
    return default


def kept_for_rollback(target: Release, now: float) -> bool:
    """Whether a release is inside its window: replaced, still running out of traffic, and
    with the requests that proved it served recorded."""
    return (target.status == ReleaseStatus.SUPERSEDED and target.retire_at is not None
            and target.retire_at > now and bool(target.probes))


class Rollback:
    def __init__(self, ports: Ports):
        self.ports, self.out = ports, ports.out

    def run(self, app: App, to: str | None, pin: bool, who: str,
            health_timeout: int | None, watched: Release | None = None) -> Outcome:
        """`watched`: the release a failed watch rolls back from; if another one serves by
        the time the lock is taken (a newer push), nothing is rolled back (skipped)."""
        store = self.ports.store
        target = rollback_target(app, store.releases(app.name, limit=100000),
                                 store.rollback_target(app.name), to)
        active = store.active_release(app.name)
        self.out.step(Step.ROLLBACK, f"rolling {app.name} back to {target.name} "
                      f"({short(target.sha)}){' from ' + active.name if active else ''}")
        if app.traefik_routing and kept_for_rollback(target, time.time()):
            outcome = self._instant(app, target, pin, watched)
            if outcome is not None:
                return outcome
        return Deploy(self.ports).run(DeployRequest(
            app=app.name, ref=target.sha, trigger="rollback", pushed_by=who,
            push_ref=f"rollback to {target.name}", health_timeout=health_timeout,
            reuse_images_of=target.project if target.worktree else "",
            pin_reason=f"rolled back to {target.name}" if pin else ""))

    def _instant(self, app: App, target: Release, pin: bool,
                 watched: Release | None = None) -> Outcome | None:
        """The switch back to a kept release; None if it turns out not to be possible, or the
        switch fails (the current release is routed again): then the caller rolls back with
        a start. Skipped if `watched` no longer serves once the lock is taken."""
        store, out = self.ports.store, self.out
        with app_lock(self.ports.paths.lock(app.name), f"rollback to {target.name}",
                      lock_limit(app),
                      lambda who: out.step(Step.QUEUE, f"waiting for the lock ({who})")):
            out.step(Step.LOCK, f"deploy lock for {app.name} taken")
            app = store.require_app(app.name)
            target = store.release(target.id)
            active = store.active_release(app.name)
            if watched is not None and (active is None or active.id != watched.id):
                msg = (f"{watched.name} no longer serves "
                       f"({active.name if active else 'no release'} does): not rolled back")
                out.step(Step.ROLLBACK, msg)
                return Outcome(True, msg, active, skipped=True)
            found = self._ready_to_switch(app, target)
            if found is None:
                return None
            current, info = found
            started = time.monotonic()
            out.step(Step.ROLLBACK, f"{target.name} still runs out of traffic: switching back "
                     "to it without a start or a health wait")
            if not self._switch_back(target, current, info):
                return None
            served = time.monotonic() - started
            store.reactivate(target, current)
            if pin:
                store.pin(app.name, f"rolled back to {target.name}")
            # as after a failed proof: the release out of Traefik drains, then stops held
            # out of it, so no re-read can route it again while it exits
            drain_and_stop(self.ports, app, current.project, current.name,
                           lambda: stop_withdrawn(self.ports, app, info, current.project,
                                                  current.name))
            self._start_workers(target)
            tell(self.ports, app, "rolled_back", store.release(target.id))
            msg = (f"rolled {app.name} back to {target.name} ({short(target.sha)}) in "
                   f"{time.monotonic() - started:.1f} s: served {served:.2f} s after the "
                   f"switch began, without a start; {current.name} stopped")
            out.result(True, msg, release=target.name, rollback_served=round(served, 3))
            return Outcome(True, msg, store.release(target.id))

    def _ready_to_switch(self, app: App, target: Release) -> tuple[Release, TraefikInfo] | None:
        """The release serving now and Traefik, if the kept one can take over as it runs:
        still in its window, its routed services running and healthy, and still allowed by
        the compose policy; None (said why) if not."""
        store, runtime, out = self.ports.store, self.ports.runtime, self.out
        current = store.active_release(app.name)
        snaps = runtime.containers(target.project)
        routed = [s for s in snaps if s.routed and not s.oneoff]
        ready = routed and all(s.status == "running" and s.health in (None, "healthy")
                               for s in routed)
        info = self.ports.router.detect()
        if (current is None or not kept_for_rollback(target, time.time()) or not ready
                or info is None):
            out.step(Step.ROLLBACK, f"{target.name} is no longer ready to serve at once: "
                     "rolling back with a start")
            return None
        allowed = policy_check.allowed_for(store, self.ports.paths, app,
                                           lambda text: out.step(Step.POLICY, text))
        problem = policy_check.recheck(
            self.ports.paths, app, target.name, target.worktree, allowed,
            frozenset({info.network, *info.networks}), runtime.image_project)
        if problem:
            out.step(Step.ROLLBACK, f"{target.name} cannot switch back as it runs: "
                     f"{problem}; rolling back with a start")
            return None
        return current, info

    def _switch_back(self, target: Release, current: Release, info: TraefikInfo) -> bool:
        """Take the current release out of Traefik and prove the kept one answers; if that
        fails, the current release is routed again (False)."""
        router, out = self.ports.router, self.out
        try:
            out.step(Step.SWITCH, f"taking {current.name} out of Traefik")
            if not router.withdraw(info, current.project):
                raise OtterError(f"Traefik still lists routers of {current.name}")
            probes = [Probe(**p) for p in json.loads(target.probes)]
            prove_answers(self.ports, probes, ID_HEADER, target, current)
        except OtterError as exc:
            # the current release still runs: routed again, it outranks the kept one,
            # and the rollback goes the long way (a start and the health gate)
            if not router.readmit(info, current.project):
                out.warn(Step.SWITCH, f"Traefik does not list {current.name}'s routers "
                         f"again yet: {target.name} may answer until it does")
            out.warn(Step.ROLLBACK, f"the instant switch did not work ({exc}); "
                     f"{current.name} serves again: rolling back with a start")
            return False
        return True

    def _start_workers(self, target: Release) -> None:
        """The kept release's workers (stopped at the switch, so nothing ran twice) run
        again: after the replaced release stopped, so they cost the rollback no time and
        their container events come when nothing is left to re-read."""
        runtime = self.ports.runtime
        stopped = sorted({s.service for s in runtime.containers(target.project)
                          if not s.routed and not s.oneoff and s.status != "running"})
        if stopped:
            self.out.step(Step.START, f"starting {', '.join(stopped)} of {target.name} again")
            runtime.start(target.project, stopped)
