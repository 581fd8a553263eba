"""The compose policy over plain path pushes: apps from before the policy keep what their
active release uses, and a link in the commit cannot smuggle a host mount past it."""

import os
import sqlite3

from conftest import compose_with

SOCKET = "    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock:ro\n"


def test_an_app_from_before_the_policy_keeps_what_it_uses(make_app):
    app = make_app(compose_with(SOCKET))
    assert app.otter("config", app.name, "allow", "docker-socket").returncode == 0
    app.commit("uses the socket")
    assert "==> deployed" in app.push("main").result
    # the data dir of an OtterStack from before the policy: nothing recorded for the app
    db = sqlite3.connect(app.data / "state.db")
    db.execute("UPDATE apps SET allow = '?not-recorded' WHERE name = ?", (app.name,))
    db.commit()
    db.close()
    app.write("www/index.html", "two\n")
    app.commit("two")
    push = app.push("main")
    assert "==> deployed" in push.result, push.output
    assert (f"compose policy introduced for {app.name}: its active release r1 uses; "
            "recorded as allowed: docker-socket") in "\n".join(push.lines())
    shown = app.otter("config", app.name, "allow")
    assert shown.stdout.strip() == "allow = docker-socket"
    # what it did not use is not grandfathered
    for path, content in compose_with(SOCKET + "    privileged: true\n").items():
        app.write(path, content)
    app.commit("and privileged")
    push = app.push("main")
    assert push.returncode != 0 and "privileged true" in push.output, push.output
    assert f"otterstack config {app.name} allow docker-socket,privileged" in push.output


def test_a_link_in_the_commit_cannot_smuggle_a_host_mount(make_app):
    app = make_app()
    app.commit("first")
    assert "==> deployed" in app.push("main").result
    for path, content in compose_with("    volumes:\n      - ./hostroot:/host:ro\n").items():
        app.write(path, content)
    os.symlink("/", app.src / "hostroot")
    app.commit("link to /")
    push = app.push("main")
    # pre-receive sees no link (it never unpacks them); the deploy resolves it and refuses
    assert "refused by the compose policy" in push.result, push.output
    assert "volumes" in push.result and "host-mounts" in push.result
    assert app.active()["name"] == "r1"
    assert [r["status"] for r in app.releases()][-1] == "failed"
