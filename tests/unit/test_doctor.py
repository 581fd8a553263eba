"""Doctor: every check finds its problem and names the fix; no check can stop another.

No Docker needed: the engine, compose and Traefik functions are replaced in the doctor
module's namespace; git, the data dir, repos and hooks are real (in a temp dir).
"""

import subprocess
from collections import namedtuple
from types import SimpleNamespace

import docker.errors
import pytest

from otterstack_hooks.adapters.docker.engine import engine_errors
from otterstack_hooks.adapters.local import keys
from otterstack_hooks.adapters.local.paths import Paths
from otterstack_hooks.adapters.local.state import State
from otterstack_hooks.adapters.traefik import discovery as traefik
from otterstack_hooks.adapters.traefik import up as traefik_up
from otterstack_hooks.cli.doctor import host as doctor
from otterstack_hooks.cli.doctor import swarm as doctor_swarm
from otterstack_hooks.cli.doctor import traefik as doctor_traefik
from otterstack_hooks.cli.doctor.check import Check
from otterstack_hooks.cli.doctor.host import parse_version
from otterstack_hooks.cli.doctor.report import exit_code, render, run_checks
from otterstack_hooks.cli.doctor.traefik import judge_switch_speed
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.rules.traefik.routing_plan import TraefikInfo
from otterstack_hooks.rules.traefik.throttle import DEFAULT_THROTTLE, configured_throttle

GiB = 1024**3
Usage = namedtuple("Usage", "total used free")


class FakeDocker:
    """The few Engine API calls the doctor makes."""

    def __init__(self, root, networks=("otterstack",), attached=("otterstack",)):
        self.root = root
        self.api = SimpleNamespace(inspect_container=lambda name: {
            "NetworkSettings": {"Networks": {n: {} for n in attached}}},
            containers=lambda **filters: [])
        self.networks = SimpleNamespace(list=lambda names: [
            SimpleNamespace(name=n) for n in networks if n in names])

    def version(self):
        return {"Version": "27.1.1", "ApiVersion": "1.46"}

    def info(self):
        return {"DockerRootDir": str(self.root)}


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A healthy setup: data dir, state, a fine engine and compose, plenty of disk."""
    root = tmp_path / "data"
    root.mkdir(mode=0o700)
    paths = Paths(root)
    state = State(paths.db)
    dc = FakeDocker(tmp_path)
    monkeypatch.setattr(doctor.engine, "client", lambda: dc)
    monkeypatch.setattr(doctor.engine, "ping", lambda client: None)
    monkeypatch.setattr(doctor.compose, "version", lambda: "2.27.0")

    def no_detect(*args):
        raise AssertionError("Traefik looked for although no app routes")

    monkeypatch.setattr(traefik, "detect", no_detect)
    # the Traefik found serves metrics (test_doctor_metrics.py: one that does not)
    monkeypatch.setattr(doctor_traefik, "metrics_page", lambda api, timeout: "")
    monkeypatch.setattr(doctor.shutil, "disk_usage", lambda path: Usage(100 * GiB, 0, 50 * GiB))
    # a dedicated, non-root OtterStack user whose authorized_keys has restricted keys only
    monkeypatch.setattr(doctor.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(keys, "authorized_keys_path", lambda: tmp_path / "authorized_keys")
    yield SimpleNamespace(tmp=tmp_path, paths=paths, state=state, dc=dc)
    state.close()


def add_app(env, name, routing=False, hook=True, push_options=True, fsck=True, **settings):
    """A registered app with a real bare repo and (unless told) install.sh's kind of hook."""
    repo = env.tmp / f"{name}.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(repo)], check=True)
    if push_options:
        subprocess.run(["git", "-C", str(repo), "config", "receive.advertisePushOptions", "true"],
                       check=True)
    if fsck:
        subprocess.run(["git", "-C", str(repo), "config", "receive.fsckObjects", "true"],
                       check=True)
    if hook:
        for hook_name in ("pre-receive", "post-receive"):
            path = repo / "hooks" / hook_name
            path.write_text(f"#!/usr/bin/env bash\nOTTERSTACK_APP={name}\n"
                            f"OTTERSTACK_DATA_DIR={env.paths.root}\nexec true\n")
            path.chmod(0o755)
    env.state.upsert_app(name, str(repo), traefik_routing=routing, **settings)
    return repo


def by_name(checks):
    names = [c.name for c in checks]
    assert len(names) == len(set(names)), names
    return {c.name: c for c in checks}


def failed(checks):
    return {c.name for c in checks if not c.ok}


def test_a_healthy_setup_passes(env):
    add_app(env, "myapp")
    checks = run_checks(env.paths, env.state)
    assert failed(checks) == set(), render(checks, False)
    found = by_name(checks)
    assert list(found) == ["git", "docker engine", "compose", "traefik", "data dir",
                           "repo of myapp", "hooks of myapp", "disk", "push access"]
    assert found["docker engine"].detail.startswith("Docker Engine 27.1.1")
    assert found["compose"].detail == "2.27.0"
    assert exit_code(checks) == 0


@pytest.mark.parametrize("text, expected", [
    ("2.26.1-4", (2, 26, 1)), ("v2.27.0", (2, 27, 0)), ("2.24.4", (2, 24, 4)),
    ("git version 2.39.5", (2, 39, 5)), ("git version 2.45.1.windows.1", (2, 45, 1)),
    ("2.30", (2, 30, 0)), ("v2.27.0-desktop.1", (2, 27, 0)), ("", None), ("dev", None),
])
def test_parse_version(text, expected):
    assert parse_version(text) == expected


