"""Check a pushed commit before git accepts it (pre-receive): can it deploy at all?

Only what `docker compose config` can need is unpacked, bounded: the commit's small regular
files (compose files, `.env`, `env_file:` and `extends:` targets are small), never a link,
never a path outside the scratch dir, never more than MAX_TOTAL bytes, so a push of a large
repo does not copy its whole tree into /tmp every time. Before that, the whole commit is held
to the app's bound (settings max_push_files, max_push_mib): a larger one is refused as its
listing streams in, so neither the listing nor a later checkout of it is ever made.
"""

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from otterstack_hooks.adapters.compose import compose_cli as compose
from otterstack_hooks.adapters.compose import policy_check
from otterstack_hooks.adapters.docker import engine
from otterstack_hooks.adapters.local import process
from otterstack_hooks.adapters.local.paths import locate_compose
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.names import is_sha
from otterstack_hooks.rules import command_lines as commands
from otterstack_hooks.rules.compose.access import Access
from otterstack_hooks.rules.compose.model import parse_config
from otterstack_hooks.rules.compose.refusals import check_compose_rules
from otterstack_hooks.rules.traefik.hosts import check_hosts
from otterstack_hooks.rules.traefik.rule_syntax import DefaultSyntax, check_rules

MAX_FILE = 256 * 1024  # bytes; larger files are not what a compose file reads at config time
MAX_TOTAL = 8 * 1024 * 1024
MAX_FILES = 2000
GIT_TIMEOUT = 120
MIB = 1024 * 1024
_LS_TREE_LINE = re.compile(r"^\d+ (\w+) [0-9a-f]+ +(\d+|-)")  # mode type sha size...


@dataclass(frozen=True)
class TreeLimits:
    """The app's bound on a pushed commit: its settings max_push_files and max_push_mib."""

    files: int
    mib: int


def over_limit(files: int, size: int, app: str, limits: TreeLimits) -> str | None:
    """Why a commit of (at least) `files` files and `size` bytes is refused, or None."""
    if files > limits.files:
        what, setting = f"more than {limits.files:,} files", "max_push_files"
    elif size > limits.mib * MIB:
        what, setting = f"more than {limits.mib:,} MiB of files", "max_push_mib"
    else:
        return None
    return (f"the commit holds {what}, the most this app takes ({setting}); leave out what "
            f"the deploy does not need (build output, data), or an admin raises the limit: "
            f"`otterstack config {app} {setting} N`")


class _OverLimit(Exception):
    """Raised inside the stream of `git ls-tree` lines: stops git at once."""


def tree_problem(sha: str, app: str, limits: TreeLimits) -> str | None:
    """Why the pushed commit is larger than the app takes, or None. Its blobs (files and
    links) are counted from `git ls-tree -r -l` as the lines stream in, and git is stopped at
    the first one over the limit: a tree of millions of files is never listed in full."""
    if not is_sha(sha):
        raise OtterError(f"not a commit: {sha!r}")
    files = size = 0
    problem = None

    def count(line: str) -> None:
        nonlocal files, size, problem
        match = _LS_TREE_LINE.match(line)
        if match and match.group(1) == "blob":
            files, size = files + 1, size + int(match.group(2))
            problem = over_limit(files, size, app, limits)
            if problem:
                raise _OverLimit

    try:
        code, tail = process.stream(commands.git_ls_tree_lines(sha), GIT_TIMEOUT, count)
    except _OverLimit:
        return problem
    except process.StepTimeout as exc:
        raise OtterError(f"`git ls-tree` did not finish in {GIT_TIMEOUT} s and was stopped"
                         ) from exc
    if code != 0:
        raise OtterError(f"`git ls-tree` failed: {process.last_lines(chr(10).join(tail))}")
    return None


@dataclass(frozen=True)
class Entry:
    """One blob of `git ls-tree -r -l`."""

    mode: str
    sha: str
    size: int
    path: str


