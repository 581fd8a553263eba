"""The deploy pipeline, shared by the post-receive hook and `otterstack deploy`.

lock -> recover -> worktree -> config -> (routing plan) -> build -> up -> healthy ->
(Traefik serves it) -> activate -> drain and stop old -> prune. Any failure before activation
removes the new release and leaves the old one serving and active.
"""

import os
import re
import shlex
import shutil
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import docker
import git

from . import compose, drain, engine, gitops, names, notify, policy_check, secrets
from . import traefik as traefik_io
from .compose_model import COMPOSE_FILE_CANDIDATES, ComposeModel, parse_config, pick_compose_file
from .compose_rules import check_compose_rules
from .errors import OtterError
from .health import evaluate, whole_and_healthy
from .lock import app_lock
from .names import release_number, short
from .override import (
    OVERRIDE_FILE,
    STATE_OVERRIDE_FILE,
    render_override,
    render_state_override,
)
from .paths import Paths, project_env_files, write_private
from .process import StepTimeout
from .progress import Progress
from .release_plan import STATE_SUFFIX, ReleasePlan, plan_release, state_project
from .routing import Probe, RoutingPlan, explain_foreign, judge_answers, plan_routing
from .state import App, Release, State
from .traefik_labels import Incumbent, incumbent_original

MAX_DETAIL_LINES = 400


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


@dataclass(frozen=True)
class Prepared:
    compose_file: str
    subdir: PurePosixPath
    project_dir: Path
    model: ComposeModel
    plan: ReleasePlan
    routing: RoutingPlan | None
    target: compose.ComposeTarget
    state_files: tuple[str | Path, ...]
    env_files: tuple[Path, ...]


@dataclass(frozen=True)
class Outcome:
    ok: bool
    message: str
    release: Release | None = None
    skipped: bool = False


