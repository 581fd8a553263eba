"""The one place the real adapters are made and plugged into the ports: Compose and the
Docker Engine (one client per process), Traefik, SQLite, git."""

from .gitops import GitRepo
from .paths import Paths
from .ports import Ports
from .progress import Progress
from .router import TraefikRouter
from .runtime import ComposeRuntime
from .state import State


def real_ports(paths: Paths, state: State, out: Progress) -> Ports:
    """Docker is reached lazily (engine.client is cached): a dry run that fails on the compose
    file, or a recovery with nothing to do, never needs the engine."""
    return Ports(runtime=ComposeRuntime(), router=TraefikRouter(state), store=state,
                 open_repo=GitRepo, paths=paths, out=out)



