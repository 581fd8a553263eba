"""What a push key may run over SSH: exactly git's own request for its apps' repos, or a fixed
set of OtterStack commands; everything else refused before anything runs."""

import shlex

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otterstack_hooks.rules.ssh_gate import (
    ADMIN_COMMANDS,
    PUSHER_COMMANDS,
    GitRequest,
    GitVerb,
    OtterRequest,
    Refused,
    SshKey,
    authorize,
    authorize_git,
    parse_command,
    repo_app,
)

HOME = "/home/deploy"
REPOS = {"a": "/home/deploy/git/a.git", "b": "/home/deploy/git/b.git"}
ALICE = SshKey("alice", "ssh-ed25519 AAAA", "a", False, 0)
ROOT = SshKey("root-key", "ssh-ed25519 AAAA", "", True, 0)


def git_quote(path: str) -> str:
    """git's sq_quote_buf, as git sends the path."""
    return "'" + path.replace("'", "'\\''").replace("!", "'\\!'") + "'"


def test_git_requests_are_read_exactly():
    assert parse_command("git-receive-pack '/home/deploy/git/a.git'") == GitRequest(
        GitVerb.RECEIVE_PACK, "/home/deploy/git/a.git")
    assert parse_command("git-upload-pack 'git/a.git'") == GitRequest(
        GitVerb.UPLOAD_PACK, "git/a.git")
    assert parse_command("git-receive-pack 'it'\\''s!'\\!''") == GitRequest(
        GitVerb.RECEIVE_PACK, "it's!!")


@pytest.mark.parametrize("command", [
    None, "", "   ", "sh -c id", "sh", "bash -i", "id", "scp -t /tmp", "rsync --server .",
    "git-receive-pack \"/x\"; id", "git-receive-pack '/x'; id", "git-receive-pack '/x' '/y'",
    "git-receive-pack /x", "git-receive-pack '/x", "git-receive-pack '/x'\nid",
    "git receive-pack '/x'", "git-upload-archive '/x'", "git-shell -c x", "hook post-receive a",
    "apps remove a", "traefik up", "doctor", "prune a", "ssh other", "$(id)", "`id`",
    "status a; id", "status a\x00",
])
def test_everything_else_is_refused(command):
    with pytest.raises(Refused):
        request = parse_command(command)
        if isinstance(request, GitRequest):
            repo_app(request.path, HOME, REPOS)


@pytest.mark.parametrize("path", [
    "/home/deploy/git/../git/a.git", "../deploy/git/a.git", "/etc", "/home/deploy/.ssh",
    "/home/deploy/git/c.git", "git/a.git/..", "/home/deploy/git/a.gitx", ".ssh", "git",
])
def test_repo_paths_outside_the_apps_or_with_dotdot_are_refused(path):
    with pytest.raises(Refused):
        repo_app(path, HOME, REPOS)


def test_repo_paths_as_git_sends_them_find_the_app():
    assert repo_app("/home/deploy/git/a.git", HOME, REPOS) == "a"
    assert repo_app("/home/deploy/git/a", HOME, REPOS) == "a"
    assert repo_app("git/b.git", HOME, REPOS) == "b"
    assert repo_app("/home/deploy//git/./b.git/", HOME, REPOS) == "b"


def test_otterstack_commands_for_pushers_and_admins():
    assert parse_command("status a") == OtterRequest(("status", "a"))
    assert parse_command("pin a --reason 'bad deploy'") == OtterRequest(
        ("pin", "a", "--reason", "bad deploy"))
    authorize(ALICE, "status", "a")
    authorize(ALICE, "deploy", "a")
    for command, app, why in [("status", "b", "may not use app 'b'"),
                              ("status", None, "name the app"),
                              ("env", "a", "admin keys only"),
                              ("keys", None, "admin keys only"),
                              ("config", "a", "admin keys only")]:
        with pytest.raises(Refused, match=why):
            authorize(ALICE, command, app)
    for command in ADMIN_COMMANDS:
        authorize(ROOT, command, None)
    authorize_git(ALICE, "a")
    with pytest.raises(Refused, match="may not push app 'b'"):
        authorize_git(ALICE, "b")


# properties
PATH_CHARS = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1,
                     max_size=40)


@given(PATH_CHARS, st.sampled_from(list(GitVerb)))
def test_any_path_git_quotes_is_read_back_exactly(path, verb):
    assert parse_command(f"{verb.value} {git_quote(path)}") == GitRequest(verb, path)


@given(PATH_CHARS, st.text(min_size=1, max_size=20))
def test_anything_after_the_quoted_path_is_refused(path, tail):
    command = f"git-receive-pack {git_quote(path)}{tail}"
    try:
        request = parse_command(command)
    except Refused:
        return
    # the only way to parse is that `tail` continued git's own quoting
    assert isinstance(request, GitRequest)
    assert tail.startswith(("\\''", "\\!'")) and request.path.startswith(path)


@given(st.lists(st.text(min_size=1, max_size=10), min_size=1, max_size=5))
def test_only_the_fixed_commands_are_accepted(words):
    command = shlex.join(words)
    try:
        request = parse_command(command)
    except Refused:
        return
    assert isinstance(request, OtterRequest)
    assert request.argv[0] in ADMIN_COMMANDS and list(request.argv) == words


@given(st.sampled_from(sorted(ADMIN_COMMANDS)), st.sampled_from(["a", "b", "c", None]),
       st.sampled_from(["a", "a,b", "*", ""]))
def test_a_pusher_gets_no_more_than_its_apps(command, app, apps):
    key = SshKey("k", "ssh-ed25519 AAAA", apps, False, 0)
    allowed = (command in PUSHER_COMMANDS and app is not None
               and (apps == "*" or app in apps.split(",")))
    try:
        authorize(key, command, app)
    except Refused:
        assert not allowed
    else:
        assert allowed
