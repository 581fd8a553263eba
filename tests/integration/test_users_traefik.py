"""Zero-downtime deploys through a Traefik configured the way real users configure theirs.

Issue 9: labels people really write (TLS on the entrypoint, `NAME@docker` references,
`api@internal`, Traefik in the compose file, Swarm `deploy.labels`, conflicting routers, several
apps with overlapping rules on one proxy, a release that served before its proof failed), and
the shapes of the real-world corpus (redirects, basicauth `$$` hashes, stripprefix, two routers
and two services on one container, list and map labels, `traefik.docker.network`, HostRegexp
and `||`/`&&`/`!` rules, user priorities, multi-service apps). The label sets are our own, with
the same shapes as the corpus in ../shared/realworld-compose.

Hosts contain the app's name (or this run's id): every Traefik on the Docker host reads every
container's labels, so runs of other engineers must not answer for ours.
"""

from __future__ import annotations

import threading
import time

import pytest
from conftest import RUN_ID, App
from users_traefik import UsersTraefik

from testsupport.load import Endpoint, Load, LoadResult

DOCKERFILE = """\
FROM busybox
COPY www /www
COPY serve.sh /serve.sh
HEALTHCHECK --interval=1s --timeout=2s --retries=3 \\
  CMD wget -q -O /dev/null http://127.0.0.1:8000/health || exit 1
CMD ["/bin/sh", "/serve.sh"]
"""
# httpd on every port in $PORTS. On SIGTERM: stop listening, let requests in flight finish.
SERVE = """\
#!/bin/sh
pids=""
for port in ${PORTS:-8000}; do
  httpd -f -p "$port" -h /www &
  pids="$pids $!"
done
trap 'kill $pids; sleep 2; exit 0' TERM INT
wait
"""
# `user` / `s3cret`, from `openssl passwd -apr1 -salt OtTeRsTk s3cret`; `$` doubled for Compose
APR1 = "$$apr1$$OtTeRsTk$$7t1UPTJ7TeZ4dSpkrSq.r/"
BASIC_AUTH = {"Authorization": "Basic dXNlcjpzM2NyZXQ="}


def standin(compose: str, index: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A stand-in app: busybox httpd with a HEALTHCHECK, the given compose file verbatim."""
    return {"Dockerfile": DOCKERFILE, "serve.sh": SERVE, "www/index.html": f"{index}\n",
            "www/health": "ok\n", "compose.yaml": compose, **(extra or {})}


def write(app: App, index: str, extra: dict[str, str] | None = None) -> None:
    """Write the stand-in with the app's compose template ({app}: its name, {net}: the users'
    Traefik network) and a new index text; CGI scripts are made executable."""
    compose = app.compose_template.replace("{app}", app.name)  # type: ignore[attr-defined]
    compose = compose.replace("{net}", app.users_net)  # type: ignore[attr-defined]
    for path, content in standin(compose, index, extra).items():
        app.write(path, content)
        if "/cgi-bin/" in f"/{path}":
            (app.src / path).chmod(0o755)


def deploy(app: App, index: str, extra: dict[str, str] | None = None) -> str:
    """Commit a new index text and push it; returns the push output (asserted deployed)."""
    write(app, index, extra)
    app.commit(index)
    push = app.push("main")
    assert "==> deployed" in push.result, push.output
    return push.output


def refused(app: App, index: str) -> str:
    write(app, index)
    app.commit(index)
    push = app.push("main")
    assert "==> deployed" not in push.result, push.output
    return push.output


def release_of(app: App, n: int) -> str:
    return app.project(f"r{n}")


def assert_no_failures(result: LoadResult, allowed: set[str]) -> None:
    assert result.failed == 0, result.failures
    assert result.sent > 20, result
    assert set(result.by_release) <= allowed, result.by_release


@pytest.fixture
def users(users_app, users_traefik: UsersTraefik):
    """users_app with a compose template (see `write`) written as the app's first files."""

    def factory(compose: str, index: str = "one", extra: dict[str, str] | None = None) -> App:
        app = users_app({})
        app.compose_template = compose  # type: ignore[attr-defined]
        app.users_net = users_traefik.network  # type: ignore[attr-defined]
        write(app, index, extra)
        return app

    return factory


