"""A release's Traefik labels rewritten for its preview's hosts (pure).

Runs before the release renaming (rules/traefik/labels.py), which then makes the preview's
routers, services and middlewares unique for its project as for any release. Here only the
hosts change, so that a preview can never answer for production's hosts or anyone else's:

- every HTTP router of a routed service gets the rule ``Host(`<its host>`) && (<the rest>)``:
  the rule read by the one rule parser (rules/traefik/rule_parser.py), each Host, HostHeader
  and HostRegexp in it replaced by "any host" (so ``Host(`a`) && PathPrefix(`/api`)`` keeps
  its path, ``!Host(`admin.a`)`` no longer excludes anything), then guarded by the preview's
  one host. A router without a rule (Traefik's defaultRule) gets ``Host(`<its host>`)``.
  Whatever the rule said, every request it matches carries the preview's host;
- the main routed service answers at `<slug>.<domain>`, every further one at
  `<service>-<slug>.<domain>`. The main one is the service whose routers name the shortest
  production host (`shop.example.com` before `api.shop.example.com`), else the first by name;
- TLS is kept (`tls`, `tls.options`, `tls.certresolver`: a resolver asks for a certificate
  of the preview's host), but `tls.domains[...]` go: they name production's domains;
- TCP and UDP routers, services and middlewares go: a TCP router's entrypoint is often one
  of its own (a database port) and ``HostSNI(`*`)`` would take production's connections;
  a UDP router has no rule at all. Each is named in a note;
- a service Traefik does not route keeps no Traefik definition at all (a Traefik that
  exposes containers by default would otherwise read them).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.rules.compose.model import is_routed
from otterstack_hooks.rules.preview.naming import PreviewNames
from otterstack_hooks.rules.traefik.label_keys import Label, LabelError, parse_label
from otterstack_hooks.rules.traefik.labels import RouterInfo
from otterstack_hooks.rules.traefik.routing_plan import TraefikInfo, uses_tls
from otterstack_hooks.rules.traefik.rule_parser import (
    Binary,
    Matcher,
    Node,
    Not,
    RuleTooComplex,
    host_rules,
    parse_rule,
)
from otterstack_hooks.rules.traefik.rule_rewrite import render

HOST_MATCHERS = frozenset({"host", "hostheader", "hostregexp"})  # HTTP, v2 and v3


@dataclass(frozen=True)
class PreviewRouting:
    """The preview's labels per compose service, where each routed service answers (main
    first) and what was left out, for the pusher."""

    labels: dict[str, dict[str, str]]
    hosts: dict[str, str]  # routed compose service -> its host, the main one first
    notes: tuple[str, ...]


def preview_routing(services: Mapping[str, Mapping[str, str]], names: PreviewNames,
                    domain: str) -> PreviewRouting:
    """Rewrite every service's labels for the preview `names` under `domain`."""
    hosts = preview_hosts(services, names, domain)
    labels: dict[str, dict[str, str]] = {}
    notes: list[str] = []
    for service, service_labels in services.items():
        labels[service], dropped = _service_labels(service, service_labels, hosts.get(service))
        notes += [f"{service}: {what} is not published in a preview" for what in dropped]
    return PreviewRouting(labels, hosts, tuple(notes))


def preview_urls(hosts: Mapping[str, str], routers: Iterable[RouterInfo], info: TraefikInfo
                 ) -> tuple[str, ...]:
    """Where each routed service answers (`hosts`, the main one first), once its routers are
    planned: `https` when one of its HTTP routers uses TLS, in its labels or on its
    entrypoint (routing_plan.uses_tls), else `http`."""
    secure = {r.service for r in routers if r.protocol == "http" and uses_tls(r, info)}
    return tuple(f"{'https' if s in secure else 'http'}://{host}/" for s, host in hosts.items())


def preview_hosts(services: Mapping[str, Mapping[str, str]], names: PreviewNames,
                  domain: str) -> dict[str, str]:
    """Routed compose service -> its host, the main service first."""
    routed = sorted(s for s, labels in services.items() if is_routed(dict(labels)))
    if not routed:
        return {}
    main = min(routed, key=lambda s: (_shortest_host(services[s]), s))
    return {s: names.host(domain) if s == main else names.service_host(s, domain)
            for s in [main, *(s for s in routed if s != main)]}


