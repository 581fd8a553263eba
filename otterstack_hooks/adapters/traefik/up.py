"""`otterstack traefik up`: start a Traefik configured the way OtterStack needs it.

Its API (and dashboard) show every app's routers, services and middlewares, basic-auth hashes
included, so no app may reach it. With `--api.insecure` Traefik serves it on port 8080 of
every address it has, and the apps share its network: any container could read it. So the
API listens on one address only, on a network of its own that no app is on (Docker keeps
bridge networks apart), and that is where the port published on 127.0.0.1 leads.
"""

import ipaddress
import time

import docker
import docker.errors
from docker.models.containers import Container
from docker.types import IPAMConfig, IPAMPool

from otterstack_hooks.adapters.docker.engine import engine_errors
from otterstack_hooks.adapters.traefik.api_client import answers_api
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.rules.traefik.container import API_NETWORK_LABEL, OURS_LABEL, OWN_FLAGS
from otterstack_hooks.rules.traefik.duration import format_seconds
from otterstack_hooks.rules.traefik.metrics import METRICS_FLAG
from otterstack_hooks.rules.traefik.throttle import (
    DEFAULT_THROTTLE,
    THROTTLE_FLAG,
    configured_throttle,
    throttle_seconds,
)

API_PORT = 8080
DEFAULT_IMAGE = "traefik:v3"
DEFAULT_NETWORK = "otterstack"
# How long Traefik keeps an idle keep-alive connection to a server (its own default: 90 s).
# A release taken out of traffic cannot tell an idle connection from a request in flight
# (both are an established connection with nothing queued, adapters/docker/drain.py), so its
# drain waited for Traefik to drop the idle ones: up to drain_timeout with a keep-alive server.
# Under load a connection is never idle this long; a quiet site opens one per request.
IDLE_CONN_TIMEOUT = "250ms"
IDLE_CONN_FLAG = "--serversTransport.forwardingTimeouts.idleConnTimeout"


def command(network: str, constraints: str = "", throttle: str = DEFAULT_THROTTLE,
            api_address: str = "") -> list[str]:
    """Traefik's command line as `otterstack traefik up` starts it: the docker provider on
    `network` only for containers that opt in, the web entrypoint, the API (published on
    127.0.0.1 only by `up`; with `api_address`, listening on that address only: a network
    no app is on) and Prometheus metrics beside it, ping, the provider throttle `throttle`,
    and idle connections to servers closed after IDLE_CONN_TIMEOUT."""
    throttle_seconds(throttle)  # never start a Traefik that would refuse its own flags
    return [
        "--providers.docker=true",
        "--providers.docker.exposedbydefault=false",
        f"--providers.docker.network={network}",
        f"{THROTTLE_FLAG}={throttle}",
        f"{IDLE_CONN_FLAG}={IDLE_CONN_TIMEOUT}",
        *OWN_FLAGS,
        *([f"--providers.docker.constraints={constraints}"] if constraints else []),
        *([f"--entrypoints.traefik.address={api_address}"] if api_address else []),
    ]