# ---------------------------------------------------------------- item 1: NAME@docker ----

REF_DOCKER = """\
services:
  web:
    build: .
    labels:
      traefik.enable: "true"
      traefik.http.routers.guarded.rule: Host(`{app}.guard.test`)
      traefik.http.routers.guarded.entrypoints: web
      traefik.http.routers.guarded.middlewares: guard@docker,secure-headers@file,{shared}@docker
      traefik.http.middlewares.guard.headers.customResponseHeaders.X-Guard: "{app}"
      traefik.http.services.guarded.loadbalancer.server.port: "8000"
"""


def test_docker_reference_to_own_middleware_follows_the_release(users, users_traefik):
    """`guard@docker` names a middleware this release defines: it must follow the rename.
    `secure-headers@file` and a middleware the Traefik container defines stay as written."""
    shared = f"{users_traefik.name}-shared"
    app = users(REF_DOCKER.replace("{shared}", shared))
    host = f"{app.name}.guard.test"
    deploy(app, "one")
    status, headers, body = users_traefik.response(host)
    assert (status, body) == (200, "one\n")
    assert headers["x-otterstack-release"] == release_of(app, 1)
    assert headers["x-guard"] == app.name
    assert headers["x-secure-headers"] == "on"
    assert headers["x-shared"] == "from-traefik"
    with Load(Endpoint(users_traefik.http_port, host), threads=3, max_seconds=300) as load:
        time.sleep(1)
        deploy(app, "two")
        time.sleep(1)
        result = load.stop()
    assert_no_failures(result, {release_of(app, 1), release_of(app, 2)})
    status, headers, body = users_traefik.response(host)
    assert (status, body, headers["x-guard"]) == (200, "two\n", app.name)
    assert not users_traefik.router_errors(app.name)


SLOWER_AUTH = """\
services:
  web:
    build: .
    labels:
      traefik.enable: "true"
      traefik.http.routers.site.rule: Host(`{app}.auth.test`)
      traefik.http.routers.site.entrypoints: web
      traefik.http.routers.site.middlewares: auth@docker
      traefik.http.services.site.loadbalancer.server.port: "8000"
  auth:
    build: .
    # becomes healthy seconds after web: Traefik loads web's router before auth's middleware
    entrypoint: ["/bin/sh", "-c", "sleep 6; exec /bin/sh /serve.sh"]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8000/health"]
      interval: 1s
      start_period: 30s
    labels:
      traefik.enable: "true"
      traefik.http.routers.auth.rule: Host(`{app}.auth-portal.test`)
      traefik.http.routers.auth.entrypoints: web
      traefik.http.services.auth.loadbalancer.server.port: "8000"
      traefik.http.middlewares.auth.headers.customResponseHeaders.X-Auth: checked
"""


def test_middleware_defined_on_a_slower_service_of_the_release(users, users_traefik):
    """The authelia shape: the middleware lives on another compose service of the release,
    which becomes healthy later. Until Traefik loads that container, the router that names
    it shows "middleware ... does not exist": that is the release still starting, not a
    wrong label, and must not fail the deploy."""
    app = users(SLOWER_AUTH)
    host = f"{app.name}.auth.test"
    deploy(app, "one")
    status, headers, body = users_traefik.response(host)
    assert (status, body, headers.get("x-auth")) == (200, "one\n", "checked")
    with Load(Endpoint(users_traefik.http_port, host), threads=3, max_seconds=300) as load:
        time.sleep(1)
        deploy(app, "two")
        deploy(app, "three")
        time.sleep(1)
        result = load.stop()
    assert_no_failures(result, {release_of(app, n) for n in (1, 2, 3)})
    status, headers, body = users_traefik.response(host)
    assert (status, body, headers.get("x-auth")) == (200, "three\n", "checked")


