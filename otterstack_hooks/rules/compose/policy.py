"""Which host access a compose file asks for, and whether the app is allowed it.

Whoever may push an app may otherwise become root on the server through the compose file
alone: `privileged: true`, the Docker socket, a bind mount of `/`, the host's network or PID
namespace. This module reads compose's effective config (`docker compose config --format
json`) and returns one refusal per use of such access that the app's admin has not allowed
(`otterstack config APP allow TOKEN,...`), also for Traefik labels that reach beyond the app
(traefik_policy). Pure: no I/O except through the `resolve` callable the caller passes for
symlinks in the checkout.
"""

import posixpath
from collections.abc import Callable
from typing import Any

from otterstack_hooks.rules.compose.access import Access, Refusal, render_allow
from otterstack_hooks.rules.compose.keys import CHECKED, MOUNT_TYPES, OK, walk
from otterstack_hooks.rules.compose.model import build_labels, label_map
from otterstack_hooks.rules.compose.names import name_refusals
from otterstack_hooks.rules.traefik.policy import label_refusals

# Docker's default capability set: adding one of these back (after a cap_drop) grants nothing
# a container does not have by default.
SAFE_CAPABILITIES = frozenset({
    "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
    "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
})
DOCKER_SOCKETS = frozenset({"/var/run/docker.sock", "/run/docker.sock"})
# `security_opt` values that keep Docker's own confinement (compose accepts `=` and `:`);
# any other (unconfined, a profile of the pusher's own, an SELinux type) needs `unconfined`
CONFINED = frozenset({
    "no-new-privileges", "no-new-privileges=true", "no-new-privileges=false",
    "apparmor=docker-default", "seccomp=builtin",
})
LOG_DRIVERS = frozenset({"", "json-file", "local", "none"})  # files of the daemon's own
NETWORK_DRIVERS = frozenset({"", "bridge", "overlay"})
RUNTIMES = frozenset({"", "runc"})
BUILD_NETWORKS = frozenset({"", "default", "none"})


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
    """Every host access one service asks for, in the order of its keys below: its
    privileges, its isolation from the host, what it mounts, what its build reaches."""
    out = _privileges(name, svc) + _isolation(name, svc)
    for hook in ("post_start", "pre_stop"):
        for item in svc.get(hook) or []:
            if isinstance(item, dict) and _true(item.get("privileged")):
                out.append(Refusal(name, f"{hook}.privileged", "true", Access.PRIVILEGED))
    reservations = ((svc.get("deploy") or {}).get("resources") or {}).get("reservations")
    for device in (reservations or {}).get("devices") or []:
        out.append(Refusal(name, "deploy.resources.reservations.devices",
                           ",".join(map(str, device.get("capabilities") or [])) or "device",
                           Access.DEVICES))
    out += _mounts(name, svc, checkout, resolve)
    if isinstance(svc.get("build"), dict):
        out += _build_refusals(name, svc["build"], checkout, resolve)
    return out


def _privileges(name: str, svc: dict[str, Any]) -> list[Refusal]:
    """`privileged`, capabilities beyond Docker's default set, host devices."""
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
    return out


def _isolation(name: str, svc: dict[str, Any]) -> list[Refusal]:
    """The host's namespaces and cgroup, an unconfined profile, another runtime or log
    driver: what would let the service out of its container."""
    out = _namespace(name, "network_mode", svc.get("network_mode"), Access.HOST_NETWORK)
    out += _namespace(name, "pid", svc.get("pid"), Access.HOST_PID)
    out += _namespace(name, "ipc", svc.get("ipc"), Access.HOST_IPC)
    out += _namespace(name, "userns_mode", svc.get("userns_mode"), Access.HOST_USERNS)
    if str(svc.get("cgroup") or "") == "host":
        out.append(Refusal(name, "cgroup", "host", Access.HOST_CGROUP))
    for opt in svc.get("security_opt") or []:
        if str(opt).replace(":", "=", 1).lower() not in CONFINED:
            out.append(Refusal(name, "security_opt", str(opt), Access.UNCONFINED))
    if str(svc.get("uts") or "") == "host":
        out.append(Refusal(name, "uts", "host", Access.HOST_UTS))
    if str(svc.get("runtime") or "") not in RUNTIMES:
        out.append(Refusal(name, "runtime", str(svc["runtime"]), Access.RUNTIME))
    driver = str((svc.get("logging") or {}).get("driver") or "")
    if driver not in LOG_DRIVERS:
        out.append(Refusal(name, "logging.driver", driver, Access.LOG_DRIVERS))
    return out


