"""The Docker Swarm checks of `otterstack doctor`, run only for apps with runtime swarm.

The engine's Swarm role, its nodes, the overlay network routed services share with Traefik,
Traefik with the swarm provider (and how often it polls), the registry other nodes pull built
images from, and IPVS. The `judge_*` functions decide from plain values; each `check_*` reads
the engine and returns None (no line) when no app needs it. They are `SwarmChecks`, the set
wiring.doctor_check_sets gives the Swarm apps, which report.run_checks runs in their place
among the one-host checks; like every check, they change nothing.
"""

import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import docker
import docker.errors

from otterstack_hooks.adapters.docker import engine
from otterstack_hooks.adapters.local.state import State
from otterstack_hooks.adapters.swarm import traefik_up as swarm_traefik
from otterstack_hooks.adapters.swarm.router import SwarmTraefikRouter
from otterstack_hooks.adapters.traefik import discovery as traefik
from otterstack_hooks.cli.doctor.check import Check, DoctorEngine, Named
from otterstack_hooks.cli.doctor.traefik import judge_metrics, watched
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.names import printable
from otterstack_hooks.core.records import App
from otterstack_hooks.rules.release_plan import state_project
from otterstack_hooks.rules.swarm.stack_view import built_here
from otterstack_hooks.rules.traefik.container import OURS_LABEL
from otterstack_hooks.rules.traefik.duration import parse_duration

SWARM_REFRESH_DEFAULT = 15.0  # s: Traefik's swarm provider polls this often unless told
REGISTRY_TIMEOUT = 3  # s per address tried
IPVS = Path("/proc/net/ip_vs")
REFRESH_FLAG = "--providers.swarm.refreshSeconds"
REFRESH_ENV = "TRAEFIK_PROVIDERS_SWARM_REFRESHSECONDS"


def judge_swarm_role(swarm: Mapping[str, Any]) -> Check:
    """The engine's `Info.Swarm`: a Swarm app deploys from a manager (stacks, services)."""
    name = "swarm"
    state = str(swarm.get("LocalNodeState") or "inactive")
    if state != "active":
        error = printable(str(swarm.get("Error") or ""), 200)
        return Check(name, False, f"this engine is not in a Swarm (state {state}"
                     f"{f': {error}' if error else ''})",
                     "`docker swarm init` here (or `docker swarm join` it to yours and run "
                     "OtterStack on a manager), or keep the apps on one host: `otterstack "
                     "config APP runtime compose`")
    if not swarm.get("ControlAvailable"):
        return Check(name, False, "this engine is a Swarm worker: stacks are deployed from a "
                     "manager", "run OtterStack on a manager (`docker node ls` there lists "
                     "them), or `docker node promote NODE` on a manager to make this one")
    return Check(name, True, f"this engine is a manager of a Swarm of "
                 f"{swarm.get('Nodes', '?')} node(s), {swarm.get('Managers', '?')} manager(s)")


def judge_nodes(nodes: Sequence[Mapping[str, Any]]) -> Check:
    """Every node Ready and Active: Swarm puts no task on one that is not."""
    bad, fixes = [], []
    for node in nodes:
        host = printable(str((node.get("Description") or {}).get("Hostname")
                             or str(node.get("ID", "?"))[:12]), 60)
        state = str((node.get("Status") or {}).get("State") or "unknown")
        availability = str((node.get("Spec") or {}).get("Availability") or "unknown")
        if state != "ready":
            bad.append(f"{host} is {state}")
            fixes.append(f"start dockerd on {host} (or, if it is gone for good, `docker node "
                         f"rm {host}`)")
        elif availability != "active":
            bad.append(f"{host} is {availability}")
            fixes.append(f"`docker node update --availability active {host}` when it should "
                         "run tasks again")
    if bad:
        return Check("swarm nodes", False, f"{len(bad)} of {len(nodes)} node(s) take no "
                     f"tasks: {', '.join(bad)}", "; ".join(fixes))
    return Check("swarm nodes", True, f"{len(nodes)} node(s), all Ready and Active")