def rewrite_rule(rule: str, host: str) -> str:
    """``Host(`host`) && (the rule with every host matcher taken as true)``. Raises
    ValueError where Traefik could not parse the rule, RuleTooComplex past its bounds."""
    guard = Matcher("host", (host,), "Host")
    rest = _without_hosts(parse_rule(rule), positive=True)
    if rest is False:  # cannot happen: host matchers only ever become "anything"
        raise ValueError(f"rule {rule!r} matches nothing once its hosts are taken out")
    return render(guard if rest is True else Binary("&&", guard, rest))


def _without_hosts(node: Node, positive: bool) -> Node | bool:
    """The rule with each host matcher replaced by what relaxes it: true where it counts
    positively, false under a `!` (so `!Host(a)` becomes true as well), simplified."""
    if isinstance(node, Matcher):
        return positive if node.name in HOST_MATCHERS else node
    if isinstance(node, Not):
        inner = _without_hosts(node.operand, not positive)
        return (not inner) if isinstance(inner, bool) else Not(inner)
    left = _without_hosts(node.left, positive)
    right = _without_hosts(node.right, positive)
    absorbing, neutral = (False, True) if node.operator == "&&" else (True, False)
    if left is absorbing or right is absorbing:
        return absorbing
    if left is neutral:
        return right
    if right is neutral:
        return left
    assert not isinstance(left, bool) and not isinstance(right, bool)
    return Binary(node.operator, left, right)


def _service_labels(service: str, labels: Mapping[str, str], host: str | None
                    ) -> tuple[dict[str, str], list[str]]:
    """One service's labels for the preview, and what was left out."""
    if host is None:  # not routed: no route at all
        return {k: v for k, v in labels.items() if _parsed(service, k) is None}, []
    out: dict[str, str] = {}
    dropped: dict[str, None] = {}
    routers: dict[str, bool] = {}  # HTTP router name -> has a rule
    for key, value in labels.items():
        label = _parsed(service, key)
        if label is None:
            out[key] = value
            continue
        what = f"{label.proto} {label.kind.removesuffix('s')} {label.name!r}"
        attribute = label.rest.lower()
        if label.proto != "http":
            dropped[f"{what} (only HTTP routers are)"] = None
            continue
        if label.kind == "routers":
            routers.setdefault(label.name, False)
            if attribute.startswith("tls.domains"):
                dropped[f"{key.split('.', 4)[4]} of {what} (it names production's "
                        "domains)"] = None
                continue
            if attribute == "rule" and value.strip():
                out[key] = _rewritten(service, key, value, host)
                routers[label.name] = True
                continue
            if attribute == "rule":
                continue  # empty: the defaultRule, replaced below
        out[key] = value
    for name, has_rule in routers.items():
        if not has_rule:
            out[f"traefik.http.routers.{name}.rule"] = render(Matcher("host", (host,), "Host"))
    return out, list(dropped)


def _parsed(service: str, key: str) -> Label | None:
    try:
        return parse_label(service, key)
    except LabelError as exc:
        raise OtterError(f"Traefik labels: {exc}") from exc


def _rewritten(service: str, key: str, rule: str, host: str) -> str:
    try:
        return rewrite_rule(rule, host)
    except (RuleTooComplex, ValueError) as exc:
        raise OtterError(
            f"compose service {service!r}, label {key!r}: a preview cannot serve this rule at "
            f"its own host {host} ({exc}); simplify the rule (its Host matchers are "
            "replaced, everything else is kept)") from exc


def _shortest_host(labels: Mapping[str, str]) -> int:
    """The length of the shortest host the service's HTTP routers name (a large number
    for none): the main service serves the app's shortest, its apex."""
    lengths = [len(host) for key, value in labels.items()
               if key.lower().startswith("traefik.http.routers.")
               and key.lower().endswith(".rule")
               for host, _ in _pairs(value)]
    return min(lengths, default=1 << 16)


def _pairs(rule: str) -> list[tuple[str, str]]:
    try:
        return host_rules(rule)
    except (RuleTooComplex, ValueError):
        return []