def _mounts(name: str, svc: dict[str, Any], checkout: str,
            resolve: Callable[[str], str]) -> list[Refusal]:
    """Other containers' volumes, bind mounts (the Docker socket, outside the checkout,
    writable) and env or label files outside the checkout."""
    out: list[Refusal] = []
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
        elif not _true(volume.get("read_only")):
            out.append(Refusal(name, "volumes", f"{mount} (writable: mount it `:ro`, or "
                               "use a named volume)", Access.WRITABLE_MOUNTS))
    for key in ("env_file", "label_file"):
        for entry in _listed(svc.get(key)):
            path = str(entry.get("path", "") if isinstance(entry, dict) else entry)
            if "$" in path or not _inside_checkout(path, checkout, resolve):
                out.append(Refusal(name, key, path, Access.HOST_FILES))
    return out


def _build_refusals(name: str, build: dict[str, Any], checkout: str,
                    resolve: Callable[[str], str]) -> list[Refusal]:
    """What a build may read or reach: its contexts and Dockerfile inside the checkout, no
    network but its own, no cache in a host directory."""
    out = []
    contexts = [("build.context", build.get("context"))]
    contexts += [(f"build.additional_contexts.{k}", v)
                 for k, v in (build.get("additional_contexts") or {}).items()]
    for key, context in contexts:
        text = str(context or "")
        if text.startswith("/") and not _inside_checkout(text, checkout, resolve):
            out.append(Refusal(name, key, text, Access.HOST_FILES))
    dockerfile = str(build.get("dockerfile") or "")
    if dockerfile:
        path = posixpath.join(str(build.get("context") or checkout), dockerfile)
        if not _inside_checkout(path, checkout, resolve):
            out.append(Refusal(name, "build.dockerfile", dockerfile, Access.HOST_FILES))
    network = str(build.get("network") or "")
    if network == "host":
        out.append(Refusal(name, "build.network", network, Access.HOST_NETWORK))
    elif network not in BUILD_NETWORKS:
        out.append(Refusal(name, "build.network", network, Access.OTHER_CONTAINERS))
    for cache in build.get("cache_from") or []:
        if "type=local" in str(cache).replace(" ", ""):
            out.append(Refusal(name, "build.cache_from", str(cache), Access.HOST_FILES))
    return out


def _true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value] if value else []


def _inside_checkout(path: str, checkout: str, resolve: Callable[[str], str]) -> bool:
    """Inside the checkout as written and once every link is followed (mount(2), Compose
    and the builder follow links: a committed `hostroot -> /` must not pass as inside)."""
    return _inside(path, checkout) and _inside(resolve(path), resolve(checkout))


def refusals(config: dict[str, Any], checkout: str, allowed: frozenset[Access] = frozenset(),
             resolve: Callable[[str], str] = lambda p: p, app: str = "",
             edge: frozenset[str] = frozenset(),
             image_project: Callable[[str], str | None] = lambda ref: None) -> list[Refusal]:
    """Every use of host access in `config` that `allowed` does not cover, in file order.

    `checkout` is the absolute directory of the release's checkout (the only host path bind
    mounts may come from); `resolve` follows symlinks on the host (identity in unit tests).
    With `app`, names must be the app's own (compose_names): `edge`, Traefik's networks, are
    shared; `image_project` says which compose project built a local image.
    """
    out: list[Refusal] = []
    for name, svc in (config.get("services") or {}).items():
        if isinstance(svc, dict):
            out += _service_refusals(str(name), svc, checkout, resolve)
            out += label_refusals(str(name), label_map(svc.get("labels")),
                                  label_map((svc.get("deploy") or {}).get("labels")),
                                  build_labels(svc))
    for name, volume in (config.get("volumes") or {}).items():
        if not isinstance(volume, dict):
            continue
        if volume.get("external"):
            out.append(Refusal("", f"volumes.{name}", "external: true",
                               Access.EXTERNAL_VOLUMES))
        out += _volume_refusals(str(name), volume, checkout, resolve)
    for name, network in (config.get("networks") or {}).items():
        driver = str((network or {}).get("driver") or "") if isinstance(network, dict) else ""
        if driver not in NETWORK_DRIVERS:
            out.append(Refusal("", f"networks.{name}", f"driver {driver}",
                               Access.HOST_NETWORK))
    for kind in ("secrets", "configs"):
        for name, item in (config.get(kind) or {}).items():
            path = str((item or {}).get("file") or "") if isinstance(item, dict) else ""
            if path and not (_inside(path, checkout)
                             and _inside(resolve(path), resolve(checkout))):
                out.append(Refusal("", f"{kind}.{name}", f"file {path}", Access.HOST_FILES))
    out += _key_refusals(config)
    if app:
        out += name_refusals(config, app, edge, image_project)
    return [r for r in out if r.access not in allowed]