def swarm_network_name(setting: str, traefik_args: Sequence[str]) -> str:
    """The overlay network a Swarm app's routed services share with Traefik: the setting,
    else the one Traefik's swarm provider is told to use, else `traefik up --swarm`'s."""
    if setting:
        return setting
    for arg in traefik_args:
        if arg.startswith("--providers.swarm.network="):
            return arg.split("=", 1)[1]
    return swarm_traefik.NETWORK


def judge_swarm_network(name: str, attrs: Mapping[str, Any] | None) -> Check:
    """The network, as the Engine API inspects it (None: there is none): an attachable
    overlay, so services of every stack and the manager's one-off containers join it."""
    check = "swarm network"
    create = (f"`docker network create --driver overlay --attachable {name}` (`otterstack "
              "traefik up --swarm` creates it)")
    if attrs is None:
        return Check(check, False, f"{name} does not exist: the routed services cannot join "
                     "Traefik", create)
    driver, attachable = attrs.get("Driver"), bool(attrs.get("Attachable"))
    if driver != "overlay" or not attachable:
        found = f"a {driver} network" + ("" if attachable else ", not attachable")
        return Check(check, False, f"{name} is {found}: Swarm services need an attachable "
                     "overlay network", f"remove it once nothing uses it, then {create}")
    return Check(check, True, f"{name} (overlay, attachable)")


def refresh_seconds(args: Sequence[str], env: Sequence[str]) -> tuple[float | None, str]:
    """How often Traefik's swarm provider polls, from its flags or its environment, and
    where that was read; (None, where) if set in a form this cannot read."""
    def parse(text: str) -> float | None:
        try:
            return parse_duration(text)
        except ValueError:
            return None

    for arg in reversed(list(args)):
        key, _, value = arg.partition("=")
        if key.lower() == REFRESH_FLAG.lower():
            return parse(value), f"{REFRESH_FLAG}={printable(value, 40)}"
    for item in env:
        key, _, value = item.partition("=")
        if key == REFRESH_ENV:
            return parse(value), f"{REFRESH_ENV}={printable(value, 40)}"
    return SWARM_REFRESH_DEFAULT, "Traefik's default"


def judge_refresh(container: str, seconds: float | None, where: str) -> Check:
    """A hint, never a failure: Traefik's swarm provider polls, so a new release is served
    (and an old one dropped) up to one poll after it is healthy."""
    name = "traefik refresh"
    fast = swarm_traefik.DEFAULT_REFRESH
    if seconds is None:
        return Check(name, True, f"{container}: swarm provider refresh unreadable ({where}); "
                     f"Traefik's default polls every {SWARM_REFRESH_DEFAULT:g} s")
    shown = f"{seconds:g} s"
    if seconds <= parse_duration(fast):
        return Check(name, True, f"{container} polls the Swarm every {shown} ({where}): a new "
                     f"release is served within {shown} of being healthy")
    return Check(name, True, f"{container} polls the Swarm every {shown} ({where}), so a "
                 f"release is served up to {shown} after it is healthy, and taken out as late; "
                 f"hint: {REFRESH_FLAG}={fast} (`otterstack traefik up --swarm` uses {fast})")


def judge_registry(app: str, registry: str, nodes: int, builds: bool | None,
                   answer: str | None) -> Check:
    """`answer`: None if the registry answered its `/v2/` (200, or 401: it wants a login),
    else what went wrong. Without a registry, built images exist only on this node."""
    name = f"registry of {app}"
    fix = (f"`otterstack config {app} registry HOST:PORT` with a registry every node can "
           "pull from")
    if registry:
        if answer is not None:
            return Check(name, False, f"{registry} does not answer: {answer}",
                         f"start the registry or fix the address ({fix})")
        return Check(name, True, f"{registry} answers")
    if nodes <= 1:
        return Check(name, True, "none: one node, built images stay on it")
    if builds is False:
        return Check(name, True, f"none, and {app} runs no image it builds")
    if builds is None:
        return Check(name, False, f"none, and this Swarm has {nodes} nodes: if {app} builds "
                     "images, its deploy fails (the other nodes cannot pull them)", fix,
                     warning=True)
    return Check(name, False, f"none, and {app} builds images while this Swarm has {nodes} "
                 "nodes: the other nodes cannot run them, so its deploy fails", fix)


