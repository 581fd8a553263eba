"""The pre-receive check unpacks only small regular files, inside its scratch dir, bounded."""

import os
import subprocess
import time

import pytest

from otterstack_hooks import precheck
from otterstack_hooks.errors import OtterError
from otterstack_hooks.precheck import MAX_FILE, MAX_TOTAL, Entry, select, unpack


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
