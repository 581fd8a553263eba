"""Previews through `git push` on a real engine and Traefik: a branch served at its own URL
beside production, replaced with zero downtime, isolated (names, data, variables, hosts),
limited, and removed with everything of it when the branch is deleted.

One app serves the module: production is deployed once and kept under load while previews
come and go, which is what a team's server sees."""

import json
import time

import pytest
from conftest import example_files, run, wait_for

from testsupport.load import Endpoint, Load

SECRET = "prod-only-7c1e9a"
SHARED = "shared-3b8d0f"
PREVIEW_ONLY = "pv-only-5e2a41"


def _files(app_name: str, text: str) -> dict[str, str]:
    """The example app with a second routed service and a named volume: the main service
    answers at `<app>.localhost`, `api` at `api-<app>.localhost`."""
    compose = f"""\
services:
  web:
    build: .
    volumes: [data:/data]
    labels:
      traefik.enable: "true"
      traefik.http.routers.web.rule: Host(`{app_name}.localhost`)
      traefik.http.routers.web.entrypoints: web
      traefik.http.services.web.loadbalancer.server.port: "8000"
  api:
    build: .
    labels:
      traefik.enable: "true"
      traefik.http.routers.api.rule: Host(`api-{app_name}.localhost`) && PathPrefix(`/`)
      traefik.http.routers.api.entrypoints: web
      traefik.http.services.api.loadbalancer.server.port: "8000"
volumes:
  data: {{}}
"""
    return example_files(text) | {"compose.yaml": compose}


@pytest.fixture(scope="module")
def shop(routed_app_module):
    """The module's app: production r1 serves `prod` at <app>.localhost, previews on, its
    variables set (a production-only secret, a shared one, a preview-only one)."""
    app = routed_app_module()
    for path, text in _files(app.name, "prod").items():
        app.write(path, text)
    for args in (("previews", "on"), ("preview_domain", f"pv-{app.name}.localhost")):
        proc = app.otter("config", app.name, *args)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    for key, value, extra in (("SECRET_ONE", SECRET, ()), ("SHARED_ONE", SHARED, ()),
                              ("PV_ONE", PREVIEW_ONLY, ("--preview",))):
        proc = app.otter_in(value, "env", app.name, *extra, "set", key)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    assert app.otter("env", app.name, "share", "SHARED_ONE").returncode == 0
    app.commit("prod")
    push = app.push("main")
    assert "==> deployed" in push.result, push.output
    return app


def _on_branch(app, branch: str) -> None:
    """The clone on `branch`, made from main if it is new."""
    if app.git("checkout", "-q", branch, check=False).returncode != 0:
        app.git("checkout", "-q", "-b", branch, "main")


def _preview_push(app, branch: str, text: str):
    _on_branch(app, branch)
    app.write("www/index.html", text + "\n")
    app.commit(text)
    push = app.push(branch)
    app.git("checkout", "-q", "main")
    return push


def _env_of(project: str, service: str = "web") -> str:
    ids = run(["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={project}",
               "--filter", f"label=com.docker.compose.service={service}"]).stdout.split()
    assert ids, f"{project} has no running {service}"
    return run(["docker", "exec", ids[0], "env"]).stdout


def _of_preview(kind: str, app, slug: str) -> list[str]:
    """Docker's `kind` (container, volume, network) things labelled as the app's preview."""
    listing = {"container": ["ps", "-a", "-q"], "volume": ["volume", "ls", "-q"],
               "network": ["network", "ls", "-q"]}[kind]
    return run(["docker", *listing, "--filter", f"label=dev.otterstack.app={app.name}",
                "--filter", f"label=dev.otterstack.preview={slug}"]).stdout.split()


def _routers(traefik) -> list[str]:
    proc = run(["curl", "-fsS", f"http://127.0.0.1:{traefik.api_port}/api/http/routers"
                "?per_page=1000"])
    assert proc.returncode == 0, proc.stderr
    return [r["name"] for r in json.loads(proc.stdout)]


