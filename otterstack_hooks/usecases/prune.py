"""Retention: which retained releases go (pure), and removing them (after every deploy, and
`otterstack prune` under the app's lock). Never the active release, never the rollback
target, never a named volume."""

import shutil
from collections.abc import Sequence
from pathlib import Path

from otterstack_hooks.adapters.local.lock import app_lock
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.names import short
from otterstack_hooks.core.ports import Ports, Repo
from otterstack_hooks.core.records import App, Release
from otterstack_hooks.core.vocabulary import ReleaseStatus, Step
from otterstack_hooks.usecases.preview_removal import remove_stale
from otterstack_hooks.usecases.release_steps import drain_and_stop


def prunable(releases: Sequence[Release], keep: int, rollback_target: Release | None
             ) -> list[Release]:
    """The retained releases (newest first in `releases`) beyond the newest `keep`, except
    the active one, the rollback target and one still running out of traffic until its
    retire (`retire_at`: a watched deploy leaves the release kept before it so until the
    watch is over; the next prune removes it)."""
    retained = [r for r in releases if r.worktree
                and r.status in (ReleaseStatus.ACTIVE, ReleaseStatus.SUPERSEDED)]
    return [rel for kept, rel in enumerate(retained, start=1)
            if kept > keep and rel.status != ReleaseStatus.ACTIVE and rel.retire_at is None
            and not (rollback_target and rel.id == rollback_target.id)]


class Prune:
    """`otterstack prune`: the same retention as after a deploy, under the app's lock; then,
    as every deploy does, the previews without a push for `preview_ttl` days go."""

    def __init__(self, ports: Ports):
        self.ports = ports

    def run(self, app: App, keep: int | None = None, dry_run: bool = False) -> list[str]:
        out = self.ports.out
        with app_lock(self.ports.paths.lock(app.name), "prune", 60,
                      lambda who: out.step(Step.QUEUE, f"waiting for the lock ({who})")):
            pruned = prune_releases(self.ports, app, self.ports.open_repo(app.repo), keep,
                                    dry_run)
        if not dry_run:  # previews without a push for preview_ttl days (their own locks)
            remove_stale(self.ports, app)
        return pruned


def prune_releases(ports: Ports, app: App, repo: Repo, keep: int | None = None,
                   dry_run: bool = False, preview: str = "") -> list[str]:
    """Remove retained releases beyond the newest `keep` (containers, built images, worktree)
    of production, or of one preview (`preview`: its slug; it has no rollback target); the
    lock of whichever it is is held."""
    store, out = ports.store, ports.out
    keep = app.keep_releases if keep is None else keep
    pruned = []
    for rel in prunable(store.releases(app.name, limit=100000, preview=preview), keep,
                        None if preview else store.rollback_target(app.name)):
        pruned.append(rel.name)
        if dry_run:
            out.step(Step.PRUNE, f"would remove {rel.name} ({short(rel.sha)})")
            continue

        def remove(rel: Release = rel) -> None:
            out.step(Step.PRUNE, f"removing old release {rel.name} (keeping {keep})")
            ports.runtime.remove(rel.project)
        try:
            drain_and_stop(ports, app, rel.project, rel.name, remove)
        except OtterError as exc:
            out.warn(Step.PRUNE, str(exc))
            continue
        repo.remove_worktree(Path(rel.worktree))
        shutil.rmtree(ports.paths.generated(app.name, rel.name), ignore_errors=True)
        store.update_release(rel.id, worktree="")
    return pruned
