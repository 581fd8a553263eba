"""Traefik's Prometheus text read as requests and 5xx per service, and a release's services."""

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otterstack_hooks.rules.traefik.labels import rewrite_project_labels
from otterstack_hooks.rules.traefik.metrics import (
    Counts,
    MetricsError,
    Series,
    increase,
    is_error,
    parse_scrape,
    release_services,
    service_counts,
    total,
)

DATA = Path(__file__).parent / "data" / "traefik_metrics"

HEAD = ("# HELP traefik_service_requests_total How many HTTP requests processed on a service, "
        "partitioned by status code, protocol, and method.\n"
        "# TYPE traefik_service_requests_total counter\n")


def line(service: str, code: str, value: str, method: str = "GET") -> str:
    return (f'traefik_service_requests_total{{code="{code}",method="{method}",'
            f'protocol="http",service="{service}"}} {value}\n')


def test_requests_and_5xx_are_summed_per_service():
    text = HEAD + "".join([
        line("web~shop-r7@docker", "200", "1200"), line("web~shop-r7@docker", "500", "4"),
        line("web~shop-r7@docker", "302", "6", "POST"), line("web~shop-r7@docker", "503", "1"),
        line("api~shop-r7@docker", "404", "9"), line("api~shop-r7@docker", "499", "2")])
    assert service_counts(parse_scrape(text)) == {"web~shop-r7@docker": Counts(1211, 5),
                                                  "api~shop-r7@docker": Counts(11, 0)}


def test_other_metrics_are_not_read():
    text = ("# TYPE traefik_service_request_duration_seconds histogram\n"
            'traefik_service_request_duration_seconds_bucket{code="500",method="GET",'
            'protocol="http",service="web~shop-r7@docker",le="0.1"} 7\n'
            'traefik_service_requests_bytes_total{code="500",method="GET",protocol="http",'
            'service="web~shop-r7@docker"} 700\n'
            'traefik_entrypoint_requests_total{code="500",entrypoint="web",method="GET",'
            'protocol="http"} 7\n')
    assert parse_scrape(text) == {}


def test_an_escaped_label_value_is_read_as_written():
    text = HEAD + ('traefik_service_requests_total{code="500",method="GET",protocol="http",'
                   'service="we\\"ird\\\\name@file"} 3\n')
    assert parse_scrape(text) == {Series('we"ird\\name@file', "500"): 3}


def test_floats_and_timestamps_are_counts():
    text = HEAD + ('traefik_service_requests_total{code="502",method="GET",protocol="http",'
                   'service="s@docker"} 1.2e3 1733598000000\n')
    assert parse_scrape(text) == {Series("s@docker", "502"): 1200}


@pytest.mark.parametrize("value", ["NaN", "-1", "2.5", "+Inf", "x"])
def test_what_is_not_a_count_is_an_error(value):
    with pytest.raises(MetricsError):
        parse_scrape(HEAD + line("s@docker", "200", value))


def test_a_sample_without_a_service_is_an_error():
    with pytest.raises(MetricsError):
        parse_scrape(HEAD + 'traefik_service_requests_total{code="200"} 1\n')


@pytest.mark.parametrize(("code", "error"), [
    ("500", True), ("502", True), ("599", True), ("499", False), ("404", False),
    ("200", False), ("5", False), ("5000", False), ("", False), ("5xx", False)])
def test_what_counts_as_an_error(code, error):
    assert is_error(code) is error


def counters(**by_service: tuple[int, int]) -> dict[Series, int]:
    """service=(non-5xx, 5xx) as Traefik's two counters of it."""
    return {key: value for service, (good, bad) in by_service.items()
            for key, value in ((Series(service, "200"), good), (Series(service, "500"), bad))}


def test_increase_between_two_scrapes():
    before = counters(a=(99, 1), b=(50, 0))
    after = counters(a=(147, 3), b=(8, 2), c=(0, 7))
    # a grew by 48 + 2; b's 200 counter was reset (Traefik restarted): its 8 are all new,
    # and its 500 counter grew by 2; c is not asked for
    assert increase(before, after, ["a", "b"]) == Counts(60, 4)
    # a service whose series went away answered nothing since
    assert increase(before, {}, ["a"]) == Counts()
    assert total(after, ["a", "c", "missing"]) == Counts(157, 10)


def test_a_reset_counter_is_judged_alone():
    """The 200 counter went away and came back small while the 500 one grew: taken together
    the service's requests did not grow, yet 5 more were answered 5xx."""
    assert increase(counters(a=(100, 0)), counters(a=(0, 5)), ["a"]) == Counts(5, 5)


