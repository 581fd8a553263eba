"""`otterstack apps remove`: stop and forget an app: its releases, singletons, checkouts,
logs, settings and secrets, and every preview with its volumes. Its bare repo is kept, and
its production's named volumes unless asked."""

import re
import shutil
from pathlib import Path

from otterstack_hooks.adapters.local.lock import app_lock
from otterstack_hooks.core.ports import Ports
from otterstack_hooks.core.records import App
from otterstack_hooks.core.vocabulary import Step
from otterstack_hooks.rules.release_plan import STATE_SUFFIX
from otterstack_hooks.usecases.preview_removal import RemovePreview
from otterstack_hooks.usecases.release_steps import drain_and_stop, remove_volume


class RemoveApp:
    def __init__(self, ports: Ports):
        self.ports, self.out = ports, ports.out

    def run(self, app: App, volumes: bool) -> None:
        runtime, store, paths, out = (self.ports.runtime, self.ports.store, self.ports.paths,
                                      self.out)
        with app_lock(paths.lock(app.name), "remove", 60,
                      lambda who: out.step(Step.QUEUE, f"waiting for the lock ({who})")):
            for preview in store.previews(app.name):  # their data with them: disposable
                RemovePreview(self.ports).run(app, preview, f"{app.name} is removed")
            pattern = re.compile(rf"{re.escape(app.name)}-(r\d+|{STATE_SUFFIX})")
            for project in sorted(p for p in runtime.projects() if pattern.fullmatch(p)):
                def remove(project: str = project) -> None:
                    out.step(Step.REMOVE, f"removing {project}")
                    runtime.remove(project)
                if project.endswith(f"-{STATE_SUFFIX}"):  # singletons: no routed requests
                    remove()
                else:
                    drain_and_stop(self.ports, app, project,
                                   project.removeprefix(f"{app.name}-"), remove)
            repo = self.ports.open_repo(app.repo)
            for rel in store.releases(app.name, limit=100000):
                if rel.worktree:
                    repo.remove_worktree(Path(rel.worktree))
            for hook in ("pre-receive", "post-receive"):
                path = Path(app.repo) / "hooks" / hook
                if path.is_file() and f"OTTERSTACK_APP={app.name}\n" in path.read_text():
                    path.unlink()
            shutil.rmtree(paths.app_dir(app.name), ignore_errors=True)
            kept_volumes, networks = runtime.app_resources(app.name)
            for network in networks:
                runtime.remove_network(network)
            for volume in kept_volumes:
                if volumes:
                    remove_volume(self.ports, volume)
                else:
                    out.step(Step.REMOVE, f"kept volume {volume} (its data; `otterstack apps "
                             f"remove {app.name} --volumes` or `docker volume rm {volume}`"
                             " removes it)")
            store.remove_app(app.name)
            out.result(True, f"removed {app.name}; its repo {app.repo} is kept")