@pytest.mark.parametrize("version, ok", [
    ("2.20.0", False), ("2.24.3", False), ("2.24.4", True), ("2.26.1-4", True),
    ("v2.27.0", True), ("2.100.0", True), ("1.29.2", False), ("garbage", False),
])
def test_compose_version_is_compared_numerically(env, monkeypatch, version, ok):
    monkeypatch.setattr(doctor.compose, "version", lambda: version)
    check = by_name(run_checks(env.paths, env.state))["compose"]
    assert check.ok is ok
    if not ok:
        assert not check.warning
        assert "Compose v2 plugin" in check.fix and "2.24.4" in check.fix
        assert "scripts/setup-docker.sh" in check.fix


def test_compose_missing(env, monkeypatch):
    monkeypatch.setattr(doctor.compose, "version", lambda: None)
    check = by_name(run_checks(env.paths, env.state))["compose"]
    assert not check.ok and "Compose v2 plugin" in check.fix


def test_git_too_old(env, monkeypatch):
    monkeypatch.setattr(doctor, "git_version", lambda: "git version 2.20.1")
    check = by_name(run_checks(env.paths, env.state))["git"]
    assert not check.ok and "2.20.1" in check.detail and "apt-get install git" in check.fix
    monkeypatch.setattr(doctor, "git_version", lambda: None)
    check = by_name(run_checks(env.paths, env.state))["git"]
    assert not check.ok and check.fix == "apt-get install git"


def _unreachable(message):
    def client():
        with engine_errors("connecting"):
            raise docker.errors.DockerException(message)
    return client


def test_engine_permission_denied_says_docker_group(env, monkeypatch):
    monkeypatch.setattr(doctor.engine, "client", _unreachable(
        "Error while fetching server API version: ('Connection aborted.', "
        "PermissionError(13, 'Permission denied'))"))
    check = by_name(run_checks(env.paths, env.state))["docker engine"]
    assert not check.ok and not check.warning
    assert "docker group" in check.fix and "Permission denied" in check.detail


def test_engine_permission_error_as_cause(env, monkeypatch):
    def client():
        try:
            raise PermissionError(13, "nope")
        except PermissionError as exc:
            raise OtterError("cannot reach the Docker Engine") from exc

    monkeypatch.setattr(doctor.engine, "client", client)
    check = by_name(run_checks(env.paths, env.state))["docker engine"]
    assert "docker group" in check.fix


def test_engine_down_says_start_dockerd_and_the_rest_still_runs(env, monkeypatch):
    monkeypatch.setattr(doctor.engine, "client", _unreachable(
        "Error while fetching server API version: ('Connection aborted.', "
        "FileNotFoundError(2, 'No such file or directory'))"))
    add_app(env, "myapp", routing=True)
    checks = run_checks(env.paths, env.state)
    found = by_name(checks)
    assert "start dockerd" in found["docker engine"].fix
    assert "docker group" not in found["docker engine"].fix
    # Traefik cannot be looked for without an engine: a failure pointing at the engine
    assert not found["traefik"].ok and "docker engine" in found["traefik"].fix
    # the disk check still covers the data dir
    assert found["disk"].ok and str(env.paths.root) in found["disk"].detail
    assert failed(checks) == {"docker engine", "traefik"}
    assert exit_code(checks) == 1


def test_missing_hook_names_install_sh(env):
    add_app(env, "myapp", hook=False)
    check = by_name(run_checks(env.paths, env.state))["hooks of myapp"]
    assert not check.ok and "missing" in check.detail
    assert "./install.sh myapp" in check.fix


def test_hook_not_executable_or_for_another_app(env):
    repo = add_app(env, "myapp")
    hook = repo / "hooks" / "post-receive"
    hook.chmod(0o644)
    check = by_name(run_checks(env.paths, env.state))["hooks of myapp"]
    assert not check.ok and "not executable" in check.detail and "chmod 755" in check.fix
    hook.chmod(0o755)
    hook.write_text("#!/bin/sh\nOTTERSTACK_APP=myapp2\n")  # a prefix must not count
    check = by_name(run_checks(env.paths, env.state))["hooks of myapp"]
    assert not check.ok and "OTTERSTACK_APP=myapp" in check.detail
    assert "./install.sh myapp" in check.fix


def test_hook_with_another_data_dir(env):
    repo = add_app(env, "myapp")
    hook = repo / "hooks" / "post-receive"
    hook.write_text(hook.read_text().replace(str(env.paths.root), "/elsewhere"))
    check = by_name(run_checks(env.paths, env.state))["hooks of myapp"]
    assert not check.ok and "/elsewhere" in check.detail
    assert f"OTTERSTACK_DATA_DIR={env.paths.root} ./install.sh myapp" in check.fix


def test_hook_data_dir_quoted_by_printf_q(env):
    root = env.tmp / "data dir"
    root.mkdir(mode=0o700)
    paths = Paths(root)
    repo = add_app(env, "myapp")
    for hook_name in ("pre-receive", "post-receive"):
        (repo / "hooks" / hook_name).write_text(
            f"#!/usr/bin/env bash\nOTTERSTACK_APP=myapp\n"
            f"OTTERSTACK_DATA_DIR={str(root).replace(' ', chr(92) + ' ')}\n")
    assert by_name(run_checks(paths, env.state))["hooks of myapp"].ok


