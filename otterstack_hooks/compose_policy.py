"""Which host access a compose file asks for, and whether the app is allowed it.

Whoever may push an app may otherwise become root on the server through the compose file
alone: `privileged: true`, the Docker socket, a bind mount of `/`, the host's network or PID
namespace. This module reads compose's effective config (`docker compose config --format
json`) and returns one refusal per use of such access that the app's admin has not allowed
(`otterstack config APP allow TOKEN,...`). Pure: no I/O except through the `resolve`
callable the caller passes for symlinks in the checkout.
"""

import posixpath
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .errors import OtterError


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


# Docker's default capability set: adding one of these back (after a cap_drop) grants nothing
# a container does not have by default.
SAFE_CAPABILITIES = frozenset({
    "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
    "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
})
DOCKER_SOCKETS = frozenset({"/var/run/docker.sock", "/run/docker.sock"})
# `security_opt` values that switch a confinement off (compose accepts `=` and `:`).
_UNCONFINED = frozenset({
    "apparmor=unconfined", "seccomp=unconfined", "label=disable", "systempaths=unconfined",
    "label=type:spc_t", "label=type:unconfined_t",
})


@dataclass(frozen=True)
class Refusal:
    """One use of host access the app is not allowed: where, what, and the token to allow."""

    service: str  # service name, or "volumes"/"secrets"/"configs" for top-level entries
    key: str  # the compose key, e.g. "privileged" or "volumes"
    detail: str  # what exactly, e.g. "/:/host"
    access: Access

    def message(self, app: str) -> str:
        where = f"service {self.service!r}" if self.service else "the compose file"
        return (f"{where}: {self.key} {self.detail} gives the container {_WHY[self.access]}; "
                f"refused by the compose policy. An admin allows it for this app with "
                f"`otterstack config {app} allow {self.access.value}`")


