"""The compose policy's allow-list of keys: every key a compose file may use, level by level,
with what OtterStack decided about it. A key that is not listed is refused.

Compose keeps adding ways to the host (`provider:` runs a program, `use_api_socket:` mounts
the Docker socket, hooks run `privileged`, build options reach the host's network or SSH
keys). A deny-list lets each new one through until someone notices; here a key nobody has
decided about is refused, with the service, the key and the token that allows it. The keys
that exist are those of the Compose specification's JSON schema; a unit test walks the
schema of the Compose this project installs and proves each is decided here.

Decisions: OK (no host access, whatever its value), CHECKED (its value is checked by
rules/compose/policy.py: a bind mount, a name, a network mode), or an Access token the admin must
allow (`otterstack config APP allow TOKEN`) before the key may be used at all.
"""

from collections.abc import Iterator, Mapping
from enum import StrEnum
from typing import Any

from otterstack_hooks.rules.compose.access import Access


class Decision(StrEnum):
    OK = "ok"  # no host access, whatever the value
    CHECKED = "checked"  # compose_policy checks the value


OK, CHECKED = Decision.OK, Decision.CHECKED
Rule = Decision | Access

TOP: dict[str, Rule] = {
    "version": OK, "name": OK,  # the project name: OtterStack's `-p` wins
    "include": CHECKED,  # raw_checks: paths inside the checkout, no remote includes
    "services": CHECKED, "networks": CHECKED, "volumes": CHECKED, "secrets": CHECKED,
    "configs": CHECKED,
}
SERVICE: dict[str, Rule] = {
    **dict.fromkeys((
        "annotations", "attach", "blkio_config", "cap_drop", "command", "container_name",
        "cpu_count", "cpu_percent", "cpu_period", "cpu_quota", "cpu_rt_period",
        "cpu_rt_runtime", "cpu_shares", "cpus", "cpuset", "depends_on", "dns", "dns_opt",
        "dns_search", "domainname", "entrypoint", "environment", "expose", "extra_hosts",
        "group_add", "healthcheck", "hostname", "init", "isolation", "labels", "links",
        "mac_address", "mem_limit", "mem_reservation", "mem_swappiness", "memswap_limit",
        "oom_kill_disable", "oom_score_adj", "pids_limit", "platform", "ports", "profiles",
        "pull_policy", "read_only", "restart", "scale", "shm_size", "stdin_open",
        "stop_grace_period", "stop_signal", "storage_opt", "sysctls", "tmpfs", "tty",
        "ulimits", "user", "working_dir",
        # used only by `compose watch`, which OtterStack never runs
        "develop",
    ), OK),
    **dict.fromkeys((
        "build", "cap_add", "cgroup", "configs", "deploy", "device_cgroup_rules", "devices",
        "env_file", "image",
        "ipc", "label_file", "logging", "network_mode", "networks", "pid", "post_start",
        "pre_stop", "privileged", "secrets", "security_opt", "userns_mode", "uts", "volumes",
        "volumes_from", "runtime",
    ), CHECKED),
    "cgroup_parent": Access.HOST_CGROUP,  # a place in the host's cgroup tree
    "credential_spec": Access.HOST_FILES,  # Windows: reads a file or registry of the host
    "external_links": Access.OTHER_CONTAINERS,  # containers outside the project, by name
    "gpus": Access.DEVICES,
    "extends": CHECKED,  # raw_checks: a file inside the checkout
}
BUILD: dict[str, Rule] = {
    **dict.fromkeys(("args", "dockerfile_inline", "extra_hosts", "isolation", "labels",
                     "no_cache", "platforms", "pull", "shm_size", "target", "ulimits"), OK),
    **dict.fromkeys(("context", "additional_contexts", "dockerfile", "network", "secrets",
                     "tags", "cache_from"), CHECKED),
    "cache_to": Access.HOST_FILES,  # type=local,dest=... writes a host directory
    "entitlements": Access.PRIVILEGED,  # network.host, security.insecure
    "privileged": Access.PRIVILEGED,
    "ssh": Access.BUILD_SSH,  # the OtterStack user's SSH agent or keys, inside the build
}
DEPLOY: dict[str, Rule] = {
    **dict.fromkeys(("endpoint_mode", "labels", "mode", "placement", "replicas",
                     "restart_policy", "rollback_config", "update_config"), OK),
    "resources": CHECKED,  # reservations.devices: GPUs and other devices
}
VOLUME: dict[str, Rule] = {"labels": OK, **dict.fromkeys(
    ("driver", "driver_opts", "external", "name"), CHECKED)}
