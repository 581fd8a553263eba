"""What an app's Traefik labels may reach without an admin's token (pure).

Every app on a server shares one Traefik, and Traefik takes routers from every container's
labels, so a pusher's labels reach beyond the app:

- a router (or a weighted, mirroring or failover service, or an errors middleware) whose
  service is `@internal` puts Traefik's own services on the app's host: `api@internal` is
  Traefik's API and dashboard, which list every app's routers, services and middlewares;
- a TCP router whose rule matches every name (``HostSNI(`*`)``) takes every TCP connection
  of its entrypoints, also the TLS connections meant for other apps' HTTPS routers, since
  Traefik tries TCP routers first.

Each is a compose_access.Refusal (service, label, value, token), so it joins the compose
policy's message (compose_policy.explain) and is lifted the same way, `otterstack config APP
allow traefik-internal` or `tcp-catch-all`.

Each label is judged alone (a router's service label, a TCP router's rule label), on every
service whether Traefik routes it or not (a Traefik with exposedbydefault=true reads them all),
in `labels`, in `deploy.labels` (what Traefik's swarm provider reads) and in `build.labels`
(the built image's, which its containers inherit). Every entrypoint
counts as shared: an app cannot know which entrypoints other apps use, and a router without
`entrypoints` is on all of them. The rules are read with traefik_rules' bounded parser; a rule
past its bounds may match every name as far as anyone can tell, and is refused as such.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from otterstack_hooks.rules.compose.access import Access, Refusal
from otterstack_hooks.rules.traefik.label_keys import names_a_service
from otterstack_hooks.rules.traefik.rule_parser import Matcher, RuleTooComplex, alternatives
from otterstack_hooks.rules.traefik.rule_rewrite import render_alternative

_TCP_RULE = re.compile(r"traefik\.tcp\.routers\.[^.]+\.rule", re.IGNORECASE)


def label_sources(labels: Mapping[str, str], deploy_labels: Mapping[str, str],
                  build_labels: Mapping[str, str]) -> list[tuple[str, Mapping[str, str]]]:
    """Where Traefik may read a service's labels, each (prefix for messages, labels): its
    container labels; `deploy.labels` (what the swarm provider reads, and containers with
    use_deploy_labels) but those that repeat a container label; `build.labels`, which the
    built image gives its containers where no container label of the same key overrides
    them."""
    deploy = {key: value for key, value in deploy_labels.items() if labels.get(key) != value}
    build = {key: value for key, value in build_labels.items() if key not in labels}
    return [("", labels), ("deploy.labels.", deploy), ("build.labels.", build)]


def label_refusals(service: str, labels: Mapping[str, str],
                   deploy_labels: Mapping[str, str] | None = None,
                   build_labels: Mapping[str, str] | None = None) -> list[Refusal]:
    """Every label of one compose service that needs `traefik-internal` or `tcp-catch-all`,
    in label order; one of `deploy.labels` or `build.labels` is named so
    (`deploy.labels.traefik...`)."""
    found = []
    for prefix, source in label_sources(labels, deploy_labels or {}, build_labels or {}):
        for key, value in source.items():
            refusal = _judge(service, prefix + key, key, value)
            if refusal is not None:
                found.append(refusal)
    return found


def _judge(service: str, shown: str, key: str, value: str) -> Refusal | None:
    if names_a_service(key) and "@internal" in value.lower():
        return Refusal(service, shown, value.strip(), Access.TRAEFIK_INTERNAL)
    if _TCP_RULE.fullmatch(key) and value.strip():
        why = catch_all(value)
        if why is not None:
            return Refusal(service, shown, why, Access.TCP_CATCH_ALL)
    return None


def catch_all(rule: str) -> str | None:
    """How a TCP rule can match a connection for any name (what the refusal shows), or None
    when every alternative names its hosts or the rule does not parse (Traefik disables
    the router; rule_syntax says why)."""
    try:
        conjunctions = alternatives(rule)
    except RuleTooComplex as exc:
        return f"{rule} (too complex to tell which names it matches: {exc})"
    except ValueError:
        return None
    for conjunction in conjunctions:
        if not any(positive and names_sni(matcher) for positive, matcher in conjunction):
            shown = render_alternative(conjunction)
            return rule if shown == rule else f"{rule} (its alternative {shown})"
    return None


def names_sni(matcher: Matcher) -> bool:
    """Whether a matcher limits a connection to names it lists: HostSNI without `*`.
    HostSNIRegexp is not judged (a regular expression may match every name), and ALPN or
    ClientIP leave every name."""
    return matcher.name == "hostsni" and bool(matcher.args) and "*" not in matcher.args
