"""A Traefik container as the Engine shows it (`docker ps` entries, `inspect` output): which
one OtterStack takes, where its API may listen, which networks it shares with apps."""

import re
from typing import Any

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.rules.compose.model import image_repository, runs_traefik
from otterstack_hooks.rules.traefik.metrics import METRICS_FLAG

OURS_LABEL = "dev.otterstack.traefik"  # on the Traefik `traefik up` starts ("swarm": --swarm)
# what every Traefik `otterstack traefik up` starts (one host or Swarm) is told, after its
# provider's flags: one entrypoint for the apps, the API and the metrics beside it, the ping
OWN_FLAGS = ("--entrypoints.web.address=:80", "--api.insecure=true", METRICS_FLAG,
             "--ping=true", "--log.level=INFO")
API_NETWORK_LABEL = "dev.otterstack.api-network"  # on `traefik up`'s container: its API's
DEFAULT_CONTAINER = "otterstack-traefik"
LOOPBACK = {"", "0.0.0.0", "127.0.0.1", "::", "::1"}
_API_ADDRESS = re.compile(r"--entry[pP]oints\.traefik\.address=(.*)")


def rank(item: dict[str, Any], wanted: str, provider: str) -> int | None:
    """How good a Traefik a listed container is (0 best), None for not one to take: by name
    or image if configured (`wanted`); else the one `otterstack traefik up` starts by
    default, then any it started, then any traefik image. For the swarm provider, the task of
    `traefik up --swarm` comes first; for the docker provider, that one is never taken (it
    does not read containers)."""
    names = [n.lstrip("/") for n in item.get("Names", [])]
    image = item.get("Image", "")
    labels = item.get("Labels") or {}
    ours = labels.get(OURS_LABEL)
    if wanted:  # a container's name, a Swarm service's name, or an image
        found = (wanted in names or image == wanted
                 or labels.get("com.docker.swarm.service.name") == wanted
                 or image_repository(image) == wanted)
        return 0 if found else None
    if ours == "swarm":
        return 0 if provider == "swarm" else None
    if DEFAULT_CONTAINER in names and provider == "docker":
        return 0
    if OURS_LABEL in labels:
        return 1
    if runs_traefik(image):
        return 2
    return None


def published(attrs: dict[str, Any]) -> dict[str, int]:
    """container port ('80/tcp') -> host port reachable from this host over loopback."""
    ports = (attrs.get("NetworkSettings") or {}).get("Ports") or {}
    result = {}
    for container_port, bindings in ports.items():
        for binding in bindings or []:
            if binding.get("HostIp", "") in LOOPBACK and binding.get("HostPort"):
                result[container_port] = int(binding["HostPort"])
                break
    return result


def api_port(args: list[str]) -> str:
    """The port of Traefik's API entrypoint (`traefik`, :8080 unless configured)."""
    for arg in args:
        match = _API_ADDRESS.fullmatch(arg)
        if match:
            return match.group(1).split("/", 1)[0].rsplit(":", 1)[-1]
    return "8080"


def api_port_candidates(args: list[str], published: list[str]) -> list[str]:
    """Published container ports ('8080/tcp') to ask for Traefik's API, best first: the
    address Traefik was configured with (entrypoint `traefik`, default :8080), then the
    others in numeric order. An app that answers /api/version must not be taken for it."""
    configured = api_port(args)
    tcp = sorted((p for p in published if p.endswith("/tcp")),
                 key=lambda p: (p != f"{configured}/tcp", int(p.split("/", 1)[0] or 0)))
    return tcp


def user_networks(attrs: dict[str, Any]) -> list[str]:
    """The networks Traefik shares with apps: not Docker's own, and not the network of its
    API that `traefik up` made (named by the container's label), which no app may join."""
    api = ((attrs.get("Config") or {}).get("Labels") or {}).get(API_NETWORK_LABEL)
    return [n for n in (attrs.get("NetworkSettings") or {}).get("Networks", {})
            if n not in ("bridge", "host", "none", "docker_gwbridge", "ingress", api)]


def pick_network(attrs: dict[str, Any], name: str, provider: str = "docker") -> str:
    """The network Traefik reaches apps on: the one its provider is told to use, else its
    only user network; OtterError if that cannot be told."""
    nets = user_networks(attrs)
    for arg in attrs.get("Args") or []:
        if arg.startswith(f"--providers.{provider}.network="):
            wanted = arg.split("=", 1)[1]
            if wanted in nets:
                return wanted
    if len(nets) == 1:
        return nets[0]
    raise OtterError(
        f"cannot tell which network Traefik ({name}) reaches apps on (it is on "
        f"{', '.join(nets) or 'no user network'}): put it on one user-defined network, or set "
        "`otterstack config --global traefik_network NAME`"
    )
