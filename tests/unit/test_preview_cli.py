"""Previews at the command line, on fake ports (fakes.py): the hooks (what each pushed branch
gets), `previews`, `env --preview` and `share`, `status` and `releases`, and the SSH gate."""

import io
import json
from types import SimpleNamespace

import pytest
from fakes import ROUTED, World

from otterstack_hooks.adapters.local import secrets
from otterstack_hooks.cli import env as cli_env
from otterstack_hooks.cli import hooks
from otterstack_hooks.cli import logs as cli_logs
from otterstack_hooks.cli import previews as cli_previews
from otterstack_hooks.cli import status as cli_status
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.rules.ssh_gate import Refused, SshKey, authorize, authorize_git

ZERO = "0" * 40


@pytest.fixture
def world(tmp_path, monkeypatch) -> World:
    """The commands open the world's data dir; the hooks' and `previews`' ports are its
    fakes."""
    world = World(tmp_path)
    world.store.set_app_setting("app", "retire_after", 0)
    monkeypatch.setenv("OTTERSTACK_DATA_DIR", str(world.paths.root))
    for module in (hooks, cli_previews):
        monkeypatch.setattr(module, "real_ports", lambda *args: world.ports())
    monkeypatch.setattr(cli_status, "runtime_for", lambda app: world.runtime)
    return world


def post_receive(world, monkeypatch, lines, *options):
    """The post-receive hook reading `old new ref` lines; its exit code."""
    monkeypatch.setattr(hooks, "minimal_environment", lambda **keep: None)
    monkeypatch.setattr(hooks.os, "setsid", lambda: None)
    monkeypatch.setattr(hooks.signal, "signal", lambda *args: None)
    monkeypatch.setattr("sys.stdin", io.StringIO("".join(f"{line}\n" for line in lines)))
    return hooks.cmd_hook(SimpleNamespace(hook_name="post-receive", app="app", pusher="dev",
                                          push_option=list(options)))


def pre_receive(world, monkeypatch, lines, *options):
    """The pre-receive hook; the commits whose compose file it checked."""
    checked: list[str] = []
    monkeypatch.setattr(hooks, "minimal_environment", lambda **keep: None)
    monkeypatch.setattr(hooks, "_compose_problem",
                        lambda state, app, sha, *rest: checked.append(sha))
    monkeypatch.setattr("sys.stdin", io.StringIO("".join(f"{line}\n" for line in lines)))
    code = hooks.cmd_hook(SimpleNamespace(hook_name="pre-receive", app="app", pusher="dev",
                                          push_option=list(options)))
    return code, checked


def previews_on(world):
    world.store.set_app_setting("app", "previews", True)
    world.store.set_app_setting("app", "preview_domain", "preview.test")


