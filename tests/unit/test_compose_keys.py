"""The compose policy's allow-list of keys (rules/compose/keys.py) against the Compose specification
as the installed Compose knows it: its JSON schema, read out of the `docker compose` binary
(Compose embeds it to validate files). Every key of every level the schema defines is decided
by OtterStack; a key the schema gains in a later Compose is refused until someone decides;
every key that needs a token is refused without it."""

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from otterstack_hooks.rules.compose.access import Access
from otterstack_hooks.rules.compose.keys import LEVELS, walk
from otterstack_hooks.rules.compose.policy import refusals

CHECKOUT = "/data/apps/a/releases/r3"
PLUGIN_DIRS = ("/usr/local/lib/docker/cli-plugins", "/usr/libexec/docker/cli-plugins",
               "/usr/lib/docker/cli-plugins", os.path.expanduser("~/.docker/cli-plugins"))


def compose_binary() -> Path | None:
    for directory in PLUGIN_DIRS:
        path = Path(directory) / "docker-compose"
        if path.is_file():
            return path
    found = shutil.which("docker-compose")
    return Path(found) if found else None


def embedded_schema(binary: Path) -> dict[str, Any]:
    """The Compose specification's schema as the binary embeds it: the JSON object whose
    `$id` is compose_spec.json."""
    data = binary.read_bytes()
    marker = data.find(b'"$id": "compose_spec.json"')
    assert marker > 0, f"{binary} embeds no compose_spec.json"
    start = data.rfind(b"{", 0, marker)
    schema, _ = json.JSONDecoder().raw_decode(data[start:].decode("utf-8", "replace"))
    return schema


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    binary = compose_binary()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("no docker compose binary: scripts/setup-docker.sh installs it")
        pytest.skip("no docker compose binary here (scripts/setup-docker.sh installs it)")
    return embedded_schema(binary)


def levels_of(schema: dict[str, Any]) -> dict[str, set[str]]:
    """The keys of each level OtterStack decides, as the schema defines them."""
    d = schema["definitions"]
    service = d["service"]["properties"]
    mount = service["volumes"]["items"]["oneOf"][1]["properties"]
    return {
        "top": set(schema["properties"]),
        "service": set(service),
        "build": set(service["build"]["oneOf"][1]["properties"]),
        "deploy": set(d["deployment"]["properties"]),
        "volume": set(d["volume"]["properties"]),
        "network": set(d["network"]["properties"]),
        "secret": set(d["secret"]["properties"]),
        "config": set(d["config"]["properties"]),
        "hook": set(d["service_hook"]["properties"]),
        "include": set(d["include"]["oneOf"][1]["properties"]),
        "mount": set(mount),
        "mount.bind": set(mount["bind"]["properties"]),
        "mount.volume": set(mount["volume"]["properties"]),
        "mount.tmpfs": set(mount["tmpfs"]["properties"]),
    }


def test_every_key_of_the_installed_composes_schema_is_decided(schema):
    undecided = {level: sorted(keys - set(LEVELS[level]))
                 for level, keys in levels_of(schema).items()}
    assert not any(undecided.values()), (
        f"keys Compose knows and OtterStack has not decided about: {undecided}; add each to "
        "rules/compose/keys.py as OK, CHECKED or the token it needs, and say why")


def config_with(level: str, key: str, value: Any = "x") -> dict[str, Any]:
    """A config that uses `key` at `level`, in the shape of Compose's effective config."""
    web: dict[str, Any] = {"image": "busybox"}
    config: dict[str, Any] = {"services": {"web": web}}
    if level == "top":
        config[key] = value
    elif level == "service":
        web[key] = value
    elif level == "build":
        web["build"] = {"context": CHECKOUT, key: value}
    elif level == "deploy":
        web["deploy"] = {key: value}
    elif level == "hook":
        web["post_start"] = [{"command": "true", key: value}]
    elif level.startswith("mount"):
        mount: dict[str, Any] = {"type": "tmpfs", "target": "/t"}
        if level == "mount":
            mount[key] = value
        else:
            mount[level.split(".")[1]] = {key: value}
        web["volumes"] = [mount]
    elif level == "include":
        config["include"] = [{key: value}]
    else:
        config[f"{level}s"] = {"x": {key: value}}
    return config


def test_a_key_a_later_compose_adds_is_refused_until_decided():
    for level in ("top", "service", "build", "deploy", "volume", "network", "hook", "mount"):
        found = refusals(config_with(level, "provider"), CHECKOUT)
        assert [r.access for r in found] == [Access.UNREVIEWED_KEYS], (level, found)
        assert "provider" in found[0].key
    found = refusals(config_with("service", "use_api_socket", True), CHECKOUT)
    assert "use_api_socket" in found[0].message("evil")
    assert "otterstack config evil allow unreviewed-keys" in found[0].message("evil")


def test_x_extensions_do_nothing_and_pass():
    assert refusals(config_with("service", "x-notes", {"a": 1}), CHECKOUT) == []


@pytest.mark.parametrize(("level", "key"), [
    (level, key) for level, table in LEVELS.items() for key, rule in table.items()
    if isinstance(rule, Access)])
def test_every_key_that_needs_a_token_is_refused_without_it_and_passes_with_it(level, key):
    config = config_with(level, key)
    rule = LEVELS[level][key]
    assert rule in {r.access for r in refusals(config, CHECKOUT)}
    assert rule not in {r.access for r in refusals(config, CHECKOUT, frozenset(Access))}


def test_the_walk_sees_every_level():
    levels = {level for _, _, level, _ in walk({
        "services": {"w": {"build": {"context": "."}, "deploy": {"replicas": 1},
                           "post_start": [{"command": "true"}],
                           "volumes": [{"type": "bind", "bind": {"selinux": "z"},
                                        "volume": {"nocopy": True}, "tmpfs": {"size": 1}}]}},
        "volumes": {"v": {"name": "a_v"}}, "networks": {"n": {"name": "a_n"}},
        "secrets": {"s": {"file": "s"}}, "configs": {"c": {"file": "c"}},
        "include": [{"path": "a.yaml"}]})}
    assert levels == set(LEVELS)
