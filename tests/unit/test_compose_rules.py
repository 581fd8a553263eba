"""Compose files refused before anything starts: Traefik inside the app, Swarm-only labels."""

import pytest

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.rules.compose.model import parse_config, runs_traefik
from otterstack_hooks.rules.compose.refusals import check_compose_rules

ROUTED = {"traefik.enable": "true", "traefik.http.routers.web.rule": "Host(`a.test`)"}


def model(**services: dict) -> object:
    return parse_config({"services": services}, "app-r1")


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("traefik:v3.6.13", True),
        ("traefik", True),
        ("docker.io/library/traefik:v2.6", True),
        ("reg:5000/proxy/Traefik@sha256:abc", True),
        ("traefik/whoami", False),
        ("traefik/whoami:latest", False),
        ("ghcr.io/traefik-forward-auth:1", False),
        ("app-r1-web", False),
    ],
)
def test_runs_traefik(image: str, expected: bool) -> None:
    assert runs_traefik(image) is expected


def test_a_compose_file_with_traefik_itself_is_refused_with_the_way_out() -> None:
    compose = model(web={"image": "busybox", "labels": ROUTED},
                    proxy={"image": "traefik:v3.6", "labels": ROUTED})
    with pytest.raises(OtterError) as error:
        check_compose_rules(compose, "shop", use_deploy_labels=False)
    text = str(error.value)
    assert "service proxy runs Traefik itself" in text
    assert "otterstack traefik up" in text and "profiles: [proxy]" in text
    assert "otterstack config shop compose_file FILE" in text and "--compose-file" in text


def test_traefik_labels_only_under_deploy_labels_are_refused_unless_opted_in() -> None:
    compose = model(web={"image": "busybox", "deploy": {"labels": ROUTED}})
    with pytest.raises(OtterError) as error:
        check_compose_rules(compose, "shop", use_deploy_labels=False)
    text = str(error.value)
    assert "service web has Traefik labels under deploy.labels" in text
    assert "otterstack config shop use_deploy_labels on" in text
    check_compose_rules(compose, "shop", use_deploy_labels=True)
    used = compose.with_deploy_labels()
    assert [s.name for s in used.routed()] == ["web"]
    assert used.services["web"].labels == ROUTED


def test_deploy_labels_repeating_the_container_labels_are_fine() -> None:
    compose = model(web={"image": "busybox", "labels": ROUTED, "deploy": {"labels": ROUTED}},
                    db={"image": "postgres", "deploy": {"labels": {"com.example": "x"}}})
    check_compose_rules(compose, "shop", use_deploy_labels=False)


def test_container_labels_win_over_deploy_labels() -> None:
    compose = model(web={"image": "busybox",
                         "labels": {"traefik.http.routers.web.rule": "Host(`b.test`)"},
                         "deploy": {"labels": ["traefik.enable=true",
                                               "traefik.http.routers.web.rule=Host(`a.test`)"]}})
    labels = compose.with_deploy_labels().services["web"].labels
    assert labels == {"traefik.enable": "true",
                      "traefik.http.routers.web.rule": "Host(`b.test`)"}
