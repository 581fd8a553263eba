"""`otterstack rollback`: back to a retained release through the same health gate and switch
as a deploy, starting the images that release built (no build)."""

from collections.abc import Sequence

from .deploy import Deploy, DeployRequest, Outcome
from .errors import OtterError
from .names import short
from .ports import Ports
from .state import App, Release
from .vocabulary import ReleaseStatus, Step


def rollback_target(app: App, releases: Sequence[Release], default: Release | None,
                    to: str | None) -> Release:
    """The release to go back to: `to` by name (a retained, not active one), else the
    store's default (the newest retained release older than the active one)."""
    if to:
        target = next((r for r in releases if r.name == to), None)
        if target is None or target.status not in (ReleaseStatus.SUPERSEDED, ReleaseStatus.ACTIVE):
            raise OtterError(f"{app.name} has no release {to!r} to roll back to; "
                             f"`otterstack releases {app.name}` lists them")
        if target.status == ReleaseStatus.ACTIVE:
            raise OtterError(f"{target.name} is already the active release")
        return target
    if default is None:
        raise OtterError(f"{app.name} has no earlier release to roll back to")
    return default


class Rollback:
    def __init__(self, ports: Ports):
        self.ports = ports

    def run(self, app: App, to: str | None, pin: bool, who: str,
            health_timeout: int | None) -> Outcome:
        store = self.ports.store
        target = rollback_target(app, store.releases(app.name, limit=100000),
                                 store.rollback_target(app.name), to)
        active = store.active_release(app.name)
        self.ports.out.step(Step.ROLLBACK, f"rolling {app.name} back to {target.name} "
                            f"({short(target.sha)}){' from ' + active.name if active else ''}")
        return Deploy(self.ports).run(DeployRequest(
            app=app.name, ref=target.sha, trigger="rollback", pushed_by=who,
            push_ref=f"rollback to {target.name}", health_timeout=health_timeout,
            reuse_images_of=target.project if target.worktree else "",
            pin_reason=f"rolled back to {target.name}" if pin else ""))
