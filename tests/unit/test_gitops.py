"""Release worktrees and commit lookups on a real repo, run through the bounded runner."""

import os
import subprocess
from pathlib import Path

import git
import pytest

from otterstack_hooks.adapters.git import repo as gitops
from otterstack_hooks.core.errors import OtterError

MISSING = "b" * 40


def sh_git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "d", "GIT_AUTHOR_EMAIL": "d@x",
           "GIT_COMMITTER_NAME": "d", "GIT_COMMITTER_EMAIL": "d@x"}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env=env).stdout.strip()


@pytest.fixture
def bare(tmp_path) -> tuple[git.Repo, str]:
    """A bare repo (as install.sh makes) with one commit on main and a tag v1."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "compose.yaml").write_text("services: {}\n")
    sh_git(src, "init", "-q", "-b", "main")
    sh_git(src, "add", "-A")
    sh_git(src, "commit", "-q", "-m", "first release\n\nbody")
    sh_git(src, "tag", "-a", "v1", "-m", "v1")
    sh_git(tmp_path, "clone", "-q", "--bare", str(src), str(tmp_path / "app.git"))
    return gitops.open_repo(str(tmp_path / "app.git")), sh_git(src, "rev-parse", "HEAD")


def test_resolve_commit_by_sha_branch_and_annotated_tag(bare):
    repo, sha = bare
    assert gitops.resolve_commit(repo, sha) == sha
    assert gitops.resolve_commit(repo, sha[:7]) == sha
    assert gitops.resolve_commit(repo, "main") == sha
    assert gitops.resolve_commit(repo, "v1") == sha  # the tag object peeled to its commit


@pytest.mark.parametrize("ref", ["nope", MISSING, "-h", "a b", ""])
def test_resolve_commit_refuses_what_names_no_commit(bare, ref):
    repo, _ = bare
    with pytest.raises(OtterError, match="not a valid commit|no commit"):
        gitops.resolve_commit(repo, ref)


def test_branch_head(bare):
    repo, sha = bare
    assert gitops.branch_head(repo, "main") == sha
    assert gitops.branch_head(repo, "v1") is None  # a tag, not a branch
    assert gitops.branch_head(repo, "other") is None


def test_commit_subject(bare):
    repo, sha = bare
    assert gitops.commit_subject(repo, sha) == "first release"


def test_a_worktree_is_added_detached_and_removed(bare, tmp_path):
    repo, sha = bare
    path = tmp_path / "data" / "releases" / "r1"
    gitops.add_worktree(repo, path, sha)
    assert (path / "compose.yaml").read_text() == "services: {}\n"
    assert sh_git(path, "rev-parse", "HEAD") == sha
    assert sh_git(path, "rev-parse", "--abbrev-ref", "HEAD") == "HEAD"  # detached
    gitops.add_worktree(repo, path, sha)  # again: the old one is replaced
    gitops.remove_worktree(repo, path)
    assert not path.exists()
    assert str(path) not in sh_git(Path(repo.git_dir), "worktree", "list")


def test_a_worktree_whose_dir_is_gone_is_forgotten(bare, tmp_path):
    repo, sha = bare
    path = tmp_path / "releases" / "r1"
    gitops.add_worktree(repo, path, sha)
    subprocess.run(["rm", "-rf", str(path)], check=True)
    gitops.remove_worktree(repo, path)
    assert str(path) not in sh_git(Path(repo.git_dir), "worktree", "list")


def test_a_dir_git_does_not_know_is_removed_anyway(bare, tmp_path):
    repo, _ = bare
    path = tmp_path / "releases" / "stray"
    path.mkdir(parents=True)
    (path / "left-over").write_text("x")
    gitops.remove_worktree(repo, path)
    assert not path.exists()


def test_a_failed_checkout_reads_as_it_did_through_gitpython(bare, tmp_path):
    repo, _ = bare
    path = tmp_path / "releases" / "r2"
    with pytest.raises(git.GitCommandError) as through_gitpython:
        repo.git.worktree("add", "--detach", str(path), MISSING)
    with pytest.raises(OtterError) as caught:
        gitops.add_worktree(repo, path, MISSING)
    assert str(caught.value) == (
        f"could not check out bbbbbbb into {path}: "
        f"{gitops._git_error(through_gitpython.value)}; check free disk space and "
        "permissions of the data dir")
    assert "fatal:" in str(caught.value)


def test_a_refused_sha_never_reaches_git(bare, tmp_path):
    repo, _ = bare
    with pytest.raises(OtterError, match="not a commit sha"):
        gitops.add_worktree(repo, tmp_path / "r", "--orphan")
