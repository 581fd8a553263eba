"""Every name of a preview that reaches Docker, Traefik or DNS (pure).

Docker has one namespace per host, shared by every app, its production and its previews. A
preview's names are built from separators no production name can hold, so no app, whatever
it is called, and no other preview can ever take one (`tests/unit/test_preview_naming.py`
checks it against every production name form):

- compose projects `<app>_<slug>-r<N>` and `<app>_<slug>-state` (singletons): an app's own
  projects are `<app>-r<N>` and `<app>-state`, and app names have no `_`, so the `_` right
  after the app name is never in one of them. Images follow (`<project>-<service>`);
- volumes and networks `<app>.<slug>_<key>`: an app's own are `<app>_<key>` (any key, so
  anything after `<app>_` is production's), app names have no `.`, so the `.` right after
  the app name is never in one of them. A Swarm refuses a `.` in an overlay network's name
  (it must be a DNS name component: letters, digits, `-` and `_` between them, at most 63
  characters), so on a Swarm a preview's networks are `<app>-_<slug>_<key>`: no app name
  holds `_` or ends in `-`, so the first `_` ends `<app>-` there and `<app>` in an app's own
  names (`<app>_<key>`, or another app's `<app>-<more>_<key>`);
- labels `dev.otterstack.app=<app>` and `dev.otterstack.preview=<slug>` on everything the
  preview creates: what is a preview, and whose, is read from them, never from a name
  prefix (`shop-pv-x` would be another app; Docker's name filters match substrings);
- hosts `<slug>.<preview_domain>` and `<service>-<slug>.<preview_domain>`, one DNS label
  above the app's preview domain, which no two apps share (`check_domain_free`).
"""

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.names import (
    validate_app_name,
    validate_project_name,
    validate_release_name,
)
from otterstack_hooks.rules.compose.model import ComposeModel
from otterstack_hooks.rules.compose.names import owns_project
from otterstack_hooks.rules.preview.slug import MAX_SLUG, branch_slug, is_slug, label_slug
from otterstack_hooks.rules.release_plan import STATE_SUFFIX, ReleasePlan
from otterstack_hooks.rules.swarm.stack import APP_LABEL, PREVIEW_LABEL
from otterstack_hooks.rules.traefik.hosts import DNS_NAME

RELEASE_DIGITS = 7  # r9999999: the longest release name a preview's project is sized for
MAX_PROJECT = 63  # core.names.PROJECT_RE; a Swarm service's name is a DNS label too
DNS_LABEL = 63
MAX_DOMAIN = 253 - DNS_LABEL - 1  # leaves room for the longest `<label>.` before it


def slug_limit(app: str) -> int:
    """The longest slug of `app`'s previews: `<app>_<slug>-r<N>` must stay a project name
    for releases up to RELEASE_DIGITS digits. 24 for apps of up to 29 characters, 13 for
    the longest app names (40)."""
    return min(MAX_SLUG, MAX_PROJECT - len(app) - len("_-r") - RELEASE_DIGITS)


def preview_slug(app: str, branch: str) -> str:
    """The slug of `branch` among `app`'s previews."""
    return branch_slug(branch, slug_limit(app))


