"""Every command line, exactly: a flag that moves, or a value that lands as an option, fails."""

from pathlib import Path, PurePosixPath

import pytest

from otterstack_hooks.adapters.compose import compose_cli as compose
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.rules import command_lines as commands
from otterstack_hooks.rules.command_lines import ComposeTarget

HEAD = ["docker", "compose", "-p", "app-r3", "--project-directory", "/w", "-f", "/w/compose.yaml"]
SHA = "a" * 40


@pytest.fixture
def target() -> ComposeTarget:
    return ComposeTarget("app-r3", Path("/w"), ("compose.yaml",))


def test_compose_target_is_the_same_type_from_compose():
    assert compose.ComposeTarget is ComposeTarget


def test_target_args_name_project_dir_env_files_and_every_file_in_order():
    target = ComposeTarget("app-r3", Path("/w"), ("compose.yaml", Path("/gen/traefik.yml")),
                           (Path("/w/.env"), Path("/w/more.env")))
    assert target.args() == [
        "docker", "compose", "-p", "app-r3", "--project-directory", "/w",
        "--env-file", "/w/.env", "--env-file", "/w/more.env",
        "-f", "/w/compose.yaml", "-f", "/gen/traefik.yml"]


def test_target_without_files_is_only_the_project():
    assert ComposeTarget("app-r3", Path("/w"), ()).args() == [
        "docker", "compose", "-p", "app-r3", "--project-directory", "/w"]


def test_process_env_adds_the_apps_variables_which_win():
    target = ComposeTarget("app-r3", Path("/w"), (), environment={"A": "app", "B": "b"})
    assert target.process_env({"A": "ours", "PATH": "/bin"}) == {
        "A": "app", "B": "b", "PATH": "/bin"}


def test_target_refuses_an_odd_project():
    with pytest.raises(OtterError, match="refusing to act on compose project"):
        ComposeTarget("-p", Path("/w"), ())


def test_config(target):
    assert commands.compose_config(target) == [*HEAD, "config", "--format", "json"]
    assert commands.compose_config(target, interpolate=False) == [
        *HEAD, "config", "--format", "json", "--no-interpolate"]


def test_build(target):
    assert commands.compose_build(target, ["web", "worker"]) == [*HEAD, "build", "web", "worker"]
    assert commands.compose_build(target, []) == [*HEAD, "build"]


def test_up(target):
    assert commands.compose_up(target, ["web"]) == [
        "docker", "compose", "-p", "app-r3", "--project-directory", "/w", "-f", "/w/compose.yaml",
        "up", "--detach", "--no-build", "--no-deps", "web"]


def test_pull(target):
    assert commands.compose_pull(target, "db") == [*HEAD, "pull", "--", "db"]


def test_run_once(target):
    assert commands.compose_run_once(target, "web", ["sh", "-c", "migrate --yes"]) == [
        *HEAD, "run", "--rm", "--no-deps", "-T", "--label", "traefik.enable=false", "web",
        "sh", "-c", "migrate --yes"]


def test_stop():
    assert commands.compose_stop("app-r3") == ["docker", "compose", "-p", "app-r3", "stop"]
    assert commands.compose_stop("app-r3", 30) == [
        "docker", "compose", "-p", "app-r3", "stop", "--timeout", "30"]


def test_down():
    assert commands.compose_down("app-r3") == [
        "docker", "compose", "-p", "app-r3", "down", "--remove-orphans"]
    assert commands.compose_down("app-r3", timeout=10, remove_images=True) == [
        "docker", "compose", "-p", "app-r3", "down", "--remove-orphans", "--timeout", "10",
        "--rmi", "local"]
    assert commands.compose_down("app-r3", remove_images=True) == [
        "docker", "compose", "-p", "app-r3", "down", "--remove-orphans", "--rmi", "local"]


@pytest.mark.parametrize("project", ["", "-p", "../x", "A"])
def test_stop_and_down_refuse_an_odd_project(project):
    with pytest.raises(OtterError, match="refusing to act on compose project"):
        commands.compose_stop(project)
    with pytest.raises(OtterError, match="refusing to act on compose project"):
        commands.compose_down(project)