def test_missing_pre_receive_is_reported(env):
    repo = add_app(env, "myapp")
    (repo / "hooks" / "pre-receive").unlink()
    check = by_name(run_checks(env.paths, env.state))["hooks of myapp"]
    assert not check.ok and "pre-receive is missing" in check.detail
    assert "./install.sh myapp" in check.fix


def test_a_repo_that_stores_pushed_objects_unchecked_is_a_warning(env):
    repo = add_app(env, "myapp", fsck=False)
    check = by_name(run_checks(env.paths, env.state))["repo of myapp"]
    assert not check.ok and check.warning and "receive.fsckObjects" in check.detail
    assert f"git -C {repo} config receive.fsckObjects true" in check.fix


def test_repo_missing_not_bare_or_without_push_options(env):
    repo = add_app(env, "myapp", push_options=False)
    check = by_name(run_checks(env.paths, env.state))["repo of myapp"]
    assert not check.ok
    assert f"git -C {repo} config receive.advertisePushOptions true" in check.fix

    work = env.tmp / "work"
    subprocess.run(["git", "init", "--quiet", str(work)], check=True)
    env.state.upsert_app("myapp", str(work))
    check = by_name(run_checks(env.paths, env.state))["repo of myapp"]
    assert not check.ok and "not a bare git repository" in check.detail

    env.state.upsert_app("myapp", str(env.tmp / "gone.git"))
    found = by_name(run_checks(env.paths, env.state))
    assert "does not exist" in found["repo of myapp"].detail
    assert "./install.sh myapp" in found["repo of myapp"].fix
    assert "./install.sh myapp" in found["hooks of myapp"].fix


def test_no_env_file_no_env_check(env):
    add_app(env, "myapp")
    assert "env of myapp" not in by_name(run_checks(env.paths, env.state))


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_env_file_readable_by_others_fails(env, mode):
    add_app(env, "myapp")
    env_file = env.paths.env_file("myapp")
    env_file.parent.mkdir(parents=True)
    env_file.write_text("SECRET=1\n")
    env_file.chmod(mode)
    checks = run_checks(env.paths, env.state)
    check = by_name(checks)["env of myapp"]
    assert not check.ok and not check.warning and f"{mode:04o}" in check.detail
    assert check.fix == f"chmod 600 {env_file}"
    assert exit_code(checks) == 1
    env_file.chmod(0o600)
    assert by_name(run_checks(env.paths, env.state))["env of myapp"].ok


def test_world_writable_data_dir_fails(env):
    env.paths.root.chmod(0o777)
    checks = run_checks(env.paths, env.state)
    check = by_name(checks)["data dir"]
    assert not check.ok and not check.warning and "0777" in check.detail
    assert f"chmod 700 {env.paths.root}" in check.fix
    assert exit_code(checks) == 1


def test_state_db_readable_by_others_fails(env):
    env.paths.db.chmod(0o644)
    check = by_name(run_checks(env.paths, env.state))["data dir"]
    assert not check.ok and f"chmod 600 {env.paths.db}" in check.fix


def test_missing_data_dir(env, tmp_path):
    paths = Paths(tmp_path / "nowhere")
    check = by_name(run_checks(paths, env.state))["data dir"]
    assert not check.ok and "does not exist" in check.detail and "install.sh" in check.fix


def test_traefik_not_needed_when_no_app_routes(env):
    add_app(env, "myapp", routing=False)
    check = by_name(run_checks(env.paths, env.state))["traefik"]
    assert check.ok and "not needed" in check.detail


def test_traefik_missing_when_an_app_routes(env, monkeypatch):
    add_app(env, "plain")
    add_app(env, "routed", routing=True)
    calls = []

    def detect(dc, wanted, api_url, network):
        calls.append((dc, wanted, api_url, network))
        return None

    monkeypatch.setattr(traefik, "detect", detect)
    env.state.set_setting("traefik_container", "edge")
    checks = run_checks(env.paths, env.state)
    check = by_name(checks)["traefik"]
    assert not check.ok and not check.warning
    assert check.fix == "otterstack traefik up"
    assert "routed" in check.detail and "plain" not in check.detail and "'edge'" in check.detail
    assert calls == [(env.dc, "edge", "", "")]
    assert exit_code(checks) == 1
    # only the named app counts: one without routing needs no Traefik
    assert by_name(run_checks(env.paths, env.state, "plain"))["traefik"].ok


def test_traefik_unusable_gives_its_message_as_fix(env, monkeypatch):
    add_app(env, "routed", routing=True)

    def detect(*args):
        raise OtterError("Traefik container t runs but its API is not reachable; set X")

    monkeypatch.setattr(traefik, "detect", detect)
    check = by_name(run_checks(env.paths, env.state))["traefik"]
    assert not check.ok
    assert check.fix == "Traefik container t runs but its API is not reachable; set X"