def test_with_previews_off_another_branch_is_accepted_and_not_deployed_as_before(
        world, monkeypatch, capsys):
    sha = world.repo.commit({"compose.yaml": ROUTED}, branch="feature-x")
    assert post_receive(world, monkeypatch, [f"{ZERO} {sha} refs/heads/feature-x"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith(
        "ref refs/heads/feature-x accepted, not deployed (only main deploys)")
    assert world.runtime.calls == [] and world.store.previews("app") == []
    assert pre_receive(world, monkeypatch, [f"{ZERO} {sha} refs/heads/feature-x"]) == (0, [])


def test_post_receive_deploys_production_first_then_each_preview(world, monkeypatch):
    previews_on(world)
    main = world.repo.commit({"compose.yaml": ROUTED})
    branch = world.repo.commit({"compose.yaml": ROUTED}, branch="feature-x")
    assert post_receive(world, monkeypatch, [f"{ZERO} {branch} refs/heads/feature-x",
                                             f"{ZERO} {main} refs/heads/main"]) == 0
    assert [c[1] for c in world.runtime.commands("up")] == ["app-r1", "app_feature-x-r2"]
    out = world.output.getvalue()  # the deploys print through the world's ports
    assert "deployed the preview of feature-x of app" in out
    assert "http://feature-x.preview.test/" in out


def test_a_deleted_branch_removes_its_preview_and_deleting_main_removes_nothing(
        world, monkeypatch, capsys):
    previews_on(world)
    world.push()
    sha = world.repo.commit({"compose.yaml": ROUTED}, branch="feature-x")
    post_receive(world, monkeypatch, [f"{ZERO} {sha} refs/heads/feature-x"])
    assert post_receive(world, monkeypatch, [f"{sha} {ZERO} refs/heads/feature-x",
                                             f"{sha} {ZERO} refs/heads/main"]) == 0
    out = capsys.readouterr().out + world.output.getvalue()
    assert "removed the preview of feature-x of app" in out
    assert "branch main deleted: nothing deployed, the running release stays" in out
    assert set(world.runtime.running) == {"app-r1"}
    assert world.store.previews("app") == []


def test_pre_receive_checks_a_previews_commit_as_productions_and_the_pin_holds_production(
        world, monkeypatch):
    previews_on(world)
    world.store.pin("app", "incident")
    sha = world.repo.commit({"compose.yaml": ROUTED}, branch="feature-x")
    assert pre_receive(world, monkeypatch, [f"{ZERO} {sha} refs/heads/feature-x"]) == (0, [sha])
    code, checked = pre_receive(world, monkeypatch, [f"{ZERO} {sha} refs/heads/main"])
    assert code == 1 and checked == []


def test_previews_lists_and_removes(world, capsys):
    previews_on(world)
    world.push_preview("feature-x")
    assert cli_previews.cmd_previews(SimpleNamespace(app="app", action="list", branch=None,
                                                     json=False)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["branch", "commit", "release", "pushed", "age", "url"]
    assert lines[1].split()[0:3] == ["feature-x", "0000000", "r1"]
    assert lines[1].endswith("http://feature-x.preview.test/")
    with pytest.raises(OtterError, match="no preview of branch nope"):
        cli_previews.cmd_previews(SimpleNamespace(app="app", action="remove", branch="nope",
                                                  json=False))
    assert cli_previews.cmd_previews(SimpleNamespace(app="app", action="remove",
                                                     branch="feature-x", json=False)) == 0
    assert world.store.previews("app") == [] and world.runtime.running == {}


def test_status_and_releases_show_previews(world, capsys):
    world.push()
    world.push_preview("feature-x")
    cli_status.cmd_status(SimpleNamespace(app="app", json=False))
    out = capsys.readouterr().out.splitlines()
    assert out[-2:] == ["  previews:",
                        f"    {'feature-x':<30} {'r2':<8} http://feature-x.preview.test/"]
    cli_status.cmd_releases(SimpleNamespace(app="app", json=False, limit=20, preview=None))
    rows = capsys.readouterr().out.splitlines()[1:]
    assert rows[0].startswith("r2 ") and rows[0].endswith("preview of feature-x")
    assert rows[1].startswith("r1 ") and rows[1].endswith("  ")
    cli_status.cmd_releases(SimpleNamespace(app="app", json=False, limit=20,
                                            preview="feature-x"))
    assert [r.split()[0] for r in capsys.readouterr().out.splitlines()[1:]] == ["r2"]


def test_logs_show_productions_latest_unless_a_preview_is_named(world, capsys):
    world.push()
    world.push_preview("feature-x")

    def releases_shown(**asked):
        args = dict(app="app", containers=None, release=None, follow=False, json=True,
                    preview=None)
        cli_logs.cmd_logs(SimpleNamespace(**{**args, **asked}))
        return {json.loads(line).get("release") for line in capsys.readouterr().out.splitlines()
                } - {None}

    assert releases_shown() == {"r1"}
    assert releases_shown(preview="feature-x") == {"r2"}
    assert releases_shown(release="r2") == {"r2"}


def env(action, *items, preview=False):
    return cli_env.cmd_env(SimpleNamespace(app="app", action=action, items=list(items),
                                           from_file=None, show_values=True, json=False,
                                           preview=preview))


def test_env_preview_edits_the_previews_own_and_share_only_names_production_ones(world,
                                                                                 capsys):
    env("set", "SECRET=prod")
    env("set", "FLAG=on", preview=True)
    assert secrets.load(world.paths.env_file("app")) == {"SECRET": "prod"}
    assert secrets.load(world.paths.preview_env_file("app")) == {"FLAG": "on"}
    with pytest.raises(OtterError, match="no production variable TYPO to share"):
        env("share", "TYPO")
    env("share", "SECRET")
    assert secrets.load_names(world.paths.shared_file("app")) == ["SECRET"]
    capsys.readouterr()
    env("share")
    assert capsys.readouterr().out == "shared with the previews of app: SECRET\n"
    env("unshare", "SECRET")
    assert secrets.load_names(world.paths.shared_file("app")) == []


ALICE = SshKey("alice", "ssh-ed25519 AAAA", "a", False, 0.0)  # may push app a only


def test_a_key_of_one_app_runs_previews_of_it_and_nothing_of_another_app():
    authorize(ALICE, "previews", "a")
    for command, app, why in [("previews", "b", "may not use app 'b'"),
                              ("previews", None, "name the app"),
                              ("env", "a", "admin keys only")]:
        with pytest.raises(Refused, match=why):
            authorize(ALICE, command, app)
    with pytest.raises(Refused, match="may not push app 'b'"):
        authorize_git(ALICE, "b")  # so no branch of b, no preview of b