# ---------------------------------------------------------------- item 2: TLS ----

TLS_ROUTERS = """\
services:
  web:
    build: .
    labels:
      - traefik.enable=true
      # TLS only on the entrypoint: the router has no tls label
      - traefik.http.routers.plain.rule=Host(`{app}.tls-ep.test`)
      - traefik.http.routers.plain.entrypoints=websecure
      - traefik.http.routers.plain.service=site
      # tls=true and a certificate resolver whose CA cannot be reached
      - traefik.http.routers.resolved.rule=Host(`{app}.tls-le.test`)
      - traefik.http.routers.resolved.entrypoints=websecure
      - traefik.http.routers.resolved.tls=true
      - traefik.http.routers.resolved.tls.certresolver=letsencrypt
      - traefik.http.routers.resolved.service=site
      - traefik.http.services.site.loadbalancer.server.port=8000
"""


def test_tls_on_the_entrypoint_and_certresolver_routers_switch_under_https_load(
        users, users_traefik):
    app = users(TLS_ROUTERS)
    hosts = [f"{app.name}.tls-ep.test", f"{app.name}.tls-le.test"]
    output = deploy(app, "one")
    for host in hosts:
        assert users_traefik.get_tls(host) == (200, release_of(app, 1), "one\n")
    # the proof really went over HTTPS to the TLS router (not plain HTTP to a TLS port)
    assert any("  served " in line and "https://" in line for line in output.splitlines()), \
        output
    loads = [Load(Endpoint(users_traefik.https_port, host, tls=True), threads=2, max_seconds=300)
             for host in hosts]
    for load in loads:
        load.__enter__()
    try:
        time.sleep(1)
        deploy(app, "two")
        time.sleep(1)
    finally:
        results = [load.stop() for load in loads]
    for result in results:
        assert_no_failures(result, {release_of(app, 1), release_of(app, 2)})
        assert release_of(app, 2) in result.by_release
    for host in hosts:
        assert users_traefik.get_tls(host) == (200, release_of(app, 2), "two\n")


TCP_PASSTHROUGH = """\
services:
  web:
    build: .
    labels:
      - traefik.enable=true
      - traefik.http.routers.site.rule=Host(`{app}.site.test`)
      - traefik.http.routers.site.entrypoints=web
      - traefik.http.services.site.loadbalancer.server.port=8000
  broker:
    build: .
    environment:
      PORTS: "8000 8883"
    labels:
      - traefik.enable=true
      - traefik.tcp.routers.mqtts.rule=HostSNI(`{app}.broker.test`)
      - traefik.tcp.routers.mqtts.tls.passthrough=true
      - traefik.tcp.routers.mqtts.entrypoints=websecure
      - traefik.tcp.routers.mqtts.service=mqtts-svc
      - traefik.tcp.services.mqtts-svc.loadbalancer.server.port=8883
"""


def test_tcp_hostsni_passthrough_router_deploys_and_reaches_the_release(users, users_traefik):
    """A passthrough router hands the raw ClientHello to the backend: a plain-text HTTP answer
    (busybox httpd refusing a TLS record) proves the release got it, not Traefik's TLS."""
    app = users(TCP_PASSTHROUGH)
    sni = f"{app.name}.broker.test"
    output = deploy(app, "one")
    # the pusher is told how the TCP router was checked (a TLS request or the API)
    said = [line for line in output.splitlines() if "  served " in line and "mqtts" in line]
    assert said and any(word in said[0] for word in ("API", "SNI", "TLS")), output
    routers = [r for r in users_traefik.api("/api/tcp/routers?per_page=1000")
               if r["name"].startswith("mqtts") and app.name in r["name"]]
    assert [r["status"] for r in routers] == ["enabled"], routers
    assert users_traefik.client_hello_reply(sni).startswith(b"HTTP/1."), "not passed through"
    # an unknown SNI gets Traefik's own TLS (a handshake record), as before
    assert users_traefik.client_hello_reply(f"{app.name}.other.test")[:1] == b"\x16"
    deploy(app, "two")
    assert users_traefik.client_hello_reply(sni).startswith(b"HTTP/1.")
    assert users_traefik.get(f"{app.name}.site.test") == (200, release_of(app, 2), "two\n")
    assert not users_traefik.router_errors(app.name)