def test_logs():
    assert commands.compose_logs("app-r3") == [
        "docker", "compose", "-p", "app-r3", "logs", "--tail", "200"]
    assert commands.compose_logs("app-state", "db", follow=True) == [
        "docker", "compose", "-p", "app-state", "logs", "--tail", "200", "--follow", "--", "db"]
    assert commands.compose_logs("app-r3", "-x", tail=5) == [
        "docker", "compose", "-p", "app-r3", "logs", "--tail", "5", "--", "-x"]


def test_version():
    assert commands.compose_version() == ["docker", "compose", "version", "--short"]


def test_git_rev_parse():
    assert commands.git_rev_parse_commit("v1.2") == [
        "git", "rev-parse", "--verify", "--quiet", "v1.2^{commit}"]
    assert commands.git_rev_parse_branch("main") == [
        "git", "rev-parse", "--verify", "--quiet", "refs/heads/main"]


def test_git_worktrees():
    path = PurePosixPath("/data/apps/a/releases/r3")
    assert commands.git_worktree_add(path, SHA) == [
        "git", "worktree", "add", "--detach", "/data/apps/a/releases/r3", SHA]
    assert commands.git_worktree_remove(path) == [
        "git", "worktree", "remove", "--force", "/data/apps/a/releases/r3"]
    assert commands.git_worktree_prune() == ["git", "worktree", "prune"]


def test_git_precheck_reads():
    assert commands.git_ls_tree(SHA) == ["git", "ls-tree", "-r", "-l", "-z", SHA]
    assert commands.git_ls_tree_lines(SHA) == ["git", "ls-tree", "-r", "-l", SHA]
    assert commands.git_cat_file_batch() == ["git", "cat-file", "--batch"]


def test_git_doctor_checks():
    repo = PurePosixPath("/srv/git/a.git")
    assert commands.git_version() == ["git", "--version"]
    assert commands.git_is_bare(repo) == [
        "git", "--git-dir=/srv/git/a.git", "rev-parse", "--is-bare-repository"]
    assert commands.git_config_bool(repo, "receive.advertisePushOptions") == [
        "git", "--git-dir=/srv/git/a.git", "config", "--type=bool", "--get",
        "receive.advertisePushOptions"]


def test_git_serve():
    assert commands.git_serve("receive-pack", "/srv/git/a.git") == [
        "git", "receive-pack", "--", "/srv/git/a.git"]


def test_compose_stop_and_start_of_some_services_need_no_compose_file():
    assert commands.compose_stop("app-r3", services=["worker", "cron"]) == [
        "docker", "compose", "-p", "app-r3", "stop", "--", "worker", "cron"]
    assert commands.compose_start("app-r3", ["worker"]) == [
        "docker", "compose", "-p", "app-r3", "start", "--", "worker"]


# docker stack / service: the Swarm runtime


def test_stack_deploy():
    assert commands.stack_deploy("shop-r7", PurePosixPath("/tmp/s.yml")) == [
        "docker", "stack", "deploy", "--detach=true", "--resolve-image", "never",
        "--with-registry-auth", "-c", "/tmp/s.yml", "shop-r7"]


def test_stack_rm():
    assert commands.stack_rm("shop-r7") == ["docker", "stack", "rm", "shop-r7"]


@pytest.mark.parametrize("stack", ["", "-rf", "../x"])
def test_stack_commands_refuse_an_odd_name(stack):
    with pytest.raises(OtterError):
        commands.stack_rm(stack)
    with pytest.raises(OtterError):
        commands.stack_deploy(stack, PurePosixPath("/tmp/s.yml"))


def test_service_labels_keep_the_name_after_the_options():
    assert commands.service_labels("shop-r7_web", {"traefik.enable": "false"}) == [
        "docker", "service", "update", "--detach", "--quiet", "--label-add",
        "traefik.enable=false", "--", "shop-r7_web"]


def test_service_logs():
    assert commands.service_logs("shop-r7_web", 50, follow=True) == [
        "docker", "service", "logs", "--tail", "50", "--no-trunc", "--follow", "--",
        "shop-r7_web"]


def test_image_push():
    assert commands.image_push("reg.lan:5000/shop-web:abc") == [
        "docker", "push", "--", "reg.lan:5000/shop-web:abc"]


def test_service_logs_as_logs_app_reads_them():
    assert commands.service_logs("shop-state_db") == [
        "docker", "service", "logs", "--tail", "200", "--no-trunc", "--", "shop-state_db"]
