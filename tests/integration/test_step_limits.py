"""Steps that end: a hung build or release command is killed at its per-step limit, the
release fails with a message naming the step, the limit and the setting, the old release
keeps serving, and the next push deploys."""

import time

from conftest import run, wait_for

HUNG = "hung-step-7f3a"  # marks the processes the hung step starts


def sleepers() -> list[str]:
    """Processes on this machine (containers included) still running the hung step."""
    out = run(["ps", "-eww", "-o", "pid,args"]).stdout.splitlines()
    return [line for line in out if HUNG in line and "ps -eo" not in line]


def test_a_hung_build_is_killed_at_build_timeout_and_the_old_release_serves(make_app):
    app = make_app()
    app.commit("first")
    assert "deployed" in app.push("main").result
    assert app.otter("config", app.name, "build_timeout", "20").returncode == 0
    dockerfile = (app.src / "Dockerfile").read_text()
    app.write("Dockerfile", dockerfile.replace(
        "COPY www /www", f"COPY www /www\nRUN echo building; sh -c 'sleep 100000 # {HUNG}'"))
    app.commit("a RUN step that never ends")
    started = time.monotonic()
    push = app.push("main")
    took = time.monotonic() - started
    assert "FAILED" in push.result, push.output
    assert "the build did not finish in 20 s (build_timeout)" in push.result, push.result
    assert f"otterstack config {app.name} build_timeout SECONDS" in push.output
    assert "still serving r1" in push.result
    assert took < 300, took  # ended: not the 100000 s the step asked for
    assert app.answer("r1").strip() == "hello"
    assert [r["status"] for r in app.releases()] == ["active", "failed"]
    wait_for(lambda: not sleepers(), timeout=60)  # nothing of the build keeps running
    # the next push works (the lock was released; nothing was left behind)
    assert app.otter("config", app.name, "build_timeout", "1800").returncode == 0
    app.write("Dockerfile", dockerfile)
    app.write("www/index.html", "fixed\n")
    app.commit("fixed")
    push = app.push("main")
    assert "deployed" in push.result, push.output
    assert app.answer("r3").strip() == "fixed"


def test_a_hung_release_command_is_killed_at_its_limit(make_app):
    app = make_app()
    app.commit("first")
    assert "deployed" in app.push("main").result
    assert app.otter("config", app.name, "release_command_timeout", "15").returncode == 0
    assert app.otter("config", app.name, "release_command",
                     f"web sh -c 'echo waiting on a lock; sleep 100000 # {HUNG}'").returncode == 0
    app.write("www/index.html", "v2\n")
    app.commit("v2")
    push = app.push("main")
    assert "FAILED" in push.result, push.output
    assert ("the release command did not finish in 15 s (release_command_timeout)"
            in push.result), push.result
    assert "still serving r1" in push.result
    assert app.answer("r1").strip() == "hello"
    wait_for(lambda: not sleepers(), timeout=60)
    assert app.projects() == [app.project("r1")]
