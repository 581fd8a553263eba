"""A preview's deploy: production's pipeline (usecases/deploy.py, the same steps and lines)
with the preview's own names, plan, hosts, variables and lock (rules/preview), ending with its
URLs. A second push to the branch is a new release of the preview, switched to with zero
downtime as production's are; a preview keeps no release for a rollback (push again).

Admission, under the app's short previews lock (never production's, never another
preview's): the stale previews go, then a new branch is held to `preview_limit` and its slug
to the live previews' (`check_slug_free`), and the push is recorded; once the compose file
is read, its hosts are held to the other previews' (`check_hosts_free`) and recorded with
its URLs. The build and everything after run under the preview's own lock only.
"""

import json
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace

from otterstack_hooks.adapters.local import secrets
from otterstack_hooks.adapters.local.lock import app_lock
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.names import printable, short
from otterstack_hooks.core.ports import Repo
from otterstack_hooks.core.records import App, Release
from otterstack_hooks.core.vocabulary import ReleaseStatus, Step
from otterstack_hooks.rules.preview import lifecycle
from otterstack_hooks.rules.preview.lifecycle import LivePreview
from otterstack_hooks.rules.preview.naming import (
    PreviewNames,
    PreviewTarget,
    check_ready,
    check_swarm_names,
    preview_slug,
)
from otterstack_hooks.rules.preview.routing import preview_urls
from otterstack_hooks.rules.preview.variables import preview_environment
from otterstack_hooks.usecases.deploy import Deploy, DeployRequest, Outcome, lock_limit
from otterstack_hooks.usecases.prepare import Prepared
from otterstack_hooks.usecases.preview_removal import (
    PREVIEW_LOCK_SECONDS,
    remove_preview,
    remove_stale,
)
from otterstack_hooks.usecases.recover import remove_interrupted


