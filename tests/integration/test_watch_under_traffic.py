"""The watch after a switch (issue 24), through real pushes, a real Traefik with its
Prometheus metrics (`otterstack traefik up`) and real load: a release whose health check
passes but whose pages answer 500 is rolled back by itself; a healthy one passes its watch;
an app nobody visits is not rolled back."""

import re
import time

import pytest
from conftest import RUN_ID

from testsupport.load import Endpoint, Load
from testsupport.otterapp import CHECKOUT, example_files, with_checkout


def files_for(host: str, text: str, broken: bool = False) -> dict[str, str]:
    files = example_files(text)
    files["compose.yaml"] = files["compose.yaml"].replace("hello.localhost", host)
    return with_checkout(files, text, broken)


def push_files(app, files: dict[str, str], message: str):
    for path, text in files.items():
        app.write(path, text)
    (app.src / ("www" + CHECKOUT)).chmod(0o755)
    app.commit(message)
    return app.push("main")


def endpoints(port: int, host: str) -> list[Endpoint]:
    return [Endpoint(port, host), Endpoint(port, host, CHECKOUT)]


def test_a_release_answering_500_is_rolled_back_by_itself_and_a_healthy_one_passes(
        routed_app, traefik):
    host = f"watch-{RUN_ID}.test"
    app = routed_app(files_for(host, "v1"), watch=True)
    assert app.otter("config", app.name, "watch_seconds", "15").returncode == 0
    push = push_files(app, files_for(host, "v1"), "v1")
    assert "==> deployed" in push.result, push.output
    assert "not watched: r1 replaced no release" in push.output, push.output

    with Load(endpoints(traefik.http_port, host), threads=4, max_seconds=240) as load:
        time.sleep(2)
        push = push_files(app, files_for(host, "v2", broken=True), "v2 broken")
    result = load.stop()
    # the switch itself is clean, and the health check passed: the deploy succeeded
    assert "==> deployed" in push.output, push.output
    assert re.search(r"r2 fails under real traffic: .*: rolling back to r1", push.output), \
        push.output
    [r2] = [r for r in app.releases() if r["name"] == "r2"]
    assert r2["reason"].startswith("rolled back by watch: "), r2
    assert re.search(r"\d+ of \d+ requests answered 5xx \(baseline", r2["reason"]), r2
    assert app.active()["name"] == "r1"
    assert traefik.get(host)[:2] == (200, app.project("r1"))
    # no request failed before r2 served; after the rollback, r1 serves every request again
    first_500 = min(r.started for r in result.requests if r.status == 500)
    assert [r for r in result.requests if not r.ok and r.ended < first_500] == []
    last_500 = max(r.ended for r in result.requests if r.status == 500)
    after = [r for r in result.requests if r.started > last_500]
    assert after and {r.release for r in after} == {app.project("r1")}, result
    errors = [r for r in result.requests if r.status == 500]
    assert {r.status for r in result.requests if not r.ok} == {500}, result.failures
    # bounded by what the rule needs: a poll every 0.5 s, then the instant rollback
    assert last_500 - first_500 < 10, (last_500 - first_500, len(errors))

    # nothing pinned: the next push deploys, and a healthy release passes its watch
    assert app.otter("config", app.name, "watch_seconds", "6").returncode == 0
    with Load(endpoints(traefik.http_port, host), threads=2, max_seconds=240) as load:
        push = push_files(app, files_for(host, "v3"), "v3 fixed")
    result = load.stop()
    assert "==> deployed" in push.result, push.output
    assert re.search(r"watched: [\d,]+ requests, 0 errors", push.output), push.output
    assert result.failed == 0, result.failures
    [r3] = [r for r in app.releases() if r["name"] == "r3"]
    assert r3["status"] == "active" and r3["watch_status"] == "passed", r3


