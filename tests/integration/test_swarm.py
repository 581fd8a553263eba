"""The Swarm runtime on a real single-node Swarm (the test engine, scripts/setup-docker.sh),
behind a real Traefik with the swarm provider at its *default* refreshSeconds (15 s): the
setting under which Swarm's own rolling update drops requests (benchmarks/swarm.py measures
that control). Real pushes through the real hooks, under load."""

import json
import re
import time

from conftest import RUN_ID, run, wait_for
from swarm_apps import stacks, swarm_files

from testsupport.load import Endpoint, Load

NASTY = {  # as in test_env.py: what a shell, a dotenv parser or a second interpolation breaks
    "S1": "p@ss\\",
    "S3": "it's \"quoted\" $HOME ${X} $$ #not-a-comment",
    "S5": "line one\nline 'two'\n\\n tail$",
    "S6": "ünïcødé ✓ \t tab",
}

def test_push_r1_then_r2_under_load_then_instant_rollback_none_failed(swarm_app,
                                                                     swarm_traefik):
    host = f"hello-{RUN_ID}.swarm.test"
    app = swarm_app(swarm_files("v1", host), swarm_traefik)
    for key, value in NASTY.items():  # the app's variables reach every task byte for byte
        proc = app.otter_in(value + "\n", "env", app.name, "set", key)
        assert proc.returncode == 0, proc.stderr
    app.commit("v1")
    push = app.push("main")
    assert "==> deployed" in push.result, push.output
    assert swarm_traefik.get(host)[:2] == (200, app.project("r1"))
    assert stacks(app) == [app.project("r1")]
    tasks = run(["docker", "ps", "-q", "--filter",
                 f"label=com.docker.stack.namespace={app.project('r1')}"]).stdout.split()
    assert len(tasks) == 2, tasks
    for key, value in NASTY.items():
        got = run(["docker", "exec", tasks[0], "sh", "-c", f'printf %s "${key}"'])
        assert got.stdout == value, (key, got.stdout)

    with Load(Endpoint(swarm_traefik.http_port, host), threads=4, max_seconds=240) as load:
        time.sleep(1)
        for path, text in swarm_files("v2", host).items():
            app.write(path, text)
        app.commit("v2")
        push = app.push("main")
        time.sleep(1)
        rollback = app.otter("rollback", app.name)
        time.sleep(1)
    result = load.stop()
    assert "==> deployed" in push.result, push.output
    # every task of r2 ran before Traefik was asked to serve it, and it was proven
    assert "web healthy, web healthy" in push.output, push.output
    assert re.search(r"answered 200 from r2", push.output), push.output
    assert rollback.returncode == 0, rollback.stdout + rollback.stderr
    assert "without a start" in rollback.stdout, rollback.stdout
    assert result.failed == 0, (result.failures, result.sent)
    assert result.by_release[app.project("r1")] > 0 and result.by_release[app.project("r2")] > 0
    assert swarm_traefik.get(host) == (200, app.project("r1"), "v1\n")
    # r2 stopped (scaled to 0), kept for retention; r1 serves
    assert app.active()["name"] == "r1"
    tasks = run(["docker", "service", "ls", "--filter", f"name={app.project('r2')}_",
                 "--format", "{{.Replicas}}"]).stdout.split()
    assert tasks == ["0/0"], tasks


def test_an_unhealthy_release_is_never_routed_and_removed(swarm_app, quick_swarm_traefik):
    """At a 1 s refresh Traefik would see an unhealthy task sooner than at 15 s: the stricter
    setting for "never routed"."""
    host = f"sick-{RUN_ID}.swarm.test"
    app = swarm_app(swarm_files("v1", host), quick_swarm_traefik)
    app.commit("v1")
    assert "==> deployed" in app.push("main").result
    bad = swarm_files("v2", host)
    bad["Dockerfile"] = bad["Dockerfile"].replace("http://127.0.0.1:8000/health",
                                                  "http://127.0.0.1:8000/missing")
    for path, text in bad.items():
        app.write(path, text)
    app.commit("unhealthy")
    with Load(Endpoint(quick_swarm_traefik.http_port, host), threads=4,
              max_seconds=180) as load:
        push = app.push("main")
    result = load.stop()
    assert "FAILED" in push.result, push.output
    assert "failed its healthcheck" in push.result, push.result
    assert "still serving r1" in push.result, push.result
    assert result.failed == 0, (result.failures, result.sent)
    assert set(result.by_release) == {app.project("r1")}, result.by_release
    assert stacks(app) == [app.project("r1")]
    # nothing is lost: the next push deploys
    for path, text in swarm_files("v3", host).items():
        app.write(path, text)
    app.commit("fixed")
    push = app.push("main")
    assert "==> deployed" in push.result, push.output


def test_a_pinned_database_keeps_its_data_over_five_deploys(swarm_app, quick_swarm_traefik):
    host = f"data-{RUN_ID}.swarm.test"
    app = swarm_app(swarm_files("v0", host, db=True), quick_swarm_traefik)
    # the release command runs before each release starts, and reaches the data stack
    proc = app.otter("config", app.name, "release_command",
                     "web sh -c 'ping -c 1 -W 2 db >/dev/null && echo migrated next to db'")
    assert proc.returncode == 0, proc.stderr
    for n in range(5):
        for path, text in swarm_files(f"v{n}", host, db=True).items():
            app.write(path, text)
        app.commit(f"v{n}")
        push = app.push("main")
        assert "==> deployed" in push.result, push.output
        assert "migrated next to db" in push.output, push.output
        if n:
            assert "kept db running (unchanged)" in push.output, push.output
    # one task of the data stack all along, its volume written once
    state = f"{app.name}-state"
    ids = run(["docker", "ps", "-q", "--filter",
               f"label=com.docker.stack.namespace={state}"]).stdout.split()
    assert len(ids) == 1, ids
    boots = run(["docker", "exec", ids[0], "cat", "/data/boots"]).stdout
    assert boots == "boot\n", boots
    assert f"{app.name}_data" in run(["docker", "volume", "ls", "--format",
                                      "{{.Name}}"]).stdout.split()
    assert quick_swarm_traefik.get(host)[2] == "v4\n"
    # remove the app: no stack is left, the volume only with --volumes
    proc = app.otter("apps", "remove", app.name, "--volumes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wait_for(lambda: not stacks(app), timeout=60)
    assert f"{app.name}_data" not in run(["docker", "volume", "ls", "--format",
                                          "{{.Name}}"]).stdout.split()


def test_what_swarm_cannot_do_is_refused_before_anything_starts(swarm_app,
                                                               quick_swarm_traefik):
    host = f"refuse-{RUN_ID}.swarm.test"
    files = swarm_files("v1", host)
    files["compose.yaml"] = files["compose.yaml"].replace("      replicas: 2\n",
                                                          "      mode: global\n")
    app = swarm_app(files, quick_swarm_traefik)
    app.commit("global")
    push = app.push("main")
    assert "FAILED" in push.result, push.output
    assert "service web is `deploy.mode: global`: a release runs next to the one before it" \
        in push.result, push.result
    assert stacks(app) == []
    assert json.loads(app.otter("status", app.name, "--json").stdout)["active"] is None
