"""The one place the real adapters are made and plugged into the ports: Compose and the
Docker Engine (one client per process), Traefik, SQLite, git. It is also the one place that
chooses by an app's `runtime` setting: one host's Compose and Traefik's docker provider, or a
Swarm's stacks and its swarm provider (and the doctor's checks of the one or the other)."""

import sys
from typing import TypeGuard

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
from otterstack_hooks.cli.doctor.check import DoctorEngine, RuntimeChecks
from otterstack_hooks.cli.doctor.swarm import SwarmChecks
from otterstack_hooks.cli.doctor.traefik import HostChecks
from otterstack_hooks.core.ports import Ports, Runtime
from otterstack_hooks.core.records import App


def _on_swarm(app: App | None) -> TypeGuard[App]:
    """The one test of an app's `runtime` setting; every choice below follows it."""
    return app is not None and app.runtime == "swarm"


def runtime_for(app: App | None) -> Runtime:
    """The Runtime that runs the app's releases (Compose for no app: nothing Swarm's)."""
    if _on_swarm(app):
        return SwarmRuntime(app.name, app.registry)
    return ComposeRuntime()


def _router_class(app: App | None) -> type[TraefikRouter]:
    return SwarmTraefikRouter if _on_swarm(app) else TraefikRouter


def traefik_provider(app: App) -> str:
    """The Traefik provider that routes the app's releases: pre-receive checks the push
    against that Traefik."""
    return _router_class(app).PROVIDER


def doctor_check_sets(state: State, eng: DoctorEngine, apps: list[App]) -> list[RuntimeChecks]:
    """The doctor's checks of each runtime, in report order, each for the apps that use it:
    one host's Traefik for the Compose apps, the Swarm's for the Swarm apps."""
    return [HostChecks(state, eng, [a for a in apps if not _on_swarm(a)], apps),
            SwarmChecks(state, eng, [a for a in apps if _on_swarm(a)])]


def real_ports(paths: Paths, state: State, out: Progress, app: str = "") -> Ports:
    """Docker is reached lazily (engine.client is cached): a dry run that fails on the compose
    file, or a recovery with nothing to do, never needs the engine."""
    record = state.get_app(app) if app else None
    return Ports(runtime=runtime_for(record), router=_router_class(record)(state), store=state,
                 notifier=TargetNotifier(), open_repo=GitRepo, paths=paths, out=out,
                 schedule_retire=_schedule_retire, schedule_watch=_schedule_watch)


OTTERSTACK = [sys.executable, "-m", "otterstack_hooks.cli.main"]  # this install's command


def _schedule_retire(app: str, release: str, delay: float) -> None:
    """`otterstack retire APP RELEASE` once the release's rollback window has passed."""
    process.spawn_later(delay, [*OTTERSTACK, "retire", app, release])


def _schedule_watch(app: str, release: str) -> None:
    """`otterstack watch --wait APP RELEASE` now, in a session of its own: the pusher's
    connection and the deploy's end do not end it."""
    process.spawn_later(0, [*OTTERSTACK, "watch", "--wait", app, release])
