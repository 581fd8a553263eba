"""DNS names on Traefik's networks: only OtterStack gives one another app could want (pure).

Every routed container joins Traefik's network, which every app shares, and Docker's DNS
there answers a name (lower-cased) with every container that has it: Traefik would send a
share of requests meant for one app's container to another app's. A container's names on a
network (Docker's `DNSNames`) are its container name, its aliases (Compose adds the service
name), its short id and its hostname; on a Swarm also `<stack>_<service>`, `tasks.<name>`
for that and every alias, and task names `<stack>_<service>.<slot>.<id>`. `links` and
`external_links` name containers only inside the container that has them; `domainname`
names nothing.

So a service on Traefik's networks (routed, or joining one by name) may have there only what
this allow-list lets through: a name of letters, digits, inner dashes and single inner
underscores (no `__`, no `.`), a `hostname` equal to it, no `container_name`, no
`aliases`. Then no name there holds `__`: app names, preview slugs and release names hold
no `_`, a preview's project holds one between letters or digits, a Swarm adds one between
the stack (ending in a digit) and the service (starting with a letter or digit). OtterStack's
own alias for a routed service of a release, `<project>__<service>` (release_alias), is the
only name there with `__`, and a project names one app's release (of production or of one
preview) and never holds `__`, so no other app's container can answer to it. Each refusal
needs `shared-names` (`otterstack config APP allow shared-names`).
"""

import re
from collections.abc import Mapping
from typing import Any

from otterstack_hooks.rules.compose.access import Access, Refusal
from otterstack_hooks.rules.compose.model import is_routed, label_map

SEPARATOR = "__"  # in no name a compose file can give on Traefik's networks
# letters and digits, with inner dashes and single underscores (`web_app`, as real compose
# files name services): no `__`, no `.`, no `_` at either end
PLAIN_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]|_(?!_))*(?<![_-])|[A-Za-z0-9]")
_WHERE = "on Traefik's network, where another app's container could have the same name"


def release_alias(service: str, project: str) -> str:
    """The name a routed service of one release (compose project) has on Traefik's network,
    and no other release, of this app or another: its service name there resolves to every
    release that runs at once, and to any other app's service of that name. Lower case, as
    Docker's DNS compares names."""
    return f"{project}{SEPARATOR}{service}".lower()


def dns_name_refusals(config: Mapping[str, Any], edge: frozenset[str]) -> list[Refusal]:
    """Every name a service of `config` would have on Traefik's networks (`edge`) beyond
    what the allow-list above lets through. Without a Traefik (`edge` empty) no service
    joins one: nothing to refuse."""
    if not edge:
        return []
    shared = {str(key) for key, spec in (config.get("networks") or {}).items()
              if isinstance(spec, Mapping) and str(spec.get("name") or key) in edge}
    out: list[Refusal] = []
    for name, svc in (config.get("services") or {}).items():
        if isinstance(svc, Mapping):
            out += _service_refusals(str(name), svc, shared)
    return out


def _service_refusals(name: str, svc: Mapping[str, Any], shared: set[str]) -> list[Refusal]:
    networks = svc.get("networks") or {}
    joined = [str(key) for key in networks if str(key) in shared]
    deploy = svc.get("deploy") or {}
    routed = is_routed(label_map(svc.get("labels"))) or is_routed(
        label_map(deploy.get("labels") if isinstance(deploy, Mapping) else None))
    if not (routed or joined):
        return []
    out = []
    if not PLAIN_NAME.fullmatch(name):
        plain = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-") or "web"
        out.append(Refusal(name, "its name", f"{name} {_WHERE} (a service there is named "
                           "with letters, digits, inner dashes and single underscores: "
                           f"rename it, e.g. {plain})", Access.SHARED_NAMES))
    if svc.get("container_name"):
        out.append(Refusal(name, "container_name", f"{svc['container_name']} {_WHERE} "
                           "(remove it: other services reach this one by its service name)",
                           Access.SHARED_NAMES))
    hostname = str(svc.get("hostname") or "")
    if hostname and hostname.lower() != name.lower():
        out.append(Refusal(name, "hostname", f"{hostname} {_WHERE} (Docker's DNS answers "
                           "to a hostname: remove it, or make it the service's name)",
                           Access.SHARED_NAMES))
    for key in joined:
        spec = networks.get(key) if isinstance(networks, Mapping) else None
        for alias in (spec.get("aliases") or []) if isinstance(spec, Mapping) else []:
            out.append(Refusal(name, f"networks.{key}.aliases", f"{alias} {_WHERE} (remove "
                               "it: other services reach this one by its service name)",
                               Access.SHARED_NAMES))
    return out
