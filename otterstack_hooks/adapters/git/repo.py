"""Git I/O: resolve commits and make and remove release worktrees with the `commands` lists,
run through `process` (bounded, killed with everything they start, dying with us), and read
commit objects through GitPython."""

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import git

from otterstack_hooks.adapters.local import process
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.names import is_sha, printable
from otterstack_hooks.rules import command_lines as commands

GIT_TIMEOUT = 120  # s, for rev-parse, worktree remove and prune
CHECKOUT_TIMEOUT = 600  # s, for writing a release's whole tree (a large repo on a slow disk)


def _git(repo: git.Repo, args: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    """A git command on `repo` run as GitPython ran it (so nothing changes for the repo it
    finds or the messages it gives): in the repo's directory, with our environment and git's
    messages in English (the C locale). Its exit code is the caller's to judge."""
    return process.run_checked(args, timeout, cwd=Path(repo.working_dir),
                               env={**os.environ, "LANGUAGE": "C", "LC_ALL": "C"}, check=False)


def _failure(args: Sequence[str], proc: subprocess.CompletedProcess) -> git.GitCommandError:
    """The error GitPython raised for a failed command, with git's own message: callers (and
    _git_error) read it as before."""
    return git.GitCommandError(list(args), proc.returncode, proc.stderr.removesuffix("\n"),
                               proc.stdout.removesuffix("\n"))


def open_repo(path: str) -> git.Repo:
    try:
        return git.Repo(path)
    except (git.NoSuchPathError, git.InvalidGitRepositoryError) as exc:
        raise OtterError(
            f"{path} is not a git repository; re-run install.sh for this app to create it"
        ) from exc


def resolve_commit(repo: git.Repo, ref: str) -> str:
    """The full sha of a commit named by sha, branch or tag; a clear error if there is none."""
    if not ref or ref.startswith("-") or any(ch.isspace() for ch in ref):
        raise OtterError(f"{printable(ref)!r} is not a valid commit or ref name")
    proc = _git(repo, commands.git_rev_parse_commit(ref), GIT_TIMEOUT)
    sha = proc.stdout.strip() if proc.returncode == 0 else ""
    if not is_sha(sha):
        raise OtterError(
            f"no commit {printable(ref)!r} in {repo.git_dir}; push it first or name an existing "
            "branch, tag or sha (see `otterstack releases APP`)"
        )
    return sha


def branch_head(repo: git.Repo, branch: str) -> str | None:
    """The sha the branch points at; None if there is no such branch (yet)."""
    proc = _git(repo, commands.git_rev_parse_branch(branch), GIT_TIMEOUT)
    if proc.returncode != 0:
        return None
    return proc.stdout.strip() or None


def commit_subject(repo: git.Repo, sha: str) -> str:
    return printable(str(repo.commit(sha).summary), 72)


def add_worktree(repo: git.Repo, path: Path, sha: str) -> None:
    """Check the commit out, detached, into a fresh directory of its own."""
    if not is_sha(sha):
        raise OtterError(f"refusing to check out {printable(sha)!r}: not a commit sha")
    if path.exists():
        remove_worktree(repo, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    args = commands.git_worktree_add(path, sha)
    try:
        proc = _git(repo, args, CHECKOUT_TIMEOUT)
    except process.CommandTimeout as exc:
        raise OtterError(_checkout_failed(sha, path, str(exc))) from exc
    if proc.returncode != 0:
        failure = _failure(args, proc)
        raise OtterError(_checkout_failed(sha, path, _git_error(failure))) from failure


def _checkout_failed(sha: str, path: Path, reason: str) -> str:
    return (f"could not check out {sha[:7]} into {path}: {reason}; check free disk "
            "space and permissions of the data dir")


def remove_worktree(repo: git.Repo, path: Path) -> None:
    """Remove a release's worktree; works even if the directory is already gone (or git
    cannot remove it: then the directory goes, and prune makes git forget it)."""
    if path.exists():
        try:
            removed = _git(repo, commands.git_worktree_remove(path), GIT_TIMEOUT).returncode == 0
        except process.CommandTimeout:
            removed = False
        if not removed:
            shutil.rmtree(path, ignore_errors=True)
    args = commands.git_worktree_prune()
    proc = _git(repo, args, GIT_TIMEOUT)
    if proc.returncode != 0:
        raise _failure(args, proc)


def _git_error(exc: git.GitCommandError) -> str:
    text = (exc.stderr or str(exc)).strip().replace("stderr: ", "")
    return printable(" ".join(text.split()), 300)


class GitRepo:
    """The Repo port (ports.Repo) over one bare repo: what the orchestrators need of git."""

    def __init__(self, path: str):
        self.repo = open_repo(path)

    def resolve_commit(self, ref: str) -> str:
        return resolve_commit(self.repo, ref)

    def branch_head(self, branch: str) -> str | None:
        return branch_head(self.repo, branch)

    def commit_subject(self, sha: str) -> str:
        return commit_subject(self.repo, sha)

    def add_worktree(self, path: Path, sha: str) -> None:
        add_worktree(self.repo, path, sha)

    def remove_worktree(self, path: Path) -> None:
        remove_worktree(self.repo, path)
