"""Planning the proof of a switch (pure): which requests reach each router, and how."""

import pytest

from otterstack_hooks.rules.compose.model import parse_config
from otterstack_hooks.rules.traefik.labels import RouterInfo
from otterstack_hooks.rules.traefik.routing_plan import (
    Probe,
    TraefikInfo,
    explain_foreign,
    judge_answers,
    plan_probes,
    plan_routing,
)

USERS = TraefikInfo(
    container="proxy", api_url="http://127.0.0.1:9", network="edge",
    entrypoints={"web": 8080, "websecure": 8443, "traefik": 9000},
    tls_entrypoints=frozenset({"websecure"}), networks=("edge", "monitoring"),
)


def router(rule: str | None, entrypoints: tuple[str, ...] = (), tls: bool = False,
           protocol: str = "http") -> RouterInfo:
    return RouterInfo(protocol, "site", "site-app-r2", "web", rule, entrypoints, 1, tls)


def test_tls_on_the_entrypoint_alone_makes_the_probe_use_https_with_sni() -> None:
    probes, note = plan_probes(router("Host(`shop.example`)", ("websecure",)), USERS)
    assert note is None
    assert probes == [Probe("site-app-r2", "websecure", 8443, "shop.example", "/", True)]
    assert probes[0].url == "https://shop.example:8443/"


def test_a_router_without_entrypoints_is_probed_on_every_one_but_the_api() -> None:
    probes, _ = plan_probes(router("Host(`a.test`) && PathPrefix(`/api`)"), USERS)
    assert [(p.entrypoint, p.port, p.tls, p.path) for p in probes] == [
        ("web", 8080, False, "/api"), ("websecure", 8443, True, "/api")]


def test_a_tls_router_on_a_plain_entrypoint_uses_https() -> None:
    probes, _ = plan_probes(router("Host(`a.test`)", ("web",), tls=True), USERS)
    assert [p.tls for p in probes] == [True]


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        (router("HostRegexp(`.+`)"), "no Host() in its rule"),
        (router("Host(`a.test`)", ("metrics",)), "are not published on this host"),
        (router("HostSNI(`mq.test`)", protocol="tcp"), "tcp router, confirmed via the API only"),
        (router(None, protocol="udp"), "udp router, confirmed via the API only"),
    ],
)
def test_routers_no_request_can_reach_are_confirmed_through_the_api_and_said(
    info: RouterInfo, expected: str
) -> None:
    probes, note = plan_probes(info, USERS)
    assert probes == [] and note is not None and expected in note


def _probe(entrypoint: str = "web") -> Probe:
    return Probe("site-app-r2", entrypoint, 8080, "a.test", "/", False)


def test_judging_answers() -> None:
    ours = (_probe(), 200, "app-r2")
    redirect = (_probe("web"), 308, None)
    old = (_probe("websecure"), 200, "app-r1")
    assert judge_answers([ours], "app-r2")[0]
    assert judge_answers([redirect, ours], "app-r2")[0]  # a redirect to HTTPS proves nothing
    assert not judge_answers([redirect], "app-r2")[0]
    assert not judge_answers([ours, old], "app-r2")[0]  # another release still answers
    assert not judge_answers([(_probe(), 502, "app-r2")], "app-r2")[0]
    assert judge_answers([redirect, ours, old], "app-r2", "r2")[1] == (
        "http://a.test:8080/ answered 308 from no release; http://a.test:8080/ answered 200 "
        "from r2; http://a.test:8080/ answered 200 from app-r1")


def test_a_failed_proof_says_whose_making_it_is() -> None:
    assert "the release being replaced (app-r1)" in explain_foreign("app-r1", "app-r1")
    assert "another app" in explain_foreign("blog-r7", "app-r1")


def test_a_docker_network_label_traefik_is_not_on_is_pointed_at_its_network() -> None:
    labels = {"traefik.enable": "true", "traefik.http.routers.w.rule": "Host(`a.test`)"}
    model = parse_config({"services": {
        "web": {"image": "w", "labels": {**labels, "traefik.docker.network": "traefik-public"}},
        "api": {"image": "a", "labels": {**{k.replace(".w.", ".v."): v for k, v in labels.items()},
                                         "traefik.docker.network": "monitoring"}},
    }}, "app-r2")
    plan = plan_routing(model, "app-r2", 2, USERS)
    assert plan.labels["web"]["traefik.docker.network"] == "edge"
    assert plan.labels["api"]["traefik.docker.network"] == "monitoring"  # Traefik is on it
    assert any("traefik-public is not a network Traefik is on" in n for n in plan.notes)
