"""The push-to-deploy core against the real thing: git push -> hook -> compose -> state."""

import json
import subprocess
import time

import pytest
from conftest import ROOT, example_files, run, wait_for

BAD_HEALTH = example_files("unhealthy") | {
    "Dockerfile": example_files()["Dockerfile"].replace("/health", "/missing"),
}
EXITS = example_files("exits") | {
    "Dockerfile": example_files()["Dockerfile"].replace(
        'CMD ["/bin/sh", "/serve.sh"]', 'CMD ["sh", "-c", "echo crashing; exit 3"]'),
}
BUILD_FAILS = example_files("nobuild") | {
    "Dockerfile": example_files()["Dockerfile"] + "RUN echo broken-step && false\n",
}


def test_first_deploy_then_second_replaces_it(make_app):
    app = make_app()
    first = app.commit("first")
    push = app.push("main")
    assert push.returncode == 0
    assert push.result.startswith(f"==> deployed {app.name} {first[:7]} (r1) in "), push.output
    steps = [line.split()[1] for line in push.lines() if line[:1] == " " and "s  " in line]
    for step in ("lock", "checkout", "config", "build", "start", "healthy"):
        assert step in steps, push.output
    assert app.answer("r1").strip() == "hello"
    assert app.active()["name"] == "r1"

    app.write("www/index.html", "second\n")
    second = app.commit("second")
    push = app.push("main")
    assert push.result.startswith(f"==> deployed {app.name} {second[:7]} (r2)"), push.output
    assert any("stop" in line and "r1" in line for line in push.lines()), push.output
    assert app.answer("r2").strip() == "second"
    assert app.containers("r1") == [], "the old release keeps running"
    history = {r["name"]: r["status"] for r in app.releases()}
    assert history == {"r1": "superseded", "r2": "active"}
    status = app.active()
    assert status["sha"] == second
    assert status["containers"][0]["health"] == "healthy"


def test_manual_redeploy_of_same_commit_is_a_new_release(make_app):
    app = make_app()
    sha = app.commit("only")
    assert app.push("main").returncode == 0
    proc = app.otter("deploy", app.name)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"deployed {app.name} {sha[:7]} (r2)" in proc.stdout
    proc = app.otter("deploy", app.name, sha[:10])
    assert proc.returncode == 0 and "(r3)" in proc.stdout
    releases = app.releases()
    assert [r["status"] for r in releases] == ["superseded", "superseded", "active"]
    assert {r["sha"] for r in releases} == {sha}
    assert {r["trigger"] for r in releases} == {"push", "manual"}


@pytest.mark.parametrize("files, reason", [
    (BAD_HEALTH, "failed its healthcheck"),
    (EXITS, "exited with code 3"),
    (BUILD_FAILS, "build failed"),
], ids=["unhealthy", "exits", "build-fails"])
def test_bad_release_leaves_old_one_serving(serving_app, files, reason):
    """(An invalid compose file is refused by pre-receive: test_operate.py and
    test_bad_input.py push one.)"""
    app = serving_app
    before = app.active()["name"]
    page = app.answer(before)
    for path, content in files.items():
        app.write(path, content)
    bad = app.commit("bad")
    started = time.monotonic()
    push = app.push("main")
    took = time.monotonic() - started
    assert took < 60, f"a failing release took {took:.0f} s: it must fail fast"
    assert reason in push.result, push.output
    failed = app.releases()[-1]
    assert push.result.startswith(f"==> FAILED {app.name} {bad[:7]} ({failed['name']}): "), \
        push.output
    assert f"still serving {before}" in push.result, push.output
    assert app.containers(failed["name"], all_=True) == []
    assert not (app.data / "apps" / app.name / "releases" / failed["name"]).exists()
    assert failed["status"] == "failed" and reason in failed["reason"]
    assert app.answer(before) == page
    assert app.active()["name"] == before
    # the next push works
    app.push_fixed()
    assert app.answer(app.active()["name"]).strip() == "fixed"


def test_other_branch_tag_and_deletion_do_not_deploy(make_app):
    app = make_app()
    app.commit("first")
    assert app.push("main").returncode == 0
    app.git("checkout", "-q", "-b", "feature")
    app.commit("feature work")
    push = app.push("feature")
    assert push.returncode == 0
    assert "ref refs/heads/feature accepted, not deployed (only main deploys)" in push.output
    app.git("tag", "v1")
    push = app.push("v1")
    assert "tag refs/tags/v1 accepted, not deployed" in push.output
    push = app.push("--delete", "feature")
    assert "not deployed" in push.output
    app.git("checkout", "-q", "main")
    # deleting the deploy branch deploys nothing and says so
    push = app.push("--delete", "main")
    assert "branch main deleted: nothing deployed" in push.output
    assert len(app.releases()) == 1 and app.active()["name"] == "r1"
    # several refs in one push: main's commit deploys once
    app.git("checkout", "-q", "-b", "other")
    app.git("checkout", "-q", "main")
    sha = app.commit("two refs")
    push = app.push("main", "other")
    assert push.output.count("==> deployed") == 1 and sha[:7] in push.result, push.output
    assert len(app.releases()) == 2


