"""The rollback window (retire_after): a replaced release's routed services keep running out
of traffic, its workers stop at once, a rollback inside the window switches back without a
start, and the window ends by itself. Real Traefik, real pushes, under load."""

import json
import re
import time

from conftest import example_files, wait_for

from testsupport.load import Endpoint, Load

HOST = "hello.localhost"
WORKER = """\
  worker:
    image: busybox
    command: ["sleep", "100000"]
    stop_grace_period: 1s
"""


def with_worker(text: str) -> dict[str, str]:
    files = example_files(text)
    files["compose.yaml"] += WORKER
    return files


def running_services(app, release: str) -> set[str]:
    ids = app.containers(release)
    if not ids:
        return set()
    from conftest import run
    out = run(["docker", "inspect", "--format",
               '{{index .Config.Labels "com.docker.compose.service"}}', *ids]).stdout
    return set(out.split())


def test_instant_rollback_inside_the_window_under_load(routed_app, traefik):
    app = routed_app(with_worker("v1"))
    app.commit("v1")
    assert "deployed" in app.push("main").result
    for path, text in with_worker("v2").items():
        app.write(path, text)
    app.commit("v2")
    push = app.push("main")
    assert "deployed" in push.result, push.output
    # the phases of the deploy, in the result line and in releases --json
    assert re.search(r"\(queued [\d.]+ s, checkout .* proven [\d.]+ s, old stopped [\d.]+ s\)",
                     push.result), push.output
    phases = app.releases()[-1]["phases"]
    assert set(phases) == {"queued", "checkout", "build", "start", "healthy", "proven",
                           "old_stopped"}, phases
    # r1: web still runs (out of traffic: r2 outranks it), its worker stopped at once
    assert running_services(app, "r1") == {"web"}, push.output
    assert "keeps running out of traffic for 300 s" in push.output, push.output
    assert traefik.get(HOST) == (200, app.project("r2"), "v2\n")

    with Load(Endpoint(traefik.http_port, HOST), threads=4, max_seconds=60) as load:
        time.sleep(1)
        proc = app.otter("rollback", app.name)
        time.sleep(1)
        result = load.stop()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "without a start" in proc.stdout, proc.stdout
    steps = {line.split()[1] for line in proc.stdout.splitlines() if line.startswith("  ")}
    assert not steps & {"build", "health", "healthy"}, proc.stdout
    assert result.failed == 0, result.failures
    assert set(result.by_release) == {app.project("r1"), app.project("r2")}
    assert traefik.get(HOST) == (200, app.project("r1"), "v1\n")
    served = float(re.search(r"served ([\d.]+) s after the switch began", proc.stdout)[1])
    assert served < 15, proc.stdout  # the benchmark measures it; here: it did switch
    assert running_services(app, "r1") == {"web", "worker"}
    assert app.containers("r2") == []
    statuses = {r["name"]: r["status"] for r in app.releases()}
    assert statuses == {"r1": "active", "r2": "superseded"}
    # the next push deploys as usual and keeps r1 for its window
    app.commit("v3")
    push = app.push("main")
    assert "deployed" in push.result and "(r3)" in push.result, push.output


def test_the_window_ends_by_itself(routed_app, traefik):
    app = routed_app(with_worker("v1"))
    assert app.otter("config", app.name, "retire_after", "3").returncode == 0
    app.commit("v1")
    assert "deployed" in app.push("main").result
    app.commit("v2")
    push = app.push("main")
    assert "deployed" in push.result, push.output
    assert running_services(app, "r1") == {"web"}
    # the deploy scheduled `otterstack retire`; it drains and stops r1 once 3 s have passed
    wait_for(lambda: app.containers("r1") == [], timeout=60, interval=0.5)
    r1 = next(r for r in app.releases() if r["name"] == "r1")
    assert r1["status"] == "superseded" and r1["retire_at"] is None
    # outside the window a rollback starts r1's images again, through the health gate
    proc = app.otter("rollback", app.name)
    assert proc.returncode == 0 and "(r3)" in proc.stdout, proc.stdout + proc.stderr
    assert traefik.get(HOST) == (200, app.project("r3"), "v1\n")
    assert json.loads(app.otter("releases", app.name, "--json").stdout)[0]["name"] == "r3"