def parse_tree(listing: bytes) -> list[Entry]:
    """`git ls-tree -r -l -z` output: `mode type sha size\\tpath` records."""
    entries = []
    for record in listing.split(b"\0"):
        if not record:
            continue
        meta, _, path = record.partition(b"\t")
        mode, kind, sha, size = meta.decode().split()
        if kind == "blob":
            entries.append(Entry(mode, sha, int(size), path.decode("utf-8", "replace")))
    return entries


def select(entries: list[Entry]) -> list[Entry]:
    """The files worth unpacking: regular (no links, no submodules), inside the tree, small;
    shallowest first (compose files sit near the root) until the byte budget is spent."""
    chosen, total = [], 0
    candidates = [e for e in entries if e.mode in ("100644", "100755") and e.size <= MAX_FILE]
    for entry in sorted(candidates, key=lambda e: (e.path.count("/"), e.path)):
        name = PurePosixPath(entry.path)
        if name.is_absolute() or ".." in name.parts or total + entry.size > MAX_TOTAL:
            continue
        chosen.append(entry)
        total += entry.size
        if len(chosen) >= MAX_FILES:
            break
    return chosen


def _git(args: list[str], stdin: bytes | None = None) -> bytes:
    """The output (bytes) of a git command (`args` whole, from `commands`), fed `stdin`; it
    reads the quarantined objects through the GIT_* variables we inherit. Past GIT_TIMEOUT
    its whole group is killed (process.run_checked), so a stuck git never holds up the push."""
    return process.run_checked(args, GIT_TIMEOUT, f"`git {args[1]}`", input=stdin,
                               text=False).stdout


def unpack(sha: str, tree: Path) -> None:
    """Write the selected files of the commit under `tree`, read in one `cat-file --batch`."""
    chosen = select(parse_tree(_git(commands.git_ls_tree(sha))))
    data = _git(commands.git_cat_file_batch(), "".join(e.sha + "\n" for e in chosen).encode())
    position = 0
    for entry in chosen:
        header_end = data.index(b"\n", position)
        size = int(data[position:header_end].split()[2])
        body = data[header_end + 1: header_end + 1 + size]
        position = header_end + 1 + size + 1
        target = tree / entry.path
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(body)


def _image_project(image: str) -> str | None:
    """Which compose project built a local image (compose_names); None if unknown."""
    try:
        return engine.image_project(engine.client(), image)
    except OtterError:
        return None


def compose_problem(sha: str, scratch: Path, configured: str, environment: dict[str, str],
                    app: str, allowed: frozenset[Access], use_deploy_labels: bool,
                    rule_syntax: DefaultSyntax | None = None,
                    say: Callable[[str], None] = lambda text: None,
                    edge: frozenset[str] = frozenset(), hosts: str = "",
                    limits: TreeLimits | None = None) -> str | None:
    """Why the commit cannot deploy: larger than `limits`, or its compose file cannot work or
    is refused (the compose policy, the compose rules, with `rule_syntax` (Traefik routing on)
    a routing rule Traefik would refuse, a router outside the app's `hosts`), or None; notes
    on rules go to `say`. Reads the quarantined objects of the push through the GIT_*
    variables the pre-receive hook kept."""
    if not is_sha(sha):
        raise OtterError(f"not a commit: {sha!r}")
    too_large = tree_problem(sha, app, limits) if limits is not None else None
    if too_large:
        return too_large
    tree = scratch / "tree"
    tree.mkdir(mode=0o700)
    unpack(sha, tree)
    try:
        found = locate_compose(tree, configured)
        target = compose.ComposeTarget("otterstack-precheck", found.project_dir,
                                       (found.file_name,), found.env_files, environment)
        def first(config: dict[str, Any]) -> None:
            model = parse_config(config, target.project)
            check_compose_rules(model, app, use_deploy_labels)
            if rule_syntax is not None:
                rule_model = model.with_deploy_labels() if use_deploy_labels else model
                for note in check_rules(rule_model, app, rule_syntax):
                    say(note)
            check_hosts(model, app, hosts)

        policy_check.checked_config(target, tree, app, allowed, first, edge=edge,
                                    image_project=_image_project)
    except OtterError as exc:
        return str(exc)
    return None

