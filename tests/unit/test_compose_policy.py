"""The compose policy: every way to host access found in compose's effective config is refused
with the service, the compose key and the token an admin allows it with; nothing else is."""

import posixpath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.rules.compose.access import Access, parse_allow, render_allow
from otterstack_hooks.rules.compose.policy import (
    SAFE_CAPABILITIES,
    explain,
    refusals,
    uses,
    with_raw_env_files,
)

CHECKOUT = "/data/apps/a/releases/r3"


def bind(source: str, target: str = "/mnt", read_only: bool = True) -> dict:
    return {"type": "bind", "source": source, "target": target, "read_only": read_only}


def svc(**keys) -> dict:
    return {"services": {"web": {"image": "busybox", **keys}}}


CASES = [
    (svc(privileged=True), Access.PRIVILEGED, "privileged"),
    (svc(cap_add=["SYS_ADMIN"]), Access.CAPABILITIES, "cap_add"),
    (svc(cap_add=["cap_net_admin", "CHOWN"]), Access.CAPABILITIES, "cap_add"),
    (svc(cap_add=["ALL"]), Access.CAPABILITIES, "cap_add"),
    (svc(devices=[{"source": "/dev/sda", "target": "/dev/sda"}]), Access.DEVICES, "devices"),
    (svc(device_cgroup_rules=["a *:* rwm"]), Access.DEVICES, "device_cgroup_rules"),
    (svc(network_mode="host"), Access.HOST_NETWORK, "network_mode"),
    (svc(pid="host"), Access.HOST_PID, "pid"),
    (svc(ipc="host"), Access.HOST_IPC, "ipc"),
    (svc(userns_mode="host"), Access.HOST_USERNS, "userns_mode"),
    (svc(cgroup="host"), Access.HOST_CGROUP, "cgroup"),
    (svc(network_mode="container:otherapp-r1-web-1"), Access.OTHER_CONTAINERS, "network_mode"),
    (svc(pid="container:x"), Access.OTHER_CONTAINERS, "pid"),
    (svc(volumes_from=["container:db"]), Access.OTHER_CONTAINERS, "volumes_from"),
    (svc(security_opt=["apparmor=unconfined"]), Access.UNCONFINED, "security_opt"),
    (svc(security_opt=["seccomp:unconfined"]), Access.UNCONFINED, "security_opt"),
    (svc(security_opt=["label:disable"]), Access.UNCONFINED, "security_opt"),
    (svc(security_opt=["systempaths=unconfined"]), Access.UNCONFINED, "security_opt"),
    # a profile of the pusher's own (an allow-all one, in the commit)
    (svc(security_opt=["seccomp=./allow.json"]), Access.UNCONFINED, "security_opt"),
    (svc(volumes=[bind("/var/run/docker.sock")]), Access.DOCKER_SOCKET, "volumes"),
    (svc(volumes=[bind("/run/docker.sock")]), Access.DOCKER_SOCKET, "volumes"),
    (svc(volumes=[bind("/srv/x/docker.sock")]), Access.DOCKER_SOCKET, "volumes"),
    (svc(volumes=[bind("/", "/host")]), Access.HOST_MOUNTS, "volumes"),
    (svc(volumes=[bind("/var/run")]), Access.HOST_MOUNTS, "volumes"),
    (svc(volumes=[bind("/data/apps/a/releases/r2/x")]), Access.HOST_MOUNTS, "volumes"),
    (svc(volumes=[bind("/data/apps/a/releases/r3x")]), Access.HOST_MOUNTS, "volumes"),
    (svc(volumes=[bind(CHECKOUT + "/../../env")]), Access.HOST_MOUNTS, "volumes"),
    (svc(volumes=[bind(CHECKOUT + "/data", read_only=False)]), Access.WRITABLE_MOUNTS,
     "volumes"),
    (svc(volumes=[bind(CHECKOUT, "/src", read_only=False)]), Access.WRITABLE_MOUNTS,
     "volumes"),
    ({"services": {}, "volumes": {"v": {"driver_opts": {"type": "none", "o": "bind",
                                                        "device": CHECKOUT + "/d"}}}},
     Access.WRITABLE_MOUNTS, "volumes.v"),
    (svc(env_file=[{"path": "/data/apps/b/env", "required": True}]), Access.HOST_FILES,
     "env_file"),
    (svc(env_file=["${HOME}/x"]), Access.HOST_FILES, "env_file"),
    (svc(build={"context": "/etc"}), Access.HOST_FILES, "build.context"),
    (svc(build={"context": CHECKOUT, "additional_contexts": {"h": "/"}}), Access.HOST_FILES,
     "build.additional_contexts.h"),
    ({"services": {}, "volumes": {"v": {"external": True}}}, Access.EXTERNAL_VOLUMES,
     "volumes.v"),
    ({"services": {}, "volumes": {"v": {"driver_opts": {"type": "none", "o": "bind",
                                                        "device": "/etc"}}}},
     Access.HOST_MOUNTS, "volumes.v"),
    ({"services": {}, "secrets": {"s": {"file": "/etc/shadow"}}}, Access.HOST_FILES,
     "secrets.s"),
    ({"services": {}, "configs": {"c": {"file": "/root/.ssh/id_rsa"}}}, Access.HOST_FILES,
     "configs.c"),
]


