"""The fence: what keeps a release out of Traefik while it still runs, until it has exited.

Traefik's docker provider builds its whole configuration again from every container on each
`start`, `die` or `health_status` event of any container on the host. A release taken out of
traffic still runs (it finishes its requests, then takes its stop grace period to exit), is
healthy, and its routers outrank the serving release's: any such re-read would route it
again, and once it dies Traefik answers 502 until it has seen the `die`. Its labels cannot be
changed while it runs, and pausing it only holds until Docker resumes it for the stop signal.

What does hold: when two containers define a router of the same name differently, Traefik
drops that router altogether ("router defined multiple times with different configurations",
provider.Merge), on every re-read, for as long as both exist. So a release is taken out by
starting a small container, the fence, that defines each of the release's routers again with
a rule no request matches and a service of its own. The release keeps running, on its
networks, unpaused; no re-read can route it, however long it takes to exit, whatever it does
with SIGTERM. The fence is removed once the release has exited (or to route it again).

This module decides the fence's labels; adapters/traefik/fence.py starts and removes it.
"""

import re
from collections.abc import Iterable, Mapping

from otterstack_hooks.rules.swarm.stack import (
    APP_LABEL,  # copied: a Traefik may select the app's containers by it
)

FENCE_LABEL = "dev.otterstack.fence"  # value: the compose project the fence keeps out
FENCE_HOST = "fenced.otterstack.invalid"  # .invalid: no request can ever carry it
FENCE_PORT = "9"  # the fence serves nothing; Traefik only needs an address for its service

_ROUTER_KEY = re.compile(r"traefik\.(?P<protocol>http|tcp|udp)\.routers\.(?P<name>[^.]+)\.")
# labels a fence never copies: the release's own routing (redefined below), and the labels
# that make a container part of a compose project (the fence belongs to none)
_NOT_COPIED = ("traefik.http.", "traefik.tcp.", "traefik.udp.", "com.docker.compose.",
               "dev.otterstack.")
_RULES = {"http": f"Host(`{FENCE_HOST}`)", "tcp": f"HostSNI(`{FENCE_HOST}`)"}


def routers_of(labels_of: Iterable[Mapping[str, str]]) -> dict[str, set[str]]:
    """Every router the containers' labels define, by protocol (http, tcp, udp)."""
    found: dict[str, set[str]] = {}
    for labels in labels_of:
        for key in labels:
            match = _ROUTER_KEY.match(key)
            if match:
                found.setdefault(match["protocol"], set()).add(match["name"])
    return found


def fence_labels(labels_of: list[Mapping[str, str]], project: str) -> dict[str, str]:
    """The labels of the fence for `project`, whose containers carry `labels_of`: each of its
    routers defined again, differently, so Traefik drops it. The release's other labels are
    copied (`traefik.enable`, `traefik.docker.network`, whatever the user's Traefik filters
    containers on with `constraints`), so the fence is read by the same Traefik as the
    release. Empty when the release defines no router: there is nothing to keep out."""
    routers = routers_of(labels_of)
    if not routers:
        return {}
    out: dict[str, str] = {}
    for labels in labels_of:
        for key, value in labels.items():
            if key == APP_LABEL or not key.startswith(_NOT_COPIED):
                out.setdefault(key, value)
    service = f"otterstack-fence-{project}"
    out["traefik.enable"] = "true"
    out[FENCE_LABEL] = project
    for protocol, names in sorted(routers.items()):
        out[f"traefik.{protocol}.services.{service}.loadbalancer.server.port"] = FENCE_PORT
        for name in sorted(names):
            out[f"traefik.{protocol}.routers.{name}.service"] = service
            if protocol in _RULES:
                out[f"traefik.{protocol}.routers.{name}.rule"] = _RULES[protocol]
    return out
