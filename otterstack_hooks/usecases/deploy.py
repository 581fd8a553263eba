"""Deploy one commit: the use case behind `git push`, `otterstack deploy` and `rollback`.

lock -> recover -> resolve -> record -> checkout -> config -> (routing plan) -> build -> up ->
healthy -> (the watch's process starts) -> (Traefik serves it) -> activate -> drain and stop
old -> prune -> (the watch). A failure before activation removes the new release and leaves
the old one serving and active (`_fail`)."""

import json
import os
import time
import traceback
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass

from otterstack_hooks.adapters.local import secrets
from otterstack_hooks.adapters.local.lock import app_lock
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.names import short
from otterstack_hooks.core.phases import PhaseClock
from otterstack_hooks.core.ports import Ports, Repo
from otterstack_hooks.core.records import App, Release
from otterstack_hooks.core.vocabulary import Phase, ReleaseStatus, Step
from otterstack_hooks.rules.preview.naming import PreviewTarget
from otterstack_hooks.rules.traefik.routing_plan import RoutingPlan, not_outranked
from otterstack_hooks.usecases.build_steps import (
    build,
    ensure_shared,
    release_command,
    update_singletons,
)
from otterstack_hooks.usecases.dry_run import DryRun
from otterstack_hooks.usecases.image_checks import check_healthchecks, check_image_labels
from otterstack_hooks.usecases.prepare import Prepared, incumbents_of, prepare
from otterstack_hooks.usecases.preview_removal import remove_stale
from otterstack_hooks.usecases.prune import prune_releases
from otterstack_hooks.usecases.recover import Recover
from otterstack_hooks.usecases.release_steps import (
    Details,
    drain_and_stop,
    forget,
    limit,
    prove_served,
    retire_kept,
    stop_text,
    take_out_if_routed,
    tell,
    wait_healthy,
)
from otterstack_hooks.usecases.watch_start import WatchStart


@dataclass(frozen=True)
class DeployRequest:
    app: str
    ref: str
    trigger: str = "manual"  # push | manual | rollback
    pushed_by: str = ""
    push_ref: str = ""
    only_if_branch_head: bool = False  # a push deploy skips if a newer push is waiting
    health_timeout: int | None = None
    reuse_images_of: str = ""  # a rollback starts the images this project built: no build
    dry_run: bool = False  # print the plan; start, stop and record nothing
    pin_reason: str = ""  # pin the app once deployed, before the lock is released
    no_watch: bool = False  # the push asked for no watch after the switch (-o no-watch)

    @property
    def unwatched(self) -> str:
        """Why this deploy asks for no watch after its switch; empty: it does not."""
        if self.no_watch:
            return "the push asked for no-watch"
        if self.trigger == "rollback":
            return "a rollback goes back to a release that served before"
        return ""
    preview_branch: str = ""  # deploy this branch's preview (usecases/preview_deploy.py)


@dataclass(frozen=True)
class Outcome:
    ok: bool
    message: str
    release: Release | None = None
    skipped: bool = False


def lock_limit(app: App) -> int:
    """The longest a deploy ahead of this one may hold the lock: every step's limit."""
    return (app.build_timeout + app.start_timeout + app.release_command_timeout
            + max(app.health_timeout, 60) + app.drain_timeout + 120)


