"""doctor's `traefik metrics` check: whether the Traefik in use serves the metrics the watch
after a switch reads (`/metrics` beside its API), and the fix where that Traefik takes its
configuration from."""

import pytest

from otterstack_hooks.cli.doctor import traefik as doctor_traefik
from otterstack_hooks.cli.doctor.traefik import judge_metrics
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.rules.traefik.container import OURS_LABEL
from otterstack_hooks.rules.traefik.routing_plan import TraefikInfo

INFO = TraefikInfo("edge", "http://127.0.0.1:8080", "web", {"web": 80})
NONE = "Traefik serves no metrics at http://127.0.0.1:8080/metrics (HTTP 404: it runs without " \
       "--metrics.prometheus=true)"


@pytest.fixture
def no_metrics(monkeypatch):
    def page(api: str, timeout: float) -> str:
        raise OtterError(NONE)
    monkeypatch.setattr(doctor_traefik, "metrics_page", page)


def test_a_traefik_serving_metrics_passes(monkeypatch):
    monkeypatch.setattr(doctor_traefik, "metrics_page", lambda api, timeout: "# TYPE x counter")
    check = judge_metrics(INFO, {"Args": ["--metrics.prometheus=true"]}, lambda: None)
    assert check.ok and check.detail == ("container edge serves Prometheus metrics at "
                                         "http://127.0.0.1:8080/metrics: releases are watched "
                                         "after a switch")


def test_without_metrics_it_warns_with_the_flag(no_metrics):
    check = judge_metrics(INFO, {"Args": ["--providers.docker=true"]}, lambda: None)
    assert not check.ok and check.warning  # deploys go on, unwatched
    assert check.detail == (f"container edge serves no Prometheus metrics ({NONE}): releases "
                            "are not watched after a switch")
    assert check.fix.startswith("add --metrics.prometheus=true to its command and recreate "
                                "edge; they are served on its `traefik` entrypoint")


@pytest.mark.parametrize("attrs, config, fix", [
    ({"Args": [], "Config": {"Env": ["TRAEFIK_PROVIDERS_DOCKER=true"]}}, None,
     "set TRAEFIK_METRICS_PROMETHEUS=true in its environment and recreate edge"),
    ({"Args": ["--configFile=/etc/t.yml"]}, ("/etc/t.yml", "providers: {}\n"),
     "add `metrics:` with `prometheus: {}` under it to /etc/t.yml"),
    ({"Args": ["--providers.docker=true"], "Config": {"Labels": {OURS_LABEL: "1"}}}, None,
     "`docker rm -f edge` (`docker service rm` on a Swarm), then `otterstack traefik up`"),
])
def test_the_fix_is_where_that_traefik_is_configured(no_metrics, attrs, config, fix):
    assert judge_metrics(INFO, attrs, lambda: config).fix.startswith(fix)