NETWORK: dict[str, Rule] = {
    **dict.fromkeys(("attachable", "enable_ipv4", "enable_ipv6", "internal", "ipam",
                     "labels"), OK),
    **dict.fromkeys(("driver", "external", "name"), CHECKED),
    "driver_opts": Access.HOST_NETWORK,  # e.g. com.docker.network.bridge.name: docker0
}
SECRET: dict[str, Rule] = {
    **dict.fromkeys(("environment", "labels"), OK),
    **dict.fromkeys(("external", "file", "name"), CHECKED),
    **dict.fromkeys(("driver", "driver_opts", "template_driver"), Access.SWARM_DRIVERS),
}
CONFIG: dict[str, Rule] = {
    **dict.fromkeys(("content", "environment", "labels"), OK),
    **dict.fromkeys(("external", "file", "name"), CHECKED),
    "template_driver": Access.SWARM_DRIVERS,
}
HOOK: dict[str, Rule] = {**dict.fromkeys(("command", "user", "working_dir", "environment"),
                                         OK), "privileged": CHECKED}
INCLUDE: dict[str, Rule] = dict.fromkeys(("path", "env_file", "project_directory"), CHECKED)
MOUNT: dict[str, Rule] = {  # one entry of a service's `volumes:`, long syntax
    **dict.fromkeys(("type", "source", "target", "read_only", "consistency", "volume",
                     "tmpfs"), CHECKED),
    "bind": CHECKED,
}
MOUNT_BIND: dict[str, Rule] = dict.fromkeys(("create_host_path", "selinux", "recursive"), OK)
MOUNT_BIND["propagation"] = Access.HOST_MOUNTS  # mounts cross between container and host
MOUNT_VOLUME: dict[str, Rule] = dict.fromkeys(("nocopy", "subpath"), OK)
MOUNT_TMPFS: dict[str, Rule] = dict.fromkeys(("size", "mode"), OK)
MOUNT_TYPES = frozenset({"bind", "volume", "tmpfs"})  # npipe, cluster, image: not decided

LEVELS: dict[str, dict[str, Rule]] = {
    "top": TOP, "service": SERVICE, "build": BUILD, "deploy": DEPLOY, "volume": VOLUME,
    "network": NETWORK, "secret": SECRET, "config": CONFIG, "hook": HOOK,
    "include": INCLUDE, "mount": MOUNT, "mount.bind": MOUNT_BIND,
    "mount.volume": MOUNT_VOLUME, "mount.tmpfs": MOUNT_TMPFS,
}


def _keys(where: str, level: str, value: Any) -> Iterator[tuple[str, str, str, Rule | None]]:
    """(where, key, level, rule) for each key of a mapping at `level`; rule None: unknown.
    `x-` extensions do nothing and pass."""
    if not isinstance(value, Mapping):
        return
    table = LEVELS[level]
    for key in value:
        key = str(key)
        if not key.startswith("x-"):
            yield where, key, level, table.get(key)


def walk(config: Mapping[str, Any]) -> Iterator[tuple[str, str, str, Rule | None]]:
    """Every key of a compose config (effective or raw), with its level and rule: where is
    the service name, or `volumes.NAME`-style for top-level entries, or "" for the top."""
    yield from _keys("", "top", config)
    for name, svc in (config.get("services") or {}).items():
        if not isinstance(svc, Mapping):
            continue
        yield from _keys(str(name), "service", svc)
        if isinstance(svc.get("build"), Mapping):
            yield from _keys(str(name), "build", svc["build"])
        yield from _keys(str(name), "deploy", svc.get("deploy"))
        for hook in ("post_start", "pre_stop"):
            for item in svc.get(hook) or []:
                yield from _keys(str(name), "hook", item)
        for mount in svc.get("volumes") or []:
            yield from _keys(str(name), "mount", mount)
            if isinstance(mount, Mapping):
                for sub in ("bind", "volume", "tmpfs"):
                    yield from _keys(str(name), f"mount.{sub}", mount.get(sub))
    for kind, level in (("volumes", "volume"), ("networks", "network"),
                        ("secrets", "secret"), ("configs", "config")):
        for name, item in (config.get(kind) or {}).items():
            yield from _keys(f"{kind}.{name}", level, item)
    for item in config.get("include") or []:
        yield from _keys("include", "include", item)
