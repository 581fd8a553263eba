"""What an app's Traefik labels may reach, through a real push and a real Traefik: a route to
`api@internal` and a TCP router for every name need the admin's token, and with the app's
`hosts` setting a router for another app's host is refused, all before the ref moves
(rules/traefik/policy.py, rules/traefik/hosts.py). The module shares two apps: the victim, deployed
once, and the pusher's app, refused three times before its one deploy."""

from __future__ import annotations

import json
import subprocess
import urllib.request

import pytest
import test_users_traefik
from conftest import App
from test_users_traefik import SITE, deploy, release_of
from users_traefik import UsersTraefik

DASHBOARD = SITE + """\
      traefik.http.routers.dash.rule: Host(`dash.{app}.site.test`)
      traefik.http.routers.dash.entrypoints: web
      traefik.http.routers.dash.service: api@internal
"""
TCP_CATCH_ALL = SITE + """\
      traefik.tcp.routers.pg.rule: HostSNI(`*`)
      traefik.tcp.routers.pg.entrypoints: public
      traefik.tcp.routers.pg.service: pg
      traefik.tcp.services.pg.loadbalancer.server.port: "8000"
"""


def _remote_head(app: App) -> str:
    proc = subprocess.run(["git", "-C", str(app.repo), "rev-parse", "-q", "--verify",
                           "refs/heads/main"], capture_output=True, text=True, timeout=60)
    return proc.stdout.strip()


def _app(request: pytest.FixtureRequest, users_traefik: UsersTraefik, compose: str) -> App:
    """A routed stand-in app on the users' Traefik that the whole module shares."""
    app = request.getfixturevalue("make_app_module")({}, install_args=("--traefik-routing",))
    proc = app.otter("config", "--global", "traefik_container", users_traefik.name)
    assert proc.returncode == 0, proc.stderr
    app.compose_template = compose  # type: ignore[attr-defined]
    app.users_net = users_traefik.network  # type: ignore[attr-defined]
    return app


@pytest.fixture(scope="module")
def victim(request, users_traefik):
    """An app serving its own host, deployed once for the module."""
    app = _app(request, users_traefik, SITE)
    deploy(app, "victim")
    return app


@pytest.fixture(scope="module")
def shop(request, users_traefik):
    """The pusher's app, limited to its own names; nothing of it is deployed until the last
    test (refusals need no release)."""
    app = _app(request, users_traefik, SITE)
    hosts = f"{app.name}.site.test,*.{app.name}.site.test"
    assert app.otter("config", app.name, "hosts", hosts).returncode == 0
    return app


def _refused(app: App, compose: str) -> str:
    """Commit `compose` ({app}: the app's name) and push: refused before the ref moves,
    nothing started. Returns the refusal line."""
    app.compose_template = compose  # type: ignore[attr-defined]
    test_users_traefik.write(app, "attack")
    app.commit("attack")
    before = _remote_head(app)
    push = app.push("main")
    assert push.returncode != 0 and push.result.startswith("==> push refused"), push.output
    assert _remote_head(app) == before, "the ref moved"
    assert app.releases() == [] and app.containers("r1", all_=True) == []
    return push.result


def test_a_tcp_router_for_every_name_is_refused_before_the_ref_moves(shop):
    refusal = _refused(shop, TCP_CATCH_ALL)
    assert ("service 'web': traefik.tcp.routers.pg.rule HostSNI(`*`) gives the container "
            "every TCP connection of the entrypoints it is on") in refusal, refusal
    assert f"`otterstack config {shop.name} allow tcp-catch-all`" in refusal


def test_a_router_for_another_apps_host_is_refused_while_that_app_keeps_serving(
        shop, victim, users_traefik):
    victim_host = f"{victim.name}.site.test"
    refusal = _refused(shop, SITE.replace("{app}.site.test", victim_host))
    assert (f"label 'traefik.http.routers.site.rule': http router 'site' may match "
            f"{victim_host}, and this app may only serve hosts within {shop.name}.site.test, "
            f"*.{shop.name}.site.test (its `hosts` setting)") in refusal, refusal
    assert f"`otterstack config {shop.name} hosts PATTERN,...`" in refusal
    # a rule that can match any host is refused too
    refusal = _refused(shop, SITE.replace("Host(`{app}.site.test`)",
                                          "Host(`{app}.site.test`) || PathPrefix(`/`)"))
    assert "can match any host: no Host matcher in its alternative PathPrefix(`/`)" in refusal
    assert users_traefik.get(victim_host) == (200, release_of(victim, 1), "victim\n")


def test_a_router_to_api_internal_is_refused_until_the_admin_allows_it(shop, users_traefik):
    refusal = _refused(shop, DASHBOARD)
    assert ("service 'web': traefik.http.routers.dash.service api@internal gives the "
            "container a route to Traefik's own services") in refusal, refusal
    assert f"`otterstack config {shop.name} allow traefik-internal`" in refusal

    assert shop.otter("config", shop.name, "allow", "traefik-internal").returncode == 0
    shop.compose_template = DASHBOARD  # type: ignore[attr-defined]
    deploy(shop, "two")
    assert users_traefik.get(f"{shop.name}.site.test") == (200, release_of(shop, 1), "two\n")
    # what it gives: Traefik's API on the app's host, with every app's routers in it
    status, _, body = users_traefik.get(f"dash.{shop.name}.site.test", "/api/version")
    assert status == 200 and '"Version"' in body, body
    status, _, body = users_traefik.get(f"dash.{shop.name}.site.test", "/api/http/routers")
    assert status == 200 and f"{users_traefik.name}-dashboard@docker" in body


def test_the_api_of_traefik_up_is_not_reachable_from_an_app_container(traefik):
    """`otterstack traefik up` serves its API only on a network of its own: a container on
    the apps' network reaches Traefik's web entrypoint, not its API (by name or by the API's
    address); the host reaches the API on its published port."""
    inspect = subprocess.run(["docker", "inspect", "-f", "{{json .NetworkSettings.Networks}}",
                              traefik.name], capture_output=True, text=True, check=True)
    networks = json.loads(inspect.stdout)
    api_network = f"0-{traefik.name}-api"
    assert set(networks) == {traefik.network, api_network}
    api_ip = networks[api_network]["IPAddress"]
    script = (f"for target in {traefik.name}:8080 {api_ip}:8080 {traefik.name}:80; do "
              "printf 'GET /api/version HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${target%:*} "
              "${target#*:} | head -1; echo \"$target done\"; done")
    out = subprocess.run(["docker", "run", "--rm", "--network", traefik.network, "busybox",
                          "sh", "-c", script], capture_output=True, text=True, timeout=60)
    lines = out.stdout.splitlines()
    assert lines[0] == f"{traefik.name}:8080 done", out  # refused: nothing answered
    assert lines[1] == f"{api_ip}:8080 done", out  # another network: nothing answered
    assert lines[2].startswith("HTTP/1.0 404"), out  # the web entrypoint does answer
    with urllib.request.urlopen(f"http://127.0.0.1:{traefik.api_port}/api/version",
                                timeout=5) as resp:
        assert json.loads(resp.read())["Version"]