def test_two_pushes_at_once_never_deploy_together(make_app):
    files = example_files()
    app = make_app(files)
    # the first release turns healthy only after 8 s, so the second push surely finds its
    # deploy holding the lock (a fast first deploy may be done before the second push lands)
    app.write("serve.sh", files["serve.sh"].replace("httpd -f", "sleep 8\nhttpd -f", 1))
    app.write("Dockerfile", files["Dockerfile"].replace("--retries=3", "--retries=3 "
                                                        "--start-period=60s", 1))
    first = app.commit("first")
    slow = app.push_bg("main")
    # wait until the first deploy holds the lock, then push a newer commit on top of it
    wait_for(lambda: any(r["status"] == "deploying" for r in app.releases()), timeout=60)
    app.write("serve.sh", files["serve.sh"])
    app.write("Dockerfile", files["Dockerfile"])
    app.write("www/index.html", "second\n")
    second = app.commit("second")
    push = app.push("main")
    out_first, _ = slow.communicate(timeout=300)
    assert "deployed" in out_first and first[:7] in out_first
    assert "another deploy of" in push.output and "waiting for it" in push.output, push.output
    assert f"deployed {app.name} {second[:7]}" in push.result, push.output
    r1, r2 = app.releases()
    assert r1["finished_at"] <= r2["started_at"], "two deploys overlapped"
    assert app.answer("r2").strip() == "second"


def test_status_and_releases_json(make_app):
    app = make_app(files=BAD_HEALTH)
    app.commit("bad first")
    push = app.push("main")
    assert "FAILED" in push.result and "nothing was serving before" in push.result
    proc = app.otter("status", app.name, "--json")
    assert json.loads(proc.stdout)["active"] is None
    proc = app.otter("releases", app.name)
    assert "failed" in proc.stdout and "failed its healthcheck" in proc.stdout
    log = app.data / "apps" / app.name / "logs" / "r1.jsonl"
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert events[-1]["step"] == "result" and events[-1]["kind"] == "error"
    assert all("elapsed" in e for e in events)


def test_retention_keeps_last_releases(make_app):
    app = make_app()
    app.commit("c1")
    app.push("main")
    app.otter("config", app.name, "keep_releases", "2")
    for n in range(2, 5):
        app.write("www/index.html", f"v{n}\n")
        app.commit(f"c{n}")
        assert "deployed" in app.push("main").result
    releases = app.data / "apps" / app.name / "releases"
    assert sorted(p.name for p in releases.iterdir()) == ["r3", "r4"]
    assert app.projects() == [f"{app.name}-r3", f"{app.name}-r4"]


def test_crashed_deploy_leaves_no_lock_and_is_recorded_interrupted(make_app):
    app = make_app()
    app.commit("first")
    skipped = app.push("-o", "skip-deploy", "main")
    assert "not deployed (push option skip-deploy)" in skipped.result, skipped.output
    proc = subprocess.Popen([str(app.home / "venv" / "bin" / "otterstack"), "deploy", app.name],
                            env=app.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    wait_for(lambda: app.containers("r1", all_=True), timeout=60, interval=0.05)
    proc.kill()
    proc.wait()
    app.commit("next")
    push = app.push("main")
    assert "r1 was interrupted" in push.output, push.output
    assert "deployed" in push.result
    statuses = [r["status"] for r in app.releases()]
    # killed once its container existed: recovery lets it settle, then completes it if it
    # turned healthy (it may be serving) or removes it; either way nothing is left deploying
    if statuses == ["superseded", "active"]:
        assert "healthy and serving; completed its switch" in push.output, push.output
        assert app.projects() == [f"{app.name}-r1", f"{app.name}-r2"]
        assert app.containers("r1") == [], "the completed r1 was not stopped"
    else:
        assert statuses == ["interrupted", "active"], statuses
        assert app.projects() == [f"{app.name}-r2"]


def test_manual_deploy_of_unknown_ref_is_a_clear_error(make_app):
    app = make_app()
    app.commit("first")
    app.push("main")
    proc = app.otter("deploy", app.name, "no-such-ref")
    assert proc.returncode == 2
    assert "no commit 'no-such-ref'" in proc.stderr and "Traceback" not in proc.stderr
    assert app.active()["name"] == "r1"


def test_install_is_idempotent_and_refuses_bad_names(make_app):
    app = make_app(install_sh=True)
    app.commit("first")
    app.push("main")
    proc = app.install()
    assert "adopting existing repo" in proc.stdout
    assert app.active()["name"] == "r1"
    hook = (app.repo / "hooks" / "post-receive").read_text()
    assert "OTTERSTACK_APP=" in hook
    # nothing of OtterStack's is writable by others; its state and secrets are private
    for root in (app.data, app.repo / "hooks", app.home / "venv" / "bin"):
        for path in [root, *root.rglob("*")]:
            if not path.is_symlink():
                assert not path.stat().st_mode & 0o002, path
    assert app.data.stat().st_mode & 0o077 == 0
    assert (app.data / "state.db").stat().st_mode & 0o077 == 0
    assert run(["git", "-C", str(app.repo), "config", "receive.advertisePushOptions"]
               ).stdout.strip() == "true"
    for bad in ["Bad", "a/b", "../x", "-x", "a b", "x" * 41, "été"]:
        target = app.base / "bad.git"
        proc = run(["bash", str(ROOT / "install.sh"), bad, "--repo", str(target)], env=app.env)
        assert proc.returncode == 2, (bad, proc.stdout, proc.stderr)
        assert "invalid app name" in proc.stderr or "unknown option" in proc.stderr
        assert not target.exists()