def test_traefik_found_and_its_network(env, monkeypatch):
    add_app(env, "routed", routing=True)
    info = TraefikInfo("edge", "http://127.0.0.1:8080", "otterstack", {"web": 80})
    monkeypatch.setattr(traefik, "detect", lambda *args: info)
    check = by_name(run_checks(env.paths, env.state))["traefik"]
    assert check.ok
    assert check.detail == ("container edge, API at http://127.0.0.1:8080, network otterstack, "
                            "entrypoints web on port 80")

    env.dc.networks.list = lambda names: []
    check = by_name(run_checks(env.paths, env.state))["traefik"]
    assert not check.ok and "otterstack does not exist" in check.detail
    assert "docker network create otterstack" in check.fix

    env.dc.networks.list = lambda names: [SimpleNamespace(name="otterstack")]
    env.dc.api.inspect_container = lambda name: {"NetworkSettings": {"Networks": {"bridge": {}}}}
    check = by_name(run_checks(env.paths, env.state))["traefik"]
    assert not check.ok and check.fix == "docker network connect otterstack edge"


def test_unknown_app_is_a_failure(env):
    add_app(env, "myapp")
    checks = run_checks(env.paths, env.state, "ghost")
    found = by_name(checks)
    assert not found["app ghost"].ok and "./install.sh ghost" in found["app ghost"].fix
    assert "repo of myapp" not in found  # only the named app is looked at
    assert exit_code(checks) == 1


def test_only_the_named_app_is_checked(env):
    add_app(env, "good")
    add_app(env, "bad", hook=False)
    assert "hooks of bad" in failed(run_checks(env.paths, env.state))
    checks = run_checks(env.paths, env.state, "good")
    assert failed(checks) == set() and "hooks of bad" not in by_name(checks)


def test_one_check_raising_does_not_stop_the_others(env, monkeypatch):
    add_app(env, "myapp")

    def boom():
        raise RuntimeError("compose exploded")

    monkeypatch.setattr(doctor.compose, "version", boom)
    monkeypatch.setattr(doctor, "git_version", lambda: 1 / 0)
    monkeypatch.setattr(doctor.Path, "is_file", lambda self: (_ for _ in ()).throw(
        OSError("disk on fire")) if self.name == "post-receive" else True)
    checks = run_checks(env.paths, env.state)
    found = by_name(checks)
    assert list(found) == ["git", "docker engine", "compose", "traefik", "data dir",
                           "repo of myapp", "hooks of myapp", "disk", "push access"]
    assert "ZeroDivisionError" in found["git"].detail
    assert "compose exploded" in found["compose"].detail and found["compose"].fix
    assert "disk on fire" in found["hooks of myapp"].detail
    assert failed(checks) == {"git", "compose", "hooks of myapp"}
    assert exit_code(checks) == 1


def test_otter_error_in_a_check_is_reported_with_its_text(env, monkeypatch):
    def version():
        raise OtterError("the docker client is not installed; install Docker Engine")

    monkeypatch.setattr(doctor.compose, "version", version)
    check = by_name(run_checks(env.paths, env.state))["compose"]
    assert not check.ok and "docker client is not installed" in check.detail


@pytest.mark.parametrize("free, ok, warning", [
    (50 * GiB, True, False),
    (2 * GiB, True, False),
    (2 * GiB - 1, False, True),
    (500 * 1024**2, False, True),
    (500 * 1024**2 - 1, False, False),
])
def test_disk_thresholds(env, monkeypatch, free, ok, warning):
    monkeypatch.setattr(doctor.shutil, "disk_usage", lambda path: Usage(100 * GiB, 0, free))
    checks = run_checks(env.paths, env.state)
    check = by_name(checks)["disk"]
    assert (check.ok, check.warning) == (ok, warning)
    if not ok:
        assert "docker system prune" in check.fix
    assert exit_code(checks) == (0 if ok or warning else 1)


def test_disk_reports_docker_root_on_another_filesystem(env, monkeypatch):
    docker_root = env.tmp / "docker-root"
    docker_root.mkdir()
    env.dc.root = docker_root
    real_stat = doctor.Path.stat

    def stat(self, *args, **kwargs):  # pretend docker-root is another filesystem
        result = real_stat(self, *args, **kwargs)
        if self == docker_root:
            return SimpleNamespace(st_dev=result.st_dev + 1, st_mode=result.st_mode)
        return result

    monkeypatch.setattr(doctor.Path, "stat", stat)
    monkeypatch.setattr(doctor.shutil, "disk_usage", lambda path: Usage(
        100 * GiB, 0, GiB if path == docker_root else 50 * GiB))
    check = by_name(run_checks(env.paths, env.state))["disk"]
    assert check.warning and not check.ok
    assert "50.0 GiB free" in check.detail and f"docker {docker_root}: 1.0 GiB" in check.detail
    assert str(docker_root) in check.fix and str(env.paths.root) not in check.fix


def test_exit_code():
    assert exit_code([]) == 0
    assert exit_code([Check("a", True, "x")]) == 0
    assert exit_code([Check("a", True, "x"), Check("b", False, "low", "prune", True)]) == 0
    assert exit_code([Check("a", False, "bad", "fix"), Check("b", True, "x")]) == 1