def judge_several_traefiks(chosen: str, running: Sequence[str]) -> Check | None:
    """Several `traefik up --swarm` tasks on this host (as tests and benchmarks start them):
    the deploys take one of them, which may not be the one the app's users reach."""
    others = sorted(n for n in running if n != chosen)
    if not others:
        return None
    return Check("traefik tasks", False, f"{len(others) + 1} Traefik tasks with the swarm "
                 f"provider run here; deploys use {chosen}, not {', '.join(others)}",
                 "remove the ones that should not serve (`docker service rm SERVICE`), or name "
                 "the one to use: `otterstack config --global traefik_container NAME`",
                 warning=True)


def judge_ipvs(present: bool) -> Check | None:
    """Informational only: OtterStack's stacks need no IPVS."""
    if present:
        return None
    return Check("ipvs", True, "IPVS absent: Swarm's VIP and ingress mesh do not work here; "
                 "OtterStack uses dnsrr and host-mode ports, which do not need it")


class _Swarm:
    """The Engine's Swarm state, read once for the Swarm checks; `dc` is None unless this
    engine is a manager (the swarm check says what to do then, the others stay silent)."""

    def __init__(self, eng: DoctorEngine) -> None:
        self._eng = eng
        self._read = False
        self.info: dict[str, Any] = {}
        self.dc: docker.DockerClient | None = None
        self._nodes: list[dict[str, Any]] | None = None

    def read(self) -> dict[str, Any]:
        if not self._read:
            self._read = True
            dc = self._eng.client()
            if dc is not None:
                with engine.engine_errors("reading the engine's Swarm state"):
                    self.info = dict(dc.info().get("Swarm") or {})
                if self.info.get("LocalNodeState") == "active" and \
                        self.info.get("ControlAvailable"):
                    self.dc = dc
        return self.info

    def manager(self) -> docker.DockerClient | None:
        self.read()
        return self.dc

    def nodes(self) -> list[dict[str, Any]]:
        dc = self.manager()
        if self._nodes is None and dc is not None:
            with engine.engine_errors("listing the Swarm's nodes"):
                self._nodes = list(dc.api.nodes())
        return self._nodes or []


class SwarmChecks:
    """The checks of the apps that run on the Swarm (those wiring.doctor_check_sets gives
    it): the engine's role, its nodes, the network, Traefik and IPVS, then each app's
    registry. With no such app, none says anything."""

    def __init__(self, state: State, eng: DoctorEngine, apps: list[App]):
        self.state, self.eng, self.apps = state, eng, apps
        self.swarm = _Swarm(eng)

    def together(self) -> list[Named]:
        state, apps, swarm = self.state, self.apps, self.swarm
        return [("swarm", lambda: check_swarm_role(apps, self.eng, swarm)),
                ("swarm nodes", lambda: check_swarm_nodes(apps, swarm)),
                ("swarm network", lambda: check_swarm_network(state, apps, swarm)),
                ("traefik (swarm)", lambda: check_swarm_traefik(state, apps, swarm)),
                ("ipvs", lambda: check_ipvs(apps))]

    def of_app(self, app: App) -> list[Named]:
        return [(f"registry of {app.name}", lambda: check_registry(app, self.state,
                                                                    self.swarm))]


def check_swarm_role(apps: list[App], eng: DoctorEngine, swarm: _Swarm) -> Check | None:
    if not apps:
        return None
    if eng.client() is None:
        return Check("swarm", False, f"needed by {', '.join(a.name for a in apps)}, but the "
                     "Docker Engine is not reachable", "fix the docker engine check first")
    return judge_swarm_role(swarm.read())


def check_swarm_nodes(apps: list[App], swarm: _Swarm) -> Check | None:
    if not apps or swarm.manager() is None:
        return None
    return judge_nodes(swarm.nodes())


def _swarm_traefik_attrs(state: State, dc: docker.DockerClient) -> dict[str, Any] | None:
    with engine.engine_errors("looking for Traefik on the Swarm"):
        return traefik.find_container(dc, state.setting("traefik_container"), provider="swarm")


