"""What an admin can allow an app's compose file (`otterstack config APP allow TOKEN,...`),
and the refusal that names the service, the key and that token. Shared by the policy's checks
of values (rules/compose/policy.py) and of keys (rules/compose/keys.py)."""

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from otterstack_hooks.core.errors import OtterError


class Access(StrEnum):
    """What an admin can allow per app; each value is the token `config APP allow` takes."""

    PRIVILEGED = "privileged"
    CAPABILITIES = "capabilities"
    DEVICES = "devices"
    HOST_NETWORK = "host-network"
    HOST_PID = "host-pid"
    HOST_IPC = "host-ipc"
    HOST_USERNS = "host-userns"
    HOST_CGROUP = "host-cgroup"
    UNCONFINED = "unconfined"
    DOCKER_SOCKET = "docker-socket"
    HOST_MOUNTS = "host-mounts"
    HOST_FILES = "host-files"
    OTHER_CONTAINERS = "other-containers"
    EXTERNAL_VOLUMES = "external-volumes"
    HOST_UTS = "host-uts"
    RUNTIME = "runtime"
    LOG_DRIVERS = "log-drivers"
    VOLUME_DRIVERS = "volume-drivers"
    SWARM_DRIVERS = "swarm-drivers"
    BUILD_SSH = "build-ssh"
    UNREVIEWED_KEYS = "unreviewed-keys"
    SHARED_NAMES = "shared-names"
    WRITABLE_MOUNTS = "writable-mounts"
    REMOTE_INCLUDES = "remote-includes"
    TRAEFIK_INTERNAL = "traefik-internal"
    TCP_CATCH_ALL = "tcp-catch-all"


@dataclass(frozen=True)
class Refusal:
    """One use of host access the app is not allowed: where, what, and the token to allow."""

    service: str  # service name, or "volumes"/"secrets"/"configs" for top-level entries
    key: str  # the compose key, e.g. "privileged" or "volumes"
    detail: str  # what exactly, e.g. "/:/host"
    access: Access

    def message(self, app: str) -> str:
        where = f"service {self.service!r}" if self.service else "the compose file"
        return (f"{where}: {self.key} {self.detail} gives the container {WHY[self.access]}; "
                f"refused by the compose policy. An admin allows it for this app with "
                f"`otterstack config {app} allow {self.access.value}`")


WHY = {
    Access.PRIVILEGED: "full control of the host",
    Access.CAPABILITIES: "kernel capabilities beyond Docker's default set",
    Access.DEVICES: "the host's devices",
    Access.HOST_NETWORK: "the host's network namespace",
    Access.HOST_PID: "the host's processes",
    Access.HOST_IPC: "the host's IPC namespace",
    Access.HOST_USERNS: "the host's user namespace",
    Access.HOST_CGROUP: "the host's cgroup namespace",
    Access.UNCONFINED: "a way out of its confinement",
    Access.DOCKER_SOCKET: "the Docker API (root on the host)",
    Access.HOST_MOUNTS: "host files outside the release's checkout",
    Access.HOST_FILES: "host files outside the release's checkout",
    Access.OTHER_CONTAINERS: "the namespaces or volumes of containers outside this app",
    Access.EXTERNAL_VOLUMES: "volumes it did not create (maybe another app's data)",
    Access.HOST_UTS: "the host's UTS namespace (its hostname)",
    Access.RUNTIME: "a container runtime other than Docker's default",
    Access.LOG_DRIVERS: "a logging driver that runs in the Docker daemon, beyond its files",
    Access.VOLUME_DRIVERS: "a volume or mount made by the Docker daemon (root) from options",
    Access.SWARM_DRIVERS: "a secret or config driver plugin",
    Access.BUILD_SSH: "the server's SSH agent or keys inside the build",
    Access.UNREVIEWED_KEYS: ("a Compose feature OtterStack has not reviewed (a newer "
                             "Compose's?), which may reach the host"),
    Access.SHARED_NAMES: ("a name outside this app's own (maybe another app's volume, network "
                          "or image)"),
    Access.WRITABLE_MOUNTS: ("write access to the release's checkout, which later steps read "
                             "(a container could change what was checked before it runs)"),
    Access.REMOTE_INCLUDES: "compose files fetched from outside the commit",
    Access.TRAEFIK_INTERNAL: ("a route to Traefik's own services (an @internal service; "
                              "api@internal is its API and dashboard, which show every "
                              "app's routers)"),
    Access.TCP_CATCH_ALL: ("every TCP connection of the entrypoints it is on, other apps' "
                           "too (a rule that matches every name, like HostSNI(`*`))"),
}


def parse_allow(text: str) -> frozenset[Access]:
    """`privileged,docker-socket` -> the set; an unknown token names the known ones."""
    allowed = set()
    for token in (t.strip() for t in text.split(",")):
        if not token:
            continue
        try:
            allowed.add(Access(token))
        except ValueError:
            raise OtterError(
                f"unknown compose policy token {token!r}; known: "
                f"{', '.join(a.value for a in Access)} (comma-separated, empty allows none)"
            ) from None
    return frozenset(allowed)


def render_allow(allowed: Iterable[Access]) -> str:
    return ",".join(sorted(a.value for a in allowed))