class PreviewDeploy(Deploy):
    """`Deploy` of the preview of `DeployRequest.preview_branch`."""

    def run(self, req: DeployRequest) -> Outcome:
        app = self.ports.store.require_app(req.app)
        try:
            check_ready(app.name, app.previews, app.preview_domain)
            _check_runtime(app)
            names = PreviewNames(app.name, preview_slug(app.name, req.preview_branch),
                                 swarm=app.runtime == "swarm")
            self.preview = PreviewTarget(names, req.preview_branch, app.preview_domain)
            return super().run(req)
        except OtterError as exc:  # refused before a release was recorded
            msg = self.out.redact(f"preview of {printable(req.preview_branch, 60)} of "
                                  f"{app.name} not deployed: {exc}")
            self.out.result(False, msg)
            return Outcome(False, msg)

    @property
    def target(self) -> PreviewTarget:
        assert self.preview is not None  # set by run before anything else
        return self.preview

    def _settings(self, app: App) -> App:
        """No release kept for a rollback (push again to go back), no older one retained."""
        return replace(app, retire_after=0, keep_releases=1)

    def _environment(self, app: App, values: dict[str, str]) -> dict[str, str]:
        """The preview variables, and production's only where shared; every value of both
        is redacted from the output."""
        paths = self.ports.paths
        own = secrets.load(paths.preview_env_file(app.name))
        self.out.redact = secrets.redactor({**values, **own})
        return secrets.for_compose(preview_environment(
            values, own, secrets.load_names(paths.shared_file(app.name))))

    def _lock(self, app: App, req: DeployRequest) -> AbstractContextManager[None]:
        branch = printable(self.target.branch, 60)

        @contextmanager
        def held() -> Iterator[None]:
            with app_lock(self.ports.paths.preview_lock(app.name, self.slug),
                          f"deploy preview {req.ref}", lock_limit(app),
                          lambda who: self.out.step(Step.QUEUE, f"another deploy of the "
                                                    f"preview of {branch} is running ({who}); "
                                                    "waiting for it")):
                self.out.step(Step.LOCK, f"deploy lock for the preview of {branch} of "
                              f"{app.name} taken")
                yield
        return held()

    def _previews_lock(self, app: App) -> AbstractContextManager[None]:
        return app_lock(self.ports.paths.preview_lock(app.name, ""), "previews admission",
                        PREVIEW_LOCK_SECONDS,
                        lambda who: self.out.step(Step.QUEUE, "waiting for the previews lock "
                                                  f"of {app.name} ({who})"))

    def _admit(self, app: App, repo: Repo, req: DeployRequest) -> str:
        """Stale previews go; a new branch at the limit, or one whose slug a live preview of
        another branch has, is refused; the push is recorded."""
        target, now = self.target, time.time()
        if req.only_if_branch_head and repo.branch_head(target.branch) is None:
            return (f"the preview of {printable(target.branch, 60)} is not deployed: the "
                    "branch was deleted while this push waited")
        for stale in self.ports.store.releases_with_status(app.name, ReleaseStatus.DEPLOYING,
                                                           self.slug):
            remove_interrupted(self.ports, app, repo, stale)  # its deploy died: the lock is ours
        sha = repo.resolve_commit(req.ref)
        with self._previews_lock(app):
            remove_stale(self.ports, app, now, keep=self.slug, locked=True)
            live = self.ports.store.previews(app.name)
            lifecycle.check_slug_free(app.name, target.branch, self.slug, live)
            lifecycle.check_limit(app.name, target.branch, live, app.preview_limit, now)
            known = next((p for p in live if p.slug == self.slug), None)
            self.ports.store.put_preview(app.name, LivePreview(
                target.branch, self.slug, sha, now, created_at=known.created_at if known
                else now))
        return ""

    def _served(self, app: App, prep: Prepared) -> None:
        """Its names, held to a Swarm's lengths; its hosts, held to the other previews' and
        recorded with its URLs."""
        if self.target.names.swarm:
            check_swarm_names(self.target.names, prep.target.project, prep.plan)
        routed = prep.preview_routing if prep.routing is not None else None
        hosts = routed.hosts if routed else {}
        urls = (preview_urls(hosts, prep.routing.routers, prep.routing.traefik)
                if prep.routing is not None else ())
        with self._previews_lock(app):
            live = self.ports.store.previews(app.name)
            taken = {host: f"the preview of branch {printable(p.branch, 60)}"
                     for p in live if p.slug != self.slug for host, _ in p.hosts}
            production = self.ports.store.active_release(app.name)
            for probe in json.loads(production.probes or "[]") if production else []:
                taken[probe["host"]] = f"production of {app.name}"  # preview_domain under it
            lifecycle.check_hosts_free({h: s for s, h in hosts.items()}, taken)
            known = next(p for p in live if p.slug == self.slug)
            self.ports.store.put_preview(app.name, replace(
                known, pushed_at=time.time(), urls=urls, url=urls[0] if urls else "",
                hosts=tuple((h, s) for s, h in hosts.items())))

    def _failed(self, app: App, old: Release | None) -> None:
        """A preview that never served goes with its failed first deploy (record,
        singletons, volumes, networks): it holds no place under preview_limit and leaves
        nothing to clean up; its failed release stays recorded with its log (`logs APP
        --preview BRANCH`). One that serves keeps serving, as production does."""
        known = next((p for p in self.ports.store.previews(app.name) if p.slug == self.slug),
                     None)
        if old is None and known is not None:
            remove_preview(self.ports, app, known, "its first deploy failed: it never served",
                           keep_releases=True)

    def _deployed(self, app: App, release: Release, done: Release) -> str:
        urls = self.ports.store.previews(app.name)
        found = next((p.urls for p in urls if p.slug == self.slug), ())
        where = ", ".join(found) if found else "no routed service, so no URL"
        return (f"deployed the preview of {printable(self.target.branch, 60)} of {app.name} "
                f"{short(release.sha)} ({release.name}) in {done.duration:.1f} s "
                f"({self.clock.summary()}): {where}")


def _check_runtime(app: App) -> None:
    """A preview is reached by its URL only, so through Traefik."""
    if not app.traefik_routing:
        raise OtterError(f"a preview is reached at its URL, through Traefik: `otterstack "
                         f"config {app.name} traefik_routing on` first")
