"""The one place the real adapters are made and plugged into the ports: Compose and the
Docker Engine (one client per process), Traefik, SQLite, git."""

import sys

from . import process
from .gitops import GitRepo
from .paths import Paths
from .ports import Ports
from .progress import Progress
from .router import TraefikRouter
from .runtime import ComposeRuntime
from .state import State
from .swarm import SwarmRuntime
from .swarm_router import SwarmTraefikRouter


def real_ports(paths: Paths, state: State, out: Progress, app: str = "") -> Ports:
    """Docker is reached lazily (engine.client is cached): a dry run that fails on the compose
    file, or a recovery with nothing to do, never needs the engine. The app's `runtime`
    setting picks one host's Compose and Traefik's docker provider, or a Swarm's stacks and
    its swarm provider."""
    record = state.get_app(app) if app else None
    if record is not None and record.runtime == "swarm":
        return Ports(runtime=SwarmRuntime(record.name, record.registry),
                     router=SwarmTraefikRouter(state), store=state, open_repo=GitRepo,
                     paths=paths, out=out, schedule_retire=_schedule_retire)
    return Ports(runtime=ComposeRuntime(), router=TraefikRouter(state), store=state,
                 open_repo=GitRepo, paths=paths, out=out, schedule_retire=_schedule_retire)


def _schedule_retire(app: str, release: str, delay: float) -> None:
    """`otterstack retire APP RELEASE` once the release's rollback window has passed."""
    process.spawn_later(delay, [sys.executable, "-m", "otterstack_hooks.cli", "retire", app,
                                release])