def test_render_plain_and_color():
    checks = [Check("git", True, "2.39.5"),
              Check("compose", False, "2.20.0 is too old", "install the plugin"),
              Check("disk", False, "1.0 GiB free", "docker system prune", warning=True),
              Check("hooks of a-long-app-name", True, "/r.git/hooks/post-receive")]
    lines = render(checks, color=False).splitlines()
    width = len("hooks of a-long-app-name")
    assert lines == [
        f"ok    {'git':<{width}} 2.39.5",
        f"FAIL  {'compose':<{width}} 2.20.0 is too old -> fix: install the plugin",
        f"warn  {'disk':<{width}} 1.0 GiB free -> fix: docker system prune",
        "ok    hooks of a-long-app-name /r.git/hooks/post-receive",
    ]
    assert render([Check("git", True, "2.39.5")], False) == "ok    git          2.39.5"
    colored = render(checks, color=True)
    assert "\033[1;31mFAIL\033[0m  compose" in colored
    assert "\033[1;32mok\033[0m    git" in colored and "\033[33mwarn\033[0m" in colored
    assert "\033" not in render(checks, color=False)


def test_push_access_warns_about_root_and_unrestricted_keys():
    ok = doctor.judge_push_access("deploy", False, [], "/home/deploy/.ssh/authorized_keys")
    assert ok.ok
    root = doctor.judge_push_access("root", True, [], "/root/.ssh/authorized_keys")
    assert not root.ok and root.warning and "pushes come in as root" in root.detail
    assert "dedicated user" in root.fix
    shell = doctor.judge_push_access("deploy", False, ["ssh-ed25519 (bob@laptop)"],
                                     "/home/deploy/.ssh/authorized_keys")
    assert not shell.ok and shell.warning and "bob@laptop" in shell.detail
    assert "otterstack keys add" in shell.fix
    assert exit_code([root, shell]) == 0  # warnings: deploys still work


# the switch-speed hint: a slow provider throttle is named with its fix, never a failure


def _throttle(args=(), env=(), config=None):
    return configured_throttle(list(args), list(env), config)


def test_a_users_traefik_at_the_default_throttle_gets_a_hint_with_the_flag():
    check = judge_switch_speed("edge", False, _throttle(["--providers.docker=true"]))
    assert check.ok and not check.warning
    assert "every 2s (Traefik's default: not on its command line)" in check.detail
    assert "up to 2s after it is healthy" in check.detail
    assert (f"hint: add --providers.providersThrottleDuration={DEFAULT_THROTTLE} to its "
            "command and recreate edge") in check.detail


def test_a_throttle_set_in_a_static_config_file_is_fixed_there():
    check = judge_switch_speed("edge", False, _throttle(
        ["--providers.providersThrottleDuration=100ms"], (),
        ("/etc/traefik/traefik.yml", "providers:\n  providersThrottleDuration: 1s\n")))
    assert "every 1s (static config file /etc/traefik/traefik.yml)" in check.detail
    assert "under `providers:` in /etc/traefik/traefik.yml" in check.detail
    check = judge_switch_speed("edge", False, _throttle(
        env=["TRAEFIK_PROVIDERS_DOCKER=true"]))
    # configured by its environment: a flag would make Traefik ignore that environment
    assert (f"set TRAEFIK_PROVIDERS_PROVIDERSTHROTTLEDURATION={DEFAULT_THROTTLE} in its "
            "environment") in check.detail
    assert "--providers" not in check.detail


def test_a_fast_throttle_is_just_reported():
    check = judge_switch_speed("edge", False, _throttle(
        ["--providers.providersThrottleDuration=100ms"]))
    assert check.ok and "hint" not in check.detail
    assert "served within 100ms of being healthy" in check.detail
    check = judge_switch_speed("otterstack-traefik", True,
                                      _throttle(traefik_up.command("otterstack")))
    assert check.ok and "hint" not in check.detail


def test_an_old_otterstack_traefik_is_told_to_be_recreated():
    check = judge_switch_speed("otterstack-traefik", True, _throttle(
        ["--providers.docker=true", "--api.insecure=true"]))
    assert "docker rm -f otterstack-traefik`, then `otterstack traefik up`" in check.detail


def test_an_unreadable_throttle_says_so():
    check = judge_switch_speed("edge", False, _throttle(
        config=("/etc/traefik/traefik.toml", None)))
    assert check.ok and "unknown" in check.detail and "not readable here" in check.detail


def test_the_switch_hint_reads_the_running_traefik(env, monkeypatch):
    add_app(env, "myapp", routing=True)
    attrs = {"Id": "abc", "Name": "/edge", "Args": ["--providers.docker=true"],
             "Config": {"Env": [], "Labels": {}, "WorkingDir": "/"}}
    info = TraefikInfo("edge", "http://127.0.0.1:8080", "otterstack", {"web": 80})
    monkeypatch.setattr(traefik, "detect", lambda *args: info)
    monkeypatch.setattr(traefik, "find_container", lambda dc, wanted: attrs)

    def get_archive(container, path):
        raise docker.errors.NotFound("no such file")

    env.dc.api.get_archive = get_archive
    checks = run_checks(env.paths, env.state)
    found = by_name(checks)
    assert list(found)[3:6] == ["traefik", "traefik metrics", "traefik switch"]
    assert found["traefik switch"].ok and "hint: add" in found["traefik switch"].detail
    assert found["traefik metrics"].ok  # the watch after a switch can read them
    assert exit_code(checks) == 0


# the Swarm: decisions from plain dicts, then the checks on a fake engine