def up(dc: docker.DockerClient, image: str, name: str, network: str, http_port: int,
       bind: str, api_port: int, constraints: str = "", throttle: str = DEFAULT_THROTTLE
       ) -> str:
    """Start a Traefik configured the way OtterStack needs it; idempotent."""
    throttle_seconds(throttle)  # refused before anything is created
    with engine_errors("starting Traefik"):
        try:
            dc.networks.get(network)
        except docker.errors.NotFound:
            dc.networks.create(network, driver="bridge", labels={"dev.otterstack.edge": "1"})
        try:
            existing = dc.containers.get(name)
        except docker.errors.NotFound:
            existing = None
        if existing is not None:
            return _already_there(existing, name, throttle)
        _ensure_image(dc, image)
        # Docker publishes a container's ports on the network it sorts first by name (its
        # gateway): this one sorts before any name that starts with a letter
        api_network = f"0-{name}-api"
        address = _api_address(dc, api_network)
        args = command(network, constraints, throttle, f"{address}:{API_PORT}")
        host_config = dc.api.create_host_config(
            restart_policy={"Name": "unless-stopped"},
            port_bindings={80: (bind, http_port), API_PORT: ("127.0.0.1", api_port)},
            binds={"/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "ro"}})
        container = dc.api.create_container(
            image, command=args, name=name, ports=[80, API_PORT], host_config=host_config,
            labels={OURS_LABEL: "1", API_NETWORK_LABEL: api_network},
            networking_config=dc.api.create_networking_config(  # the stubs say one config;
                {api_network: dc.api.create_endpoint_config(  # Docker takes one per network
                    ipv4_address=address)}))  # type: ignore[arg-type]
        dc.api.connect_container_to_network(container["Id"], network)
        dc.api.start(container["Id"])
        _check_api(dc, container["Id"], api_port, network, api_network)
    return (f"Traefik {name} started: http on {bind}:{http_port}, API and Prometheus metrics "
            f"on 127.0.0.1:{api_port} (on {api_network} only, which no app joins), container "
            f"changes applied every {throttle} at most")


def _already_there(existing: Container, name: str,
                   throttle: str) -> str:
    """Start it if stopped; say where it listens and whether its throttle differs."""
    verb = "is already running"
    if existing.status != "running":
        existing.start()
        verb = "started again"
    existing.reload()
    ports = ", ".join(
        f"{key} on {b['HostIp'] or '0.0.0.0'}:{b['HostPort']}"
        for key, binds in sorted((existing.ports or {}).items()) for b in binds or [])
    message = f"Traefik {name} {verb} ({ports or 'no published ports'})"
    running = configured_throttle(existing.attrs.get("Args") or [],
                                  (existing.attrs.get("Config") or {}).get("Env") or [],
                                  None).seconds
    if running is not None and running != throttle_seconds(throttle):
        message += (f"; it applies container changes every {format_seconds(running)}, not "
                    f"{throttle}: `docker rm -f {name}` and run this again to apply --throttle")
    if METRICS_FLAG not in (existing.attrs.get("Args") or []):
        message += (f"; it serves no Prometheus metrics (started by an older `traefik up`), so "
                    f"releases cannot be watched after a switch: `docker rm -f {name}` and run "
                    "this again")
    return message


def _check_api(dc: docker.DockerClient, container: str, api_port: int, network: str,
               api_network: str) -> None:
    """The published API port must lead to the API: if Docker published the ports on the
    apps' network instead (its name sorts first), nothing answers there; say so and remove
    the container rather than leave a Traefik OtterStack cannot read."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if answers_api(f"http://127.0.0.1:{api_port}"):
            return
        time.sleep(0.2)
    dc.api.remove_container(container, force=True)
    raise OtterError(
        f"Traefik's API on 127.0.0.1:{api_port} did not answer: Docker published its ports on "
        f"{network} instead of {api_network}, the network of its API (Docker publishes on the "
        f"network whose name sorts first); give the apps' network a name that starts with a "
        "letter (--network), and run this again")


def _ensure_image(dc: docker.DockerClient, image: str) -> None:
    try:
        dc.images.get(image)
    except docker.errors.ImageNotFound:
        try:
            dc.images.pull(image)
        except docker.errors.DockerException as exc:
            raise OtterError(f"Traefik image {image} is not here and cannot be pulled ({exc}); "
                             "load or build it, or pass --image") from exc


def _api_address(dc: docker.DockerClient, api_network: str) -> str:
    """Traefik's fixed address on its API network (made if missing). Docker gives a fixed
    address only on a network whose subnet was given, so a missing one is made once to let
    Docker pick a free subnet, then made again with that subnet given."""
    try:
        network = dc.networks.get(api_network)
    except docker.errors.NotFound:
        probe = dc.networks.create(api_network, driver="bridge")
        probe.reload()
        subnet = probe.attrs["IPAM"]["Config"][0]["Subnet"]
        probe.remove()
        network = dc.networks.create(
            api_network, driver="bridge", labels={API_NETWORK_LABEL: api_network},
            ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=subnet)]))
        network.reload()
    subnet = network.attrs["IPAM"]["Config"][0]["Subnet"]
    return str(ipaddress.ip_network(subnet).network_address + 2)
