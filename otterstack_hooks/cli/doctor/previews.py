"""The doctor's checks of an app with previews on (docs/previews.md): its preview domain (set,
no other app's), its wildcard DNS record (a random name under it resolves here), a
certificate for its hosts when its routers use TLS, and the apps whose routers may claim any
host. The judgement is rules/preview/readiness.py's; here the facts are looked up: the
state, this host's resolver (bounded, adapters/local/dns.py), production's checked compose
file."""

import json
import secrets
from pathlib import Path

from otterstack_hooks.adapters.local import dns
from otterstack_hooks.adapters.local.paths import Paths
from otterstack_hooks.adapters.local.state import State
from otterstack_hooks.cli.doctor.check import Check
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.records import App
from otterstack_hooks.rules.compose.paths import CHECKED_FILE
from otterstack_hooks.rules.preview import readiness
from otterstack_hooks.rules.preview.readiness import Finding

DNS_SECONDS = 5.0  # per name resolved


def check_previews(app: App, state: State, paths: Paths) -> list[Check] | None:
    """None for an app without previews."""
    if not app.previews:
        return None
    domain = readiness.judge_domain(app.name, app.preview_domain, {
        a.name: a.preview_domain for a in state.apps()})
    checks = [_check(f"preview domain of {app.name}", domain)]
    if not domain.ok:
        return checks
    checks.append(_check(f"preview dns of {app.name}", _wildcard(app, state)))
    tls, resolvers = _production_tls(app, state, paths)
    hint = readiness.certificate_hint(app.preview_domain, tls, resolvers)
    if hint is not None:
        checks.append(_check(f"preview tls of {app.name}", hint))
    checks.append(_check(f"preview hosts of {app.name}", readiness.judge_hosts_settings(
        a.name for a in state.apps() if a.traefik_routing and not a.hosts)))
    return checks


def _check(name: str, finding: Finding) -> Check:
    return Check(name, finding.ok, finding.detail, finding.fix, finding.warning)


def _wildcard(app: App, state: State) -> Finding:
    """Resolve a random name under the domain, and production's hosts to compare."""
    name = f"{readiness.probe_label(secrets.token_hex(4))}.{app.preview_domain}"
    try:
        addresses, problem = dns.resolve(name, DNS_SECONDS), ""
    except OtterError as exc:
        addresses, problem = (), str(exc)
    production: dict[str, tuple[str, ...]] = {}
    active = state.active_release(app.name)
    for host in sorted({p["host"] for p in json.loads(active.probes or "[]")} if active
                       else set())[:3]:
        try:
            production[host] = dns.resolve(host, DNS_SECONDS)
        except OtterError:
            production[host] = ()
    local = [a for a in addresses if dns.is_local(a)]
    return readiness.judge_wildcard(app.preview_domain, name, addresses, problem, local,
                                    production)


def _production_tls(app: App, state: State, paths: Paths) -> tuple[bool, tuple[str, ...]]:
    """Whether production's routers use TLS (by their labels, or by their entrypoint: its
    proven requests went over HTTPS), and the certificate resolvers its labels name; what
    a preview of its compose file keeps. Nothing known before a first deploy."""
    active = state.active_release(app.name)
    if active is None:
        return False, ()
    probed = any(p.get("tls") for p in json.loads(active.probes or "[]"))
    checked = paths.generated(app.name, active.name) / CHECKED_FILE
    tls, resolvers = readiness.router_tls(_labels(checked))
    return tls or probed, resolvers


def _labels(checked: Path) -> dict[str, dict[str, str]]:
    """Each service's labels in a checked compose file (`docker compose config` JSON)."""
    try:
        config = json.loads(checked.read_text())
    except (OSError, ValueError):
        return {}
    services = config.get("services") if isinstance(config, dict) else None
    return {name: {str(k): str(v) for k, v in (svc.get("labels") or {}).items()}
            for name, svc in (services or {}).items()
            if isinstance(svc, dict) and isinstance(svc.get("labels"), dict)}
