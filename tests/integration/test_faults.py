"""Faults: a deploy killed at any step, a pusher who hits Ctrl-C, pushes racing each other."""

import os
import signal
import subprocess

import pytest
from conftest import App, compose_with, example_files, wait_for

from testsupport.load import Endpoint, Load

HOST = "hello.localhost"
KILL_HOST = "killed.localhost"  # the kill points' app, alive beside the others
# (step, text in the progress line after which the deploy is SIGKILLed)
KILL_POINTS = [
    ("lock", "deploy lock"),
    ("checkout", "worktree"),
    ("build", "building"),
    ("start", "starting"),
    ("health", "waiting"),
    ("healthy", "healthy"),
    ("served", "answered"),
    ("stop", "stopping"),
]


def answers(traefik) -> bool:
    """Traefik is back and routes the app (while it starts, connections may be reset)."""
    try:
        return traefik.get(HOST)[0] == 200
    except OSError:
        return False


def consistent(app) -> None:
    """No release is left deploying, and every container project and worktree is known."""
    releases = app.releases()
    assert all(r["status"] != "deploying" for r in releases), releases
    known = {app.project(r["name"]) for r in releases
             if r["status"] in ("active", "superseded") and r["worktree"]}
    assert set(app.projects()) <= known, (app.projects(), known)
    worktrees = {p.name for p in (app.data / "apps" / app.name / "releases").iterdir()}
    assert worktrees == {r["name"] for r in releases if r["worktree"]}