def test_preview_beside_production_replaced_isolated_and_removed(shop, traefik):
    app = shop
    prod_host, prod = f"{app.name}.localhost", app.project("r1")
    web_host = f"feature-x.pv-{app.name}.localhost"
    api_host = f"api-feature-x.pv-{app.name}.localhost"
    production = Load(Endpoint(traefik.http_port, prod_host), threads=2, max_seconds=300)
    with production:
        started = time.monotonic()
        push = _preview_push(app, "feature-x", "preview one")
        assert "==> deployed the preview of feature-x" in push.result, push.output
        assert f"http://{web_host}/" in push.result and f"http://{api_host}/" in push.result
        releases = [r for r in app.releases() if r.get("preview")]
        assert [r["name"] for r in releases] == ["r2"], releases
        pv2 = f"{app.name}_feature-x-r2"
        answered = wait_for(lambda: traefik.get(web_host)[0] == 200, timeout=30)
        print(f"push to preview URL answering: {time.monotonic() - started:.1f} s")
        assert answered and traefik.get(web_host) == (200, pv2, "preview one\n")
        assert traefik.get(api_host)[:2] == (200, pv2)
        assert traefik.get(prod_host) == (200, prod, "prod\n")

        # a second push to the branch: zero downtime on the preview
        with Load(Endpoint(traefik.http_port, web_host), threads=2, max_seconds=300) as pv:
            time.sleep(1)
            push = _preview_push(app, "feature-x", "preview two")
            assert "==> deployed the preview of feature-x" in push.result, push.output
            time.sleep(1)
        on_preview = pv.stop()
        pv3 = f"{app.name}_feature-x-r3"
        assert on_preview.failed == 0, on_preview
        assert set(on_preview.by_release) == {pv2, pv3}, on_preview
        assert traefik.get(web_host) == (200, pv3, "preview two\n")
        assert run(["docker", "ps", "-aq", "--filter",
                    f"label=com.docker.compose.project={pv2}"]).stdout.split() == []

        # isolated: its own volume, production's variables only where shared
        volumes = run(["docker", "volume", "ls", "-q", "--filter",
                       f"label=dev.otterstack.app={app.name}"]).stdout.split()
        assert f"{app.name}.feature-x_data" in volumes and f"{app.name}_data" in volumes
        preview_env, prod_env = _env_of(pv3), _env_of(prod)
        assert f"PV_ONE={PREVIEW_ONLY}" in preview_env and f"SHARED_ONE={SHARED}" in preview_env
        assert SECRET not in preview_env and "SECRET_ONE" not in preview_env
        assert f"SECRET_ONE={SECRET}" in prod_env and PREVIEW_ONLY not in prod_env
        listed = json.loads(app.otter("previews", app.name, "--json").stdout)
        assert [(p["branch"], p["release"]) for p in listed] == [("feature-x", "r3")], listed
        assert app.active()["name"] == "r1"

        # the branch deleted: everything of the preview goes, production stays
        push = app.push(":feature-x")
        assert push.returncode == 0, push.output
        assert "removed the preview of feature-x" in push.output, push.output
        time.sleep(1)
    on_production = production.stop()
    assert on_production.failed == 0, on_production
    assert set(on_production.by_release) == {prod}, on_production  # never the preview
    for kind in ("container", "volume", "network"):
        assert _of_preview(kind, app, "feature-x") == [], kind
    assert not [p for p in run(["docker", "ps", "-aq", "--format",
                                '{{.Label "com.docker.compose.project"}}']).stdout.split()
                if p.startswith(f"{app.name}_")]
    wait_for(lambda: not [r for r in _routers(traefik) if f"{app.name}_" in r], timeout=30)
    assert traefik.get(web_host)[0] == 404
    assert f"{app.name}_data" in run(["docker", "volume", "ls", "-q"]).stdout.split()
    assert json.loads(app.otter("previews", app.name, "--json").stdout) == []
    assert traefik.get(prod_host) == (200, prod, "prod\n")


def test_preview_limit_and_refusals_leave_production_serving(shop, traefik):
    app = shop
    assert app.otter("config", app.name, "preview_limit", "1").returncode == 0
    try:
        assert "==> deployed the preview" in _preview_push(app, "one", "one").result
        push = _preview_push(app, "two", "two")
        assert "FAILED" in push.result or "refused" in push.output, push.output
        assert "preview_limit" in push.output and "one" in push.output, push.output
        assert "Traceback" not in push.output
        listed = json.loads(app.otter("previews", app.name, "--json").stdout)
        assert [p["branch"] for p in listed] == ["one"], listed
        # a preview may not hold what production holds: refused before anything runs
        _on_branch(app, "one")
        app.write("compose.yaml", app.src.joinpath("compose.yaml").read_text().replace(
            "    build: .\n", "    build: .\n    container_name: shop-db\n", 1))
        app.commit("container name")
        push = app.push("one")
        app.git("checkout", "-q", "main")
        assert push.returncode != 0 or "FAILED" in push.result, push.output
        assert "container_name" in push.output and "Traceback" not in push.output
        assert traefik.get(f"one.pv-{app.name}.localhost")[:2] == (
            200, f"{app.name}_one-{listed[0]['release']}")
        assert traefik.get(f"{app.name}.localhost") == (200, app.project("r1"), "prod\n")
    finally:
        app.otter("config", app.name, "preview_limit", "5")
        app.push(":one")
        app.push(":two")
    assert _of_preview("container", app, "one") == []


def test_one_push_deploys_production_then_each_preview_and_one_removes_them(shop, traefik):
    app = shop
    for branch in ("a", "b"):
        _on_branch(app, branch)
        app.write("www/index.html", f"branch {branch}\n")
        app.commit(branch)
    app.git("checkout", "-q", "main")
    app.write("www/index.html", "prod two\n")
    app.commit("prod two")
    prod_host = f"{app.name}.localhost"
    with Load(Endpoint(traefik.http_port, prod_host), threads=2, max_seconds=300) as load:
        push = app.push("main", "a", "b")
        time.sleep(1)
    result = load.stop()
    assert push.returncode == 0, push.output
    results = [line for line in push.lines() if line.startswith("==> ")]
    assert len(results) == 3 and "deployed" in results[0], push.output
    assert "preview of a " in results[1] and "preview of b " in results[2], push.output
    assert result.failed == 0, result
    new = app.active()["name"]
    assert traefik.get(prod_host) == (200, app.project(new), "prod two\n")
    for branch in ("a", "b"):
        status, release, body = traefik.get(f"{branch}.pv-{app.name}.localhost")
        assert (status, body) == (200, f"branch {branch}\n")
        assert release.startswith(f"{app.name}_{branch}-r")
    push = app.push(":a", ":b")
    assert push.output.count("==> removed the preview of") == 2, push.output
    assert json.loads(app.otter("previews", app.name, "--json").stdout) == []
    assert _of_preview("container", app, "a") == _of_preview("container", app, "b") == []