@dataclass(frozen=True)
class PreviewNames:
    """The names of one preview: app `app`, branch slug `slug`."""

    app: str
    slug: str
    swarm: bool = False  # its networks are overlays, whose names take no `.`

    def __post_init__(self) -> None:
        validate_app_name(self.app)
        if not is_slug(self.slug) or len(self.slug) > slug_limit(self.app):
            raise OtterError(f"refusing to use preview {self.slug!r} of {self.app}: not a "
                             "slug OtterStack made (a damaged state record?); `otterstack "
                             f"previews {self.app}` lists the previews")

    @property
    def key(self) -> str:
        """What every project of the preview starts with: `<app>_<slug>`."""
        return f"{self.app}_{self.slug}"

    def project(self, release: str) -> str:
        """The compose project (Swarm: the stack) of one release of the preview."""
        return validate_project_name(f"{self.key}-{validate_release_name(release)}")

    @property
    def state_project(self) -> str:
        """The preview's own singletons (its database), never production's `<app>-state`."""
        return validate_project_name(f"{self.key}-{STATE_SUFFIX}")

    def resource(self, key: str) -> str:
        """The volume (and on one host the network) a compose key becomes:
        `<app>.<slug>_<key>`."""
        return f"{self.app}.{self.slug}_{key}"

    def network(self, key: str) -> str:
        """The network a compose key becomes: the volume's form, and on a Swarm (no `.`
        in an overlay's name) `<app>-_<slug>_<key>`."""
        return f"{self.app}-_{self.slug}_{key}" if self.swarm else self.resource(key)

    @property
    def labels(self) -> dict[str, str]:
        """On every container, volume and network of the preview: how it is found."""
        return {APP_LABEL: self.app, PREVIEW_LABEL: self.slug}

    def owns_project(self, project: str) -> bool:
        """Whether a compose project is one of this preview's: the app's own rule, with
        the preview's key for the app."""
        return owns_project(self.key, project)

    def host(self, domain: str) -> str:
        """Where the preview's main routed service answers: `<slug>.<domain>`."""
        return f"{self.slug}.{domain}"

    def service_host(self, service: str, domain: str) -> str:
        """Where a further routed service answers: `<service>-<slug>.<domain>`, the service
        name made a DNS label part (lower case, `_` and `.` replaced, a hash if changed)."""
        part = label_slug(service, DNS_LABEL - 1 - len(self.slug))
        return f"{part}-{self.slug}.{domain}"


@dataclass(frozen=True)
class PreviewTarget:
    """What a preview's deploy needs of it: its names, its branch, the domain it answers
    under (the app's `preview_domain`)."""

    names: PreviewNames
    branch: str
    domain: str


def selects(labels: Mapping[str, str], app: str, slug: str | None) -> bool:
    """Whether a thing with these labels belongs to `app`'s preview `slug` (None: to the
    app's production). What runs is told apart by its labels, never by its name."""
    return labels.get(APP_LABEL) == app and labels.get(PREVIEW_LABEL) == slug


def resource_owner(app: str, name: str) -> str | None:
    """Whose a volume or network name of `app` is: a preview's slug (`<app>.<slug>_<key>`),
    else None (production's `<app>_<key>`). Only for a name already known to be the app's
    (a Swarm node's volume, seen in a task's mounts): what is not is chosen by label."""
    if not name.startswith(f"{app}."):
        return None
    return name[len(app) + 1:].partition("_")[0]


def parse_preview_domain(text: str) -> str:
    """The `preview_domain` setting: one DNS name (no `*.`: the slug is the first label),
    lower case, short enough for `<63 characters>.<domain>`; empty: none."""
    domain = text.strip().lower().removesuffix(".")
    if domain and (len(domain) > MAX_DOMAIN or not DNS_NAME.fullmatch(domain)
                   or "." not in domain):
        raise OtterError(
            f"preview_domain takes a DNS name with at least two labels, at most {MAX_DOMAIN} "
            f"characters, under which a wildcard DNS record points at this server (e.g. "
            f"preview.example.com: previews answer at <branch>.preview.example.com), not "
            f"{text!r}; empty: none")
    return domain


def check_domain_free(app: str, domain: str, others: Mapping[str, str]) -> None:
    """Refuse a preview domain another app already uses (`others`: app -> its domain): two
    apps' previews of a branch `x` would both be `x.<domain>`."""
    taken = sorted(name for name, theirs in others.items() if name != app and theirs == domain)
    if domain and taken:
        raise OtterError(
            f"preview_domain {domain} is already app {taken[0]}'s: previews of a branch of "
            f"both apps would have the same host. Give {app} its own, e.g. "
            f"`otterstack config {app} preview_domain {app}.{domain}` (with a wildcard DNS "
            f"record *.{app}.{domain})")


