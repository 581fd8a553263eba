"""Make one release's Traefik labels unique so it can run next to earlier releases.

Traefik drops a router entirely (404 for everyone) when two containers define the same
router name with different options. Each release therefore renames every router, service
and middleware it defines, points references at the renamed definitions and sets each
router's priority (priority.py). Which label defines or names what is label_keys.py's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from otterstack_hooks.rules.compose.dns_names import release_alias
from otterstack_hooks.rules.compose.model import is_routed
from otterstack_hooks.rules.traefik.label_keys import (
    NAME,
    RENAMED,
    Label,
    label_error,
    parse_label,
    reference_kind,
    split_list,
)
from otterstack_hooks.rules.traefik.priority import (
    PRIORITY_SCALE,
    Incumbent,
    PriorityError,
    release_priority,
    user_priority,
)
from otterstack_hooks.rules.traefik.release_names import original_name, release_name

# a compose project: `<app>-r<N>`, or a preview's `<app>_<slug>-r<N>` (rules/preview/naming.py)
_RELEASE = re.compile(r"[a-z0-9_-]+")
# Header names end up as a label path segment, so they must not contain '.'.
_HEADER = re.compile(r"[A-Za-z0-9_-]+")
_ID_MIDDLEWARE = "otterstack-id"
_DNS_LABEL = 63  # the longest name part Go's resolver (Traefik's) looks up


@dataclass(frozen=True)
class RouterInfo:
    """What a release's router looks like after rewriting, for health checks and reports."""

    protocol: str
    original: str
    name: str
    service: str
    rule: str | None
    entrypoints: tuple[str, ...]
    priority: int
    tls: bool
    raised_above: tuple[str, ...] = ()  # incumbent routers it had to be ranked above


@dataclass(frozen=True)
class _Router:
    """One router as defined on one compose service, with its rewritten label keys."""

    service: str
    proto: str
    name: str
    new_name: str
    keys: dict[str, str]  # lower-cased attribute -> rewritten label key

    def key(self, attribute: str) -> str:
        """The rewritten key of an attribute, keeping the user's spelling if it exists."""
        default = f"traefik.{self.proto}.routers.{self.new_name}.{attribute}"
        return self.keys.get(attribute, default)

    def user_key(self, attribute: str) -> str:
        """The key as the user would write it, for error messages."""
        return f"traefik.{self.proto}.routers.{self.name}.{attribute}"

    def value(self, attribute: str, out: dict[str, str]) -> str | None:
        """The attribute's current value in the rewritten labels, if it is set."""
        return out.get(self.key(attribute))


@dataclass(frozen=True)
class _Release:
    """Per-call settings plus the names the whole project defines."""

    release: str
    sequence: int
    id_header: str | None
    # (proto, kind) -> defined name -> (compose service, key) of its first definition
    defined: dict[tuple[str, str], dict[str, tuple[str, str]]]
    incumbents: tuple[Incumbent, ...] = ()
    routed: frozenset[str] = frozenset()  # compose services Traefik routes (on its network)
    provider: str = "docker"  # Traefik's provider that reads these labels (or `swarm`)

    def rename(self, name: str) -> str:
        """Release-unique form of a name the project defines (release_names.py)."""
        return release_name(name, self.release)

    def reference(self, proto: str, kind: str, name: str) -> str:
        """Rename a reference only when it targets a name this project defines.

        `name@docker` is the docker provider's (this release's) definition of `name` when the
        project defines it, so it follows the rename; other providers (`@file`, `@internal`)
        and names this project does not define are left as written. On Swarm the labels are
        read by the swarm provider: `name@docker` (copied from a one-host setup) and
        `name@swarm` both become `<renamed>@swarm`.
        """
        base, at, provider = name.partition("@")
        ours = ("docker", self.provider)
        if (at and provider not in ours) or base not in self.defined.get((proto, kind), {}):
            return name
        return self.rename(base) + at + (self.provider if at else "")

    @property
    def id_middleware(self) -> str:
        """Name of the middleware that stamps the release id on responses."""
        return self.rename(_ID_MIDDLEWARE)


def rewrite_project_labels(
    services: dict[str, dict[str, str]],
    release: str,
    sequence: int,
    id_header: str | None = "X-Otterstack-Release",
    incumbents: tuple[Incumbent, ...] = (),
    provider: str = "docker",
) -> tuple[dict[str, dict[str, str]], list[RouterInfo]]:
    """Rename a project's Traefik definitions for `release` and set its router priorities.

    `sequence` grows with every release of the app (its release number): it breaks ties
    between releases of one app only. `incumbents` are the routers of the release this one
    replaces. Names become `<name>~<release>` (release_names.py): no two releases, of one
    app or two, define the same name.
    """
    _check_arguments(release, sequence, id_header)
    parsed = {
        service: [(key, value, parse_label(service, key)) for key, value in labels.items()]
        for service, labels in services.items()
        if is_routed(labels)
    }
    context = _Release(release, sequence, id_header, _defined_names(parsed), incumbents,
                       frozenset(parsed), provider)
    _check_id_middleware_free(context)
    rewritten: dict[str, dict[str, str]] = {}
    routers: list[RouterInfo] = []
    for service, labels in services.items():
        if service not in parsed:
            rewritten[service] = dict(labels)
            continue
        rewritten[service], service_routers = _rewrite_service(context, service, parsed[service])
        routers.extend(service_routers)
    _check_same_definitions(context, {s: rewritten[s] for s in parsed})
    routers.sort(key=lambda r: (r.service, r.protocol, r.original))
    return rewritten, routers


