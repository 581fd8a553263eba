"""`otterstack retire APP RELEASE`: the end of a replaced release's rollback window. Started
by the deploy that kept it (process.spawn_later), once the window has passed; also safe by
hand. The next deploy's recovery does the same for a window whose timer never ran (reboot)."""

import time

from otterstack_hooks.adapters.local.lock import app_lock
from otterstack_hooks.core.ports import Ports
from otterstack_hooks.core.records import App
from otterstack_hooks.core.vocabulary import ReleaseStatus, Step
from otterstack_hooks.usecases.deploy import lock_limit
from otterstack_hooks.usecases.release_steps import release_named, retire_kept


class Retire:
    def __init__(self, ports: Ports):
        self.ports, self.out = ports, ports.out

    def run(self, app: App, name: str) -> bool:
        """True if the release was stopped now; False if it no longer waits to retire (rolled
        back to, already stopped by a newer deploy, or its window was moved on)."""
        with app_lock(self.ports.paths.lock(app.name), f"retire {name}", lock_limit(app),
                      lambda who: self.out.step(Step.QUEUE, f"waiting for the lock ({who})")):
            release = release_named(self.ports, app.name, name)
            if (release is None or release.status != ReleaseStatus.SUPERSEDED
                    or release.retire_at is None or release.retire_at > time.time() + 1):
                return False
            self.out.step(Step.STOP, f"{name}'s rollback window has passed: stopping it")
            retire_kept(self.ports, app, release)
            return True
