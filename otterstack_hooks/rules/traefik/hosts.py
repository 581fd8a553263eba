"""The hosts an app's routers may match: its `hosts` setting (pure).

One Traefik serves every app on the server, and whichever router matches a request gets it,
so without a limit a pusher of one app can take another app's domain by writing its name in
a rule (at a higher priority, or while the other app is down). An admin sets the names an
app may serve, `otterstack config shop hosts shop.example.com,*.shop.example.com`; every
HTTP router's rule must then match only hosts within them, and every TCP router's HostSNI
names too. Empty (the default) sets no limit, so apps from before the setting keep working.

A rule passes when each of its alternatives (traefik_rules.alternatives, bounded) has a Host
matcher (HostSNI for TCP) whose every name is within the setting: the request must match that
matcher, whatever else the alternative asks. An alternative without one can match any host
and is refused: no Host at all, only a HostRegexp (a regular expression is not judged), or a
`||` branch that names none. Names are compared as Traefik compares them (lower case, a
trailing dot ignored); a v2 `{...}` template, a port or a non-ASCII name is not judged, so it
is refused. A TCP alternative that names no host (``HostSNI(`*`)``) is for the
`tcp-catch-all` token to decide (traefik_policy), not for this setting. A router without a
rule gets the defaultRule of Traefik's own configuration, the admin's, and is not checked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.rules.compose.model import ComposeModel
from otterstack_hooks.rules.traefik.policy import label_sources, names_sni
from otterstack_hooks.rules.traefik.rule_parser import Matcher, RuleTooComplex, alternatives
from otterstack_hooks.rules.traefik.rule_rewrite import render_alternative

_DNS_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
DNS_NAME = re.compile(rf"{_DNS_LABEL}(?:\.{_DNS_LABEL})*")  # lower case, as stored
_PATTERN = re.compile(rf"(?:\*\.)?{DNS_NAME.pattern}")
_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")  # what Traefik's names may be, judged
_RULE = re.compile(r"traefik\.(http|tcp)\.routers\.([^.]+)\.rule", re.IGNORECASE)
_HOST_MATCHERS = {"http": frozenset({"host", "hostheader"}), "tcp": frozenset({"hostsni"})}
MAX_NAME = 253


def parse_hosts(text: str) -> str:
    """The setting as stored: patterns lower-cased, comma-separated, each once. A pattern is
    a DNS name, `*.` before one allows every name under it; empty allows any host."""
    patterns = [p.strip().lower().removesuffix(".") for p in text.split(",") if p.strip()]
    for pattern in patterns:
        if len(pattern) > MAX_NAME or not _PATTERN.fullmatch(pattern):
            raise OtterError(
                f"hosts takes DNS names, each may start with `*.` for every name under it "
                f"(e.g. shop.example.com,*.shop.example.com), comma-separated; not "
                f"{pattern!r}; empty: any host")
    return ",".join(dict.fromkeys(patterns))


def within(name: str, patterns: tuple[str, ...]) -> bool:
    """Whether a name of a rule (``*.a.b`` in a HostSNI too) stays inside the patterns:
    equal to a plain one, or under a `*.` one."""
    name = name.lower().removesuffix(".")
    wildcard = name.startswith("*.")
    base = name.removeprefix("*.")
    if len(base) > MAX_NAME or not _NAME.fullmatch(base):
        return False
    for pattern in patterns:
        if pattern.startswith("*."):
            domain = pattern[2:]
            if base.endswith(f".{domain}") or (wildcard and base == domain):
                return True
        elif not wildcard and base == pattern:
            return True
    return False


@dataclass(frozen=True)
class HostProblem:
    """One router rule that may match a host outside the setting."""

    service: str
    protocol: str
    router: str
    key: str  # as written; `deploy.labels.` before it for a label of deploy.labels
    rule: str
    why: str


def check_hosts(model: ComposeModel, app: str, hosts: str) -> None:
    """Refuse (OtterError) a compose file with a router that may match a host outside the
    app's `hosts` setting; nothing to check when it is empty. Every service's `labels`,
    `deploy.labels` and `build.labels` count (traefik_policy.label_sources: who reads which)."""
    patterns = tuple(p for p in hosts.split(",") if p)
    if not patterns:
        return
    found = [problem for service in model.services.values()
             for prefix, labels in label_sources(service.labels, service.deploy_labels,
                                                 service.build_labels)
             for problem in host_problems(service.name, labels, patterns, prefix)]
    if not found:
        return
    first = found[0]
    more = [f"{p.router} ({p.service})" for p in found[1:]]
    tail = f"; and {len(more)} more: {', '.join(more)}" if more else ""
    raise OtterError(
        f"compose service {first.service!r}, label {first.key!r}: {first.protocol} router "
        f"{first.router!r} {first.why}, and this app may only serve hosts within "
        f"{', '.join(patterns)} (its `hosts` setting): rule {first.rule}. Name only such "
        f"hosts in the rule, with a {'Host' if first.protocol == 'http' else 'HostSNI'}"
        f"(`...`) in every `||` branch, or an admin changes the setting: `otterstack "
        f"config {app} hosts PATTERN,...` (`*.` before a domain: every name under it; "
        f"empty: any host){tail}")


def host_problems(service: str, labels: Mapping[str, str], patterns: tuple[str, ...],
                  prefix: str = "") -> list[HostProblem]:
    """Every router rule of one label set that may match a host outside `patterns`."""
    found = []
    for key, value in labels.items():
        match = _RULE.fullmatch(key)
        if match is None or not value.strip():
            continue
        protocol = match[1].lower()
        why = _outside(value, protocol, patterns)
        if why is not None:
            found.append(HostProblem(service, protocol, match[2], prefix + key, value, why))
    return found


def _outside(rule: str, protocol: str, patterns: tuple[str, ...]) -> str | None:
    """Why the rule may match a host outside `patterns`, or None when it cannot."""
    try:
        conjunctions = alternatives(rule)
    except RuleTooComplex as exc:
        return f"has a rule too complex to tell which hosts it matches ({exc})"
    except ValueError as exc:
        return f"has a rule OtterStack cannot read ({exc})"
    for conjunction in conjunctions:
        hosts = [m for positive, m in conjunction
                 if positive and m.name in _HOST_MATCHERS[protocol]]
        if protocol == "tcp":
            if not any(names_sni(m) for m in hosts):
                continue  # every name: the tcp-catch-all token's to allow (traefik_policy)
            hosts = [m for m in hosts if names_sni(m)]
        if any(_inside(m, patterns) for m in hosts):
            continue
        branch = render_alternative(conjunction)
        where = "" if len(conjunctions) == 1 else f" in its alternative {branch}"
        if not hosts:
            judged = " (a regular expression is not judged)" if _regexp(conjunction) else ""
            return (f"can match any host: no {'Host' if protocol == 'http' else 'HostSNI'}"
                    f" matcher{where}{judged}")
        names = [n for m in hosts for n in m.args if not within(n, patterns)]
        return f"may match {', '.join(dict.fromkeys(names))}{where}"
    return None


def _inside(matcher: Matcher, patterns: tuple[str, ...]) -> bool:
    return bool(matcher.args) and all(within(name, patterns) for name in matcher.args)


def _regexp(conjunction: list[tuple[bool, Matcher]]) -> bool:
    return any(m.name in ("hostregexp", "hostsniregexp") for _, m in conjunction)