class Deploy:
    def __init__(self, ports: Ports):
        self.ports = ports
        self.out = ports.out
        self.env: dict[str, str] = {}  # the app's variables, for Compose's environment
        self.routing: RoutingPlan | None = None  # the release being deployed, once planned
        self.clock = PhaseClock(time.monotonic)
        self.watch = WatchStart(ports)
        self.preview: PreviewTarget | None = None  # a preview's deploy (preview_deploy.py)

    @property
    def slug(self) -> str:
        """Whose releases this deploy replaces: production's (''), or its preview's."""
        return self.preview.names.slug if self.preview else ""

    def run(self, req: DeployRequest) -> Outcome:
        store, out = self.ports.store, self.out
        app = self._settings(store.require_app(req.app))
        values = secrets.load(self.ports.paths.env_file(app.name))
        out.redact = secrets.redactor(values)
        self.env = self._environment(app, values)
        if req.dry_run:
            return DryRun(self.ports, self.env, self.preview).run(app, req.ref)
        self.watch = WatchStart(self.ports, req.unwatched)
        with self._lock(app, req):
            self.clock.mark(Phase.QUEUED)
            app = self._settings(store.require_app(app.name))  # as it is now, not when queued
            repo = self.ports.open_repo(app.repo)
            refusal = self._admit(app, repo, req)
            if refusal:
                return self._skip(refusal)
            sha = repo.resolve_commit(req.ref)
            if req.only_if_branch_head:
                head = repo.branch_head(req.preview_branch or app.branch)
                if head and head != sha:
                    return self._skip(f"{app.name} {short(sha)} skipped: a newer push "
                                      f"({short(head)}) arrived while waiting and is deployed "
                                      "instead")
            release, old = self._new_release(app, repo, sha, req)
            try:
                self._deploy(app, repo, release, old, req)
            except OtterError as exc:
                return self._fail(app, repo, release, old, str(exc))
            except Exception as exc:  # a bug: keep the site up, record it, show one line
                out.log.error("internal error", step=Step.ERROR,
                              traceback=traceback.format_exc(), kind="detail")
                return self._fail(app, repo, release, old,
                                  f"internal error ({type(exc).__name__}: {exc}); details in "
                                  f"{self.ports.paths.log(app.name, release.name)}")
            return self._succeed(app, repo, release, old, req)

    # what production's deploy does, and a preview's (PreviewDeploy) does its own way
    def _settings(self, app: App) -> App:
        """The app's settings this deploy follows."""
        return app

    def _environment(self, app: App, values: dict[str, str]) -> dict[str, str]:
        """The variables Compose gets."""
        return secrets.for_compose(values)

    def _lock(self, app: App, req: DeployRequest) -> AbstractContextManager[None]:
        """The app's deploy lock: one production deploy at a time."""
        @contextmanager
        def held() -> Iterator[None]:
            with app_lock(self.ports.paths.lock(app.name), f"deploy {req.ref}",
                          lock_limit(app),
                          lambda who: self.out.step(Step.QUEUE, f"another deploy of {app.name} "
                                                    f"is running ({who}); waiting for it")):
                self.out.step(Step.LOCK, f"deploy lock for {app.name} taken")
                yield
        return held()

    def _admit(self, app: App, repo: Repo, req: DeployRequest) -> str:
        """Under the lock, before the release is recorded: why a push is not deployed
        (empty: it is); and what an interrupted deploy left is cleaned up."""
        if req.trigger == "push" and app.pinned:
            # `pin` or `rollback --pin` ran while this push waited for the lock
            return (f"{app.name} pushed, not deployed: the app was pinned while the push "
                    f"waited ({app.pinned}); `otterstack unpin {app.name}` to undo")
        Recover(self.ports).run(app, repo)
        return ""

    def _served(self, app: App, prep: Prepared) -> None:
        """Once the release's plan is known, before anything of it is created."""

    def _failed(self, app: App, old: Release | None) -> None:
        """After a failed release was removed and told, before the result line."""

    def _deployed(self, app: App, release: Release, done: Release) -> str:
        """The result line of a deploy that serves."""
        return (f"deployed {app.name} {short(release.sha)} ({release.name}) in "
                f"{done.duration:.1f} s ({self.clock.summary()})")

    def _new_release(self, app: App, repo: Repo, sha: str, req: DeployRequest
                     ) -> tuple[Release, Release | None]:
        """The release row (`r<N>`) and its log, and the release it replaces; says so."""
        store, out = self.ports.store, self.out
        release = store.new_release(app.name, sha, req.push_ref or req.ref, req.trigger,
                                    req.pushed_by, os.getpid(), self.slug)
        log_path = self.ports.paths.log(app.name, release.name)
        out.attach_log(log_path)
        store.update_release(release.id, log_path=str(log_path))
        old = store.active_release(app.name, self.slug)
        tell(self.ports, app, "started", release)
        out.step(Step.RELEASE, f"{release.name}: {short(sha)} "
                 f"\"{repo.commit_subject(sha)}\" ({req.trigger}"
                 f"{' by ' + req.pushed_by if req.pushed_by else ''})",
                 release=release.name, sha=sha)
        return release, old

    def _succeed(self, app: App, repo: Repo, release: Release, old: Release | None,
                 req: DeployRequest) -> Outcome:
        """The release serves: pin if asked, retire the old one, record and tell."""
        store = self.ports.store
        if req.pin_reason:  # under the lock: a push waiting for it sees the pin
            store.pin(app.name, req.pin_reason)
        self._retire(app, repo, old)
        self.clock.mark(Phase.OLD_STOPPED)
        store.update_release(release.id, phases=self.clock.to_json())
        done = store.release(release.id)
        watched = self.watch.schedule(app, release, old)
        tell(self.ports, app, "rolled_back" if req.trigger == "rollback" else "succeeded",
             done)
        msg = self._deployed(app, release, done)
        # `watch`: the release log goes on after this line (logs -f, the push follow it)
        self.out.result(True, msg, release=release.name, **({"watch": True} if watched else {}))
        return Outcome(True, msg, store.release(release.id))

    def _skip(self, msg: str) -> Outcome:
        self.out.result(True, msg)
        return Outcome(True, msg, skipped=True)

    # the steps, in the order the pusher sees them
    def _deploy(self, app: App, repo: Repo, release: Release, old: Release | None,
                req: DeployRequest) -> None:
        store, paths, runtime = self.ports.store, self.ports.paths, self.ports.runtime
        worktree = paths.worktree(app.name, release.name)
        repo.add_worktree(worktree, release.sha)
        store.update_release(release.id, worktree=str(worktree))
        self.out.step(Step.CHECKOUT, f"worktree {worktree}")

        prep = prepare(self.ports, app, self.env, release.name, release.project, worktree,
                       release.id, paths.generated(app.name, release.name), release.sha,
                       self.preview)
        model, plan, target = prep.model, prep.plan, prep.target
        self.routing = prep.routing
        self._served(app, prep)
        ensure_shared(self.ports, app, model, plan,
                      self.preview.names.labels if self.preview else {})
        self.watch.before_build(app, self.routing, old)
        self.clock.mark(Phase.CHECKOUT)

        build(self.ports, app, release, model, plan, target, req.reuse_images_of)
        check_healthchecks(self.ports, app, target, model.only(plan.release_services))
        check_image_labels(self.ports, target, model.only(plan.release_services))
        self.clock.mark(Phase.BUILD)
        timeout = req.health_timeout or app.health_timeout
        if plan.singletons:
            update_singletons(self.ports, self.env, app, prep, worktree, timeout)

        if app.release_command:
            release_command(self.ports, app, target, plan)

        self.out.step(Step.START, f"starting {release.project} ({', '.join(plan.release_services)}"
                      f") next to {old.name if old else 'nothing (first release)'}")
        with limit(app, "start_timeout", "starting the release"):
            runtime.up(target, plan.release_services, Details(self.out, Step.START),
                       app.start_timeout)
        self.clock.mark(Phase.START)

        healthy_at = wait_healthy(
            self.ports, app, release.project,
            {s: model.services[s].replicas for s in plan.release_services}, timeout)
        store.update_release(release.id, healthy_at=healthy_at)
        self.clock.mark(Phase.HEALTHY)
        self.watch.start_early(app, self.routing, release, old)

        if self.routing is not None:
            prove_served(self.ports, self.routing, release, old)
            store.update_release(release.id, probes=json.dumps(
                [asdict(probe) for probe in self.routing.probes]))
            self.watch.at_switch(app, self.routing, release, old)
        store.update_release(release.id, served_at=time.time())
        self.clock.mark(Phase.PROVEN)

        store.activate(release, old)

    def _fail(self, app: App, repo: Repo, release: Release, old: Release | None,
              reason: str) -> Outcome:
        """Undo a deploy that failed before activation: take the new release out of traffic if
        it may have had some, remove it, keep the old one serving and say so."""
        out = self.out
        reason = out.redact(reason)  # it is stored and shown by `releases`
        started = time.monotonic()
        out.step(Step.ROLLBACK, f"removing {release.name}", reason=reason)
        take_out_if_routed(self.ports, app, release, Step.ROLLBACK,
                           self.routing.traefik if self.routing is not None else None)
        try:
            self.ports.runtime.remove(release.project, timeout=0)
        except OtterError as exc:
            out.warn(Step.ROLLBACK, f"{exc}")
        forget(self.ports, app, repo, release, ReleaseStatus.FAILED, reason)
        out.step(Step.ROLLBACK, f"{release.name} removed in {time.monotonic() - started:.1f} s")
        serving = (f"still serving {old.name} ({short(old.sha)})" if old
                   else "nothing was serving before (first release)")
        first_line = reason.splitlines()[0]
        msg = f"FAILED {app.name} {short(release.sha)} ({release.name}): {first_line}; {serving}"
        for extra in reason.splitlines()[1:]:
            out.detail(Step.ERROR, extra)
        tell(self.ports, app, "failed", self.ports.store.release(release.id), serving=serving)
        self._failed(app, old)
        out.result(False, msg, release=release.name, reason=reason)
        return Outcome(False, msg, self.ports.store.release(release.id))

    def _retire(self, app: App, repo: Repo, old: Release | None) -> None:
        """Stop the old release (or keep its routed services for an instant rollback), retire
        the one kept before, prune. The new one serves already: nothing here may fail the
        deploy (that would tear down the only release left serving), so problems warn."""
        try:
            if old is not None and not self._keep_for_rollback(app, old):
                def stop(old: Release = old) -> None:
                    self.out.step(Step.STOP, stop_text(f"{old.name} ({short(old.sha)})",
                                                       self.ports.runtime.containers(old.project)))
                    self.ports.runtime.stop(old.project)
                drain_and_stop(self.ports, app, old.project, old.name, stop)
            for kept in self.ports.store.releases_with_status(
                    app.name, ReleaseStatus.SUPERSEDED, self.slug):
                if kept.retire_at is not None and (old is None or kept.id != old.id):
                    self._retire_kept(app, kept)
            prune_releases(self.ports, app, repo, preview=self.slug)
            if not self.preview:  # after its switch, so that they never delay it
                remove_stale(self.ports, app)
        except Exception as exc:  # noqa: BLE001 - see the docstring
            self.out.warn(Step.CLEANUP, f"{exc}; the new release serves, and the next deploy "
                          "finishes this cleanup")

    def _retire_kept(self, app: App, kept: Release) -> None:
        """The release kept before `old` stops now; if the new release is watched, at the
        watch's end (`otterstack retire`): its drain and stop under the lock, seconds, would
        hold back the watch's rollback right after the switch."""
        if not self.watch.started:
            self.out.step(Step.STOP, f"stopping {kept.name}: it was kept for an instant "
                          "rollback, and a newer release is now")
            retire_kept(self.ports, app, kept)
            return
        wait = app.watch_seconds + 1
        self.ports.store.update_release(kept.id, retire_at=time.time() + wait)
        self.ports.schedule_retire(app.name, kept.name, wait)
        self.out.step(Step.STOP, f"{kept.name} (kept before) stops in {wait} s, once the watch "
                      "of this release is over: stopping it now would hold back a rollback")

    def _keep_for_rollback(self, app: App, old: Release) -> bool:
        """Keep the replaced release's routed services running out of traffic for
        `retire_after` s, so a rollback needs no start and no health wait; its other services
        (workers, schedulers) stop now, so nothing runs twice. Only when every router of it
        is outranked by a router of the new release: otherwise it would keep serving."""
        if app.retire_after <= 0 or self.routing is None:
            return False
        running = [s for s in self.ports.runtime.containers(old.project)
                   if s.status == "running" and not s.oneoff]
        routed = sorted({s.service for s in running if s.routed})
        if not routed:
            return False
        traefik = self.routing.traefik
        listed = self.ports.router.routers_of(traefik, old.project)
        if listed is None:
            return False
        left = not_outranked(incumbents_of(listed, old.project), self.routing.routers)
        if left:
            self.out.step(Step.STOP, f"{old.name} has router(s) {', '.join(left)} that the new "
                          "release does not replace with the same rule: it cannot be kept "
                          "for an instant rollback")
            return False
        others = sorted({s.service for s in running if s.service not in routed})
        if others:
            self.out.step(Step.STOP, f"stopping {', '.join(others)} of {old.name} (not routed: "
                          "nothing runs twice)")
            self.ports.runtime.stop(old.project, others)
        retire_at = time.time() + app.retire_after
        self.ports.store.update_release(old.id, retire_at=retire_at)
        self.ports.schedule_retire(app.name, old.name, app.retire_after)
        self.out.step(Step.STOP, f"{old.name} ({', '.join(routed)}) keeps running out of "
                      f"traffic for {app.retire_after} s (until "
                      f"{time.strftime('%H:%M:%S', time.localtime(retire_at))}): `otterstack "
                      f"rollback {app.name}` switches back to it without a start")
        return True
