"""The one place the real adapters are made and plugged into the ports: Compose and the
Docker Engine (one client per process), Traefik, SQLite, git."""

import sys

from otterstack_hooks.adapters.compose.runtime import ComposeRuntime
from otterstack_hooks.adapters.git.repo import GitRepo
from otterstack_hooks.adapters.local import process
from otterstack_hooks.adapters.local.notify import TargetNotifier
from otterstack_hooks.adapters.local.paths import Paths
from otterstack_hooks.adapters.local.progress import Progress
from otterstack_hooks.adapters.local.state import State
from otterstack_hooks.adapters.swarm.router import SwarmTraefikRouter
from otterstack_hooks.adapters.swarm.runtime import SwarmRuntime
from otterstack_hooks.adapters.traefik.router import TraefikRouter
from otterstack_hooks.core.ports import Ports


def real_ports(paths: Paths, state: State, out: Progress, app: str = "") -> Ports:
    """Docker is reached lazily (engine.client is cached): a dry run that fails on the compose
    file, or a recovery with nothing to do, never needs the engine. The app's `runtime`
    setting picks one host's Compose and Traefik's docker provider, or a Swarm's stacks and
    its swarm provider."""
    record = state.get_app(app) if app else None
    if record is not None and record.runtime == "swarm":
        return Ports(runtime=SwarmRuntime(record.name, record.registry),
                     router=SwarmTraefikRouter(state), store=state, notifier=TargetNotifier(),
                     open_repo=GitRepo, paths=paths, out=out, schedule_retire=_schedule_retire)
    return Ports(runtime=ComposeRuntime(), router=TraefikRouter(state), store=state,
                 notifier=TargetNotifier(), open_repo=GitRepo, paths=paths, out=out,
                 schedule_retire=_schedule_retire)


def _schedule_retire(app: str, release: str, delay: float) -> None:
    """`otterstack retire APP RELEASE` once the release's rollback window has passed."""
    process.spawn_later(delay, [sys.executable, "-m", "otterstack_hooks.cli.main", "retire", app,
                                release])



