"""The pre-receive check unpacks only small regular files, inside its scratch dir, bounded."""

import os
import subprocess
import time

import pytest

from otterstack_hooks.adapters.git import precheck
from otterstack_hooks.adapters.git.precheck import (
    MAX_FILE,
    MAX_TOTAL,
    MIB,
    Entry,
    TreeLimits,
    over_limit,
    select,
    tree_problem,
    unpack,
)
from otterstack_hooks.core.errors import OtterError


def git(repo, *args):
    env = {**os.environ, "GIT_AUTHOR_NAME": "d", "GIT_AUTHOR_EMAIL": "d@x",
           "GIT_COMMITTER_NAME": "d", "GIT_COMMITTER_EMAIL": "d@x"}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env=env).stdout.strip()


def test_only_small_regular_files_are_unpacked_from_a_real_commit(tmp_path, monkeypatch):
    src = tmp_path / "src"
    (src / "deploy").mkdir(parents=True)
    (src / "deploy" / "compose.yaml").write_text("services: {}\n")
    (src / ".env").write_text("A=1\n")
    (src / "big.bin").write_bytes(b"\0" * (MAX_FILE + 1))
    (src / "certs").symlink_to("/etc/ssl/certs")
    (src / "env-link").symlink_to("../../env")
    git(src, "init", "-q")
    git(src, "add", "-A")
    git(src, "commit", "-q", "-m", "x")
    sha = git(src, "rev-parse", "HEAD")
    monkeypatch.chdir(src)
    tree = tmp_path / "tree"
    tree.mkdir()
    unpack(sha, tree)
    found = sorted(str(p.relative_to(tree)) for p in tree.rglob("*"))
    assert found == [".env", "deploy", "deploy/compose.yaml"]
    assert (tree / "deploy" / "compose.yaml").read_text() == "services: {}\n"


def test_selection_is_bounded_and_stays_inside():
    entries = [Entry("100644", "a" * 40, MAX_FILE, f"d{i}/f") for i in range(100)]
    entries += [Entry("100644", "b" * 40, 1, "../escape"), Entry("120000", "c" * 40, 5, "link"),
                Entry("160000", "d" * 40, 0, "sub"), Entry("100644", "e" * 40, 10, "compose.yaml")]
    chosen = select(entries)
    assert chosen[0].path == "compose.yaml"  # shallowest first
    assert sum(e.size for e in chosen) <= MAX_TOTAL
    assert {e.path for e in chosen}.isdisjoint({"../escape", "link", "sub"})


def test_a_stuck_git_is_killed_with_everything_it_started(tmp_path, monkeypatch):
    """The timeout ends git's whole process group, not git alone: a helper it started (here a
    background sleep) must not live on holding the push."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "git"
    fake.write_text("#!/bin/sh\nsleep 100 &\necho $! > \"$PIDFILE\"\nsleep 100\n")
    fake.chmod(0o755)
    pidfile = tmp_path / "pid"
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("PIDFILE", str(pidfile))
    monkeypatch.setattr(precheck, "GIT_TIMEOUT", 1)
    started = time.monotonic()
    with pytest.raises(OtterError, match="`git ls-tree` did not finish in 1 s"):
        unpack("a" * 40, tmp_path)
    assert time.monotonic() - started < 30
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            with open(f"/proc/{pid}/stat") as handle:
                if handle.read().split(")")[-1].split()[0] == "Z":
                    break
        except (ProcessLookupError, FileNotFoundError):
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the background child of git is still running")


def commit_of(src, files):
    """A real commit of `files` (path -> bytes) in a new repo at `src`; its sha."""
    for path, content in files.items():
        (src / path).parent.mkdir(parents=True, exist_ok=True)
        (src / path).write_bytes(content)
    git(src, "init", "-q")
    git(src, "add", "-A")
    git(src, "commit", "-q", "-m", "x")
    return git(src, "rev-parse", "HEAD")


def test_a_commit_over_the_apps_limits_is_refused_naming_the_setting(tmp_path, monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    files = {f"d{i % 3}/f{i}": b"x" for i in range(30)}
    files["big"] = b"\0" * (2 * MIB)
    (src / "link").symlink_to("big")  # a link counts as a file
    sha = commit_of(src, files)
    monkeypatch.chdir(src)
    assert tree_problem(sha, "shop", TreeLimits(32, 3)) is None
    problem = tree_problem(sha, "shop", TreeLimits(31, 3))
    assert problem is not None and problem.startswith(
        "the commit holds more than 31 files, the most this app takes (max_push_files)")
    assert problem.endswith("`otterstack config shop max_push_files N`")
    problem = tree_problem(sha, "shop", TreeLimits(100, 1))
    assert problem is not None and "more than 1 MiB of files" in problem
    assert "`otterstack config shop max_push_mib N`" in problem
    with pytest.raises(OtterError, match="not a commit"):
        tree_problem("HEAD", "shop", TreeLimits(1, 1))


def test_the_listing_of_a_huge_tree_is_stopped_at_the_limit(tmp_path, monkeypatch):
    """git is stopped at the first entry over the limit: a fake git that would list forever
    is ended long before its time limit."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "git"
    fake.write_text("#!/bin/sh\nwhile :; do echo '100644 blob " + "a" * 40 +
                    "       1\tf'; done\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    started = time.monotonic()
    problem = tree_problem("b" * 40, "shop", TreeLimits(1000, 512))
    assert problem is not None and "more than 1,000 files" in problem
    assert time.monotonic() - started < 10


def test_over_limit_counts_files_first_then_bytes():
    limits = TreeLimits(files=10, mib=2)
    assert over_limit(10, 2 * MIB, "a", limits) is None
    assert "max_push_files" in (over_limit(11, 0, "a", limits) or "")
    assert "max_push_mib" in (over_limit(1, 2 * MIB + 1, "a", limits) or "")
