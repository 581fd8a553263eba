"""`otterstack deploy --dry-run` and `git push -o dry-run`: everything a deploy would decide,
from a scratch checkout; nothing is built, started, stopped or recorded."""

import os
import shutil
from collections.abc import Mapping
from typing import TYPE_CHECKING

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.names import short
from otterstack_hooks.core.ports import Ports
from otterstack_hooks.core.records import App
from otterstack_hooks.core.vocabulary import Step
from otterstack_hooks.rules.compose.override import OVERRIDE_FILE, STATE_OVERRIDE_FILE
from otterstack_hooks.rules.preview.naming import PreviewTarget
from otterstack_hooks.usecases.prepare import prepare

if TYPE_CHECKING:
    from otterstack_hooks.usecases.deploy import Outcome


class DryRun:
    def __init__(self, ports: Ports, env: Mapping[str, str],
                 preview: PreviewTarget | None = None):
        self.ports, self.out, self.env, self.preview = ports, ports.out, env, preview

    def run(self, app: App, ref: str) -> "Outcome":
        from otterstack_hooks.usecases.deploy import (
            Outcome,  # usecases/deploy.py runs this use case for a dry-run request
        )

        paths, out = self.ports.paths, self.out
        repo = self.ports.open_repo(app.repo)
        sha = repo.resolve_commit(ref)
        number = self.ports.store.next_release_number()
        name = f"r{number}"
        project = self.preview.names.project(name) if self.preview else f"{app.name}-{name}"
        worktree = paths.app_dir(app.name) / f".dry-run-{os.getpid()}"
        generated = paths.app_dir(app.name) / f".dry-run-{os.getpid()}-generated"
        repo.add_worktree(worktree, sha)
        out.step(Step.DRY_RUN, f"{short(sha)} would become {name} (compose project "
                 f"{project}); nothing is built, started, stopped or recorded")
        try:
            plan = prepare(self.ports, app, self.env, name, project, worktree, None,
                           generated, preview=self.preview).plan
            out.step(Step.PLAN, f"would start: {', '.join(plan.release_services)}")
            if plan.singletons:
                out.step(Step.PLAN, f"would keep running (recreated only if changed): "
                         f"{', '.join(plan.singletons)}")
            for key, volume in plan.volumes.items():
                out.step(Step.PLAN, f"volume {key} -> {volume} (kept across releases)")
            if app.release_command:
                out.step(Step.PLAN, f"would run the release command `{app.release_command}`")
            for file_name in (STATE_OVERRIDE_FILE, OVERRIDE_FILE):
                path = generated / file_name
                if path.exists():
                    out.step(Step.OVERRIDE, f"{file_name}:")
                    for line in path.read_text().splitlines():
                        out.detail(Step.OVERRIDE, line)
            old = self.ports.store.active_release(
                app.name, self.preview.names.slug if self.preview else "")
            out.step(Step.PLAN, f"then would stop {old.name} ({short(old.sha)})" if old
                     else "nothing to stop (first release)")
        except OtterError as exc:
            msg = f"dry run of {app.name} {short(sha)}: the deploy would FAIL: {exc}"
            out.result(False, msg)
            return Outcome(False, msg)
        finally:
            repo.remove_worktree(worktree)
            shutil.rmtree(generated, ignore_errors=True)
        msg = f"dry run of {app.name} {short(sha)} as {name}: nothing was changed"
        out.result(True, msg)
        return Outcome(True, msg)
