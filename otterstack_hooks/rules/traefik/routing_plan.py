"""Plan a release's Traefik routing (pure): unique labels, and the requests that prove it.

The proof must reach each router the way users' clients do: on every entrypoint the router
is on that this host publishes, over HTTPS with the router's host as SNI where TLS is set on
the router or on the entrypoint itself (`entrypoints.websecure.http.tls=true`).
"""

from dataclasses import dataclass

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.rules.compose.model import ComposeModel
from otterstack_hooks.rules.traefik.label_keys import LabelError
from otterstack_hooks.rules.traefik.labels import RouterInfo, rewrite_project_labels
from otterstack_hooks.rules.traefik.priority import Incumbent
from otterstack_hooks.rules.traefik.rule_parser import RuleTooComplex, host_rules
from otterstack_hooks.rules.traefik.rule_syntax import DefaultSyntax

ID_HEADER = "X-Otterstack-Release"
API_ENTRYPOINT = "traefik"  # where Traefik serves its own API and dashboard
NETWORK_LABEL = "traefik.docker.network"
NETWORK_LABELS = {"docker": NETWORK_LABEL, "swarm": "traefik.swarm.network"}


@dataclass(frozen=True)
class TraefikInfo:
    """The Traefik a release is routed by, as found on this host (discovery.detect)."""

    container: str
    api_url: str
    network: str
    entrypoints: dict[str, int]  # entrypoint name -> host port reachable on 127.0.0.1
    tls_entrypoints: frozenset[str] = frozenset()  # TLS set on the entrypoint itself
    networks: tuple[str, ...] = ()  # every user network the Traefik container is on
    image: str = ""  # Traefik's own image: present on this host, so it can always run
    provider: str = "docker"  # which of its providers routes releases: docker, or swarm
    rule_syntax: DefaultSyntax = DefaultSyntax()  # its core.defaultRuleSyntax (rule_syntax)

    @property
    def network_label(self) -> str:
        """The label that tells this provider which network to reach a service on."""
        return NETWORK_LABELS[self.provider]


@dataclass(frozen=True)
class Probe:
    """One real request that should reach `router` through one of its entrypoints."""

    router: str
    entrypoint: str
    port: int
    host: str
    path: str
    tls: bool

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}{self.path}"


@dataclass(frozen=True)
class RoutingPlan:
    traefik: TraefikInfo
    labels: dict[str, dict[str, str]]
    routers: list[RouterInfo]
    probes: list[Probe]
    notes: list[str]
    id_header: str = ID_HEADER

    @property
    def highest_priority(self) -> int:
        return max((router.priority for router in self.routers), default=0)


def plan_routing(model: ComposeModel, release: str, sequence: int, info: TraefikInfo,
                 incumbents: tuple[Incumbent, ...] = ()) -> RoutingPlan:
    """Rename with `release` = the compose project (app + release): Traefik's names are global
    to the Docker host, so two apps that both call their router `web` must not meet either.
    `sequence` (the release number) and `incumbents` (the serving release's routers) order
    this release against the one it replaces; see labels and priority."""
    try:
        labels, routers = rewrite_project_labels(
            {name: svc.labels for name, svc in model.services.items()},
            release, sequence, ID_HEADER, incumbents, info.provider)
    except LabelError as exc:
        raise OtterError(f"Traefik labels: {exc}") from exc
    notes = _point_at_traefiks_network(labels, routers, info)
    probes: list[Probe] = []
    for router in routers:
        found, note = plan_probes(router, info)
        probes.extend(found)
        if note:
            notes.append(note)
    return RoutingPlan(info, labels, routers, probes, notes)