def test_a_quiet_app_is_not_rolled_back(routed_app, traefik):
    """No traffic: fewer requests than watch_min_requests, so no verdict but a pass."""
    host = f"quiet-{RUN_ID}.test"
    app = routed_app(files_for(host, "v1"), watch=True)
    assert app.otter("config", app.name, "watch_seconds", "4").returncode == 0
    assert "==> deployed" in push_files(app, files_for(host, "v1"), "v1").result
    push = push_files(app, files_for(host, "v2", broken=True), "v2 broken, nobody looks")
    assert "==> deployed" in push.result, push.output
    assert "rolling back" not in push.output, push.output
    assert app.active()["name"] == "r2"
    [r2] = [r for r in app.releases() if r["name"] == "r2"]
    assert r2["watch_status"] == "passed", r2


# The rollback by watch on the servers users run (besides serve.sh, which exits at SIGTERM
# and closes every connection): a Go server that keeps connections alive (Traefik's binary:
# its file provider routes every path to its own ping, and the checkout page, broken, to a
# closed port: 502),
# and busybox httpd as PID 1, which ignores SIGTERM and is killed after its grace period.
KEEPALIVE = """\
FROM traefik:v3 AS t
FROM busybox
COPY --from=t /traefik /traefik
COPY dynamic.yml /dynamic.yml
HEALTHCHECK --interval=1s --timeout=2s --retries=3 \\
  CMD wget -q -O /dev/null http://127.0.0.1:8000/ping || exit 1
ENTRYPOINT ["/traefik", "--entrypoints.web.address=:8000", "--ping=true", \\
"--ping.entrypoint=web", "--providers.file.filename=/dynamic.yml", "--log.level=ERROR"]
"""
ROUTE_ALL = """\
http:
  routers:
    all: {{rule: "PathPrefix(`/`)", entryPoints: [web], service: ping@internal}}
    checkout: {{rule: "PathPrefix(`{path}`)", entryPoints: [web], service: {service}}}
  services:
    closed: {{loadBalancer: {{servers: [{{url: "http://127.0.0.1:9"}}]}}}}
"""
IGNORES_SIGTERM = """\
FROM busybox
COPY www /www
HEALTHCHECK --interval=1s --timeout=2s --retries=3 \\
  CMD wget -q -O /dev/null http://127.0.0.1:8000/health || exit 1
CMD ["httpd", "-f", "-p", "8000", "-h", "/www"]
"""


def server_files(kind: str, host: str, text: str, broken: bool = False) -> dict[str, str]:
    files = files_for(host, text, broken)
    if kind == "keepalive":
        files["Dockerfile"] = KEEPALIVE
        files["dynamic.yml"] = ROUTE_ALL.format(
            path=CHECKOUT, service="closed" if broken else "ping@internal")
    else:
        files["Dockerfile"] = IGNORES_SIGTERM
        files["compose.yaml"] += "    stop_grace_period: 3s\n"
    return files


@pytest.mark.parametrize("kind", ["keepalive", "ignores-sigterm"])
def test_the_watch_rolls_back_on_the_servers_users_run(routed_app, traefik, kind):
    host = f"watch-{kind}-{RUN_ID}.test"
    app = routed_app(server_files(kind, host, "v1"), watch=True)
    assert app.otter("config", app.name, "watch_seconds", "15").returncode == 0
    assert "==> deployed" in push_files(app, server_files(kind, host, "v1"), "v1").result
    with Load(Endpoint(traefik.http_port, host, CHECKOUT), threads=4, max_seconds=240) as load:
        time.sleep(2)
        push = push_files(app, server_files(kind, host, "v2", broken=True), "v2 broken")
    result = load.stop()
    assert re.search(r"r2 fails under real traffic: .*: rolling back to r1", push.output), \
        push.output
    assert app.active()["name"] == "r1"
    bad = [r for r in result.requests if r.status >= 500]
    assert bad, result
    first, last = min(r.started for r in bad), max(r.ended for r in bad)
    assert [r for r in result.requests if not r.ok and r.ended < first] == []
    # only the release's own answers failed (500 or, from the Go server, its 502): no reset
    # connection, no 502 from a server stopping under Traefik
    assert {r.status for r in result.requests if not r.ok} <= {500, 502}, result.failures
    after = [r for r in result.requests if r.started > last]
    assert after and {r.release for r in after} == {app.project("r1")}, result
    assert last - first < 10, (last - first, len(bad))
