"""Finding Traefik and reading its API (adapters/traefik/discovery.py, api_client.py) against
a fake Engine and a fake Traefik API on loopback: no Docker, the real HTTP client."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import docker.errors
import pytest

from otterstack_hooks.adapters.traefik import api_client, discovery
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.rules.traefik.api_answers import release_routers_of
from otterstack_hooks.usecases.prepare import incumbents_of

VERSION = {"Version": "3.7.15", "Codename": "langres", "startDate": "2026-11-29T14:25:14Z"}


class FakeTraefik(BaseHTTPRequestHandler):
    """Answers GET path -> JSON from the server's `answers`; 404 for anything else."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        answers: dict[str, Any] = self.server.answers  # type: ignore[attr-defined]
        path = self.path.split("?", 1)[0]
        if path not in answers:
            self.send_error(404)
            return
        body = json.dumps(answers[path]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def api() -> Iterator[SimpleNamespace]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeTraefik)
    server.answers = {  # type: ignore[attr-defined]
        "/api/version": VERSION,
        "/api/entrypoints": [{"name": "web", "address": ":80"},
                             {"name": "websecure", "address": ":443", "http": {"tls": {}}},
                             {"name": "traefik", "address": ":8080"}],
        "/api/overview": {"providers": ["Docker"]},
    }
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield SimpleNamespace(port=server.server_address[1], url=f"http://127.0.0.1:"
                          f"{server.server_address[1]}", answers=server.answers)  # type: ignore
    server.shutdown()
    server.server_close()


def engine(api_port: int, status: str = "running") -> SimpleNamespace:
    """An Engine with one Traefik container: its API's port 8080 published on `api_port`."""
    item = {"Id": "t1", "Names": ["/edge"], "Image": "traefik:v3.1", "Labels": {}}
    attrs = {"Id": "t1", "Name": "/edge", "State": {"Status": status},
             "Args": ["--api.insecure=true", "--providers.docker.network=apps"],
             "Config": {"Image": "traefik:v3.1", "Env": [], "Labels": {}},
             "NetworkSettings": {
                 "Ports": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(api_port)}],
                           "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8000"}]},
                 "Networks": {"apps": {}, "bridge": {}, "other": {}}}}

    def containers(filters: dict[str, str] | None = None, all: bool = False) -> list:
        return [item] if all or status == "running" else []

    def get_archive(container: str, path: str) -> None:
        raise docker.errors.NotFound("no such file")

    return SimpleNamespace(api=SimpleNamespace(
        containers=containers, inspect_container=lambda cid: attrs, get_archive=get_archive))


def test_detect_finds_traefik_its_api_entrypoints_and_network(api: SimpleNamespace) -> None:
    info = discovery.detect(engine(api.port), "", "", "")  # type: ignore[arg-type]
    assert info is not None
    assert (info.container, info.api_url, info.network) == ("edge", api.url, "apps")
    assert info.entrypoints == {"web": 8000, "traefik": api.port}
    assert info.tls_entrypoints == frozenset({"websecure"})
    assert info.networks == ("apps", "other") and info.image == "traefik:v3.1"
    assert info.rule_syntax.syntax == "v3"


def test_detect_refuses_a_stopped_traefik_an_api_it_cannot_reach_and_a_missing_provider(
        api: SimpleNamespace) -> None:
    with pytest.raises(OtterError, match="Traefik container edge is not running"):
        discovery.detect(engine(api.port, "exited"), "", "", "")  # type: ignore[arg-type]
    del api.answers["/api/version"]
    with pytest.raises(OtterError, match="runs but its API is not reachable from this host"):
        discovery.detect(engine(api.port), "", "", "")  # type: ignore[arg-type]
    api.answers["/api/version"] = VERSION
    with pytest.raises(OtterError, match="has no swarm provider"):
        discovery.detect(engine(api.port), "", api.url, "apps",  # type: ignore[arg-type]
                         provider="swarm")