def deploy_and_kill(app, step: str, text: str) -> list[str]:
    proc = subprocess.Popen([str(app.home / "venv" / "bin" / "otterstack"), "deploy", app.name],
                            env=app.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    seen = []
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(line)
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[1] == step and text in parts[2]:
            proc.kill()
            break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "".join(seen)
    return seen


@pytest.fixture(scope="module")
def killed_app(routed_app_module) -> App:
    """One routed app, on a Host of its own, serving for every kill point: each case kills a
    deploy of one commit and ends with the push of the next, which deploys."""
    files = example_files("v1")
    files["compose.yaml"] = files["compose.yaml"].replace(HOST, KILL_HOST)
    app = routed_app_module(files)
    app.commit("v1")
    assert "deployed" in app.push("main").result
    return app


@pytest.mark.parametrize("step, text", KILL_POINTS, ids=[s for s, _ in KILL_POINTS])
def test_deploy_killed_at_any_step_keeps_site_up_and_next_push_works(killed_app, traefik,
                                                                     step, text):
    app = killed_app
    # killed while the replaced release stops: not kept for a rollback, then
    retire_after = "0" if step == "stop" else "300"
    assert app.otter("config", app.name, "retire_after", retire_after).returncode == 0
    app.write("www/index.html", "v2\n")
    v2 = app.commit("v2")
    assert "skip-deploy" in app.push("-o", "skip-deploy", "main").result
    with Load(Endpoint(traefik.http_port, KILL_HOST), threads=2, max_seconds=180) as load:
        app.write("www/index.html", "v3\n")
        app.commit("v3")  # ready before the kill: the next push races the killed release
        deploy_and_kill(app, step, text)
        push = app.push("main")
        result = load.stop()
    assert "deployed" in push.result, push.output
    assert result.failed == 0, result.failures
    assert traefik.get(KILL_HOST)[2] == "v3\n"
    killed = [r for r in app.releases() if r["sha"] == v2]
    # killed right after the lock, the release may not be recorded yet: nothing to recover
    assert killed or step == "lock"
    for release in killed:
        assert release["status"] in ("interrupted", "superseded"), release
        if release["status"] == "interrupted":
            assert "died" in release["reason"]
    consistent(app)


def test_pusher_ctrl_c_does_not_stop_the_deploy(routed_app, traefik):
    app = routed_app(example_files("one"))
    app.commit("one")
    assert "deployed" in app.push("main").result
    app.write("www/index.html", "two\n")
    app.commit("two")
    push = subprocess.Popen(["git", "-C", str(app.src), "push", "production", "main"],
                            env=app.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    assert push.stdout is not None
    for line in push.stdout:
        if " start " in line:
            break
    os.killpg(push.pid, signal.SIGINT)  # what Ctrl-C in the pusher's terminal does
    push.wait(timeout=30)
    wait_for(lambda: app.releases()[-1]["status"] != "deploying", timeout=120)
    assert app.releases()[-1]["status"] == "active"
    assert traefik.get(HOST)[2] == "two\n"
    logs = app.otter("logs", app.name, "--follow")
    assert logs.returncode == 0 and f"==> deployed {app.name}" in logs.stdout
    consistent(app)


# c1's health check passes only once the test lets it (`touch /go` in its container), so its
# deploy is still running when the four pushes after it arrive, however loaded the host is
GATED = """    healthcheck:
      test: ["CMD-SHELL", "test -f /go && wget -q -O /dev/null http://127.0.0.1:8000/health"]
      interval: 1s
      retries: 300
"""


def test_five_quick_pushes_deploy_the_newest_once(make_app):
    app = make_app(compose_with(GATED))
    pushes = []
    shas = []
    for n in range(1, 6):
        app.write("www/index.html", f"c{n}\n")
        if n == 2:
            app.write("compose.yaml", example_files()["compose.yaml"])
        shas.append(app.commit(f"c{n}"))
        pushes.append(app.push_bg("main"))
        wait_for(lambda s=shas[-1]: s in app.git("ls-remote", "production", "main").stdout,
                 timeout=60)
    wait_for(lambda: app.containers("r1"), timeout=120)
    assert app.releases()[-1]["status"] == "deploying", "c1 is deployed before c5 arrived"
    subprocess.run(["docker", "exec", app.containers("r1")[0], "touch", "/go"], check=True)
    outputs = [p.communicate(timeout=600)[0] for p in pushes]
    releases = app.releases()
    assert [r["sha"] for r in releases] == [shas[0], shas[4]], releases
    assert releases[0]["finished_at"] <= releases[1]["started_at"]
    assert f"deployed {app.name} {shas[4][:7]}" in outputs[4]
    for n in (1, 2, 3):
        assert "skipped: a newer push" in outputs[n], outputs[n]
    assert app.answer("r2").strip() == "c5"


def test_two_apps_deploy_in_parallel(make_app):
    apps = [make_app(), make_app()]
    for app in apps:
        app.commit("first")
    procs = [app.push_bg("main") for app in apps]
    for proc in procs:
        assert "==> deployed" in proc.communicate(timeout=300)[0]
    (a,), (b,) = apps[0].releases(), apps[1].releases()
    assert a["started_at"] < b["finished_at"] and b["started_at"] < a["finished_at"], \
        "deploys of different apps ran one after the other"


def test_docker_engine_unreachable_is_a_clear_error(make_app):
    app = make_app()
    app.serve_and_stage_next()
    env = dict(app.env, DOCKER_HOST="unix:///nonexistent/docker.sock")
    proc = subprocess.run([str(app.home / "venv" / "bin" / "otterstack"), "deploy", app.name],
                          env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Traceback" not in out
    assert "Cannot connect to the Docker daemon" in out or "Docker Engine" in out, out
    assert "still serving r1" in out, out
    assert app.answer("r1").strip() == "hello"
    consistent(app)
    app.write("www/index.html", "three\n")
    app.commit("three")
    assert "deployed" in app.push("main").result


def test_state_database_locked_by_another_process_is_a_clear_error(make_app):
    import sqlite3
    app = make_app()
    app.serve_and_stage_next()
    holder = sqlite3.connect(app.data / "state.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        proc = app.otter("deploy", app.name)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "database is locked" in proc.stderr and "serving release is untouched" in proc.stderr
    assert app.answer("r1").strip() == "hello"
    assert app.otter("deploy", app.name).returncode == 0
    consistent(app)


def test_full_disk_under_the_data_dir_is_a_clear_error(make_app, tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    assert subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)]
                          ).returncode == 0, "needs root to mount a small tmpfs"
    try:
        app = make_app(init=False)
        app.env["OTTERSTACK_DATA_DIR"] = str(mount / "data")
        app.install()
        app.src.mkdir()
        app.git("init", "-q", "-b", "main")
        app.git("remote", "add", "production", str(app.repo))
        for path, content in example_files("hello").items():
            app.write(path, content)
        app.commit("first")
        assert "deployed" in app.push("main").result
        filler = mount / "filler"
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True)
        app.write("www/index.html", "two\n")
        app.commit("two")
        push = app.push("main")
        assert "No space left on device" in push.output or "disk is full" in push.output, \
            push.output
        assert "Traceback" not in push.output
        assert app.answer("r1").strip() == "hello"
        filler.unlink()
        app.commit("three")
        assert "deployed" in app.push("main").result
        consistent(app)
    finally:
        app.cleanup()
        subprocess.run(["umount", "-l", str(mount)])


def test_stopped_traefik_is_a_clear_error_and_the_site_is_untouched(routed_app, traefik):
    app = routed_app(example_files("one"))
    app.commit("one")
    assert "deployed" in app.push("main").result
    subprocess.run(["docker", "stop", traefik.name], check=True, capture_output=True)
    try:
        app.write("www/index.html", "two\n")
        app.commit("two")
        push = app.push("main")
        assert "FAILED" in push.result, push.output
        assert f"Traefik container {traefik.name} is not running" in push.output
        assert f"docker start {traefik.name}" in push.output
    finally:
        subprocess.run(["docker", "start", traefik.name], check=True, capture_output=True)
    wait_for(lambda: answers(traefik), timeout=30)
    assert traefik.get(HOST) == (200, app.project("r1"), "one\n")
    app.commit("again")
    assert "deployed" in app.push("main").result
    assert traefik.get(HOST)[2] == "two\n"
