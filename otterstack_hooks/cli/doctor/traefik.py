"""The doctor's checks of the Traefik that routes apps on one host (its docker provider):
that it runs, on its network, how soon it serves a new release, and whether it serves the
metrics the watch after a switch reads. `HostChecks` is the set of them that
wiring.doctor_check_sets gives the Compose apps."""

from collections.abc import Callable
from typing import Any

from otterstack_hooks.adapters.docker import engine
from otterstack_hooks.adapters.local.state import State
from otterstack_hooks.adapters.traefik import discovery as traefik
from otterstack_hooks.adapters.traefik.api_client import metrics_page
from otterstack_hooks.cli.doctor.check import Check, DoctorEngine, Named
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.names import printable
from otterstack_hooks.core.records import App
from otterstack_hooks.rules.traefik.container import OURS_LABEL
from otterstack_hooks.rules.traefik.duration import format_seconds, parse_duration
from otterstack_hooks.rules.traefik.metrics import METRICS_FLAG
from otterstack_hooks.rules.traefik.routing_plan import TraefikInfo
from otterstack_hooks.rules.traefik.static_config import config_source
from otterstack_hooks.rules.traefik.throttle import (
    DEFAULT_THROTTLE,
    THROTTLE_FLAG,
    Throttle,
    configured_throttle,
)


class HostChecks:
    """The checks of the apps that run on this host; `everyone` is every app checked (a
    Traefik no app on this host needs is still needed if a Swarm app routes)."""

    def __init__(self, state: State, eng: DoctorEngine, apps: list[App], everyone: list[App]):
        self.state, self.eng, self.apps, self.everyone = state, eng, apps, everyone

    def together(self) -> list[Named]:
        return [("traefik", lambda: check_traefik(self.state, self.apps, self.everyone,
                                                  self.eng)),
                ("traefik switch", lambda: check_traefik_speed(self.state, self.apps,
                                                               self.eng))]

    def of_app(self, app: App) -> list[Named]:
        return []


def check_traefik(state: State, apps: list[App], everyone: list[App], eng: DoctorEngine
                  ) -> Check | list[Check] | None:
    """The Traefik of the apps on one host (docker provider); a Swarm app's is checked by
    check_swarm_traefik. With an app watched after its switches, its metrics too."""
    routed = [a.name for a in apps if a.traefik_routing]
    if not routed:
        if any(a.traefik_routing for a in everyone):
            return None
        return Check("traefik", True, "not needed (traefik_routing is off)")
    who = f"needed by {', '.join(routed)}"
    dc = eng.client()
    if dc is None:
        return Check("traefik", False, f"{who}, but the Docker Engine is not reachable",
                     "fix the docker engine check first")
    try:
        info = traefik.detect(dc, state.setting("traefik_container"),
                              state.setting("traefik_api_url"),
                              state.setting("traefik_network"))
    except OtterError as exc:
        return Check("traefik", False, f"{who}, but the running Traefik is not usable",
                     printable(str(exc), 500))
    if info is None:
        wanted = state.setting("traefik_container")
        found = f"no running Traefik container{f' matching {wanted!r}' if wanted else ''}"
        return Check("traefik", False, f"{who}: {found} (deploys go without zero-downtime "
                     "routing)", "otterstack traefik up")
    network = info.network
    with engine.engine_errors(f"looking for network {network}"):
        exists = any(n.name == network for n in dc.networks.list(names=[network]))
        attrs = dc.api.inspect_container(info.container) if exists else {}
    if not exists:
        return Check("traefik", False, f"container {info.container} runs, but its network "
                     f"{network} does not exist",
                     f"docker network create {network} && docker network connect {network} "
                     f"{info.container} (or `otterstack config --global traefik_network NAME`)")
    attached = ((attrs.get("NetworkSettings") or {}).get("Networks") or {})
    if network not in attached:
        return Check("traefik", False, f"container {info.container} is not on network "
                     f"{network}", f"docker network connect {network} {info.container}")
    entrypoints = ", ".join(f"{name} on port {port}"
                            for name, port in sorted(info.entrypoints.items()))
    usable = Check("traefik", True,
                   f"container {info.container}, API at {info.api_url}, network {network}, "
                   f"entrypoints {entrypoints or 'none published on this host'}")
    if not watched(apps):
        return usable
    return [usable, judge_metrics(info, attrs, lambda: traefik.static_config(dc, attrs))]


def watched(apps: list[App]) -> bool:
    """Whether one of the apps is watched after its switches (so needs Traefik's metrics)."""
    return any(a.traefik_routing and a.watch_seconds > 0 for a in apps)


