"""Traefik's provider throttle: the command line `otterstack traefik up` starts Traefik with,
and reading the throttle of a Traefik someone else started (pure parts)."""

import pytest

from otterstack_hooks.adapters.traefik.up import _already_there, command
from otterstack_hooks.cli.main import build_parser
from otterstack_hooks.rules.traefik.static_config import config_file_candidates
from otterstack_hooks.rules.traefik.throttle import (
    DEFAULT_THROTTLE,
    configured_throttle,
    throttle_seconds,
)


def test_up_starts_traefik_with_the_fast_throttle_by_default() -> None:
    args = command("edge")
    assert args == [
        "--providers.docker=true",
        "--providers.docker.exposedbydefault=false",
        "--providers.docker.network=edge",
        f"--providers.providersThrottleDuration={DEFAULT_THROTTLE}",
        "--serversTransport.forwardingTimeouts.idleConnTimeout=250ms",
        "--entrypoints.web.address=:80",
        "--api.insecure=true",
        "--metrics.prometheus=true",
        "--ping=true",
        "--log.level=INFO",
    ]
    found = configured_throttle(args, [], None)
    assert (found.seconds, found.source, found.where) == (throttle_seconds(DEFAULT_THROTTLE),
                                                          "flags", "command line")


def test_up_passes_the_throttle_and_constraints_it_is_given() -> None:
    args = command("edge", "LabelRegex(`com.docker.compose.project`, `t1-.+`)", "2s")
    assert "--providers.providersThrottleDuration=2s" in args
    assert args[-1] == "--providers.docker.constraints=LabelRegex(`com.docker.compose.project`,"\
        " `t1-.+`)"
    with pytest.raises(ValueError):
        command("edge", throttle="soon")


def test_the_cli_takes_a_throttle_and_refuses_what_traefik_would() -> None:
    parser = build_parser()
    assert parser.parse_args(["traefik", "up"]).throttle == DEFAULT_THROTTLE
    assert parser.parse_args(["traefik", "up", "--throttle", "500ms"]).throttle == "500ms"
    for bad in ("soon", "-1s", "2 s", "5m"):
        with pytest.raises(SystemExit):
            parser.parse_args(["traefik", "up", "--throttle", bad])


@pytest.mark.parametrize(("text", "seconds"), [("200ms", 0.2), ("60s", 60.0), ("1m", 60.0),
                                             ("2", 2.0), (0.25, 0.25)])
def test_a_throttle_is_a_duration_of_at_most_a_minute(text: str | float, seconds: float) -> None:
    assert throttle_seconds(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "s", "2x", "ms200", "2 s", "-1s", "61s", "1h", True, -1])
def test_what_is_not_a_duration_or_too_long_is_refused(text: object) -> None:
    with pytest.raises(ValueError):
        throttle_seconds(text)  # type: ignore[arg-type]


@pytest.mark.parametrize(("args", "env", "expected"), [
    # flags, in every form Traefik's parser takes
    (["--providers.docker=true", "--providers.providersThrottleDuration=500ms"], [], 0.5),
    (["traefik", "--providers.docker", "--providers.providersthrottleduration", "1s"], [], 1.0),
    (["-providers.providersThrottleDuration=100ms", "--api.insecure=true"], [], 0.1),
    (["--providers.providersThrottleDuration=1s", "--providers.providersThrottleDuration=3s"],
     [], 3.0),
    # flags without the throttle: Traefik's default, even if the environment sets it
    (["--providers.docker=true"], ["TRAEFIK_PROVIDERS_PROVIDERSTHROTTLEDURATION=100ms"], 2.0),
    # no flags: the environment
    ([], ["PATH=/bin", "TRAEFIK_PROVIDERS_PROVIDERSTHROTTLEDURATION=100ms"], 0.1),
    (["traefik"], ["TRAEFIK_PROVIDERS_DOCKER=true"], 2.0),
    ([], [], 2.0),
    # after the first argument that is not a flag, nothing is read
    (["serve", "--providers.providersThrottleDuration=100ms"], [], 2.0),
])
def test_the_throttle_of_a_users_traefik_from_its_container(
        args: list[str], env: list[str], expected: float) -> None:
    found = configured_throttle(args, env, None)
    assert found.seconds == pytest.approx(expected)
    assert found.is_default == (expected == 2.0)


