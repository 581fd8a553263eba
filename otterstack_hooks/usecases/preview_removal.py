"""Removing a preview: on deletion of its branch, by `otterstack previews APP remove BRANCH`,
and when it saw no push for `preview_ttl` days (every deploy of the app and `otterstack
prune` look). Everything of exactly that preview goes (its releases drained first, its
singletons, built images, checkouts, volumes, networks and records), found by its project
names (`<app>_<slug>-r<N>`, `<app>_<slug>-state`, which no production or other app's name
can be) and by its labels (volumes and networks): never production's, nor another's.
"""

import shutil
import time
from pathlib import Path

from otterstack_hooks.adapters.local.lock import app_lock
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.names import printable
from otterstack_hooks.core.ports import Ports
from otterstack_hooks.core.records import App
from otterstack_hooks.core.vocabulary import Step
from otterstack_hooks.rules.notify_target import build_event
from otterstack_hooks.rules.preview.lifecycle import LivePreview, stale
from otterstack_hooks.rules.preview.naming import PreviewNames
from otterstack_hooks.usecases.release_steps import deliver, drain_and_stop, remove_volume

PREVIEW_LOCK_SECONDS = 60  # what a removal waits for a deploy of the same preview


def preview_of(ports: Ports, app: str, branch: str) -> LivePreview:
    """The live preview of `branch`, or OtterError listing the live ones."""
    live = ports.store.previews(app)
    found = next((p for p in live if p.branch == branch), None)
    if found is None:
        listed = ", ".join(printable(p.branch, 60) for p in live) or "none"
        raise OtterError(f"{app} has no preview of branch {printable(branch, 60)} (live: "
                         f"{listed}; `otterstack previews {app}` lists them)")
    return found


class RemovePreview:
    """`otterstack previews APP remove BRANCH` and a deleted branch: under the preview's own
    lock (a deploy of it finishes first), never production's."""

    def __init__(self, ports: Ports):
        self.ports = ports

    def run(self, app: App, preview: LivePreview, why: str, by: str = "") -> None:
        """`by`: who removed it (the pusher of a branch deletion, the command's user)."""
        out = self.ports.out
        with app_lock(self.ports.paths.preview_lock(app.name, preview.slug), "remove",
                      PREVIEW_LOCK_SECONDS,
                      lambda who: out.step(Step.QUEUE, f"waiting for the preview's lock "
                                           f"({who})")):
            remove_preview(self.ports, app, preview, why, by)


def remove_preview(ports: Ports, app: App, preview: LivePreview, why: str,
                   by: str = "", keep_releases: bool = False) -> None:
    """Remove every trace of one preview (but its release records and logs if
    `keep_releases`), then tell the app's notification target (a `removed` event naming its
    latest release); its lock is held."""
    runtime, out, names = ports.runtime, ports.out, PreviewNames(app.name, preview.slug)
    latest = next(iter(ports.store.releases(app.name, limit=1, preview=preview.slug)), None)
    for project in sorted(p for p in runtime.projects() if names.owns_project(p)):
        def remove(project: str = project) -> None:
            out.step(Step.REMOVE, f"removing {project}")
            runtime.remove(project)
        if project == names.state_project:  # singletons: no routed requests
            remove()
        else:
            drain_and_stop(ports, app, project, project.removeprefix(f"{names.key}-"), remove)
    repo = ports.open_repo(app.repo)
    for rel in ports.store.releases(app.name, limit=100000, preview=preview.slug):
        if rel.worktree:
            repo.remove_worktree(Path(rel.worktree))
        shutil.rmtree(ports.paths.generated(app.name, rel.name), ignore_errors=True)
    volumes, networks = runtime.app_resources(app.name, preview.slug)
    for network in networks:
        runtime.remove_network(network)
    for volume in volumes:
        remove_volume(ports, volume)
    shutil.rmtree(ports.paths.current(app.name, preview.slug).parent, ignore_errors=True)
    ports.store.remove_preview(app.name, preview.slug, releases=not keep_releases)
    out.step(Step.REMOVE, f"removed the preview of branch {printable(preview.branch, 60)} of "
             f"{app.name} ({why})")
    deliver(ports, app, build_event(
        "removed", app.name, latest.name if latest else "", preview.sha, "removed", why,
        when=time.time(), pushed_by=by, preview=preview.notice()))


def remove_stale(ports: Ports, app: App, now: float | None = None, keep: str = "",
                 locked: bool = False) -> list[str]:
    """Remove the app's previews without a push for `preview_ttl` days (not `keep`, the
    slug being deployed), under the app's previews lock (`locked`: held already); the
    branches removed. One that cannot be removed now (its deploy holds its lock) waits for
    the next look, with a warning."""
    if not locked:
        with app_lock(ports.paths.preview_lock(app.name, ""), "previews", PREVIEW_LOCK_SECONDS,
                      lambda who: ports.out.step(Step.QUEUE, f"waiting for the previews lock "
                                                 f"of {app.name} ({who})")):
            return remove_stale(ports, app, now, keep, locked=True)
    removed = []
    now = time.time() if now is None else now
    for preview in stale(ports.store.previews(app.name), now, app.preview_ttl):
        if preview.slug == keep:
            continue
        try:
            with app_lock(ports.paths.preview_lock(app.name, preview.slug), "remove stale", 5,
                          lambda who: None):
                remove_preview(ports, app, preview, f"no push for {app.preview_ttl} days, its "
                               "preview_ttl")
        except OtterError as exc:
            ports.out.warn(Step.REMOVE, f"the stale preview of {printable(preview.branch, 60)} "
                           f"stays for now: {exc}")
            continue
        removed.append(preview.branch)
    return removed