series = st.dictionaries(st.builds(Series, st.sampled_from(["a", "b", "c"]),
                                   st.sampled_from(["200", "404", "500", "502"]),
                                   st.sampled_from(["GET", "POST"])),
                         st.integers(0, 10**6))


@given(series, series)
def test_an_increase_is_never_negative_nor_more_than_the_counters(before, after):
    found = increase(before, after, ["a", "b"])
    assert 0 <= found.errors <= found.requests
    assert found.requests <= total(after, ["a", "b"]).requests
    if all(after.get(key, 0) >= value for key, value in before.items()):
        # no counter was reset or dropped: what was added is the difference of the totals
        assert found == Counts(
            total(after, ["a", "b"]).requests - total(before, ["a", "b"]).requests,
            total(after, ["a", "b"]).errors - total(before, ["a", "b"]).errors)


def test_a_release_follows_the_services_it_defines():
    labels = {
        "web": {"traefik.http.routers.site~shop-r7.service": "w~shop-r7",
                "traefik.http.services.w~shop-r7.weighted.services[0].name": "web~shop-r7",
                "traefik.http.services.web~shop-r7.loadbalancer.server.port": "80",
                "traefik.http.routers.admin~shop-r7.service": "web~shop-r7@docker"},
        "api": {"traefik.http.routers.api~shop-r7.service": "api~shop-r7",
                "traefik.http.services.api~shop-r7.loadbalancer.server.port": "8000",
                "traefik.http.routers.dash~shop-r7.service": "api@internal",
                "traefik.http.routers.files~shop-r7.service": "files@file",
                "traefik.tcp.routers.db~shop-r7.service": "db~shop-r7",
                "traefik.tcp.services.db~shop-r7.loadbalancer.server.port": "5432"},
        "worker": {"com.example.role": "worker"},
    }
    assert release_services(labels, "docker") == {
        "w~shop-r7@docker", "web~shop-r7@docker", "api~shop-r7@docker"}
    assert release_services(labels, "swarm") == {
        "w~shop-r7@swarm", "web~shop-r7@swarm", "api~shop-r7@swarm"}
    assert release_services({"worker": {}}, "docker") == frozenset()


def test_the_services_of_a_real_routing_plan():
    """Labels as rules/traefik/labels.py rewrites them, the implicit service made explicit."""
    labels, _ = rewrite_project_labels(
        {"web": {"traefik.enable": "true",
                 "traefik.http.routers.site.rule": "Host(`shop.example.com`)"},
         "api": {"traefik.enable": "true",
                 "traefik.http.routers.api.rule": "Host(`api.example.com`)",
                 "traefik.http.services.api.loadbalancer.server.port": "8000"}},
        "shop-r7", 7)
    assert release_services(labels, "docker") == {"web~shop-r7@docker", "api~shop-r7@docker"}


def recorded(name: str) -> dict[Series, int]:
    return parse_scrape((DATA / name).read_text())


def test_a_whole_page_of_a_real_traefik():
    """Traefik 3.7.15's whole /metrics page (go_, process_, histograms, bytes): only the
    request counters are read."""
    assert recorded("1-r6-serving.prom") == {Series("web-shop-r6@file", "200"): 50}


def test_recorded_scrapes_of_a_release_answering_500_then_taken_out():
    first, failing = recorded("1-r6-serving.prom"), recorded("2-r7-failing.prom")
    assert service_counts(failing) == {"web-shop-r6@file": Counts(55, 0),
                                       "web-shop-r7@file": Counts(30, 30)}
    assert increase(first, failing, ["web-shop-r7@file"]) == Counts(30, 30)
    # out of the configuration, its series stays until Traefik's next change...
    removed = recorded("3-r7-removed.prom")
    assert service_counts(removed)["web-shop-r7@file"] == Counts(83, 83)
    # ...which drops it: it counted nothing since
    gateway = recorded("4-r8-bad-gateway.prom")
    assert "web-shop-r7@file" not in service_counts(gateway)
    assert increase(removed, gateway, ["web-shop-r7@file"]) == Counts()
    # Traefik's own 502 for a server nothing listens on is counted on the service
    assert service_counts(gateway)["web-shop-r8@file"] == Counts(5, 5)


def test_router_labels_do_not_change_the_service_counts():
    assert service_counts(recorded("routers-r8-bad-gateway.prom")) == {
        "web-shop-r6@file": Counts(55, 0), "web-shop-r8@file": Counts(5, 5)}