@pytest.mark.parametrize(("config", "access", "key"), CASES)
def test_each_way_to_the_host_is_refused_and_named(config, access, key):
    found = refusals(config, CHECKOUT)
    assert [(r.access, r.key) for r in found] == [(access, key)]
    message = found[0].message("a")
    assert key in message and f"otterstack config a allow {access.value}" in message
    if found[0].service:
        assert "service 'web'" in message
    assert refusals(config, CHECKOUT, frozenset({access})) == []


def test_an_ordinary_app_is_not_refused():
    config = svc(
        cap_add=["NET_BIND_SERVICE", "CAP_CHOWN"], cap_drop=["ALL"],
        volumes=[bind(CHECKOUT + "/db.sh"), bind(CHECKOUT),
                 {"type": "volume", "source": "data", "target": "/data"},
                 {"type": "tmpfs", "target": "/tmp"}],
        env_file=[{"path": CHECKOUT + "/.env"}], build={"context": CHECKOUT},
        security_opt=["no-new-privileges:true"], network_mode="bridge", pid="", ipc="private",
        volumes_from=["db"],
    )
    config["volumes"] = {"data": {"name": "a_data"}}
    config["secrets"] = {"s": {"file": CHECKOUT + "/secret.txt"}, "e": {"environment": "X"}}
    assert refusals(config, CHECKOUT) == []


def test_a_link_in_the_checkout_to_the_host_is_followed():
    config = svc(volumes=[bind(CHECKOUT + "/host", "/h")])
    links = {CHECKOUT + "/host": "/"}
    found = refusals(config, CHECKOUT, resolve=lambda p: links.get(p, p))
    assert [r.access for r in found] == [Access.HOST_MOUNTS]
    links = {CHECKOUT + "/sock": "/var/run/docker.sock"}
    config = svc(volumes=[bind(CHECKOUT + "/sock")])
    found = refusals(config, CHECKOUT, resolve=lambda p: links.get(p, p))
    assert [r.access for r in found] == [Access.DOCKER_SOCKET]


def test_the_issue_examples_each_name_service_key_and_fix():
    config = {"services": {
        "web": {"privileged": True},
        "agent": {"volumes": [bind("/var/run/docker.sock", "/var/run/docker.sock")]},
        "backup": {"volumes": [bind("/", "/host")]},
    }}
    found = refusals(config, CHECKOUT)
    assert [(r.service, r.access) for r in found] == [
        ("web", Access.PRIVILEGED), ("agent", Access.DOCKER_SOCKET),
        ("backup", Access.HOST_MOUNTS)]
    text = explain("a", found, frozenset({Access.DEVICES}))
    assert "`otterstack config a allow devices,docker-socket,host-mounts,privileged`" in text
    assert "service 'backup': volumes /:/host" in text