def judge_switch_speed(container: str, ours: bool, throttle: Throttle) -> Check:
    """How soon Traefik serves a new release once it is healthy: its provider throttle
    (Traefik applies container changes at most that often, 2 s by default). Slower than
    `otterstack traefik up`'s default is a hint with the change that would speed it up, never
    a failure: deploys stay zero-downtime either way, they only take longer."""
    name = "traefik switch"
    fast = parse_duration(DEFAULT_THROTTLE)
    target = DEFAULT_THROTTLE
    seconds = throttle.seconds
    if seconds is None:
        return Check(name, True, f"container {container}: provider throttle unknown "
                     f"({throttle.where}); Traefik's default, 2s, serves a new release up to "
                     "2 s after it is healthy")
    shown = format_seconds(seconds)
    if seconds <= fast:
        return Check(name, True, f"container {container} applies container changes every "
                     f"{shown} ({throttle.where}): a new release is served within {shown} of "
                     "being healthy")
    if ours:
        how = (f"`docker rm -f {container}`, then `otterstack traefik up` with the options it "
               f"was started with (--throttle {target} is the default now)")
    elif throttle.source == "file":
        how = (f"set `providersThrottleDuration: {target}` under `providers:` in "
               f"{throttle.path} (in the TOML form if it is TOML) and restart {container}")
    elif throttle.source == "env":  # a flag would make Traefik ignore its environment
        how = (f"set TRAEFIK_PROVIDERS_PROVIDERSTHROTTLEDURATION={target} in its environment "
               f"and recreate {container}")
    else:
        how = f"add {THROTTLE_FLAG}={target} to its command and recreate {container}"
    return Check(name, True, f"container {container} applies container changes every {shown} "
                 f"({throttle.where}), so a new release is served up to {shown} after it is "
                 f"healthy; hint: {how}: then within {target} (docs/performance.md)")


def check_traefik_speed(state: State, apps: list[App], eng: DoctorEngine) -> Check | None:
    """The switch-speed hint for the Traefik deploys use; nothing when no app routes or no
    Traefik runs (the traefik check says what to do then)."""
    if not any(a.traefik_routing for a in apps):
        return None
    dc = eng.client()
    if dc is None:
        return None
    with engine.engine_errors("reading Traefik's configuration"):
        attrs = traefik.find_container(dc, state.setting("traefik_container"))
        if attrs is None:
            return None
        config = attrs.get("Config") or {}
        throttle = configured_throttle(attrs.get("Args") or [], config.get("Env") or [],
                                       traefik.static_config(dc, attrs))
    ours = OURS_LABEL in (config.get("Labels") or {})
    return judge_switch_speed(attrs.get("Name", "?").lstrip("/"), ours, throttle)


def judge_metrics(info: TraefikInfo, attrs: dict[str, Any],
                  config: Callable[[], tuple[str, str | None] | None],
                  name: str = "traefik metrics") -> Check:
    """Read `/metrics` beside Traefik's API, as the watch does; when it is not served, how
    to turn it on where this Traefik takes its configuration from (`config`: its static
    config file, read only then). A warning, not a failure: deploys go on without it,
    unwatched, and each push says so."""
    container = info.container
    try:
        metrics_page(info.api_url, 3)
    except OtterError as exc:
        problem = str(exc)
    else:
        return Check(name, True, f"container {container} serves Prometheus metrics at "
                     f"{info.api_url}/metrics: releases are watched after a switch")
    source, path = config_source(attrs.get("Args") or [], config())
    if OURS_LABEL in ((attrs.get("Config") or {}).get("Labels") or {}):
        how = (f"`docker rm -f {container}` (`docker service rm` on a Swarm), then `otterstack "
               f"traefik up` with the options it was started with: it adds {METRICS_FLAG}")
    elif source == "file":
        how = (f"add `metrics:` with `prometheus: {{}}` under it to {path} "
               f"(`[metrics.prometheus]` in TOML) and restart {container}")
    elif source == "env":  # a flag would make Traefik ignore its environment
        how = f"set TRAEFIK_METRICS_PROMETHEUS=true in its environment and recreate {container}"
    else:
        how = f"add {METRICS_FLAG} to its command and recreate {container}"
    return Check(name, False, f"container {container} serves no Prometheus metrics ({problem}): "
                 "releases are not watched after a switch",
                 f"{how}; they are served on its `traefik` entrypoint, beside the API: keep "
                 "that entrypoint out of the apps' reach", warning=True)