def test_swarm_role():
    check = doctor_swarm.judge_swarm_role({"LocalNodeState": "active",
                                           "ControlAvailable": True, "Nodes": 3,
                                           "Managers": 1})
    assert check.ok and check.detail == ("this engine is a manager of a Swarm of 3 node(s), 1 "
                                         "manager(s)")
    check = doctor_swarm.judge_swarm_role({"LocalNodeState": "inactive"})
    assert not check.ok and not check.warning and "`docker swarm init`" in check.fix
    assert "runtime compose" in check.fix
    check = doctor_swarm.judge_swarm_role({"LocalNodeState": "error", "Error": "cannot join"})
    assert not check.ok and "state error: cannot join" in check.detail
    check = doctor_swarm.judge_swarm_role({"LocalNodeState": "active",
                                           "ControlAvailable": False})
    assert not check.ok and "worker" in check.detail and "manager" in check.fix


def node(host, state="ready", availability="active"):
    return {"ID": f"id-{host}", "Description": {"Hostname": host}, "Status": {"State": state},
            "Spec": {"Availability": availability}}


def test_every_node_ready_and_active():
    check = doctor_swarm.judge_nodes([node("os-n1"), node("os-n2")])
    assert check.ok and check.detail == "2 node(s), all Ready and Active"
    check = doctor_swarm.judge_nodes([node("os-n1"), node("os-n2", state="down"),
                                      node("os-n3", availability="drain")])
    assert not check.ok and not check.warning
    assert check.detail == "2 of 3 node(s) take no tasks: os-n2 is down, os-n3 is drain"
    assert "start dockerd on os-n2" in check.fix
    assert "docker node update --availability active os-n3" in check.fix


def test_the_swarm_network_is_named_by_the_setting_then_traefik_then_the_default():
    args = ["--providers.swarm=true", "--providers.swarm.network=edge-net"]
    assert doctor_swarm.swarm_network_name("mine", args) == "mine"
    assert doctor_swarm.swarm_network_name("", args) == "edge-net"
    assert doctor_swarm.swarm_network_name("", []) == "otterstack-swarm"


def test_the_swarm_network_is_an_attachable_overlay():
    assert doctor_swarm.judge_swarm_network("net", {"Driver": "overlay", "Attachable": True}).ok
    check = doctor_swarm.judge_swarm_network("net", None)
    assert not check.ok and "net does not exist" in check.detail
    assert "docker network create --driver overlay --attachable net" in check.fix
    check = doctor_swarm.judge_swarm_network("net", {"Driver": "overlay", "Attachable": False})
    assert not check.ok and "not attachable" in check.detail
    check = doctor_swarm.judge_swarm_network("net", {"Driver": "bridge", "Attachable": True})
    assert not check.ok and "a bridge network" in check.detail


@pytest.mark.parametrize("args, env, expected", [
    ([], [], (15.0, "Traefik's default")),
    (["--providers.swarm.refreshSeconds=1s"], [], (1.0, "--providers.swarm.refreshSeconds=1s")),
    (["--providers.swarm.refreshseconds=30"], [], (30.0, "--providers.swarm.refreshSeconds=30")),
    (["--providers.swarm.refreshSeconds=1m30s"], [], (90.0,
                                                        "--providers.swarm.refreshSeconds=1m30s")),
    (["--providers.swarm.refreshSeconds=soon"], [], (None,
                                                       "--providers.swarm.refreshSeconds=soon")),
    ([], ["TRAEFIK_PROVIDERS_SWARM_REFRESHSECONDS=5s"], (
        5.0, "TRAEFIK_PROVIDERS_SWARM_REFRESHSECONDS=5s")),
])
def test_refresh_seconds(args, env, expected):
    assert doctor_swarm.refresh_seconds(args, env) == expected


def test_a_slow_refresh_is_a_hint_not_a_failure():
    check = doctor_swarm.judge_refresh("edge.1.x", 15.0, "Traefik's default")
    assert check.ok
    assert "served up to 15 s after it is healthy" in check.detail
    assert "--providers.swarm.refreshSeconds=1s" in check.detail
    assert "`otterstack traefik up --swarm` uses 1s" in check.detail
    check = doctor_swarm.judge_refresh("edge.1.x", 1.0, "--providers.swarm.refreshSeconds=1s")
    assert check.ok and "within 1 s" in check.detail and "hint" not in check.detail
    assert doctor_swarm.judge_refresh("edge.1.x", None, "?").ok


def test_registry():
    assert doctor_swarm.judge_registry("shop", "reg.lan:5000", 3, None, None).ok
    check = doctor_swarm.judge_registry("shop", "reg.lan:5000", 3, None, "connection refused")
    assert not check.ok and "reg.lan:5000 does not answer: connection refused" in check.detail
    # none: fine on one node, or when the app builds nothing
    assert doctor_swarm.judge_registry("shop", "", 1, True, None).ok
    assert doctor_swarm.judge_registry("shop", "", 3, False, None).ok
    check = doctor_swarm.judge_registry("shop", "", 3, True, None)
    assert not check.ok and not check.warning
    assert "`otterstack config shop registry HOST:PORT`" in check.fix
    check = doctor_swarm.judge_registry("shop", "", 3, None, None)  # no stack to tell from yet
    assert not check.ok and check.warning and "if shop builds images" in check.detail


def test_ipvs_absent_is_only_information():
    assert doctor_swarm.judge_ipvs(True) is None
    check = doctor_swarm.judge_ipvs(False)
    assert check.ok and check.detail == (
        "IPVS absent: Swarm's VIP and ingress mesh do not work here; OtterStack uses dnsrr "
        "and host-mode ports, which do not need it")


