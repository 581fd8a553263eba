"""Git I/O through GitPython: resolve commits, make and remove release worktrees."""

import shutil
from pathlib import Path

import git

from .errors import OtterError
from .names import is_sha, printable


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
    try:
        sha = repo.git.rev_parse("--verify", "--quiet", f"{ref}^{{commit}}").strip()
    except git.GitCommandError:
        sha = ""
    if not is_sha(sha):
        raise OtterError(
            f"no commit {printable(ref)!r} in {repo.git_dir}; push it first or name an existing "
            "branch, tag or sha (see `otterstack releases APP`)"
        )
    return sha


def branch_head(repo: git.Repo, branch: str) -> str | None:
    try:
        sha = repo.git.rev_parse("--verify", "--quiet", f"refs/heads/{branch}").strip()
    except git.GitCommandError:
        return None
    return sha or None


def commit_subject(repo: git.Repo, sha: str) -> str:
    return printable(repo.commit(sha).summary, 72)


def add_worktree(repo: git.Repo, path: Path, sha: str) -> None:
    """Check the commit out, detached, into a fresh directory of its own."""
    if not is_sha(sha):
        raise OtterError(f"refusing to check out {printable(sha)!r}: not a commit sha")
    if path.exists():
        remove_worktree(repo, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        repo.git.worktree("add", "--detach", str(path), sha)
    except git.GitCommandError as exc:
        raise OtterError(
            f"could not check out {sha[:7]} into {path}: {_git_error(exc)}; check free disk "
            "space and permissions of the data dir"
        ) from exc


def remove_worktree(repo: git.Repo, path: Path) -> None:
    """Remove a release's worktree; works even if the directory is already gone."""
    try:
        if path.exists():
            repo.git.worktree("remove", "--force", str(path))
    except git.GitCommandError:
        shutil.rmtree(path, ignore_errors=True)
    repo.git.worktree("prune")


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
