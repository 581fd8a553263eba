"""Plan a release's Traefik routing (pure): unique labels, and the requests that prove it."""

from dataclasses import dataclass

from .compose_model import ComposeModel
from .errors import OtterError
from .traefik import TraefikInfo
from .traefik_labels import (
    LabelError,
    RouterInfo,
    RuleTooComplex,
    host_rules,
    rewrite_project_labels,
)

ID_HEADER = "X-Otterstack-Release"


@dataclass(frozen=True)
class Probe:
    port: int
    host: str
    path: str


@dataclass(frozen=True)
class RoutingPlan:
    traefik: TraefikInfo
    labels: dict[str, dict[str, str]]
    routers: list[RouterInfo]
    probes: list[Probe]
    notes: list[str]
    id_header: str = ID_HEADER


def plan_routing(model: ComposeModel, release: str, priority_base: int,
                 info: TraefikInfo) -> RoutingPlan:
    """Rename with `release` = the compose project (app + release): Traefik's names are global
    to the Docker host, so two apps that both call their router `web` must not meet either."""
    try:
        labels, routers = rewrite_project_labels(
            {name: svc.labels for name, svc in model.services.items()},
            release, priority_base, ID_HEADER)
    except LabelError as exc:
        raise OtterError(f"Traefik labels: {exc}") from exc
    probes: list[Probe] = []
    notes: list[str] = []
    for router in routers:
        if router.protocol != "http":
            notes.append(f"{router.original}: {router.protocol} router, confirmed via the API")
            continue
        try:
            pairs = host_rules(router.rule or "")
        except RuleTooComplex:
            notes.append(f"{router.original}: confirmed through the API only (rule too "
                         "complex)")
            continue
        except ValueError:
            pairs = []  # Traefik judges the rule; the API check reports its error
        # a router without entrypoints is on all of them; `traefik` is the API's own
        names = router.entrypoints or [e for e in info.entrypoints if e != "traefik"]
        entry = next((info.entrypoints[e] for e in names if e in info.entrypoints), None)
        if router.tls or not pairs or entry is None:
            why = ("TLS router" if router.tls else "no Host() in its rule" if not pairs
                   else "its entrypoint is not published on this host")
            notes.append(f"{router.original}: confirmed via the API only ({why})")
            continue
        host, path = pairs[0]
        probes.append(Probe(entry, host, path))
    return RoutingPlan(info, labels, routers, probes, notes)