# ---------------------------------------------------------------- item 3: api@internal ----

API_INTERNAL = """\
services:
  web:
    build: .
    labels:
      traefik.enable: "true"
      traefik.http.routers.site.rule: Host(`{app}.site.test`)
      traefik.http.routers.site.entrypoints: web
      traefik.http.routers.dash.rule: Host(`{app}.dash.test`)
      traefik.http.routers.dash.entrypoints: web
      traefik.http.routers.dash.service: api@internal
      traefik.http.services.site.loadbalancer.server.port: "8000"
"""


def test_router_to_api_internal_does_not_wait_for_servers(users, users_traefik):
    app = users(API_INTERNAL)
    assert app.otter("config", app.name, "allow", "traefik-internal").returncode == 0
    started = time.monotonic()
    deploy(app, "one")
    assert time.monotonic() - started < 90  # it used to wait 30 s for servers, then fail
    status, release, body = users_traefik.get(f"{app.name}.dash.test", "/api/version")
    assert status == 200 and '"Version"' in body, body
    assert users_traefik.get(f"{app.name}.site.test") == (200, release_of(app, 1), "one\n")
    deploy(app, "two")
    assert users_traefik.get(f"{app.name}.dash.test", "/api/version")[0] == 200
    assert users_traefik.get(f"{app.name}.site.test") == (200, release_of(app, 2), "two\n")


# ------------------------------------------------- item 4 and 5: refused before start ----

SITE = """\
services:
  web:
    build: .
    labels:
      traefik.enable: "true"
      traefik.http.routers.site.rule: Host(`{app}.site.test`)
      traefik.http.routers.site.entrypoints: web
      traefik.http.services.site.loadbalancer.server.port: "8000"
"""
WITH_TRAEFIK = SITE + """\
  traefik:
    image: traefik:v3
    command:
      - --providers.docker=true
      - --providers.docker.exposedbydefault=false
      - --entrypoints.web.address=:80
    volumes:
      - /var/run/docker.sock:/var/run/docker.sock:ro
"""
SWARM_ONLY = """\
services:
  web:
    build: .
    deploy:
      labels:
        - traefik.enable=true
        - traefik.http.routers.site.rule=Host(`{app}.site.test`)
        - traefik.http.routers.site.entrypoints=web
        - traefik.http.services.site.loadbalancer.server.port=8000
"""


def test_refused_before_anything_starts(users, users_traefik):
    """A Traefik in the compose file, and a Swarm-only label set, pushed one after the other
    to one serving app under load: each refused with nothing of it started, the load sees
    only the serving release, and the next push deploys."""
    app = users(SITE)
    deploy(app, "one")
    host = f"{app.name}.site.test"
    with Load(Endpoint(users_traefik.http_port, host), threads=2, max_seconds=300) as load:
        for compose, expected in [(WITH_TRAEFIK, "otterstack traefik up"),
                                  (SWARM_ONLY, "deploy.labels")]:
            app.compose_template = compose  # type: ignore[attr-defined]
            output = refused(app, "two")
            assert expected in output, output
            assert app.projects() == [release_of(app, 1)], "something of it was started"
        result = load.stop()
    assert_no_failures(result, {release_of(app, 1)})
    assert users_traefik.get(host) == (200, release_of(app, 1), "one\n")
    app.compose_template = SITE  # type: ignore[attr-defined]
    deploy(app, "three")
    assert users_traefik.get(host)[2] == "three\n"


