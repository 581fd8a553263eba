"""A pusher of one app attacks another app through the compose file alone (the issue "a
pusher gets only what the admin allowed"): through the victim's volume, network and image,
the shared base image, and a singleton that edits the checked compose file before the
release starts. Real `git push`, a second app as the victim. Each refusal happens before the
ref moves, with nothing started. (An allow-all seccomp profile and a writable mount of the
checkout are refused by the same pre-receive check: tests/unit/test_compose_policy.py.)"""

import json
import os
import re

import pytest
from conftest import compose_with, example_files, run

DB = """\
  db:
    image: busybox
    command: ["sh", "-c", "echo secret > /data/secret; exec sleep 100000"]
    volumes:
      - data:/data
volumes:
  data: {}
"""


@pytest.fixture(scope="module")
def victim(request):
    """An app with a database on a volume and a built image, deployed once for the module."""
    make_app = request.getfixturevalue("make_app_module")
    files = example_files("victim")
    files["compose.yaml"] += DB
    app = make_app(files)
    app.commit("victim")
    push = app.push("main")
    assert "==> deployed" in push.result, push.output
    return app


@pytest.fixture(scope="module")
def evil(request):
    make_app = request.getfixturevalue("make_app_module")
    app = make_app(example_files("evil"))
    app.commit("evil")
    assert "==> deployed" in app.push("main").result
    return app


def refused_before_the_ref_moves(app, files: dict[str, str]) -> str:
    before = run(["git", "-C", str(app.repo), "rev-parse", "main"]).stdout
    for path, content in files.items():
        app.write(path, content)
    app.commit("attack")
    push = app.push("main")
    assert push.returncode != 0 and "push refused" in push.result, push.output
    assert run(["git", "-C", str(app.repo), "rev-parse", "main"]).stdout == before
    app.git("reset", "-q", "--hard", "HEAD~1")
    return push.output


def test_the_victims_volume_is_refused(victim, evil):
    volume = f"{victim.name}_data"
    files = compose_with("    volumes:\n      - loot:/loot\n")
    files["compose.yaml"] += f"volumes:\n  loot:\n    name: {volume}\n"
    out = refused_before_the_ref_moves(evil, files)
    assert f"volumes.loot name {volume}" in out and "allow shared-names" in out, out
    files["compose.yaml"] = files["compose.yaml"].replace(
        f"name: {volume}", f"name: {volume}\n    external: true")
    out = refused_before_the_ref_moves(evil, files)
    assert "shared-names" in out and "external-volumes" in out, out
    assert victim.otter("status", victim.name).returncode == 0


def test_the_victims_network_is_refused(victim, evil):
    network = f"{victim.name}_default"
    files = compose_with("    networks:\n      - theirs\n")
    files["compose.yaml"] += f"networks:\n  theirs:\n    name: {network}\n    external: true\n"
    out = refused_before_the_ref_moves(evil, files)
    assert f"networks.theirs name {network}" in out and "shared-names" in out, out


def test_retagging_the_shared_base_image_is_refused(evil):
    base = run(["docker", "image", "inspect", "-f", "{{.Id}}", "busybox:latest"]).stdout
    out = refused_before_the_ref_moves(evil, compose_with("    image: busybox:latest\n"))
    assert "image busybox:latest on a service that is built" in out, out
    files = compose_with("")
    files["compose.yaml"] = files["compose.yaml"].replace(
        "    build: .\n", "    build:\n      context: .\n      tags: [busybox:latest]\n")
    out = refused_before_the_ref_moves(evil, files)
    assert "build.tags busybox:latest" in out, out
    assert run(["docker", "image", "inspect", "-f", "{{.Id}}", "busybox:latest"]).stdout == base


def test_running_the_victims_image_is_refused(victim, evil):
    image = f"{victim.project('r1')}-web"
    files = example_files("evil")
    files["compose.yaml"] = files["compose.yaml"].replace("    build: .\n",
                                                          f"    image: {image}\n")
    out = refused_before_the_ref_moves(evil, files)
    assert f"image {image} (built by compose project {victim.project('r1')})" in out, out


EDITOR = """\
  editor:
    image: busybox
    labels:
      dev.otterstack.singleton: "true"
    volumes:
      - .:/src
    command: ["sh", "/src/editor.sh"]
    healthcheck:
      test: ["CMD", "test", "-f", "/src/edited"]
      interval: 1s
"""
# adds `/etc:/host-etc` to web in the checkout's compose file, in place, then says so (the
# deploy waits for the singleton's health check, so web starts after the edit)
EDITOR_SH = """\
awk '{print} /^    build: [.]$/ && !done {print "    volumes: [/etc:/host-etc:ro]"; done=1}' \\
  /src/compose.yaml > /src/.c && cat /src/.c > /src/compose.yaml && touch /src/edited
exec sleep 100000
"""


def test_a_singleton_that_edits_the_checked_compose_file_changes_nothing_that_runs(evil):
    """The admin allowed writable mounts; the singleton starts before the release and adds
    `/etc:/host-etc` to web in the checkout's compose file. Compose never reads that file
    again: web runs as checked."""
    assert evil.otter("config", evil.name, "allow", "writable-mounts").returncode == 0
    files = example_files("edited")
    files["compose.yaml"] += EDITOR
    files["editor.sh"] = EDITOR_SH
    for path, content in files.items():
        evil.write(path, content)
    evil.commit("editor")
    push = evil.push("main")
    assert "==> deployed" in push.result, push.output
    release = evil.active()["name"]
    checkout = evil.data / "apps" / evil.name / "releases" / release
    assert (checkout / "edited").exists()  # the singleton did edit the real checkout
    assert "/host-etc" in (checkout / "compose.yaml").read_text()
    for container in evil.containers(release):
        mounts = json.loads(run(["docker", "inspect", "-f", "{{json .Mounts}}",
                                 container]).stdout)
        assert all(m.get("Source") != "/etc" for m in mounts), mounts
    assert os.path.isdir("/etc")


def test_traefik_labels_in_the_image_are_refused_before_anything_starts(evil):
    """A Dockerfile's LABEL reaches the containers where the compose policy does not look:
    the deploy reads the built image's labels and refuses before anything starts."""
    active = evil.active()["name"]
    files = example_files("labelled")
    files["Dockerfile"] = files["Dockerfile"].replace(
        "EXPOSE 8000", "EXPOSE 8000\nLABEL traefik.http.routers.dash.service=api@internal")
    assert "LABEL traefik" in files["Dockerfile"]
    for path, content in files.items():
        evil.write(path, content)
    evil.commit("labelled image")
    push = evil.push("main")
    assert "FAILED" in push.result and "carries Traefik labels" in push.result, push.output
    assert not any(re.search(r"\sstart\s+starting ", line) for line in push.lines()), \
        push.output
    assert evil.active()["name"] == active
    evil.git("revert", "--no-edit", "HEAD")