def _check_arguments(release: str, sequence: int, id_header: str | None) -> None:
    """Reject arguments that would produce label keys Traefik can't parse."""
    if not _RELEASE.fullmatch(release):
        raise ValueError(f"release {release!r} must match [a-z0-9_-]+")
    if not 0 <= sequence < PRIORITY_SCALE:
        raise ValueError(f"sequence {sequence} must be in 0..{PRIORITY_SCALE - 1}")
    if id_header is not None and not _HEADER.fullmatch(id_header):
        raise ValueError(f"id_header {id_header!r} must match [A-Za-z0-9_-]+")


def _defined_names(
    parsed: dict[str, list[tuple[str, str, Label | None]]],
) -> dict[tuple[str, str], dict[str, tuple[str, str]]]:
    """Names defined anywhere in the project, since references may cross compose services."""
    defined: dict[tuple[str, str], dict[str, tuple[str, str]]] = {}
    for service, labels in parsed.items():
        for key, _, label in labels:
            if label is not None:
                names = defined.setdefault((label.proto, label.kind), {})
                names.setdefault(label.name, (service, key))
    return defined


def _check_same_definitions(context: _Release, rewritten: dict[str, dict[str, str]]) -> None:
    """Two compose services may define one name only identically: Traefik drops a router or
    middleware defined twice with different options ("defined multiple times with different
    configurations"), and with it every request it should serve. Services may differ in their
    servers only (that is how Traefik pools the containers of one service)."""
    seen: dict[tuple[str, str, str], tuple[str, dict[str, str]]] = {}
    for service in sorted(rewritten):
        options: dict[tuple[str, str, str], dict[str, str]] = {}
        for key, value in rewritten[service].items():
            label = parse_label(service, key, RENAMED)
            if label is None:
                continue
            rest = label.rest.lower()
            if label.kind == "services" and rest.startswith("loadbalancer.server"):
                continue
            options.setdefault((label.proto, label.kind, label.name), {})[rest] = value
        for name, mine in options.items():
            first = seen.setdefault(name, (service, mine))
            if first[1] == mine:
                continue
            other, theirs = first
            differ = [k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k)]
            # the priority is ours (it follows the rule's length): name what the user wrote
            attribute = min(differ, key=lambda k: (k == "priority", k))
            proto, kind, defined = name
            original = original_name(defined, context.release)
            kind_name = kind.removesuffix("s")
            raise label_error(
                service, f"traefik.{proto}.{kind}.{original}.{attribute}",
                f"{proto} {kind_name} {original!r} is also defined by service {other!r} with "
                f"other options ({attribute}: {_shown(mine.get(attribute))} here, "
                f"{_shown(theirs.get(attribute))} there); Traefik would drop it and every request "
                f"it serves would get a 404. Give one of them another {kind_name} name, or make "
                "both definitions the same",
            )


def _shown(value: str | None) -> str:
    return "not set" if value is None else repr(value)


def _check_id_middleware_free(context: _Release) -> None:
    """A user middleware named like ours would be merged with it after renaming."""
    clash = context.defined.get(("http", "middlewares"), {}).get(_ID_MIDDLEWARE)
    if context.id_header is not None and clash is not None:
        raise label_error(
            *clash, f"the middleware name {_ID_MIDDLEWARE!r} is reserved by OtterStack; rename it"
        )


def _rewrite_service(
    context: _Release, service: str, labels: list[tuple[str, str, Label | None]]
) -> tuple[dict[str, str], list[RouterInfo]]:
    """Rename one compose service's definitions, then complete each of its routers."""
    out: dict[str, str] = {}
    routers: dict[tuple[str, str], _Router] = {}
    own_services: dict[str, list[str]] = {}
    for key, value, label in labels:
        if label is None:
            out[key] = value
            continue
        new_key = label.key(context.rename(label.name))
        out[new_key] = _rewrite_value(context, service, key, label, value)
        if label.kind == "routers":
            router = routers.setdefault(
                (label.proto, label.name),
                _Router(service, label.proto, label.name, context.rename(label.name), {}),
            )
            router.keys[label.rest.lower()] = new_key
        elif label.kind == "services" and label.name not in own_services.get(label.proto, []):
            own_services.setdefault(label.proto, []).append(label.name)
    infos = [
        _complete_router(context, router, own_services.get(router.proto, []), out)
        for router in routers.values()
    ]
    if context.id_header is not None and any(proto == "http" for proto, _ in routers):
        middleware = f"traefik.http.middlewares.{context.id_middleware}"
        out[f"{middleware}.headers.customresponseheaders.{context.id_header}"] = context.release
    return out, infos


