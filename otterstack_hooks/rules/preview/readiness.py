"""Whether this server is ready for an app's previews (pure: the doctor looks the facts up,
cli/doctor/previews.py): a name under its preview domain resolves here (the wildcard DNS
record), no other app has the domain, a certificate can cover its hosts, and no app's routers
may claim any host (the `hosts` setting).

A preview answers at `<slug>.<preview_domain>`, a name nobody created by hand: only a
wildcard record makes it resolve, and only a certificate for `*.<preview_domain>` (or one per
preview, each from the resolver) makes it speak TLS. The doctor probes a random label longer
than any slug (`probe_label`), since a real preview's name may have a record of its own.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.rules.preview.naming import check_domain_free, check_ready

PROBE_PREFIX = "otterstack-check-"  # with 8 hex digits, longer than any slug (MAX_SLUG)
CERT_LIMIT = "Let's Encrypt issues 50 certificates per registered domain a week"


@dataclass(frozen=True)
class Finding:
    """One line of the doctor's report (cli/doctor/check.Check without its name)."""

    ok: bool
    detail: str
    fix: str = ""
    warning: bool = False  # not ok, but previews still deploy


def probe_label(token: str) -> str:
    """The label the doctor resolves under the preview domain; `token`: random hex the
    caller draws, so no cached answer or record made for one name answers for it."""
    return f"{PROBE_PREFIX}{token}"


def judge_domain(app: str, domain: str, others: Mapping[str, str]) -> Finding:
    """A domain is set, and no other app has it (`others`: app -> its preview_domain)."""
    try:
        check_ready(app, True, domain)
        check_domain_free(app, domain, others)
    except OtterError as exc:
        text = str(exc)
        return Finding(False, text.split(": ", 1)[0], text.split(": ", 1)[-1])
    return Finding(True, f"{domain}: previews answer at <branch>.{domain}, no other app's")


def judge_wildcard(domain: str, name: str, addresses: tuple[str, ...], problem: str,
                   local: Iterable[str], production: Mapping[str, tuple[str, ...]]
                   ) -> Finding:
    """What the resolver said of `name` (a probe_label under `domain`): `addresses` (empty:
    `problem` says why, e.g. "<name> does not resolve (...)"), which of them are this host's
    own (`local`), and what production's hosts resolve to (they are served here, so an
    address they share is this server even behind a NAT). A warning, never a failure:
    previews still deploy, but nobody reaches them."""
    record = f"a wildcard DNS record *.{domain} (A/AAAA, or a CNAME) pointing at this server"
    shown = ", ".join(addresses)
    if not addresses:
        seen = [f"{host} ({', '.join(found)})" for host, found in production.items() if found]
        like = f", as production's {seen[0]} does" if seen else ""
        return Finding(False, f"{problem}: previews of this app are not reachable at their "
                       "URLs", f"create {record}{like}", warning=True)
    if set(local) & set(addresses):
        return Finding(True, f"{name} resolves to {shown}, this host: the wildcard record "
                       f"*.{domain} points here")
    for host, found in production.items():
        if set(found) & set(addresses):
            return Finding(True, f"{name} resolves to {shown}, as production's {host} "
                           f"(served here) does: the wildcard record *.{domain} points here")
    return Finding(False, f"{name} resolves to {shown}, which is no address of this host"
                   f"{' nor of production' if production else ''}: previews may be served "
                   "elsewhere (if a NAT or a proxy forwards it here, ignore this)",
                   f"point {record}", warning=True)


def router_tls(labels: Mapping[str, Mapping[str, str]]) -> tuple[bool, tuple[str, ...]]:
    """Whether the services' HTTP routers use TLS by their labels, and the certificate
    resolvers they name."""
    tls, resolvers = False, set()
    for service_labels in labels.values():
        for key, value in service_labels.items():
            lower = key.lower()
            if not lower.startswith("traefik.http.routers.") or ".tls" not in lower:
                continue
            if str(value).strip().lower() != "false":
                tls = True
            if lower.endswith(".tls.certresolver") and str(value).strip():
                resolvers.add(str(value).strip())
    return tls, tuple(sorted(resolvers))


def certificate_hint(domain: str, tls: bool, resolvers: tuple[str, ...]) -> Finding | None:
    """With TLS on the app's routers (or entrypoints), a preview host needs a certificate:
    a resolver asks for one per preview host (rate-limited), so the hint is one wildcard
    certificate. None without TLS: previews are served over plain HTTP."""
    if not tls:
        return None
    static = (f"--entrypoints.websecure.http.tls.domains[0].main={domain} and "
              f"...sans=*.{domain} (its entrypoint's name)")
    if resolvers:
        return Finding(True, f"the routers use the certificate resolver "
                       f"{', '.join(resolvers)}: each preview host gets a certificate of its "
                       f"own ({CERT_LIMIT}); hint: one wildcard certificate for *.{domain}, "
                       "by a DNS-01 challenge (dnsChallenge) of that resolver, in Traefik's "
                       f"static configuration: {static}")
    return Finding(True, f"the routers use TLS: a preview host is served with a certificate "
                   f"only if one covers it; hint: a certificate for *.{domain} in Traefik's "
                   "TLS store (tls.stores.default.defaultCertificate), or a resolver with "
                   f"a DNS-01 challenge and {static}")


def judge_hosts_settings(unlimited: Iterable[str]) -> Finding:
    """Apps (`unlimited`) whose routers may match any host: one of them could claim a
    preview's host, and outrank its routers, as it could any host."""
    names = sorted(unlimited)
    if not names:
        return Finding(True, "every routed app limits its routers' hosts (the hosts setting)")
    return Finding(False, f"{', '.join(names)} {'has' if len(names) == 1 else 'have'} no "
                   "hosts setting: their routers may match any host, a preview's too, and "
                   "outrank its routers", f"`otterstack config {names[0]} hosts NAMES` (the "
                   "host names it serves, `*.` before a domain for all under it)",
                   warning=True)