def test_a_static_config_file_wins_over_flags() -> None:
    yml = ("entryPoints:\n  web:\n    address: ':80'\n"
           "providers:\n  providersThrottleDuration: 10ms\n")
    flags = ["--providers.providersThrottleDuration=5s"]
    found = configured_throttle(flags, [], ("/etc/traefik/traefik.yml", yml))
    assert found.seconds == pytest.approx(0.01)
    assert (found.source, found.path) == ("file", "/etc/traefik/traefik.yml")
    assert found.where == "static config file /etc/traefik/traefik.yml"
    toml = '[providers]\nprovidersThrottleDuration = "300ms"\n[providers.docker]\n'
    assert configured_throttle([], [], ("/etc/traefik/traefik.toml", toml)).seconds == \
        pytest.approx(0.3)
    assert configured_throttle([], [], ("/t.yaml", "providers:\n  ProvidersThrottleDuration: 1"
                                        )).seconds == 1.0
    found = configured_throttle(flags, [], ("/t.yaml", "providers:\n  docker: {}\n"))
    assert found.seconds == 2.0 and found.is_default and found.source == "file"


def test_a_setting_traefik_would_refuse_or_an_unreadable_file_is_unknown() -> None:
    assert configured_throttle(["--providers.providersThrottleDuration=soon"], [], None
                               ).seconds is None
    assert configured_throttle([], [], ("/t.yml", "providers: [unclosed")).seconds is None
    found = configured_throttle([], [], ("/etc/traefik/traefik.yml", None))
    assert found.seconds is None and "not readable" in found.where


def test_where_traefik_looks_for_its_static_config_file() -> None:
    assert config_file_candidates(["--configFile=/conf/t.yml"], [], "/") == ["/conf/t.yml"]
    assert config_file_candidates(["--configfile", "t.toml"], [], "/srv") == ["/srv/t.toml"]
    found = config_file_candidates([], ["HOME=/home/t"], "/")
    assert found[:3] == ["/etc/traefik/traefik.toml", "/etc/traefik/traefik.yaml",
                         "/etc/traefik/traefik.yml"]
    assert "/home/t/.config/traefik.yml" in found and "/traefik.toml" in found
    assert len(found) == len(set(found))


def test_up_can_put_the_api_on_one_address_only() -> None:
    args = command("edge", api_address="10.9.8.2:8080")
    assert args[-1] == "--entrypoints.traefik.address=10.9.8.2:8080"
    assert "--api.insecure=true" in args


def test_the_api_network_of_traefik_up_is_no_network_apps_share() -> None:
    from otterstack_hooks.rules.traefik.container import API_NETWORK_LABEL, user_networks
    attrs = {"Config": {"Labels": {API_NETWORK_LABEL: "0-t-api"}},
             "NetworkSettings": {"Networks": {"0-t-api": {}, "edge": {}, "bridge": {}}}}
    assert user_networks(attrs) == ["edge"]


class _Existing:
    """A Traefik container `up` finds already there (the docker SDK's Container, as read)."""

    def __init__(self, args: list[str]) -> None:
        self.status, self.ports = "running", {"80/tcp": [{"HostIp": "", "HostPort": "80"}]}
        self.attrs = {"Args": args, "Config": {"Env": []}}

    def reload(self) -> None:
        pass


def test_up_says_when_the_traefik_already_there_serves_no_metrics() -> None:
    old = [arg for arg in command("edge") if arg != "--metrics.prometheus=true"]
    message = _already_there(_Existing(old), "otterstack-traefik", DEFAULT_THROTTLE)
    assert message.endswith("it serves no Prometheus metrics (started by an older `traefik "
                            "up`), so releases cannot be watched after a switch: `docker rm -f "
                            "otterstack-traefik` and run this again")
    message = _already_there(_Existing(command("edge")), "otterstack-traefik", DEFAULT_THROTTLE)
    assert message == "Traefik otterstack-traefik is already running (80/tcp on 0.0.0.0:80)"
