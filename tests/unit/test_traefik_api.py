"""Reading a user's Traefik (pure parts): where its API is, whether an answer is Traefik's,
and what it logged about a router."""

import pytest

from otterstack_hooks.rules.traefik.api_answers import is_traefik_version
from otterstack_hooks.rules.traefik.container import api_port_candidates
from otterstack_hooks.rules.traefik.log_reason import log_reason


def test_the_configured_api_port_is_asked_first_then_the_rest_in_numeric_order() -> None:
    published = ["9000/tcp", "10000/tcp", "8080/tcp", "443/udp", "80/tcp"]
    assert api_port_candidates([], published) == ["8080/tcp", "80/tcp", "9000/tcp", "10000/tcp"]
    args = ["--api.insecure=true", "--entryPoints.traefik.address=:9000"]
    assert api_port_candidates(args, published)[0] == "9000/tcp"


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"Version": "3.7.15", "Codename": "langres", "startDate": "2026-11-29T14:25:14Z"}, True),
        ({"Version": "1.2.3"}, False),  # an app's own /api/version
        ({"Version": "", "Codename": "x", "startDate": "y"}, False),
        (["Version"], False),
        ("Version", False),
    ],
)
def test_only_traefiks_own_version_answer_counts(answer: object, expected: bool) -> None:
    assert is_traefik_version(answer) is expected


CONSOLE = (
    "\x1b[90m2026-11-29T14:30:05Z\x1b[0m \x1b[31mERR\x1b[0m \x1b[1mHTTP router defined multiple "
    "times with different configurations\x1b[0m \x1b[36mconfiguration=\x1b[0m[\"a\",\"b\"] "
    "\x1b[36mproviderName=\x1b[0mdocker \x1b[36mrouterName=\x1b[0mdup-app-r1"
)
JSON = ('{"level":"error","providerName":"docker","routerName":"web-app-r2@docker",'
        '"time":"2026-11-29T14:30:05Z","message":"middleware \\"x@docker\\" does not exist"}')


def test_traefiks_own_reason_for_a_router_is_found_in_its_log() -> None:
    assert log_reason([CONSOLE], "dup-app-r1") == (
        "HTTP router defined multiple times with different configurations")
    assert log_reason([CONSOLE], "dup-app-r10") is None  # not a prefix match
    assert log_reason([CONSOLE], "other") is None
    assert log_reason([JSON], "web-app-r2") == 'middleware "x@docker" does not exist'
    assert log_reason([JSON.replace("error", "warn", 1)], "web-app-r2") is None