def test_several_swarm_traefiks_are_a_warning():
    assert doctor_swarm.judge_several_traefiks("edge.1.a", ["edge.1.a"]) is None
    check = doctor_swarm.judge_several_traefiks("edge.1.a", ["bench.1.b", "edge.1.a"])
    assert not check.ok and check.warning
    assert "deploys use edge.1.a, not bench.1.b" in check.detail
    assert "traefik_container" in check.fix


@pytest.fixture
def swarm_env(env, monkeypatch):
    """A one-node Swarm this engine manages, Traefik up with the swarm provider."""
    info = TraefikInfo("otterstack-traefik.1.x", "http://10.1.0.3:8080", "otterstack-swarm",
                       {"web": 80}, provider="swarm")
    attrs = {"Id": "t1", "Name": "/otterstack-traefik.1.x",
             "Args": ["--providers.swarm.network=otterstack-swarm",
                      "--providers.swarm.refreshSeconds=1s"], "Config": {"Env": []}}
    env.dc.info = lambda: {"DockerRootDir": str(env.tmp), "Swarm": {
        "LocalNodeState": "active", "ControlAvailable": True, "Nodes": 1, "Managers": 1}}
    env.dc.api.nodes = lambda: [node("os-n1")]
    env.dc.api.services = lambda filters: []
    env.dc.api.inspect_network = lambda name: {"Driver": "overlay", "Attachable": True}
    env.dc.api.containers = lambda **kw: [{"Names": ["/otterstack-traefik.1.x"]}]
    monkeypatch.setattr(traefik, "detect", lambda dc, wanted, url, net, provider: info)
    monkeypatch.setattr(traefik, "find_container", lambda dc, wanted, provider: attrs)
    monkeypatch.setattr(doctor_swarm, "IPVS", env.tmp / "no-ip_vs")
    return env


def test_a_swarm_app_gets_the_swarm_checks(swarm_env):
    add_app(swarm_env, "shop", routing=True, runtime="swarm")
    checks = run_checks(swarm_env.paths, swarm_env.state)
    found = by_name(checks)
    assert list(found) == ["git", "docker engine", "compose", "swarm", "swarm nodes",
                           "swarm network", "traefik (swarm)", "traefik refresh",
                           "traefik metrics (swarm)", "ipvs",
                           "data dir", "repo of shop", "hooks of shop", "registry of shop",
                           "disk", "push access"]
    assert failed(checks) == set(), render(checks, False)
    assert found["traefik (swarm)"].detail == (
        "otterstack-traefik.1.x, swarm provider on, API at http://10.1.0.3:8080, network "
        "otterstack-swarm")
    assert found["registry of shop"].detail == "none: one node, built images stay on it"


def test_a_swarm_app_on_an_engine_outside_a_swarm(swarm_env):
    add_app(swarm_env, "shop", routing=True, runtime="swarm")
    swarm_env.dc.info = lambda: {"DockerRootDir": str(swarm_env.tmp),
                                 "Swarm": {"LocalNodeState": "inactive"}}
    checks = run_checks(swarm_env.paths, swarm_env.state)
    found = by_name(checks)
    assert failed(checks) == {"swarm"}  # the checks that need a manager stay silent
    assert "swarm nodes" not in found and "registry of shop" not in found
    assert "docker swarm init" in found["swarm"].fix


def test_a_built_image_on_several_nodes_without_a_registry_fails(swarm_env):
    add_app(swarm_env, "shop", runtime="swarm")
    swarm_env.dc.api.nodes = lambda: [node("os-n1"), node("os-n2")]
    swarm_env.dc.api.services = lambda filters: [
        {"Spec": {"Name": "shop-state_db", "TaskTemplate": {"ContainerSpec": {
            "Image": "shop-db:0123456789ab"}}}}] \
        if filters == {"label": "com.docker.stack.namespace=shop-state"} else []
    found = by_name(run_checks(swarm_env.paths, swarm_env.state))
    assert "traefik (swarm)" in found and "swarm network" not in found  # shop routes nothing
    check = found["registry of shop"]
    assert not check.ok and not check.warning
    assert check.fix.startswith("`otterstack config shop registry HOST:PORT`")


def test_a_set_registry_is_asked(swarm_env, monkeypatch):
    add_app(swarm_env, "shop", runtime="swarm", registry="reg.lan:5000")
    asked = []
    monkeypatch.setattr(doctor_swarm, "registry_answer",
                        lambda registry: asked.append(registry) or "connection refused")
    check = by_name(run_checks(swarm_env.paths, swarm_env.state))["registry of shop"]
    assert asked == ["reg.lan:5000"]
    assert not check.ok and "connection refused" in check.detail


def test_compose_apps_keep_their_checks_beside_a_swarm_app(swarm_env, monkeypatch):
    add_app(swarm_env, "one", routing=True)
    add_app(swarm_env, "shop", routing=True, runtime="swarm")
    calls = []

    def detect(dc, wanted, url, net, provider="docker"):
        calls.append(provider)
        return None

    monkeypatch.setattr(traefik, "detect", detect)
    found = by_name(run_checks(swarm_env.paths, swarm_env.state))
    assert "one" in found["traefik"].detail and "shop" not in found["traefik"].detail
    assert found["traefik"].fix == "otterstack traefik up"
    assert found["traefik (swarm)"].fix == "otterstack traefik up --swarm"
    assert calls == ["docker", "swarm"]
    # only the swarm app: no one-host Traefik is looked for
    found = by_name(run_checks(swarm_env.paths, swarm_env.state, "shop"))
    assert "traefik" not in found and "traefik switch" not in found


