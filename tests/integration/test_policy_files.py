"""What Compose itself reads while it makes the config the policy checks: includes, their env
files, remote includes, the `.env` of the commit; and the bound on a pushed commit. Each attack
is refused by pre-receive before the ref moves and before Compose runs, with nothing started.

One pusher app and one victim app (sharing a data dir, as on a server) serve every refusal:
a refused push changes nothing on the server, and each test starts from the same commit."""

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import RUN_ID, App, Push, app_env, example_files, run

SECRET = "s3cret-token-of-the-victim"
INCLUDED = ("services:\n  spy:\n    image: busybox\n    command: sleep 600\n"
            "    labels:\n      stolen: ${TOKEN:-none}\n")


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory, install_home: Path,
         otterstack_bin: Path) -> Iterator[SimpleNamespace]:
    """The victim (with a secret) and the pusher (with one commit, not yet pushed)."""
    base = tmp_path_factory.mktemp("policy-files")
    env = app_env(install_home, base / "data")
    victim = App(f"t{RUN_ID}-pf-victim", base / "victim", install_home, dict(env))
    pusher = App(f"t{RUN_ID}-pf-pusher", base / "pusher", install_home, dict(env))
    for app in (victim, pusher):
        app.base.mkdir()
        app.install()
    proc = victim.otter_in(SECRET, "env", victim.name, "set", "TOKEN")
    assert proc.returncode == 0, proc.stderr
    pusher.init_source(example_files())
    first = pusher.commit("first")
    yield SimpleNamespace(victim=victim, pusher=pusher, first=first,
                          secrets=victim.data / "apps" / victim.name / "env")
    for app in (victim, pusher):
        app.cleanup()


@pytest.fixture
def pusher(apps: SimpleNamespace) -> App:
    """The pusher's clone back at its first commit, nothing else in it."""
    app: App = apps.pusher
    app.git("reset", "-q", "--hard", apps.first)
    app.git("clean", "-qfdx")
    return app


def server_head(app: App) -> str:
    return run(["git", "-C", str(app.repo), "rev-parse", "--verify", "-q",
                "refs/heads/main"]).stdout.strip()


def refused(app: App, files: dict[str, str], *push_args: str) -> Push:
    """Commit `files` over the clone and push: refused before the ref moves, nothing run."""
    for path, content in files.items():
        app.write(path, content)
    app.commit("attack")
    before, releases = server_head(app), app.releases()
    push = app.push(*push_args, "+main")
    assert push.returncode != 0, push.output
    assert push.result.startswith(f"==> push refused, {app.name} "), push.output
    assert "pre-receive hook declined" in push.output
    assert server_head(app) == before and app.releases() == releases
    assert app.projects() == []
    return push


def test_an_include_cannot_read_another_apps_secrets(apps, pusher):
    assert apps.secrets.is_file()
    compose = example_files()["compose.yaml"]
    attack = (f"include:\n  - path: spy.yaml\n    env_file: {apps.secrets}\n" + compose)
    push = refused(pusher, {"compose.yaml": attack, "spy.yaml": INCLUDED})
    assert (f"the compose file: include.env_file {apps.secrets} (in compose.yaml) gives the "
            "container host files outside the release's checkout") in push.result
    assert f"`otterstack config {pusher.name} allow host-files`" in push.result
    assert SECRET not in push.output
    relative = os.path.relpath(apps.secrets, pusher.src)
    attack = f"include:\n  - path: spy.yaml\n    env_file: {relative}\n" + compose
    push = refused(pusher, {"compose.yaml": attack, "spy.yaml": INCLUDED})
    assert f"include.env_file {relative} (in compose.yaml)" in push.result


def test_a_committed_link_to_another_apps_secrets_is_refused_at_deploy(apps, pusher):
    """Pre-receive never unpacks links (Compose then finds no such file there); the deploy
    checks its checkout, follows the link and refuses before Compose reads it."""
    os.symlink(apps.secrets, pusher.src / "vars.env")
    pusher.write("compose.yaml", "include:\n  - path: spy.yaml\n    env_file: vars.env\n"
                 + example_files()["compose.yaml"])
    pusher.write("spy.yaml", INCLUDED)
    pusher.commit("a link to the victim's secrets")
    push = pusher.push("-o", "skip-deploy", "+main")
    assert "pushed, not deployed" in push.result, push.output
    deploy = pusher.otter("deploy", pusher.name)
    output = deploy.stdout + deploy.stderr
    assert deploy.returncode == 1, output
    assert ("include.env_file vars.env (in compose.yaml) gives the container host files "
            "outside the release's checkout") in output
    assert SECRET not in output
    assert pusher.projects() == [] and pusher.active() is None


def test_a_remote_include_is_refused(pusher):
    compose = example_files()["compose.yaml"]
    for remote in ("git@example.invalid:evil/compose.git",
                   "https://example.invalid/evil/compose.git#main:compose.yaml",
                   "oci://example.invalid/evil/compose:1"):
        push = refused(pusher, {"compose.yaml": f"include:\n  - {remote}\n" + compose})
        assert f"include {remote} (in compose.yaml) gives the container compose files " \
               "fetched from outside the commit" in push.result, push.output
        assert "allow remote-includes`" in push.result


