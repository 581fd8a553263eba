"""`otterstack traefik up --swarm`: Traefik as a Swarm service on a manager, the way
OtterStack's Swarm runtime needs it.

- The swarm provider, for services that opt in (`traefik.enable=true`), on one shared
  attachable overlay network, polling every `refresh` (Traefik's default is 15 s; each poll
  is how late Traefik may notice a new release or one taken out: docs/swarm.md).
- Entrypoints published in host mode on the manager it runs on: Swarm's ingress mesh needs
  IPVS, which many kernels lack, and would hide the client's address.
- The API is not published at all (Swarm cannot publish on loopback only): OtterStack
  reaches it on the task's address on this host's `docker_gwbridge`, which only this host
  can reach.
"""

import docker
import docker.errors
from docker.types import EndpointSpec, ServiceMode

from otterstack_hooks.adapters.docker.engine import engine_errors
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.rules.traefik.container import OURS_LABEL, OWN_FLAGS
from otterstack_hooks.rules.traefik.throttle import THROTTLE_FLAG, throttle_seconds

NETWORK = "otterstack-swarm"
DEFAULT_REFRESH = "1s"


def command(network: str, throttle: str, refresh: str, constraints: str = "") -> list[str]:
    """Traefik's arguments: the swarm provider on `network`, opt-in only (and only for
    services matching `constraints`, a Traefik constraint expression, if given); `web` on
    :80; the API (unpublished) and Prometheus metrics beside it; ping."""
    throttle_seconds(throttle)
    seconds = throttle_seconds(refresh)
    if seconds < 1 or seconds != int(seconds):
        raise OtterError(f"--refresh takes whole seconds, at least 1s (not {refresh!r})")
    return [
        "--providers.swarm=true",
        "--providers.swarm.exposedbydefault=false",
        f"--providers.swarm.network={network}",
        f"--providers.swarm.refreshSeconds={int(seconds)}s",
        f"{THROTTLE_FLAG}={throttle}",
        *OWN_FLAGS,
        *([f"--providers.swarm.constraints={constraints}"] if constraints else []),
    ]


def up(dc: docker.DockerClient, image: str, name: str, network: str, http_port: int,
       throttle: str, refresh: str, constraints: str = "") -> str:
    """Create the service `name` (idempotent: an existing one is left as it is)."""
    args = command(network, throttle, refresh, constraints)
    with engine_errors("starting Traefik on the Swarm"):
        swarm = dc.info().get("Swarm") or {}
        if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
            raise OtterError("this engine is not a Swarm manager: `docker swarm init` (or run "
                             "this on a manager)")
        try:
            dc.networks.get(network)
        except docker.errors.NotFound:
            dc.networks.create(network, driver="overlay", attachable=True,
                               labels={"dev.otterstack.edge": "1"})
        try:
            existing = dc.services.get(name)
        except docker.errors.NotFound:
            existing = None
        if existing is not None:
            return f"Traefik service {name} is already there: `docker service ps {name}`"
        node = swarm.get("NodeID", "")
        dc.services.create(
            image, args=args, name=name,
            mode=ServiceMode("replicated", 1),
            networks=[network],
            # published: (target, protocol, mode), as docker's EndpointSpec documents (its
            # stubs know only the short form)
            endpoint_spec=EndpointSpec(mode="dnsrr", ports={
                http_port: (80, "tcp", "host")}),  # type: ignore[dict-item]
            mounts=["/var/run/docker.sock:/var/run/docker.sock:ro"],
            constraints=[f"node.id == {node}"] if node else ["node.role == manager"],
            container_labels={OURS_LABEL: "swarm"}, labels={OURS_LABEL: "swarm"},
        )
    return (f"Traefik service {name} created on this manager: http on :{http_port} (host "
            f"mode), API on its docker_gwbridge address only, swarm provider on {network} "
            f"polled every {refresh}, changes applied every {throttle} at most")