def test_registry_answer_reads_v2(monkeypatch):
    urls = []

    class Answer:
        status = 200

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def urlopen(url, timeout):
        urls.append((url, timeout))
        if url.startswith("http:"):
            raise doctor_swarm.urllib.error.URLError("connection refused")
        return Answer()

    monkeypatch.setattr(doctor_swarm.urllib.request, "urlopen", urlopen)
    assert doctor_swarm.registry_answer("reg.lan:5000/team") is None
    assert urls == [("http://reg.lan:5000/v2/", 3), ("https://reg.lan:5000/v2/", 3)]

    def unauthorized(url, timeout):
        raise doctor_swarm.urllib.error.HTTPError(url, 401, "Unauthorized", {}, None)

    monkeypatch.setattr(doctor_swarm.urllib.request, "urlopen", unauthorized)
    assert doctor_swarm.registry_answer("reg.lan:5000") is None

    def missing(url, timeout):
        raise doctor_swarm.urllib.error.HTTPError(url, 404, "Not Found", {}, None)

    monkeypatch.setattr(doctor_swarm.urllib.request, "urlopen", missing)
    assert doctor_swarm.registry_answer("reg.lan:5000") == (
        "http://reg.lan:5000/v2/ answered 404; https://reg.lan:5000/v2/ answered 404")


# --- previews (cli/doctor/previews.py; the judgement: test_preview_readiness.py) -------------

def test_an_app_with_previews_gets_its_domain_dns_tls_and_hosts_checks(env, monkeypatch):
    import json

    from otterstack_hooks.cli.doctor import previews as doctor_previews
    from otterstack_hooks.rules.compose.paths import CHECKED_FILE
    add_app(env, "shop", routing=True, previews=True, preview_domain="preview.example.com",
            hosts="shop.example.com")
    add_app(env, "blog", routing=True)
    release = env.state.new_release("shop", "a" * 40, "main", "push", "", 1)
    env.state.update_release(release.id, probes=json.dumps([{"host": "shop.example.com",
                                                             "tls": True}]))
    env.state.activate(env.state.release(release.id), None)
    checked = env.paths.generated("shop", release.name) / CHECKED_FILE
    checked.parent.mkdir(parents=True)
    checked.write_text(json.dumps({"services": {"web": {"labels": {
        "traefik.http.routers.web.tls.certresolver": "le"}}}}))
    answers = {"shop.example.com": ("203.0.113.7",)}
    asked = []

    def resolve(name, timeout):
        asked.append((name, timeout))
        if name not in answers:
            raise OtterError(f"{name} does not resolve (Name or service not known)")
        return answers[name]

    monkeypatch.setattr(doctor_previews.dns, "resolve", resolve)
    monkeypatch.setattr(doctor_previews.dns, "is_local", lambda address: False)
    found = by_name(doctor_previews.check_previews(env.state.require_app("shop"), env.state,
                                                   env.paths))
    assert list(found) == ["preview domain of shop", "preview dns of shop",
                           "preview tls of shop", "preview hosts of shop"]
    assert found["preview domain of shop"].ok
    dns_check = found["preview dns of shop"]
    assert dns_check.warning and dns_check.fix.startswith(
        "create a wildcard DNS record *.preview.example.com")
    probe = asked[0][0]
    assert probe.startswith("otterstack-check-") and probe.endswith(".preview.example.com")
    assert all(timeout == 5.0 for _, timeout in asked)
    answers[probe] = ("203.0.113.7",)  # the wildcard record, to where production is served
    monkeypatch.setattr(doctor_previews.secrets, "token_hex", lambda n: probe[17:25])
    found = by_name(doctor_previews.check_previews(env.state.require_app("shop"), env.state,
                                                   env.paths))
    assert found["preview dns of shop"].ok
    assert "certificate resolver le" in found["preview tls of shop"].detail
    assert found["preview hosts of shop"].warning
    assert found["preview hosts of shop"].detail.startswith("blog has no hosts setting")
    assert doctor_previews.check_previews(env.state.require_app("blog"), env.state,
                                          env.paths) is None


def test_previews_on_without_a_domain_fail_and_stop_there(env):
    from otterstack_hooks.cli.doctor.previews import check_previews
    add_app(env, "shop", previews=True)
    [check] = check_previews(env.state.require_app("shop"), env.state, env.paths)
    assert check.name == "preview domain of shop" and not check.ok and not check.warning
    assert "preview_domain" in check.fix


def test_the_resolver_is_bounded_and_says_why_a_name_does_not_resolve():
    from otterstack_hooks.adapters.local import dns
    assert "127.0.0.1" in dns.resolve("localhost", 5) or "::1" in dns.resolve("localhost", 5)
    with pytest.raises(OtterError, match="does not resolve|did not answer"):
        dns.resolve("no-such-name.invalid", 2)
    assert dns.is_local("127.0.0.1") and not dns.is_local("192.0.2.1")
    assert not dns.is_local("not an address")