def _volume_refusals(name: str, volume: dict[str, Any], checkout: str,
                     resolve: Callable[[str], str]) -> list[Refusal]:
    """A volume is Docker's own (the local driver), or a bind of a directory inside the
    checkout, or a tmpfs: any other driver or mount option is the daemon (root) mounting
    what the pusher says, e.g. `{type: overlay, o: "lowerdir=/home"}`."""
    where = f"volumes.{name}"
    driver = str(volume.get("driver") or "local")
    if driver != "local":
        return [Refusal("", where, f"driver {driver}", Access.VOLUME_DRIVERS)]
    opts = {str(k): str(v) for k, v in (volume.get("driver_opts") or {}).items()}
    if not opts:
        return []
    device = opts.get("device", "")
    if device and device != "tmpfs" and not (device.startswith("/")
                                             and _inside_checkout(device, checkout, resolve)):
        return [Refusal("", where, f"driver_opts.device {device}", Access.HOST_MOUNTS)]
    flags = set(opts.get("o", "").split(","))
    if opts.get("type") == "tmpfs" and device == "tmpfs" and set(opts) <= {"type", "device",
                                                                           "o"}:
        return []
    if (opts.get("type") == "none" and set(opts) == {"type", "o", "device"}
            and flags & {"bind", "rbind"} and flags <= {"bind", "rbind", "ro", "rw"}):
        if "ro" in flags:
            return []
        return [Refusal("", where, f"driver_opts.device {device} (writable: add `ro` to "
                        "its `o`)", Access.WRITABLE_MOUNTS)]
    shown = ", ".join(f"{k}={v}" for k, v in sorted(opts.items()))
    return [Refusal("", where, f"driver_opts {shown}", Access.VOLUME_DRIVERS)]


_KEY_PREFIX = {"build": "build.", "deploy": "deploy.", "hook": "post_start/pre_stop.",
               "mount": "volumes.", "mount.bind": "volumes.bind.",
               "mount.volume": "volumes.volume.", "mount.tmpfs": "volumes.tmpfs."}
_SERVICE_LEVELS = {"service", *_KEY_PREFIX}


def _key_refusals(config: dict[str, Any]) -> list[Refusal]:
    """Keys the allow-list (compose_keys) does not know, and keys that need a token as
    soon as they are used."""
    out = []
    for where, key, level, rule in walk(config):
        if rule in (OK, CHECKED):
            continue
        if level in _SERVICE_LEVELS:
            service, shown = where, _KEY_PREFIX.get(level, "") + key
        else:
            service, shown = "", f"{where}.{key}" if where else key
        if rule is None:
            out.append(Refusal(service, shown, "(not reviewed by OtterStack)",
                               Access.UNREVIEWED_KEYS))
        else:
            out.append(Refusal(service, shown, "", Access(rule)))
    for name, svc in (config.get("services") or {}).items():
        for mount in (svc or {}).get("volumes") or [] if isinstance(svc, dict) else []:
            kind = str(mount.get("type") or "") if isinstance(mount, dict) else ""
            if isinstance(mount, dict) and kind not in MOUNT_TYPES:
                out.append(Refusal(str(name), "volumes.type", kind or "(none)",
                                   Access.UNREVIEWED_KEYS))
    return out


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