_WHY = {
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


def _inside(path: str, root: str) -> bool:
    path, root = posixpath.normpath(path), posixpath.normpath(root)
    return path == root or path.startswith(root.rstrip("/") + "/")


def _cap(name: Any) -> str:
    return str(name).upper().removeprefix("CAP_")


def _namespace(service: str, key: str, value: Any, host: Access) -> list[Refusal]:
    text = str(value or "")
    if text == "host":
        return [Refusal(service, key, "host", host)]
    if text.startswith("container:"):
        return [Refusal(service, key, text, Access.OTHER_CONTAINERS)]
    return []


def _service_refusals(name: str, svc: dict[str, Any], checkout: str,
                      resolve: Callable[[str], str]) -> list[Refusal]:
    out: list[Refusal] = []
    if svc.get("privileged"):
        out.append(Refusal(name, "privileged", "true", Access.PRIVILEGED))
    extra = sorted({_cap(c) for c in svc.get("cap_add") or []} - SAFE_CAPABILITIES)
    if extra:
        out.append(Refusal(name, "cap_add", ",".join(extra), Access.CAPABILITIES))
    for device in svc.get("devices") or []:
        source = device.get("source", "") if isinstance(device, dict) else str(device)
        out.append(Refusal(name, "devices", str(source), Access.DEVICES))
    if svc.get("device_cgroup_rules"):
        out.append(Refusal(name, "device_cgroup_rules", ",".join(svc["device_cgroup_rules"]),
                           Access.DEVICES))
    out += _namespace(name, "network_mode", svc.get("network_mode"), Access.HOST_NETWORK)
    out += _namespace(name, "pid", svc.get("pid"), Access.HOST_PID)
    out += _namespace(name, "ipc", svc.get("ipc"), Access.HOST_IPC)
    out += _namespace(name, "userns_mode", svc.get("userns_mode"), Access.HOST_USERNS)
    if str(svc.get("cgroup") or "") == "host":
        out.append(Refusal(name, "cgroup", "host", Access.HOST_CGROUP))
    for opt in svc.get("security_opt") or []:
        normal = str(opt).replace(":", "=", 1).lower()
        if normal in _UNCONFINED:
            out.append(Refusal(name, "security_opt", str(opt), Access.UNCONFINED))
    for source in svc.get("volumes_from") or []:
        if str(source).startswith("container:"):
            out.append(Refusal(name, "volumes_from", str(source), Access.OTHER_CONTAINERS))
    for volume in svc.get("volumes") or []:
        if not isinstance(volume, dict) or volume.get("type") != "bind":
            continue
        source = str(volume.get("source", ""))
        mount = f"{source}:{volume.get('target', '')}"
        real = resolve(source)
        if real in DOCKER_SOCKETS or posixpath.basename(real) == "docker.sock":
            out.append(Refusal(name, "volumes", mount, Access.DOCKER_SOCKET))
        elif not (_inside(source, checkout) and _inside(real, resolve(checkout))):
            out.append(Refusal(name, "volumes", mount, Access.HOST_MOUNTS))
    for env_file in svc.get("env_file") or []:
        path = str(env_file.get("path", "") if isinstance(env_file, dict) else env_file)
        if "$" in path or not (_inside(path, checkout) and _inside(resolve(path),
                                                                   resolve(checkout))):
            out.append(Refusal(name, "env_file", path, Access.HOST_FILES))
    build = svc.get("build")
    if isinstance(build, dict):
        contexts = [("build.context", build.get("context"))]
        contexts += [(f"build.additional_contexts.{k}", v)
                     for k, v in (build.get("additional_contexts") or {}).items()]
        for key, context in contexts:
            text = str(context or "")
            if text.startswith("/") and not (_inside(text, checkout)
                                             and _inside(resolve(text), resolve(checkout))):
                out.append(Refusal(name, key, text, Access.HOST_FILES))
    return out


def refusals(config: dict[str, Any], checkout: str, allowed: frozenset[Access] = frozenset(),
             resolve: Callable[[str], str] = lambda p: p) -> list[Refusal]:
    """Every use of host access in `config` that `allowed` does not cover, in file order.

    `checkout` is the absolute directory of the release's checkout (the only host path bind
    mounts may come from); `resolve` follows symlinks on the host (identity in unit tests).
    """
    out: list[Refusal] = []
    for name, svc in (config.get("services") or {}).items():
        if isinstance(svc, dict):
            out += _service_refusals(str(name), svc, checkout, resolve)
    for name, volume in (config.get("volumes") or {}).items():
        if not isinstance(volume, dict):
            continue
        if volume.get("external"):
            out.append(Refusal("", f"volumes.{name}", "external: true",
                               Access.EXTERNAL_VOLUMES))
        device = (volume.get("driver_opts") or {}).get("device")
        # mount(2) follows links: a committed `hostroot -> /` must not pass as inside
        if device and not (str(device).startswith("/") and _inside(str(device), checkout)
                           and _inside(resolve(str(device)), resolve(checkout))):
            out.append(Refusal("", f"volumes.{name}", f"driver_opts.device {device}",
                               Access.HOST_MOUNTS))
    for kind in ("secrets", "configs"):
        for name, item in (config.get(kind) or {}).items():
            path = str((item or {}).get("file") or "") if isinstance(item, dict) else ""
            if path and not (_inside(path, checkout)
                             and _inside(resolve(path), resolve(checkout))):
                out.append(Refusal("", f"{kind}.{name}", f"file {path}", Access.HOST_FILES))
    return [r for r in out if r.access not in allowed]


def uses(config: dict[str, Any], checkout: str,
         resolve: Callable[[str], str] = lambda p: p) -> frozenset[Access]:
    """Every kind of host access the config uses: what a migrated app keeps allowed."""
    return frozenset(r.access for r in refusals(config, checkout, frozenset(), resolve))


def explain(app: str, found: list[Refusal], allowed: frozenset[Access] = frozenset(),
            limit: int = 6) -> str:
    """One message for all refusals (the first few in full), for a push or a deploy. The
    command it suggests keeps what is allowed already: `allow` sets the whole list."""
    lines = [r.message(app) for r in found[:limit]]
    if len(found) > limit:
        lines.append(f"... and {len(found) - limit} more")
    tokens = render_allow(allowed | {r.access for r in found})
    return ("; ".join(lines)
            + f". To allow all of these: `otterstack config {app} allow {tokens}` "
            "(see docs/security.md)")


def with_raw_env_files(config: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    """Compose reads `env_file`s into `environment` and drops them from its normalised
    config; the un-interpolated config (`config --no-interpolate`) still names them."""
    merged = dict(config)
    services = {}
    raw_services = raw.get("services") or {}
    for name, svc in (config.get("services") or {}).items():
        files = (raw_services.get(name) or {}).get("env_file")
        services[name] = {**svc, "env_file": files} if files else svc
    merged["services"] = services
    return merged