@pytest.mark.parametrize("line", ["GIT_SSH_COMMAND='touch {marker}; exit 1; '",
                                  "COMPOSE_FILE=spy.yaml"])
def test_an_env_file_cannot_steer_compose_or_git(pusher, tmp_path, line):
    """Compose 2.26 (this project's) copies the `.env` into its own environment and fetches
    a remote include with git, which runs GIT_SSH_COMMAND: with these files `docker compose
    config` alone ran the pusher's program as the OtterStack user (tried by hand). Refused
    before Compose runs; nothing runs."""
    marker = tmp_path / "ran"
    name = line.split("=")[0]
    files = {".env": "TAG=1\n" + line.format(marker=marker) + "\n", "spy.yaml": INCLUDED}
    push = refused(pusher, files)
    assert f".env sets {name} (line 2), but " in push.result
    assert f"rename it (e.g. APP_{name})" in push.result
    files[".env"] = "COMPOSE_EXPERIMENTAL_GIT_REMOTE=1\n" + files[".env"]
    files["compose.yaml"] = ("include:\n  - ssh://git@127.0.0.1:1/evil.git\n"
                             + example_files()["compose.yaml"])
    push = refused(pusher, files)
    assert ".env sets COMPOSE_EXPERIMENTAL_GIT_REMOTE (line 1)" in push.result
    assert f".env sets {name} (line 3)" in push.result
    assert "allow remote-includes" in push.result
    assert not marker.exists()


def test_a_commit_larger_than_the_app_takes_is_refused(pusher):
    def config(key: str, value: str) -> None:
        proc = pusher.otter("config", pusher.name, key, value)
        assert proc.returncode == 0, proc.stderr

    config("max_push_files", "20")
    try:
        files = {f"data/f{i}.txt": f"{i}\n" for i in range(20)}
        push = refused(pusher, files)
        assert ("the commit holds more than 20 files, the most this app takes "
                "(max_push_files); ") in push.result, push.output
        assert f"`otterstack config {pusher.name} max_push_files N`" in push.result
        push = refused(pusher, {}, "-o", "skip-deploy")  # bounded even when not deployed
        assert "max_push_files" in push.result
    finally:
        config("max_push_files", "20000")
    config("max_push_mib", "1")
    try:
        (pusher.src / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))
        push = refused(pusher, {})
        assert "more than 1 MiB of files" in push.result and "max_push_mib" in push.result
    finally:
        config("max_push_mib", "512")


def test_pushed_objects_are_checked_by_git(pusher):
    """receive.fsckObjects, set by install.sh on a new repo and on one it adopts: a tree with
    a `.git` entry never reaches the repo."""
    def fsck_setting() -> str:
        return run(["git", "-C", str(pusher.repo), "config", "--get",
                    "receive.fsckObjects"]).stdout.strip()

    assert fsck_setting() == "true"
    run(["git", "-C", str(pusher.repo), "config", "--unset", "receive.fsckObjects"])
    assert "adopting existing repo" in pusher.install().stdout
    assert fsck_setting() == "true"

    def git_bytes(*args: str, data: bytes) -> str:
        proc = subprocess.run(["git", "-C", str(pusher.src), *args], input=data,
                              capture_output=True, env=pusher.env, check=True, timeout=60)
        return proc.stdout.decode().strip()

    blob = git_bytes("hash-object", "-w", "--stdin", data=b"[core]\n")
    tree = git_bytes("hash-object", "-t", "tree", "--literally", "-w", "--stdin",
                     data=b"100644 .git\0" + bytes.fromhex(blob))
    commit = git_bytes("commit-tree", tree, "-m", "evil", data=b"")
    push = pusher.push(f"{commit}:refs/heads/evil")
    assert push.returncode != 0 and "hasDotgit" in push.output, push.output
    assert run(["git", "-C", str(pusher.repo), "cat-file", "-e", tree]).returncode != 0


def test_includes_and_extends_inside_the_checkout_pass(make_app):
    """What stays in the checkout passes both checks (pre-receive's on the unpacked commit,
    the deploy's on its checkout): a dry run pushes it through both, starting nothing."""
    files = example_files()
    files["compose.yaml"] = ("include:\n  - path: parts/worker.yaml\n"
                             "    env_file: parts/vars.env\n" + files["compose.yaml"])
    files["parts/worker.yaml"] = ("services:\n  worker:\n    extends:\n"
                                  "      file: ../common/base.yaml\n      service: base\n"
                                  "    command: sleep ${NAP}\n")
    files["parts/vars.env"] = "NAP=600\n"
    files["common/base.yaml"] = "services:\n  base:\n    image: busybox\n    env_file: base.env\n"
    files["common/base.env"] = "MODE=worker\n"
    files[".env"] = "TAG=1\n"
    app = make_app(files)
    app.commit("includes inside")
    push = app.push("-o", "dry-run", "main")
    assert push.result.startswith(f"==> dry run of {app.name} "), push.output
    assert "nothing was changed" in push.result, push.output
    assert "worker" in push.output
    assert app.projects() == []
