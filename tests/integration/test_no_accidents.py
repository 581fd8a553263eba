"""Nothing destroyed by accident: links in a commit are never written through, a pin set
while a push waits for the lock holds, an odd push option is only a warning."""

import fcntl
import json
import os

from conftest import run


def test_a_commit_that_links_generated_file_names_cannot_overwrite_anything(make_app,
                                                                            tmp_path):
    app = make_app()
    assert app.otter("env", app.name, "set", "API_TOKEN=tok-3f9a2c7e1b").returncode == 0
    outside = tmp_path / "outside.txt"
    outside.write_text("outside-content-5c1d\n")
    # relative to the checkout (apps/APP/releases/rN): the app's own secrets file
    os.symlink("../../env", app.src / "docker-compose.otterstack.yml")
    os.symlink(str(outside), app.src / "docker-compose.traefik.yml")
    app.commit("links under the generated files' names")
    dry = app.push("-o", "dry-run", "main")
    assert "nothing was changed" in dry.result, dry.output
    assert "outside-content-5c1d" not in dry.output
    app.commit("the dry run moved the branch: deploy a new commit")
    push = app.push("main")
    assert "deployed" in push.result, push.output
    env_file = app.data / "apps" / app.name / "env"
    assert json.loads(env_file.read_text()) == {"API_TOKEN": "tok-3f9a2c7e1b"}
    assert outside.read_text() == "outside-content-5c1d\n"
    container = app.containers("r1")[0]
    env = run(["docker", "exec", container, "env"]).stdout
    assert "API_TOKEN=tok-3f9a2c7e1b" in env


def test_a_pin_set_while_a_push_waits_for_the_lock_holds(make_app):
    app = make_app()
    app.commit("first")
    assert "deployed" in app.push("main").result
    app.write("www/index.html", "bad\n")
    app.commit("the bad commit")
    lock = app.data / "locks" / f"{app.name}.lock"
    with open(lock, "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # a deploy (or rollback) holds the lock
        pusher = app.push_bg("main")
        # the push's deploy says it waits for the lock (not merely started: the hook reads
        # the pin before it asks for the lock)
        seen = ""
        while "waiting for it" not in seen:
            line = pusher.stdout.readline()
            assert line, seen
            seen += line
        assert app.otter("pin", app.name, "--reason", "incident 7").returncode == 0
        fcntl.flock(held, fcntl.LOCK_UN)
    rest, _ = pusher.communicate(timeout=300)
    output = seen + rest
    assert "was pinned while the push waited (incident 7)" in output, output
    assert app.active()["name"] == "r1"
    assert app.answer("r1").strip() == "hello"
    assert [r["name"] for r in app.releases()] == ["r1"]


def test_a_push_option_that_looks_like_a_flag_is_only_a_warning(make_app):
    app = make_app()
    app.commit("first")
    push = app.push("-o", "-v", "-o", "--help", "main")
    assert push.returncode == 0, push.output
    assert "push option '-v' is not known and was ignored" in push.output, push.output
    assert "deployed" in push.result