def check_ready(app: str, previews: bool, domain: str) -> None:
    """A preview deploy needs the switch on and a domain to serve it under."""
    if not previews:
        raise OtterError(f"previews of {app} are off: an admin turns them on with "
                         f"`otterstack config {app} previews on`")
    if not domain:
        raise OtterError(f"previews of {app} are on but have no domain to answer under: "
                         f"`otterstack config {app} preview_domain preview.example.com` "
                         "(a wildcard DNS record *.preview.example.com must point here)")


def preview_plan(plan: ReleasePlan, model: ComposeModel, names: PreviewNames,
                 edge: frozenset[str] = frozenset()) -> ReleasePlan:
    """The production plan with every volume and network pinned to the preview's own names,
    those the compose file named itself too (`name: shop_data` is production's database),
    so a preview starts with fresh data and never production's. `external` ones are
    refused: an external volume exists outside the app's life, so it holds someone's data
    already; only Traefik's networks (`edge`) may be joined."""
    for service in model.services.values():
        _alone(service.name, service.container_name, service.host_ports, names.app)
    return replace(plan, volumes=_pinned("volumes", model.volumes, names, frozenset()),
                   networks=_pinned("networks", model.networks, names, edge))


def _alone(service: str, container_name: str | None, ports: tuple[str, ...], app: str
           ) -> None:
    """What production's singletons may have and a preview's may not: it runs next to
    production's, which holds that container name or host port (and would lose it to the
    preview while it is down)."""
    if container_name:
        raise OtterError(
            f"service {service} sets container_name: {container_name}; a preview of {app} "
            "runs next to production, which has that name. Remove container_name (other "
            "services reach it by its service name)")
    if ports:
        raise OtterError(
            f"service {service} publishes host port(s) {', '.join(ports)}; a preview of "
            f"{app} runs next to production, which holds them. Route it through Traefik, or "
            "leave the port to production (a preview is reached by its URL)")


def _pinned(kind: str, specs: Mapping[str, Any], names: PreviewNames, edge: frozenset[str]
            ) -> dict[str, str]:
    pinned = {}
    for key, spec in specs.items():
        spec = spec or {}
        if not spec.get("external"):
            pinned[key] = names.network(key) if kind == "networks" else names.resource(key)
        elif str(spec.get("name") or key) not in edge:
            raise OtterError(
                f"{kind}.{key} is external ({spec.get('name') or key}): a preview of "
                f"{names.app} gets fresh {kind} of its own and never uses one that exists "
                "already (it would be production's or another app's). Remove `external` "
                f"(and `name`) from {kind}.{key}, or deploy this branch as production")
    return pinned


def check_swarm_names(names: PreviewNames, project: str, plan: ReleasePlan) -> None:
    """On a Swarm, every service is named `<stack>_<service>` and every overlay network by
    its name, each a DNS name component of at most 63 characters: a preview whose stack
    (`<app>_<slug>-r<N>`) or network names make one longer is refused, with the name and how
    to make it fit, before anything of it is built."""
    for stack, services in ((project, plan.release_services),
                            (names.state_project, plan.singletons)):
        for service in services:
            full = f"{stack}_{service}"
            if len(full) > DNS_LABEL:
                raise OtterError(
                    f"service {service} would be the Swarm service {full}, {len(full)} "
                    f"characters: Swarm names a service <stack>_<service> and allows at most "
                    f"{DNS_LABEL}. Shorten the service's name (to at most "
                    f"{DNS_LABEL - len(stack) - 1} characters) or the branch's")
    for key, network in plan.networks.items():
        if len(network) > DNS_LABEL:
            raise OtterError(
                f"network {key} would be the overlay network {network}, {len(network)} "
                f"characters: Swarm allows at most {DNS_LABEL}. Shorten the network's key (to "
                f"at most {DNS_LABEL - len(names.network(''))} characters) or the branch's")