def plan_probes(router: RouterInfo, info: TraefikInfo) -> tuple[list[Probe], str | None]:
    """The requests that reach a router from this host, or why it is confirmed through
    Traefik's API only (a note the pusher sees)."""
    if router.protocol != "http":
        return [], (f"{router.original}: {router.protocol} router, confirmed via the API only "
                    "(a raw connection cannot tell which release answered)")
    try:
        pairs = host_rules(router.rule or "")
    except RuleTooComplex:
        return [], f"{router.original}: confirmed via the API only (rule too complex)"
    except ValueError:
        pairs = []  # Traefik judges the rule; the API check reports its error
    if not pairs:
        return [], f"{router.original}: confirmed via the API only (no Host() in its rule)"
    host, path = pairs[0]
    # a router without entrypoints is on all of them but the API's own
    names = router.entrypoints or tuple(e for e in info.entrypoints if e != API_ENTRYPOINT)
    probes = [
        Probe(router.name, name, info.entrypoints[name], host, path,
              router.tls or name in info.tls_entrypoints)
        for name in names if name in info.entrypoints
    ]
    if not probes:
        return [], (f"{router.original}: confirmed via the API only (its entrypoints "
                    f"{', '.join(names) or 'none'} are not published on this host)")
    return probes, None


def uses_tls(router: RouterInfo, info: TraefikInfo) -> bool:
    """Whether clients reach the router over HTTPS: TLS in its labels, or an entrypoint it is
    on (without entrypoints: every one but the API's) with TLS set on the entrypoint itself,
    as its probes are sent (plan_probes)."""
    on = router.entrypoints or tuple(e for e in info.tls_entrypoints if e != API_ENTRYPOINT)
    return router.tls or any(name in info.tls_entrypoints for name in on)


def _point_at_traefiks_network(labels: dict[str, dict[str, str]], routers: list[RouterInfo],
                               info: TraefikInfo) -> list[str]:
    """A `traefik.docker.network` naming a network Traefik is not on (copied from another
    server's setup) would make Traefik dial an address it cannot reach: OtterStack attaches
    routed services to Traefik's network anyway, so the label is pointed there, and said."""
    notes = []
    routed = {router.service for router in routers}
    for service in sorted(routed):
        for key in NETWORK_LABELS.values():
            wanted = labels[service].get(key)
            if wanted is not None and info.networks and wanted not in info.networks:
                labels[service][key] = info.network
                notes.append(f"{service}: {key}={wanted} is not a network Traefik is "
                             f"on; using {info.network}, which OtterStack attaches it to")
    return notes


def not_outranked(incumbents: tuple[Incumbent, ...], routers: list[RouterInfo]) -> list[str]:
    """The serving release's routers that would still get requests if it kept running next
    to the new one: those no new router outranks on the same rule and entrypoints (a router
    the new release dropped or changed, and UDP, which has no priority). Empty: the old
    release may be kept running out of traffic, for an instant rollback."""
    left = []
    for old in incumbents:
        covered = old.protocol != "udp" and any(
            new.protocol == old.protocol and new.rule == old.rule
            and (not new.entrypoints or set(old.entrypoints) <= set(new.entrypoints))
            and new.priority > old.priority
            for new in routers)
        if not covered:
            left.append(old.original or old.name)
    return sorted(set(left))


def judge_answers(answers: list[tuple[Probe, int, str | None]], release: str,
                  shown_as: str = "") -> tuple[bool, str]:
    """Whether a router's probes prove that Traefik sends it to `release`: at least one
    answered by the release (status < 500) and none by another one; and what was seen
    (the release called `shown_as`, if given). An answer without a release header (a Traefik
    redirect to HTTPS, a 404) proves nothing either way."""
    ours = [a for a in answers if a[2] == release and a[1] < 500]
    foreign = [a for a in answers if a[2] not in (None, release)]
    seen = "; ".join(
        f"{probe.url} answered {status} from "
        f"{(shown_as or by) if by == release else by or 'no release'}"
        for probe, status, by in answers)
    return bool(ours) and not foreign, seen


def explain_foreign(answered: str, old_project: str | None) -> str:
    """Whose making a failed proof is, when another release answered."""
    if old_project and answered == old_project:
        return (f"the release being replaced ({answered}) still answers: a router of it "
                "outranks the new one for this request")
    return (f"{answered} answered: a router of another app outranks this one for this "
            "request (Traefik orders routers by priority, else by rule length); give the "
            "router a more specific rule or a `priority` label")