def test_traefik_in_compose_message_says_how_to_leave_it_out(users):
    app = users(WITH_TRAEFIK)
    output = refused(app, "one")
    assert "otterstack traefik up" in output and "traefik" in output
    assert "--compose-file" in output or "override" in output, output
    assert app.containers("r1", all_=True) == []


# ---------------------------------------------------- item 6: one router, two services ----

SAME_ROUTER_TWICE = """\
services:
  web:
    build: .
    labels:
      traefik.enable: "true"
      traefik.http.routers.site.rule: Host(`{app}.site.test`)
      traefik.http.routers.site.entrypoints: web
      traefik.http.services.site.loadbalancer.server.port: "8000"
  admin:
    build: .
    labels:
      traefik.enable: "true"
      traefik.http.routers.site.rule: Host(`{app}.admin.test`)
      traefik.http.routers.site.entrypoints: web
      traefik.http.services.admin.loadbalancer.server.port: "8000"
"""


def test_router_defined_differently_by_two_services_is_reported_quickly(users, users_traefik):
    app = users(SITE)
    deploy(app, "one")
    host = f"{app.name}.site.test"
    with Load(Endpoint(users_traefik.http_port, host), threads=2, max_seconds=300) as load:
        app.compose_template = SAME_ROUTER_TWICE  # type: ignore[attr-defined]
        started = time.monotonic()
        output = refused(app, "two")
        took = time.monotonic() - started
        result = load.stop()
    # before start: the labels say so; or Traefik's own reason, as soon as it states it
    said = ("also defined", "defined multiple times", "differently")
    assert "site" in output and any(phrase in output for phrase in said), output
    assert took < 60, f"took {took:.0f} s"  # not "not loaded yet" after 30 s of waiting
    assert_no_failures(result, {release_of(app, 1)})
    assert users_traefik.get(host) == (200, release_of(app, 1), "one\n")


# ---------------------------------------------------- item 7: several apps, one proxy ----

def overlapping(rule: str) -> str:
    return f"""\
services:
  web:
    build: .
    labels:
      traefik.enable: "true"
      traefik.http.routers.site.rule: "{rule}"
      traefik.http.routers.site.entrypoints: public
      traefik.http.services.site.loadbalancer.server.port: "8000"
"""