def _rewrite_value(context: _Release, service: str, key: str, label: Label, value: str
                   ) -> str:
    """Point references at the renamed definitions; other values stay as written."""
    if (label.proto, label.kind, label.rest.lower()) == ("http", "middlewares",
                                                          "forwardauth.address"):
        return _release_address(context, service, key, value)
    reference = reference_kind(label)
    if reference is None:
        return value
    kind, is_list = reference
    if not is_list:
        return context.reference(label.proto, kind, value)
    return ",".join(context.reference(label.proto, kind, name) for name in split_list(value))


def _release_address(context: _Release, service: str, key: str, value: str) -> str:
    """A forward-auth address naming a routed service of this project
    (`http://authelia:9091/...`) asks that release's own container, by the name only it has
    on Traefik's network (rules/compose/dns_names.py): by its bare name, Traefik would also
    reach the release being replaced (its calls fail as that one stops) and any other app's
    service of that name."""
    try:
        url = urlsplit(value)
        host = url.hostname
    except ValueError:
        return value
    if host is None or host not in context.routed:
        return value
    if url.username is not None or url.password is not None:
        return value  # credentials in the URL: leave the user's text alone
    alias = release_alias(host, context.release)
    if len(alias) > _DNS_LABEL:
        raise label_error(service, key, f"the address names service {host!r}, which this "
                          f"release calls {alias!r} on Traefik's network: longer than a DNS "
                          f"name part ({_DNS_LABEL} characters), so Traefik could not look "
                          "it up. Give the service a shorter name")
    netloc = alias + (f":{url.port}" if url.port else "")
    return urlunsplit(url._replace(netloc=netloc))


def _complete_router(
    context: _Release, router: _Router, own_services: list[str], out: dict[str, str]
) -> RouterInfo:
    """Give a router an explicit service, its release priority and the id middleware."""
    if "service" not in router.keys:
        out[router.key("service")] = _implicit_service(context, router, own_services, out)
    priority = 0  # a UDP router has no priority, and ranks above no incumbent
    raised_above: tuple[str, ...] = ()
    if router.proto != "udp":
        priority, raised_above = _priority(context, router, out)
        out[router.key("priority")] = str(priority)
    if router.proto == "http" and context.id_header is not None:
        key = router.key("middlewares")
        # first, so the header is set even when a later middleware answers by itself
        # (a redirect, basic auth): the probe must see which release answered
        out[key] = ",".join([context.id_middleware, *split_list(out.get(key, ""))])
    return RouterInfo(
        protocol=router.proto,
        original=router.name,
        name=router.new_name,
        service=router.service,
        rule=router.value("rule", out),
        entrypoints=tuple(split_list(router.value("entrypoints", out) or "")),
        priority=priority,
        tls=any(attribute.startswith("tls") for attribute in router.keys),
        raised_above=raised_above,
    )


def _implicit_service(
    context: _Release, router: _Router, own_services: list[str], out: dict[str, str]
) -> str:
    """Make Traefik's implicit router->service choice explicit, as renaming would break it."""
    service, proto, add_service = router.service, router.proto, router.user_key("service")
    if len(own_services) == 1:
        return context.rename(own_services[0])
    if own_services:
        raise label_error(
            service,
            add_service,
            f"router {router.name!r} has no service and {service!r} defines services "
            f"{', '.join(own_services)}: add {add_service}=<one of them>",
        )
    if proto != "http":
        raise label_error(
            service,
            add_service,
            f"{proto} router {router.name!r} has no service and {service!r} defines none: add "
            f"traefik.{proto}.services.<name>.loadbalancer.server.port=<port>",
        )
    if service in context.defined.get(("http", "services"), {}) or not NAME.fullmatch(service):
        raise label_error(
            service,
            add_service,
            f"router {router.name!r} has no service and {service!r} can't be used as its "
            "service name: add traefik.http.services.<name>.loadbalancer.server.port=<port>",
        )
    name = context.rename(service)
    out[f"traefik.http.services.{name}.loadbalancer.passhostheader"] = "true"
    return name


def _priority(context: _Release, router: _Router, out: dict[str, str]
              ) -> tuple[int, tuple[str, ...]]:
    """The router's priority in this release (priority.py), errors naming its label."""
    rule = router.value("rule", out)
    entrypoints = split_list(router.value("entrypoints", out) or "")
    try:
        major = user_priority(router.value("priority", out), rule)
        return release_priority(router.proto, router.name, major, context.sequence, rule,
                                entrypoints, context.incumbents,
                                context.defined.get((router.proto, "routers"), {}))
    except PriorityError as exc:
        raise label_error(router.service, router.user_key("priority"), str(exc)) from None