def test_allow_tokens_parse_render_and_name_the_known_ones():
    assert parse_allow(" privileged, docker-socket,,") == {Access.PRIVILEGED,
                                                          Access.DOCKER_SOCKET}
    assert parse_allow("") == frozenset()
    assert render_allow(parse_allow("host-pid,privileged")) == "host-pid,privileged"
    with pytest.raises(OtterError, match="unknown compose policy token 'root'.*privileged"):
        parse_allow("root")


def test_env_files_come_from_the_uninterpolated_config():
    config = svc(environment={"A": "1"})
    raw = {"services": {"web": {"env_file": [{"path": "/etc/x", "required": True}]}}}
    merged = with_raw_env_files(config, raw)
    assert [r.access for r in refusals(merged, CHECKOUT)] == [Access.HOST_FILES]
    assert "env_file" not in config["services"]["web"]  # the input is not changed


# properties
SEGMENT = st.text(st.sampled_from("abcxyz.-_"), min_size=1, max_size=6).filter(
    lambda s: s not in (".", ".."))
PATHS = st.lists(st.one_of(SEGMENT, st.just("..")), min_size=0, max_size=5).map(
    lambda parts: "/" + "/".join(parts))
ACCESS_SETS = st.frozensets(st.sampled_from(list(Access)))


@given(PATHS)
def test_a_bind_mount_is_allowed_exactly_when_it_stays_in_the_checkout(source):
    found = refusals(svc(volumes=[bind(source)]), CHECKOUT)
    normal = posixpath.normpath(source)
    inside = normal == CHECKOUT or normal.startswith(CHECKOUT + "/")
    assert (found == []) == (inside and posixpath.basename(normal) != "docker.sock")


@given(st.lists(st.sampled_from(sorted(SAFE_CAPABILITIES) + ["SYS_ADMIN", "NET_ADMIN",
                                                              "SYS_PTRACE", "ALL"])))
def test_capabilities_beyond_the_default_set_are_refused(caps):
    found = refusals(svc(cap_add=caps), CHECKOUT)
    assert bool(found) == bool(set(caps) - SAFE_CAPABILITIES)


@given(st.lists(st.sampled_from(CASES), max_size=6), ACCESS_SETS)
def test_allowing_removes_exactly_the_allowed_refusals(picked, allowed):
    config: dict = {"services": {}, "volumes": {}, "secrets": {}, "configs": {}}
    for number, (case, _, _) in enumerate(picked):
        for name, service in case.get("services", {}).items():
            config["services"][f"{name}{number}"] = service
        for kind in ("volumes", "secrets", "configs"):
            for name, item in case.get(kind, {}).items():
                config[kind][f"{name}{number}"] = item
    everything = refusals(config, CHECKOUT)
    assert uses(config, CHECKOUT) == {r.access for r in everything}
    assert refusals(config, CHECKOUT, allowed) == [r for r in everything
                                                   if r.access not in allowed]
    assert refusals(config, CHECKOUT, uses(config, CHECKOUT)) == []


def test_a_volume_device_through_a_committed_link_is_a_host_mount() -> None:
    """`hostroot -> /` in the commit, `driver_opts.device: <checkout>/hostroot`: mount(2)
    follows the link, so it is the host's root."""
    config = {"services": {"web": {"image": "w", "volumes": [
        {"type": "volume", "source": "data", "target": "/data"}]}},
        "volumes": {"data": {"driver": "local", "driver_opts": {
            "type": "none", "o": "bind", "device": f"{CHECKOUT}/hostroot"}}}}

    def resolve(path: str) -> str:
        return "/" if path == f"{CHECKOUT}/hostroot" else path

    found = refusals(config, CHECKOUT, frozenset(), resolve)
    assert [r.access for r in found] == [Access.HOST_MOUNTS]
    relative = {**config, "volumes": {"data": {"driver_opts": {"device": "etc"}}}}
    assert [r.access for r in refusals(relative, CHECKOUT, frozenset(), resolve)] == [
        Access.HOST_MOUNTS]