def test_overlapping_rules_of_three_apps_keep_traefiks_order_in_every_deploy_order(
        users, users_traefik):
    """a: Host(`alpha-RUN.test`) (22 chars), b: PathPrefix(`/`) (15), c: (Host(alpha) ||
    Host(www.alpha)) && PathPrefix(`/c`) (74). By Traefik's own order (rule length, no
    OtterStack): alpha/ -> a, alpha/c/ -> c, any other host -> b, whatever was deployed last.
    The deploys visit every order of "most recently deployed" (a<b<c, b<c<a, c<a<b, c<b<a,
    b<a<c, a<c<b) and change a's rule between releases (to 52 bytes: still longer than b's,
    shorter than c's). The catch-all sits on an entrypoint of its own (`public`) so other
    engineers' Traefiks on this host do not get it on `web`."""
    traefik = users_traefik
    alpha, other = f"alpha-{RUN_ID}.test", f"other-{RUN_ID}.test"
    a = users(overlapping(f"Host(`{alpha}`)"))
    b = users(overlapping("PathPrefix(`/`)"))
    c = users(overlapping(f"(Host(`{alpha}`) || Host(`www.{alpha}`)) && PathPrefix(`/c`)"),
              extra={"www/c/index.html": "c\n"})
    releases: dict[str, set[str]] = {"a": set(), "b": set(), "c": set()}
    apps = {"a": a, "b": b, "c": c}
    counts = {"a": 0, "b": 0, "c": 0}

    def push(key: str) -> None:
        counts[key] += 1
        extra = {"www/c/index.html": "c\n"} if key == "c" else None
        deploy(apps[key], f"{key}{counts[key]}", extra)
        releases[key].add(release_of(apps[key], counts[key]))
        check()

    def check() -> None:
        if counts["a"]:
            status, release, body = traefik.get(alpha, entrypoint="public")
            assert status == 200 and release in releases["a"], (status, release, body)
        if counts["b"]:
            status, release, _ = traefik.get(other, entrypoint="public")
            assert status == 200 and release in releases["b"], (status, release)
        if counts["c"]:
            status, release, body = traefik.get(alpha, "/c/", entrypoint="public")
            assert status == 200 and release in releases["c"] and body == "c\n", (status, release)

    push("a")
    load_a = Load(Endpoint(traefik.ports["public"], alpha), threads=2, max_seconds=900)
    load_a.__enter__()
    loads: list[tuple[Load, str]] = [(load_a, "a")]
    try:
        push("b")
        load_b = Load(Endpoint(traefik.ports["public"], other), threads=1, max_seconds=900)
        load_b.__enter__()
        loads.append((load_b, "b"))
        push("c")
        load_c = Load(Endpoint(traefik.ports["public"], alpha, "/c/"), threads=1, max_seconds=900)
        load_c.__enter__()
        loads.append((load_c, "c"))
        push("a")
        push("b")
        a.compose_template = overlapping(  # type: ignore[attr-defined]
            f"Host(`{alpha}`) || Host(`www.{alpha}`)")
        push("a")
        push("c")
        push("b")
    finally:
        results = [(load.stop(), key) for load, key in loads]
    for result, key in results:
        assert result.failed == 0, (key, result.failures)
        assert set(result.by_release) <= releases[key], (key, result.by_release)
    assert traefik.get(f"www.{alpha}", entrypoint="public")[1] in releases["a"]


# ------------------------------------------ item 8: a failed release that had served ----

SLOW = """\
services:
  web:
    build: .
    labels:
      traefik.enable: "true"
      traefik.http.routers.site.rule: Host(`{app}.slow.test`)
      traefik.http.routers.site.entrypoints: web
      traefik.http.services.site.loadbalancer.server.port: "8000"
"""
SLOW_CGI = "#!/bin/sh\nsleep 1\nprintf 'Content-Type: text/plain\\r\\n\\r\\nslow\\n'\n"
# "/" of the broken release: httpd runs /cgi-bin/index.cgi when a directory has no index.html
BROKEN_INDEX = "#!/bin/sh\nprintf 'Status: 503 Service Unavailable\\r\\n\\r\\nbroken\\n'\n"


def test_release_that_served_then_failed_its_proof_is_stopped_gracefully(users,
                                                                        users_traefik):
    """r2 is healthy, so Traefik sends it requests (slow ones, 1 s each); then its proof on "/"
    fails (503). Tearing it down with `-t 0` would cut the requests it holds."""
    app = users(SLOW, extra={"www/cgi-bin/slow": SLOW_CGI})
    host = f"{app.name}.slow.test"
    deploy(app, "one", {"www/cgi-bin/slow": SLOW_CGI})
    with Load(Endpoint(users_traefik.http_port, host, "/cgi-bin/slow"), threads=6,
              max_seconds=300, timeout=20) as load:
        time.sleep(2)
        write(app, "two", {"www/cgi-bin/slow": SLOW_CGI, "www/cgi-bin/index.cgi": BROKEN_INDEX})
        (app.src / "www" / "index.html").unlink()
        app.commit("broken index")
        push = app.push("main")
        time.sleep(2)
        result = load.stop()
    assert "FAILED" in push.result and "still serving r1" in push.result, push.output
    assert release_of(app, 2) in result.by_release, "r2 never served: the test proves nothing"
    rollback = [line for line in push.lines() if "rollback" in line or "==>" in line]
    assert result.failed == 0, f"{dict(result.failures)}\n" + "\n".join(rollback)
    assert users_traefik.get(host)[:2] == (200, release_of(app, 1))


