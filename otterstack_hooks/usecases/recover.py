"""Clean up after a deploy that died (its process was killed, the server rebooted). Runs
first in every deploy, with the app's lock held, so no other deploy is running."""

import time

from otterstack_hooks.adapters.local import secrets
from otterstack_hooks.core import names
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.ports import Ports, Repo
from otterstack_hooks.core.records import App, Release
from otterstack_hooks.core.vocabulary import ReleaseStatus, Step, WatchStatus
from otterstack_hooks.rules.health import whole_and_healthy
from otterstack_hooks.rules.watch import INTERRUPTED_TEXT, watch_died
from otterstack_hooks.usecases.prepare import prepare
from otterstack_hooks.usecases.release_steps import (
    forget,
    prove_served,
    retire_kept,
    take_out_if_routed,
    wait_healthy,
)

RECENT_RELEASES = 50  # a watch runs for the newest release of its app: where a dead one is


class Recover:
    def __init__(self, ports: Ports):
        self.ports, self.out = ports, ports.out

    def run(self, app: App, repo: Repo) -> None:
        store = self.ports.store
        for project in self.ports.router.sweep(app.name) if app.traefik_routing else []:
            self.out.warn(Step.RECOVER, f"{project} had exited but was still fenced out of "
                          "Traefik (a deploy died before it finished); fence removed")
        for stale in store.releases_with_status(app.name, ReleaseStatus.DEPLOYING):
            if not names.is_release_name(stale.name) or stale.project != (
                    f"{app.name}-{stale.name}"):
                # a row an older version left half-written: there is nothing of it to remove,
                # and `compose -p ""` would act on whatever project the current dir names
                self.out.warn(Step.RECOVER, f"release record {stale.id} has no valid name; "
                              "marked interrupted, nothing removed")
                store.update_release(stale.id, status=ReleaseStatus.INTERRUPTED, worktree="",
                                     reason="record left half-written", finished_at=time.time())
                continue
            if self._settles_serving(app, stale):
                # Healthy and whole, and Traefik (if routed) proved to send it traffic:
                # tearing it down would drop requests. Finish its switch instead; the old
                # release is stopped below.
                self.out.warn(Step.RECOVER, f"{stale.name} was interrupted (pid {stale.pid} "
                              "died) but is healthy and serving; completed its switch")
                store.activate(stale, store.active_release(app.name))
                store.update_release(
                    stale.id, healthy_at=stale.healthy_at or time.time(),
                    reason="completed by recovery after the deploy process died")
                continue
            remove_interrupted(self.ports, app, repo, stale)
        for rel in store.releases_with_status(app.name, ReleaseStatus.SUPERSEDED):
            if rel.retire_at is not None and rel.retire_at > time.time():
                continue  # kept out of traffic for an instant rollback, for a while yet
            if any(s.status == "running" for s in self.ports.runtime.containers(rel.project)):
                self.out.warn(Step.RECOVER, f"{rel.name} still runs after being replaced; "
                              "stopping it")
                retire_kept(self.ports, app, rel)
            elif rel.retire_at is not None:
                store.update_release(rel.id, retire_at=None)
        self._end_dead_watches(app)

    def _end_dead_watches(self, app: App) -> None:
        """A watch whose process died (a reboot) is recorded as ended, without a verdict,
        instead of `watching` for ever; its release is left as it is (serving, or not)."""
        now = time.time()
        for rel in self.ports.store.releases(app.name, limit=RECENT_RELEASES):
            if watch_died(app, rel.watch_status, rel.served_at or rel.started_at, now):
                self.out.warn(Step.RECOVER, f"the watch of {rel.name} stopped before its "
                              "window ended (its process is gone); recorded as ended")
                self.ports.store.update_release(rel.id, watch_status=WatchStatus.ENDED,
                                                watch_detail=INTERRUPTED_TEXT)

    def _settles_serving(self, app: App, stale: Release) -> bool:
        """Wait until an interrupted release's containers have settled (a `starting` one may
        turn healthy, and be routed, any moment: deciding earlier races Traefik), then tell
        whether it is whole, healthy and, with Traefik, proven to receive traffic."""
        runtime, paths = self.ports.runtime, self.ports.paths
        snaps = runtime.containers(stale.project)
        if not snaps:
            return False
        present: dict[str, int] = {}
        for snap in snaps:
            if not snap.oneoff:
                present[snap.service] = present.get(snap.service, 0) + 1
        self.out.step(Step.RECOVER, f"{stale.name} has containers: waiting for them to settle")
        try:
            wait_healthy(self.ports, app, stale.project, present, app.health_timeout)
        except OtterError:
            return False
        worktree = paths.worktree(app.name, stale.name)
        if (not whole_and_healthy(runtime.containers(stale.project), stale.services)
                or not worktree.is_dir()):
            return False
        try:  # the same proof a deploy needs before it stops the old release
            env = secrets.for_compose(secrets.load(paths.env_file(app.name)))
            prep = prepare(self.ports, app, env, stale.name, stale.project, worktree, None,
                           paths.generated(app.name, stale.name))
            if prep.routing is not None:
                prove_served(self.ports, prep.routing, stale,
                             self.ports.store.active_release(app.name))
        except OtterError as exc:
            self.out.warn(Step.RECOVER, f"{stale.name} cannot be completed: {exc}")
            return False
        return True


def remove_interrupted(ports: Ports, app: App, repo: Repo, stale: Release) -> None:
    """A release whose deploy process died before it served: out of traffic, removed,
    recorded as interrupted (its lock is held: nothing else deploys it)."""
    ports.out.warn(Step.RECOVER, f"{stale.name} was interrupted (pid {stale.pid} died); "
                   "removing it")
    take_out_if_routed(ports, app, stale, Step.RECOVER, None)
    ports.runtime.remove(stale.project, timeout=0)
    forget(ports, app, repo, stale, ReleaseStatus.INTERRUPTED,
           "deploy process died before it finished")