def check_swarm_network(state: State, apps: list[App], swarm: _Swarm) -> Check | None:
    dc = swarm.manager() if any(a.traefik_routing for a in apps) else None
    if dc is None:
        return None
    attrs = _swarm_traefik_attrs(state, dc)
    name = swarm_network_name(state.setting("traefik_network"),
                              (attrs or {}).get("Args") or [])
    with engine.engine_errors(f"looking for network {name}"):
        try:
            found = dc.api.inspect_network(name)
        except docker.errors.NotFound:
            found = None
    return judge_swarm_network(name, found)


def check_swarm_traefik(state: State, apps: list[App], swarm: _Swarm) -> list[Check] | None:
    """Traefik found as the Router finds it (the swarm provider on), and how often it polls."""
    routed = [a.name for a in apps if a.traefik_routing]
    dc = swarm.manager() if apps else None
    if dc is None:
        return None
    if not routed:
        return [Check("traefik (swarm)", True, "not needed (traefik_routing is off)")]
    who = f"needed by {', '.join(routed)}"
    try:
        info = SwarmTraefikRouter(state).detect()
    except OtterError as exc:
        return [Check("traefik (swarm)", False, f"{who}, but the running Traefik is not usable",
                      printable(str(exc), 500))]
    if info is None:
        return [Check("traefik (swarm)", False, f"{who}: no Traefik with the swarm provider "
                      "runs on this manager (deploys go without zero-downtime routing)",
                      "otterstack traefik up --swarm")]
    checks = [Check("traefik (swarm)", True, f"{info.container}, swarm provider on, API at "
                    f"{info.api_url}, network {info.network}")]
    if not state.setting("traefik_container"):
        with engine.engine_errors("listing Traefik's tasks"):
            listed = dc.api.containers(filters={"status": "running",
                                                "label": f"{OURS_LABEL}=swarm"})
        several = judge_several_traefiks(
            info.container, [str((c.get("Names") or ["?"])[0]).lstrip("/") for c in listed])
        checks += [several] if several else []
    attrs = _swarm_traefik_attrs(state, dc)
    if attrs is not None:
        seconds, where = refresh_seconds(attrs.get("Args") or [],
                                         (attrs.get("Config") or {}).get("Env") or [])
        checks.append(judge_refresh(info.container, seconds, where))
    if watched(apps):
        checks.append(judge_metrics(
            info, attrs or {}, lambda: traefik.static_config(dc, attrs) if attrs else None,
            "traefik metrics (swarm)"))
    return checks


def registry_answer(registry: str, timeout: float = REGISTRY_TIMEOUT) -> str | None:
    """None if `GET http://HOST[:PORT]/v2/` (then https) answers 200 or 401; else why not."""
    host = registry.split("/", 1)[0]
    errors = []
    for scheme in ("http", "https"):
        url = f"{scheme}://{host}/v2/"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                code = response.status
        except urllib.error.HTTPError as exc:
            code = exc.code
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            errors.append(f"{url}: {printable(str(reason), 120)}")
            continue
        if code in (200, 401):
            return None
        errors.append(f"{url} answered {code}")
    return "; ".join(errors)


def _builds(app: App, dc: docker.DockerClient, state: State) -> bool | None:
    """Whether the app's stacks run an image it built; None if it has none to look at."""
    active = state.active_release(app.name)
    stacks = [active.project] if active else []
    images = []
    with engine.engine_errors(f"listing the services of {app.name}"):
        for stack in [*stacks, state_project(app.name)]:
            for service in engine.stack_services(dc, stack):
                spec = service.get("Spec") or {}
                image = ((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get(
                    "Image", "")
                images.append(built_here(app.name, str(spec.get("Name", "")), stack,
                                         str(image)))
    return any(images) if images else None


def check_registry(app: App, state: State, swarm: _Swarm) -> Check | None:
    dc = swarm.manager()
    if dc is None:
        return None
    nodes = len(swarm.nodes())
    answer = registry_answer(app.registry) if app.registry else None
    builds = None if app.registry or nodes <= 1 else _builds(app, dc, state)
    return judge_registry(app.name, app.registry, nodes, builds, answer)


def check_ipvs(apps: list[App]) -> Check | None:
    if not apps:
        return None
    return judge_ipvs(IPVS.exists())