# ------------------------------------------------ several apps deployed at the same time ----

def test_several_apps_deployed_at_once_under_load(users, users_traefik):
    apps = [users(SITE), users(TLS_ROUTERS), users(REF_DOCKER.replace(
        "{shared}", f"{users_traefik.name}-shared"))]
    targets = [(apps[0], f"{apps[0].name}.site.test", False),
               (apps[1], f"{apps[1].name}.tls-ep.test", True),
               (apps[2], f"{apps[2].name}.guard.test", False)]
    for app in apps:
        deploy(app, "one")
    loads = [Load(Endpoint(users_traefik.https_port if tls else users_traefik.http_port, host,
                         tls=tls), threads=2, max_seconds=600) for _, host, tls in targets]
    for load in loads:
        load.__enter__()
    outputs: dict[str, str] = {}
    try:
        for round_ in ("two", "three"):
            for app in apps:
                write(app, round_)
                app.commit(round_)
            procs = [app.push_bg("main") for app in apps]
            threads = [threading.Thread(target=lambda p=p, a=a: outputs.__setitem__(
                a.name, p.communicate(timeout=600)[0])) for p, a in zip(procs, apps, strict=True)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=620)
            for app in apps:
                assert "==> deployed" in outputs[app.name], outputs[app.name]
    finally:
        results = [load.stop() for load in loads]
    for (app, host, tls), result in zip(targets, results, strict=True):
        assert_no_failures(result, {release_of(app, n) for n in (1, 2, 3)})
        get = users_traefik.get_tls if tls else users_traefik.get
        assert get(host) == (200, release_of(app, 3), "three\n")


# ---------------------------------------------------------------- corpus shapes ----

SHAPES_LIST = """\
services:
  web:
    build: .
    networks:
      - default
      - users
    labels:
      - traefik.enable=true
      - traefik.docker.network={net}
      # http -> https redirect on web, the site on websecure (TLS on the entrypoint)
      - traefik.http.routers.{app}-http.rule=Host(`{h}`) || Host(`www.{h}`)
      - traefik.http.routers.{app}-http.entrypoints=web
      - traefik.http.routers.{app}-http.middlewares=https-redirect
      - traefik.http.middlewares.https-redirect.redirectscheme.scheme=https
      - traefik.http.middlewares.https-redirect.redirectscheme.permanent=true
      - traefik.http.routers.{app}-https.rule=(Host(`{h}`) || Host(`www.{h}`)) && !Path(`/p`)
      - traefik.http.routers.{app}-https.entrypoints=websecure
      - traefik.http.routers.{app}-https.tls=true
      - traefik.http.routers.{app}-https.tls.certresolver=le
      - traefik.http.routers.{app}-https.middlewares=secured@file
      # PathPrefix + stripprefix, basicauth with a $$-escaped apr1 hash
      - traefik.http.routers.{app}-admin.rule=Host(`{app}.shapes.test`) && PathPrefix(`/admin`)
      - traefik.http.routers.{app}-admin.entrypoints=websecure
      - traefik.http.routers.{app}-admin.priority=1000
      - traefik.http.routers.{app}-admin.middlewares=admin-auth,admin-strip
      - traefik.http.middlewares.admin-auth.basicauth.users=user:{apr1}
      - traefik.http.middlewares.admin-strip.stripprefix.prefixes=/admin
      # HostRegexp
      - traefik.http.routers.{app}-any.rule=HostRegexp(`^[a-z]+\\.{app}\\.regex\\.test$`)
      - traefik.http.routers.{app}-any.entrypoints=web
      - traefik.http.services.{app}.loadbalancer.server.port=8000
  worker:
    build: .
  cache:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
networks:
  users:
    name: {net}
    external: true
""".replace("{h}", "{app}.shapes.test")