def test_wait_enabled_waits_for_servers_and_fails_on_an_error_that_lasts(
        api: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> None:
    router = "/api/http/routers/web-shop-r2@docker"
    api.answers[router] = {"status": "enabled", "service": "web-shop-r2"}
    api.answers["/api/http/services/web-shop-r2@docker"] = {
        "loadBalancer": {"servers": [{"url": "http://10.0.0.5:80"}]},
        "serverStatus": {"http://10.0.0.5:80": "UP"}}
    said: list[str] = []
    api_client.wait_enabled(api.url, [("http", "web-shop-r2")], 5, said.append)
    assert said == []
    api.answers[router] = {"status": "disabled", "error": ["middleware x does not exist"]}
    monkeypatch.setattr(api_client, "ERROR_GRACE", 0.3)
    with pytest.raises(OtterError, match=r"Traefik rejected router web-shop-r2 \(disabled: "
                       "middleware x does not exist\\)"):
        api_client.wait_enabled(api.url, [("http", "web-shop-r2")], 5, said.append)
    assert said == ["web-shop-r2 in error, waiting 0 s for Traefik's next batch"]
    with pytest.raises(OtterError, match="did not load router gone: defined twice"):
        api_client.wait_enabled(api.url, [("http", "gone")], 5, said.append,
                                why_missing=lambda name: "defined twice")


def test_release_routers_are_those_its_labels_name(api: SimpleNamespace) -> None:
    """Exact names, of the release's provider, and Traefik's per-entrypoint copies of them;
    never another app's router that ends in the same text (`shop-x` of app `a` was
    `shop-x-a-r2`, as `shop` of app `x-a`, before `~`)."""
    api.answers["/api/http/routers"] = [
        {"name": "web~shop-r2@docker", "entryPoints": ["web"]},
        {"name": "websecure-web~shop-r2@docker", "entryPoints": ["websecure"]},
        {"name": "web~shop-r12@docker"}, {"name": "web~shop-r2@file"},
        {"name": "x~web~shop-r2@docker"}, {"name": "shop-x-a-r2@docker"},
        {"name": "shop-x-a-r2@file"}]
    api.answers["/api/tcp/routers"] = []
    api.answers["/api/udp/routers"] = []
    names = {"http": {"web~shop-r2"}}
    assert api_client.release_routers(api.url, "shop-r2", names) == [
        {"name": "web~shop-r2@docker", "entryPoints": ["web"], "protocol": "http",
         "defined": "web~shop-r2"},
        {"name": "websecure-web~shop-r2@docker", "entryPoints": ["websecure"],
         "protocol": "http", "defined": "web~shop-r2"}]
    # a release deployed before `~` is found by the names its own labels define
    old = api_client.release_routers(api.url, "a-r2", {"http": {"shop-x-a-r2"}})
    assert [r["name"] for r in old or []] == ["shop-x-a-r2@docker"]
    assert api_client.release_routers(api.url, "x-a-r2", {"http": {"shop-x-a-r2"}},
                                      "swarm") == []
    assert api_client.release_routers("http://127.0.0.1:1", "shop-r2", names) is None


def test_the_serving_releases_routers_keep_the_names_their_user_wrote() -> None:
    """What a new release is ranked against (prepare.incumbents_of): the name as written,
    for a release deployed before `~` too, and for Traefik's per-entrypoint copies."""
    listed = [{"name": "site~shop-r6@docker", "entryPoints": ["web"]},
              {"name": "websecure-site~shop-r6@docker", "entryPoints": ["websecure"]},
              {"name": "web-site~shop-r6@docker", "entryPoints": ["websecure"]}]
    found = release_routers_of(listed, {"site~shop-r6", "web-site~shop-r6"}, "docker", "http")
    assert [i.original for i in incumbents_of(found, "shop-r6")] == ["site", "site", "web-site"]
    old = [{"name": "websecure-site-shop-r6@docker", "entryPoints": ["websecure"]}]
    found = release_routers_of(old, {"site-shop-r6"}, "docker", "http")
    assert [i.original for i in incumbents_of(found, "shop-r6")] == ["site"]


def test_metrics_are_read_beside_the_api_and_their_absence_is_said(api) -> None:
    """What the watch after a switch reads (Router.scrape_metrics), bounded."""
    with pytest.raises(OtterError, match=r"Traefik serves no metrics at http://127\.0\.0\.1:\d+"
                       r"/metrics \(HTTP 404: it runs without --metrics\.prometheus=true\)"):
        api_client.metrics_page(api.url, 2)
    api.answers["/metrics"] = "traefik_service_requests_total 1"
    assert "traefik_service_requests_total 1" in api_client.metrics_page(api.url, 2)
    with pytest.raises(OtterError, match=r"metrics at http://127\.0\.0\.1:1/metrics did not "
                       r"answer within 1 s"):
        api_client.metrics_page("http://127.0.0.1:1", 1)