class Deployer:
    def __init__(self, paths: Paths, state: State, progress: Progress):
        self.paths = paths
        self.state = state
        self.out = progress
        self._dc: docker.DockerClient | None = None
        self._details = 0
        self._env: dict[str, str] = {}  # the app's variables, for Compose's environment
        self._routing: RoutingPlan | None = None  # the release being deployed, once planned

    @property
    def dc(self) -> docker.DockerClient:
        if self._dc is None:
            self._dc = engine.client()
        return self._dc

    # entry point
    def deploy(self, req: DeployRequest) -> Outcome:
        app = self.state.require_app(req.app)
        values = secrets.load(self.paths.env_file(app.name))
        self.out.redact = secrets.redactor(values)
        self._env = secrets.for_compose(values)
        self._routing = None
        if req.dry_run:
            return self._dry_run(app, req)
        # the longest a deploy ahead of this one may hold the lock: every step's limit
        timeout = (app.build_timeout + app.start_timeout + app.release_command_timeout
                   + max(app.health_timeout, 60) + app.drain_timeout + 120)
        with app_lock(self.paths.lock(app.name), f"deploy {req.ref}", timeout,
                      lambda who: self.out.step("queue", f"another deploy of {app.name} is "
                                                f"running ({who}); waiting for it")):
            self.out.step("lock", f"deploy lock for {app.name} taken")
            app = self.state.require_app(app.name)  # as it is now, not when we queued
            if req.trigger == "push" and app.pinned:
                # `pin` or `rollback --pin` ran while this push waited for the lock
                msg = (f"{app.name} pushed, not deployed: the app was pinned while the push "
                       f"waited ({app.pinned}); `otterstack unpin {app.name}` to undo")
                self.out.result(True, msg)
                return Outcome(True, msg, skipped=True)
            repo = gitops.open_repo(app.repo)
            self.recover(app, repo)
            sha = gitops.resolve_commit(repo, req.ref)
            if req.only_if_branch_head:
                head = gitops.branch_head(repo, app.branch)
                if head and head != sha:
                    msg = (f"{app.name} {short(sha)} skipped: a newer push ({short(head)}) "
                           "arrived while waiting and is deployed instead")
                    self.out.result(True, msg)
                    return Outcome(True, msg, skipped=True)
            release = self.state.new_release(app.name, sha, req.push_ref or req.ref,
                                             req.trigger, req.pushed_by, os.getpid())
            log_path = self.paths.log(app.name, release.name)
            self.out.attach_log(log_path)
            self.state.update_release(release.id, log_path=str(log_path))
            old = self.state.active_release(app.name)
            self._notify(app, "started", release)
            subject = gitops.commit_subject(repo, sha)
            self.out.step("release", f"{release.name}: {short(sha)} \"{subject}\" "
                          f"({req.trigger}{' by ' + req.pushed_by if req.pushed_by else ''})",
                          release=release.name, sha=sha)
            try:
                self._run(app, repo, release, old, req)
            except OtterError as exc:
                return self._fail(app, repo, release, old, str(exc))
            except Exception as exc:  # a bug: keep the site up, record it, show one line
                self.out.log.error("internal error", step="error",
                                   traceback=traceback.format_exc(), kind="detail")
                return self._fail(app, repo, release, old,
                                  f"internal error ({type(exc).__name__}: {exc}); "
                                  f"details in {log_path}")
            if req.pin_reason:  # under the lock: a push waiting for it sees the pin
                self.state.pin(app.name, req.pin_reason)
            self._after_activation(app, repo, old)
            done = self.state.release(release.id)
            self._notify(app, "rolled_back" if req.trigger == "rollback" else "succeeded", done)
            msg = (f"deployed {app.name} {short(sha)} ({release.name}) in "
                   f"{done.duration:.1f} s")
            self.out.result(True, msg, release=release.name)
            return Outcome(True, msg, done)

    def _notify(self, app: App, kind: str, release: Release, serving: str = "") -> None:
        """Tell the app's notification target; a failure to tell is a warning, never more."""
        if not app.notify:
            return
        event = notify.build_event(kind, app.name, release.name, release.sha, release.status,
                                   release.reason, release.duration, serving,
                                   pushed_by=release.pushed_by)
        problem = notify.send(app.notify, event, redact=self.out.redact)
        if problem:
            self.out.warn("notify", f"could not send the {kind} event: {problem}")

    def _dry_run(self, app: App, req: DeployRequest) -> Outcome:
        """Everything a deploy would decide, from a scratch checkout; nothing else changes."""
        repo = gitops.open_repo(app.repo)
        sha = gitops.resolve_commit(repo, req.ref)
        number = self.state.next_release_number()
        name, project = f"r{number}", f"{app.name}-r{number}"
        worktree = self.paths.app_dir(app.name) / f".dry-run-{os.getpid()}"
        generated = self.paths.app_dir(app.name) / f".dry-run-{os.getpid()}-generated"
        gitops.add_worktree(repo, worktree, sha)
        self.out.step("dry-run", f"{short(sha)} would become {name} (compose project "
                      f"{project}); nothing is built, started, stopped or recorded")
        try:
            prep = self._prepare(app, name, project, worktree, None, generated)
            plan = prep.plan
            self.out.step("plan", f"would start: {', '.join(plan.release_services)}")
            if plan.singletons:
                self.out.step("plan", f"would keep running (recreated only if changed): "
                              f"{', '.join(plan.singletons)}")
            for key, volume in plan.volumes.items():
                self.out.step("plan", f"volume {key} -> {volume} (kept across releases)")
            if app.release_command:
                self.out.step("plan", f"would run the release command `{app.release_command}`")
            for file_name in (STATE_OVERRIDE_FILE, OVERRIDE_FILE):
                path = generated / file_name
                if path.exists():
                    self.out.step("override", f"{file_name}:")
                    for line in path.read_text().splitlines():
                        self.out.detail("override", line)
            old = self.state.active_release(app.name)
            self.out.step("plan", f"then would stop {old.name} ({short(old.sha)})" if old
                          else "nothing to stop (first release)")
        except OtterError as exc:
            msg = f"dry run of {app.name} {short(sha)}: the deploy would FAIL: {exc}"
            self.out.result(False, msg)
            return Outcome(False, msg)
        finally:
            gitops.remove_worktree(repo, worktree)
            shutil.rmtree(generated, ignore_errors=True)
        msg = f"dry run of {app.name} {short(sha)} as {name}: nothing was changed"
        self.out.result(True, msg)
        return Outcome(True, msg)

    # the steps
    def _run(self, app: App, repo: git.Repo, release: Release, old: Release | None,
             req: DeployRequest) -> None:
        worktree = self.paths.worktree(app.name, release.name)
        gitops.add_worktree(repo, worktree, release.sha)
        self.state.update_release(release.id, worktree=str(worktree))
        self.out.step("checkout", f"worktree {worktree}")

        prep = self._prepare(app, release.name, release.project, worktree, release.id,
                             self.paths.generated(app.name, release.name))
        model, plan, target = prep.model, prep.plan, prep.target
        routing, subdir, state_files, env_files = (prep.routing, prep.subdir, prep.state_files,
                                                   prep.env_files)
        self._routing = routing
        self._ensure_shared(app, model, plan)

        builds = [s for s in plan.release_services if model.services[s].builds]
        if builds and req.reuse_images_of and self._reuse_images(
                req.reuse_images_of, release.project, builds):
            self.out.step("build", f"reusing the images of {req.reuse_images_of}: no build")
        elif builds:
            self.out.step("build", f"building {', '.join(plan.release_services)}")
            self._details = 0
            with self._limit(app, "build_timeout", "the build"):
                compose.build(target, plan.release_services,
                              lambda line: self._detail("build", line), app.build_timeout)
        self._check_healthchecks(app, target, model.only(plan.release_services))
        timeout = req.health_timeout or app.health_timeout
        if plan.singletons:
            self._update_singletons(app, model, plan, worktree, subdir, state_files,
                                    env_files, timeout)

        if app.release_command:
            self._release_command(app, target, plan)

        self.out.step("start", f"starting {release.project} ({', '.join(plan.release_services)}"
                      f") next to {old.name if old else 'nothing (first release)'}")
        with self._limit(app, "start_timeout", "starting the release"):
            compose.up(target, plan.release_services, lambda line: self._detail("start", line),
                       app.start_timeout)

        healthy_at = self._wait_healthy(
            app, release.project,
            {s: model.services[s].replicas for s in plan.release_services}, timeout)
        self.state.update_release(release.id, healthy_at=healthy_at)

        if routing is not None:
            self._switch(routing, release, old)
        self.state.update_release(release.id, served_at=time.time())

        self.state.activate(release, old)

    def _after_activation(self, app: App, repo: git.Repo, old: Release | None) -> None:
        """Stop the old release and prune. The new one serves already: nothing here may fail
        the deploy (that would tear down the only release left serving), so problems warn."""
        try:
            if old is not None:
                self._drain_and_stop(app, old.project, old.name, lambda: self._stop(old))
            self._prune(app, repo)
        except Exception as exc:  # noqa: BLE001 - see the docstring
            self.out.warn("cleanup", f"{exc}; the new release serves, and the next deploy "
                          "finishes this cleanup")

    def _take_out_if_routed(self, app: App, release: Release, step: str) -> None:
        """Before a release that never became active is removed: if Traefik may be sending
        it requests (`down -t 0` would cut them), take it out of Traefik and let them finish.
        A problem here is a warning: the removal that follows must still happen."""
        if not app.traefik_routing:
            return
        try:
            if not self._may_be_routed(release.project):
                return
            traefik = (self._routing.traefik if self._routing is not None else
                       traefik_io.detect(self.dc, self.state.setting("traefik_container"),
                                         self.state.setting("traefik_api_url"),
                                         self.state.setting("traefik_network")))
            if traefik is not None:
                self._withdraw(app, traefik, release, step)
        except OtterError as exc:
            self.out.warn(step, str(exc))

    def _may_be_routed(self, project: str) -> bool:
        """Whether Traefik may route to some container of the project: a routed one that runs
        and is healthy (or has no healthcheck), even if the release as a whole never was."""
        snaps = [engine.snapshot(a) for a in engine.project_containers(self.dc, project)]
        return any(s.routed and s.status == "running" and s.health in (None, "healthy")
                   for s in snaps)

    def _withdraw(self, app: App, traefik: traefik_io.TraefikInfo, release: Release,
                  step: str) -> None:
        """A release Traefik may be sending requests to: out of Traefik first, then let its
        requests finish, then a graceful stop (see traefik.withdraw)."""
        self.out.step(step, f"{release.name} was healthy, so Traefik may be sending it "
                      "requests: taking it out of Traefik first")
        if traefik_io.withdraw(self.dc, traefik, release.project):
            self.out.step(step, f"Traefik no longer routes to {release.name}")
        else:
            self.out.warn(step, f"Traefik may still list routers of {release.name}; "
                          "stopping it gracefully anyway")
        self._drain_and_stop(app, release.project, release.name,
                             lambda: compose.stop(release.project))

    def _stop(self, old: Release) -> None:
        self.out.step("stop", f"stopping {old.name} ({short(old.sha)}) gracefully")
        compose.stop(old.project)

    def _drain_and_stop(self, app: App, project: str, label: str,
                        stop: Callable[[], None]) -> None:
        """Let a release that may have served finish its requests, then `stop` it (which is
        graceful: the compose file's stop_grace_period). Nothing running: just `stop`."""
        running = [a for a in engine.project_containers(self.dc, project)
                   if a["State"]["Status"] == "running"]
        if running:
            drain.drain_and_stop(self.dc, project, label, app.drain_timeout,
                                 lambda text: self.out.step("drain", text), stop)
        else:
            stop()

    @contextmanager
    def _limit(self, app: App, setting: str, what: str) -> Iterator[None]:
        """A step that ran past its time limit: name it, the limit and the setting to raise."""
        try:
            yield
        except StepTimeout as exc:
            raise OtterError(
                f"{what} did not finish in {exc.seconds:.0f} s ({setting}) and was stopped "
                f"with every process it started; if it needs longer: `otterstack config "
                f"{app.name} {setting} SECONDS`") from exc

    def _prepare(self, app: App, name: str, project: str, worktree: Path,
                 release_id: int | None, generated: Path) -> "Prepared":
        """Read the commit's compose file and plan the release: what starts, what is kept,
        the generated override files. Writes only into `generated` (outside the checkout:
        a commit's link there is never written through) and, for a real release, its state
        row: a dry run stops here."""
        present = {n for n in (*COMPOSE_FILE_CANDIDATES, app.compose_file)
                   if n and (worktree / n).is_file()}
        compose_file = pick_compose_file(app.compose_file, present)
        # As Compose itself does: paths resolve from the compose file's own directory.
        subdir = PurePosixPath(compose_file).parent
        project_dir = worktree / subdir
        env_files = project_env_files(project_dir, worktree)
        files: list[str | Path] = [PurePosixPath(compose_file).name]
        allowed = policy_check.allowed_for(self.state, self.paths, app,
                                           lambda text: self.out.step("policy", text),
                                           record=release_id is not None)
        model = parse_config(policy_check.checked_config(
            compose.ComposeTarget(project, project_dir, tuple(files), env_files, self._env),
            worktree, app.name, allowed,
            lambda config: check_compose_rules(parse_config(config, project), app.name,
                                               app.use_deploy_labels)), project)
        if app.use_deploy_labels:
            model = model.with_deploy_labels()
        self.out.step("config", f"{compose_file}: {len(model.services)} service(s): "
                      f"{', '.join(model.services)}")
        plan = plan_release(model, app.name, project)
        if release_id is not None:  # what recovery needs to tell a whole release from a torso
            self.state.update_release(release_id, services=",".join(
                f"{s}={model.services[s].replicas}" for s in plan.release_services))
        shutil.rmtree(generated, ignore_errors=True)  # a left-over of an interrupted deploy
        state_override = render_state_override(plan, name, sorted(self._env))
        if state_override is not None:
            write_private(generated / STATE_OVERRIDE_FILE, state_override)
            files.append(generated / STATE_OVERRIDE_FILE)
        state_files = tuple(files)
        routing = self._plan_routing(app, name, project, release_id,
                                     model.only(plan.release_services), generated)
        if routing is not None:
            files.append(generated / OVERRIDE_FILE)
        target = compose.ComposeTarget(project, project_dir, tuple(files), env_files, self._env)
        if len(files) > 1:
            compose.config(target)  # the merged files must be valid too
        return Prepared(compose_file, subdir, project_dir, model, plan, routing, target,
                        state_files, env_files)

    def _release_command(self, app: App, target: compose.ComposeTarget,
                         plan: ReleasePlan) -> None:
        """The app's release command (migrations) in a one-off container of the new release,
        before its services start: with Traefik a release gets traffic as soon as it is
        healthy, so this is the last moment before the switch."""
        service, *command = shlex.split(app.release_command)
        if service not in plan.release_services:
            raise OtterError(f"release command `{app.release_command}`: {service!r} is not a "
                             f"service of this release ({', '.join(plan.release_services)})")
        self.out.step("command", f"running `{shlex.join(command)}` in a one-off {service} "
                      "container")
        self._details = 0
        with self._limit(app, "release_command_timeout", "the release command"):
            compose.run_once(target, service, command,
                             lambda line: self._detail("command", line),
                             app.release_command_timeout)

    def _reuse_images(self, source: str, project: str, services: list[str]) -> bool:
        """Tag a retained release's built images for the new project; False if one is gone."""
        names = {s: f"{source}-{s}" for s in services}
        if not all(engine.image_exists(self.dc, name) for name in names.values()):
            self.out.warn("build", f"the images of {source} are gone (pruned): rebuilding")
            return False
        for service, name in names.items():
            engine.tag_image(self.dc, name, f"{project}-{service}")
        return True

    def _ensure_shared(self, app: App, model: ComposeModel, plan: ReleasePlan) -> None:
        """Create the app's pinned volumes and networks; they outlive every release."""
        for key, name in plan.volumes.items():
            if engine.ensure_volume(self.dc, app.name, name, model.volumes.get(key) or {}):
                self.out.step("volumes", f"created volume {name} (kept across releases)")
        for key, name in plan.networks.items():
            engine.ensure_network(self.dc, app.name, name, model.networks.get(key) or {})

    def _update_singletons(self, app: App, model: ComposeModel, plan: ReleasePlan,
                           worktree: Path, subdir: PurePosixPath,
                           files: tuple[str | Path, ...],
                           env_files: tuple[Path, ...], timeout: int) -> None:
        """Bring the app's singletons to this release's definition; compose recreates only
        those whose definition changed (stop, then start: never two at once)."""
        current = self.paths.current(app.name)
        self.paths.point_current(app.name, worktree)
        target = compose.ComposeTarget(state_project(app.name), current / subdir, files,
                                       env_files, self._env)
        builds = [s for s in plan.singletons if model.services[s].builds]
        if builds:
            self.out.step("build", f"building {', '.join(builds)} (singletons)")
            with self._limit(app, "build_timeout", "the build"):
                compose.build(target, builds, lambda line: self._detail("build", line),
                              app.build_timeout)
        before = engine.service_fingerprints(self.dc, target.project)
        with self._limit(app, "start_timeout", "starting the singletons"):
            compose.up(target, plan.singletons, lambda line: self._detail("state", line),
                       app.start_timeout)
        after = engine.service_fingerprints(self.dc, target.project)
        # restarts a kept singleton had before this deploy are history, not a new failure
        baseline = {cid: restarts for cid, _h, restarts in before.values()}
        same = {s for s in plan.singletons
                if s in before and s in after and before[s][:2] == after[s][:2]}
        kept = [s for s in plan.singletons if s in same]
        recreated = [s for s in plan.singletons if s in before and s not in same]
        started = [s for s in plan.singletons if s not in before]
        if kept:
            self.out.step("state", f"kept {', '.join(kept)} running (unchanged)")
        if recreated:
            self.out.warn("state", f"recreated {', '.join(recreated)}: its definition changed "
                          "(a short interruption of that service)")
        if started:
            self.out.step("state", f"started {', '.join(started)} (runs once per app)")
        self._wait_healthy(app, target.project, {s: 1 for s in plan.singletons}, timeout,
                           services=plan.singletons, baseline=baseline)

    def _plan_routing(self, app: App, name: str, project: str, release_id: int | None,
                      model: ComposeModel, generated: Path) -> RoutingPlan | None:
        if not app.traefik_routing:
            return None
        info = traefik_io.detect(self.dc, self.state.setting("traefik_container"),
                                 self.state.setting("traefik_api_url"),
                                 self.state.setting("traefik_network"))
        if info is None:
            self.out.warn("traefik", "no running Traefik container found: deploying without "
                          "zero-downtime routing (start one with `otterstack traefik up`)")
            return None
        active = self.state.active_release(app.name)
        incumbents = () if active is None or active.project == project else tuple(
            Incumbent(r["protocol"], r["name"], r.get("rule"), tuple(r.get("entryPoints") or ()),
                      int(r.get("priority") or 0), incumbent_original(
                          r["name"], active.project, tuple(r.get("entryPoints") or ())))
            for r in traefik_io.release_routers(info.api_url, active.project) or ())
        plan = plan_routing(model, project, release_number(name), info, incumbents)
        if not plan.routers:
            self.out.warn("traefik", "no service has traefik.enable=true: nothing to route")
            return None
        write_private(generated / OVERRIDE_FILE,
                      render_override(model, plan.labels, info.network, name,
                                      project))
        if release_id is not None:
            self.state.update_release(release_id, priority=plan.highest_priority)
        for router in plan.routers:
            self.out.step("traefik", f"router {router.original} -> {router.name} "
                          f"(priority {router.priority})")
            if router.raised_above:
                self.out.warn("traefik", f"router {router.original} ranks below "
                              f"{', '.join(router.raised_above)} of the serving release"
                              " by its own rule, which overlaps: raised just above it so this "
                              "release can take over (it keeps that rank while it serves)")
        return plan

    def _check_healthchecks(self, app: App, target: compose.ComposeTarget,
                            model: ComposeModel) -> None:
        """A routed service without a HEALTHCHECK would get traffic the moment it starts."""
        if not app.traefik_routing or not app.require_healthcheck:
            return
        for svc in model.routed():
            has = svc.healthcheck
            if has is None:
                has = engine.image_has_healthcheck(self.dc, svc.image)
                if has is None:  # not pulled yet: its HEALTHCHECK is in the image
                    compose.pull(target, svc.name)
                    has = engine.image_has_healthcheck(self.dc, svc.image)
            if not has:
                raise OtterError(
                    f"service {svc.name} is routed by Traefik but has no HEALTHCHECK, so it "
                    "would get traffic before it is ready: add one to the service (e.g. "
                    "`healthcheck: {test: [CMD, wget, -q, -O, /dev/null, "
                    "http://127.0.0.1:8000/], interval: 2s}`) or to its Dockerfile, or opt out "
                    f"with `otterstack config {app.name} require_healthcheck off`")

    def _wait_healthy(self, app: App, project: str, expected: dict[str, int],
                      timeout: int, services: tuple[str, ...] | None = None,
                      baseline: dict[str, int] | None = None) -> float:
        """Poll until every expected service is ready; fail at once on exit/restart/unhealthy.
        `services` limits the poll to those services (the singletons of the state project)."""
        expected = {name: count for name, count in expected.items() if count}
        deadline = time.monotonic() + timeout
        last = ""
        while True:
            inspected = engine.project_containers(self.dc, project)
            snaps = [engine.snapshot(a) for a in inspected]
            if services is not None:
                snaps = [s for s in snaps if s.service in services]
            verdict = evaluate(snaps, expected, app.settle_seconds, baseline or {})
            if verdict.state == "ready":
                self.out.step("healthy", verdict.detail)
                # when Docker marked it healthy (what Traefik reacts to), not when we polled
                marks = [engine.healthy_since(a) for a in inspected]
                return max((m for m in marks if m is not None), default=time.time())
            if verdict.state == "failed":
                lines = engine.logs_tail(self.dc, verdict.failed_container or "", 8)
                for line in lines:
                    self.out.detail("health", line)
                raise OtterError(verdict.detail)
            if verdict.detail != last:
                self.out.step("health", f"waiting: {verdict.detail}")
                last = verdict.detail
            if time.monotonic() > deadline:
                raise OtterError(f"not healthy after {timeout} s ({verdict.detail}); raise the "
                                 f"limit with `otterstack config {app.name} health_timeout N`")
            time.sleep(0.5)

    def _switch(self, plan: RoutingPlan, release: Release, old: Release | None) -> None:
        """Prove Traefik serves the new release: every router enabled with its servers UP in
        the API, then real requests on each entrypoint answered by the new release."""
        api = plan.traefik.api_url
        names = [(r.protocol, r.name) for r in plan.routers]
        self.out.step("switch", f"waiting for Traefik to enable {len(names)} router(s)")
        log = traefik_io.TraefikLog(self.dc, plan.traefik.container, release.started_at - 5)
        traefik_io.wait_enabled(api, names, 30,
                                lambda text: self.out.step("switch", f"waiting: {text}"),
                                log.reason)
        self.out.step("switch", "Traefik shows every new router enabled, servers UP")
        by_router: dict[str, list[Probe]] = {}
        for check in plan.probes:
            by_router.setdefault(check.router, []).append(check)
        for checks in by_router.values():
            deadline = time.monotonic() + 15
            while True:
                answers = [(check, *self._probe(check, plan.id_header)) for check in checks]
                proven, seen = judge_answers(answers, release.project, release.name)
                if proven:
                    self.out.step("served", seen)
                    break
                if time.monotonic() > deadline:
                    foreign = next((by for _, _, by in answers
                                    if by not in (None, release.project)), None)
                    why = (f": {explain_foreign(foreign, old.project if old else None)}"
                           if foreign else "")
                    raise OtterError(f"Traefik does not send requests to the new release "
                                     f"({seen}){why}")
                time.sleep(0.2)
        for note in plan.notes:
            self.out.step("served", note)

    @staticmethod
    def _probe(check: Probe, header: str) -> tuple[int, str | None]:
        try:
            return traefik_io.probe(check.port, check.host, check.path, header, tls=check.tls)
        except OSError:
            return 0, None

    def _detail(self, step: str, line: str) -> None:
        """Command output: all of it to the release log, the first lines to the terminal."""
        self._details += 1
        if self._details == MAX_DETAIL_LINES + 1:
            self.out.detail(step, "... the rest is in the release log "
                            "(`otterstack logs APP --release RELEASE`)")
        self.out.detail(step, line, terminal=self._details <= MAX_DETAIL_LINES)

    # failure, recovery and pruning
    def _fail(self, app: App, repo: git.Repo, release: Release, old: Release | None,
              reason: str) -> Outcome:
        reason = self.out.redact(reason)  # it is stored and shown by `releases`
        started = time.monotonic()
        self.out.step("rollback", f"removing {release.name}", reason=reason)
        self._take_out_if_routed(app, release, "rollback")
        try:
            self._remove_containers(release.project, timeout=0)
        except OtterError as exc:
            self.out.warn("rollback", f"{exc}")
        self._forget(app, repo, release, "failed", reason)
        self.out.step("rollback", f"{release.name} removed in "
                      f"{time.monotonic() - started:.1f} s")
        serving = (f"still serving {old.name} ({short(old.sha)})" if old
                   else "nothing was serving before (first release)")
        first_line = reason.splitlines()[0]
        msg = f"FAILED {app.name} {short(release.sha)} ({release.name}): {first_line}; {serving}"
        for extra in reason.splitlines()[1:]:
            self.out.detail("error", extra)
        self._notify(app, "failed", self.state.release(release.id), serving=serving)
        self.out.result(False, msg, release=release.name, reason=reason)
        return Outcome(False, msg, self.state.release(release.id))

    def recover(self, app: App, repo: git.Repo) -> None:
        """Clean up after a deploy that died: called with the lock held, so none is running."""
        for stale in self.state.releases_with_status(app.name, "deploying"):
            if not names.is_release_name(stale.name) or stale.project != (
                    f"{app.name}-{stale.name}"):
                # a row an older version left half-written: there is nothing of it to remove,
                # and `compose -p ""` would act on whatever project the current dir names
                self.out.warn("recover", f"release record {stale.id} has no valid name; "
                              "marked interrupted, nothing removed")
                self.state.update_release(stale.id, status="interrupted", worktree="",
                                          reason="record left half-written",
                                          finished_at=time.time())
                continue
            if self._settles_serving(app, stale):
                # Healthy and whole, and Traefik (if routed) proved to send it traffic:
                # tearing it down would drop requests. Finish its switch instead; the old
                # release is stopped below.
                self.out.warn("recover", f"{stale.name} was interrupted (pid {stale.pid} "
                              "died) but is healthy and serving; completed its switch")
                self.state.activate(stale, self.state.active_release(app.name))
                self.state.update_release(
                    stale.id, healthy_at=stale.healthy_at or time.time(),
                    reason="completed by recovery after the deploy process died")
                continue
            self.out.warn("recover", f"{stale.name} was interrupted (pid {stale.pid} died); "
                          "removing it")
            self._take_out_if_routed(app, stale, "recover")
            self._remove_containers(stale.project, timeout=0)
            self._forget(app, repo, stale, "interrupted",
                         "deploy process died before it finished")
        for rel in self.state.releases_with_status(app.name, "superseded"):
            running = [a for a in engine.project_containers(self.dc, rel.project)
                       if a["State"]["Status"] == "running"]
            if running:
                self.out.warn("recover", f"{rel.name} still runs after being replaced; "
                              "stopping it")
                self._drain_and_stop(app, rel.project, rel.name,
                                     lambda project=rel.project: compose.stop(project))

    def _remove_containers(self, project: str, timeout: int | None = None) -> None:
        """A release's containers, networks and built images; never a named volume. Image tags
        `down --rmi` leaves (a rollback runs the same image under its own tag) go too."""
        compose.down(project, timeout=timeout, remove_images=True)
        try:
            engine.remove_project_images(self.dc, project)
        except OtterError:
            pass  # best effort, as in remove_project_images: a left tag costs disk only

    def _forget(self, app: App, repo: git.Repo, release: Release, status: str,
                reason: str) -> None:
        """After a release that never became active is removed: drop its checkout, point the
        singletons' directory back at the active release, record why it ended."""
        gitops.remove_worktree(repo, self.paths.worktree(app.name, release.name))
        shutil.rmtree(self.paths.generated(app.name, release.name), ignore_errors=True)
        active = self.state.active_release(app.name)
        if self.paths.current(app.name).is_symlink() and active and active.worktree:
            self.paths.point_current(app.name, Path(active.worktree))
        self.state.update_release(release.id, status=status, reason=reason,
                                  finished_at=time.time(), worktree="")

    def _settles_serving(self, app: App, stale: Release) -> bool:
        """Wait until an interrupted release's containers have settled (a `starting` one may
        turn healthy, and be routed, any moment: deciding earlier races Traefik), then tell
        whether it is whole, healthy and, with Traefik, proven to receive traffic."""
        inspected = engine.project_containers(self.dc, stale.project)
        if not inspected:
            return False
        present: dict[str, int] = {}
        for attrs in inspected:
            snap = engine.snapshot(attrs)
            if not snap.oneoff:
                present[snap.service] = present.get(snap.service, 0) + 1
        self.out.step("recover", f"{stale.name} has containers: waiting for them to settle")
        try:
            self._wait_healthy(app, stale.project, present, app.health_timeout)
        except OtterError:
            return False
        snaps = [engine.snapshot(a) for a in engine.project_containers(self.dc, stale.project)]
        worktree = self.paths.worktree(app.name, stale.name)
        if not whole_and_healthy(snaps, stale.services) or not worktree.is_dir():
            return False
        try:  # the same proof a deploy needs before it stops the old release
            prep = self._prepare(app, stale.name, stale.project, worktree, None,
                                 self.paths.generated(app.name, stale.name))
            if prep.routing is not None:
                self._switch(prep.routing, stale, self.state.active_release(app.name))
        except OtterError as exc:
            self.out.warn("recover", f"{stale.name} cannot be completed: {exc}")
            return False
        return True

    def remove_app(self, app: App, volumes: bool) -> None:
        """Stop and forget an app: its releases, singletons, checkouts, logs, settings and
        secrets. Its bare repo is kept, and its named volumes unless `volumes` is asked."""
        with app_lock(self.paths.lock(app.name), "remove", 60,
                      lambda who: self.out.step("queue", f"waiting for the lock ({who})")):
            pattern = re.compile(rf"{re.escape(app.name)}-(r\d+|{STATE_SUFFIX})")
            for project in sorted(p for p in engine.projects(self.dc) if pattern.fullmatch(p)):
                def remove(project: str = project) -> None:
                    self.out.step("remove", f"removing {project}")
                    self._remove_containers(project)
                if project.endswith(f"-{STATE_SUFFIX}"):  # singletons: no routed requests
                    remove()
                else:
                    self._drain_and_stop(app, project, project.removeprefix(f"{app.name}-"),
                                         remove)
            repo = gitops.open_repo(app.repo)
            for rel in self.state.releases(app.name, limit=100000):
                if rel.worktree:
                    gitops.remove_worktree(repo, Path(rel.worktree))
            for hook in ("pre-receive", "post-receive"):
                path = Path(app.repo) / "hooks" / hook
                if path.is_file() and f"OTTERSTACK_APP={app.name}\n" in path.read_text():
                    path.unlink()
            shutil.rmtree(self.paths.app_dir(app.name), ignore_errors=True)
            kept_volumes, networks = engine.app_resources(self.dc, app.name)
            for network in networks:
                engine.remove_network(self.dc, network)
            for volume in kept_volumes:
                if volumes:
                    engine.remove_volume(self.dc, volume)
                    self.out.step("remove", f"removed volume {volume}")
                else:
                    self.out.step("remove", f"kept volume {volume} (its data; `otterstack apps "
                                  f"remove {app.name} --volumes` or `docker volume rm {volume}`"
                                  " removes it)")
            self.state.remove_app(app.name)
            self.out.result(True, f"removed {app.name}; its repo {app.repo} is kept")

    def prune(self, app: App, keep: int | None = None, dry_run: bool = False) -> list[str]:
        """`otterstack prune`: the same retention as after a deploy, under the app's lock."""
        with app_lock(self.paths.lock(app.name), "prune", 60,
                      lambda who: self.out.step("queue", f"waiting for the lock ({who})")):
            return self._prune(app, gitops.open_repo(app.repo), keep, dry_run)

    def _prune(self, app: App, repo: git.Repo, keep: int | None = None,
               dry_run: bool = False) -> list[str]:
        """Remove retained releases beyond the newest `keep` (containers, built images,
        worktree). Never the active one, never a named volume."""
        keep = app.keep_releases if keep is None else keep
        kept, pruned = 0, []
        retained = [r for r in self.state.releases(app.name, limit=100000)
                    if r.status in ("active", "superseded") and r.worktree]
        target = self.state.rollback_target(app.name)
        for rel in retained:
            kept += 1
            if kept <= keep or rel.status == "active" or (target and rel.id == target.id):
                continue
            pruned.append(rel.name)
            if dry_run:
                self.out.step("prune", f"would remove {rel.name} ({short(rel.sha)})")
                continue
            def remove(rel: Release = rel) -> None:
                self.out.step("prune", f"removing old release {rel.name} (keeping {keep})")
                self._remove_containers(rel.project)
            try:
                self._drain_and_stop(app, rel.project, rel.name, remove)
            except OtterError as exc:
                self.out.warn("prune", str(exc))
                continue
            gitops.remove_worktree(repo, Path(rel.worktree))
            shutil.rmtree(self.paths.generated(app.name, rel.name), ignore_errors=True)
            self.state.update_release(rel.id, worktree="")
        return pruned