def test_list_labels_redirect_basicauth_stripprefix_regexp_network_multiservice(
        users, users_traefik):
    app = users(SHAPES_LIST.replace("{apr1}", APR1))
    host = f"{app.name}.shapes.test"
    t = users_traefik

    def check(n: int, text: str) -> None:
        release = release_of(app, n)
        status, headers, _ = t.response(host, "/page")
        assert status in (301, 308) and headers["location"] == f"https://{host}/page"
        status, headers, body = t.response(f"www.{host}", tls=True)
        assert (status, body, headers["x-otterstack-release"]) == (200, f"{text}\n", release)
        assert headers["x-secure-headers"] == "on"
        assert t.get_tls(host, "/p")[0] == 404
        assert t.get_tls(host, "/admin/")[0] == 401
        assert t.get_tls(host, "/admin/", BASIC_AUTH) == (200, release, f"{text}\n")
        assert t.get(f"abc.{app.name}.regex.test") == (200, release, f"{text}\n")

    deploy(app, "one")
    check(1, "one")
    loads = [Load(Endpoint(t.https_port, host, tls=True), threads=2, max_seconds=300),
             Load(Endpoint(t.http_port, f"xyz.{app.name}.regex.test"), threads=2, max_seconds=300)]
    for load in loads:
        load.__enter__()
    try:
        time.sleep(1)
        deploy(app, "two")
        time.sleep(1)
    finally:
        results = [load.stop() for load in loads]
    for result in results:
        assert_no_failures(result, {release_of(app, 1), release_of(app, 2)})
    check(2, "two")
    assert not t.router_errors(app.name)


SHAPES_MAP = """\
services:
  web:
    build: .
    environment:
      PORTS: "8000 8001"
    labels:
      traefik.enable: true
      traefik.http.routers.site.rule: Host(`{app}.map.test`)
      traefik.http.routers.site.entrypoints: web
      traefik.http.routers.site.service: site
      traefik.http.routers.site.priority: 10
      traefik.http.services.site.loadbalancer.server.port: 8000
      traefik.http.routers.admin.rule: Host(`{app}.map.test`) && PathPrefix(`/`)
      traefik.http.routers.admin.entrypoints: web
      traefik.http.routers.admin.service: admin
      traefik.http.routers.admin.priority: 5
      traefik.http.routers.admin.middlewares: admin-tag
      traefik.http.middlewares.admin-tag.headers.customResponseHeaders.X-Admin: "yes"
      traefik.http.services.admin.loadbalancer.server.port: 8001
      traefik.http.routers.other.rule: Host(`admin.{app}.map.test`)
      traefik.http.routers.other.entrypoints: web
      traefik.http.routers.other.service: admin
      traefik.http.routers.other.middlewares: admin-tag
  db:
    build: .
    labels:
      traefik.enable: false
"""


def test_map_labels_two_routers_two_services_on_one_container_with_user_priorities(
        users, users_traefik):
    """The user's priorities order the app's own routers: `site` (10) beats the longer
    `admin` rule (5) on the same host, as it would without OtterStack."""
    app = users(SHAPES_MAP)
    host = f"{app.name}.map.test"
    t = users_traefik
    deploy(app, "one")
    status, headers, body = t.response(host)
    assert (status, body, headers.get("x-admin")) == (200, "one\n", None)
    status, headers, body = t.response(f"admin.{host}")
    assert (status, body, headers.get("x-admin")) == (200, "one\n", "yes")
    with Load(Endpoint(t.http_port, host), threads=2, max_seconds=300) as site, \
            Load(Endpoint(t.http_port, f"admin.{host}"), threads=2, max_seconds=300) as admin:
        time.sleep(1)
        deploy(app, "two")
        time.sleep(1)
        results = [site.stop(), admin.stop()]
    for result in results:
        assert_no_failures(result, {release_of(app, 1), release_of(app, 2)})
    status, headers, body = t.response(host)
    assert (status, body, headers.get("x-admin")) == (200, "two\n", None)
    assert headers["x-otterstack-release"] == release_of(app, 2)
    assert not t.router_errors(app.name)
