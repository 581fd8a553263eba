"""The doctor's checks of each app: its bare repo, the two hooks install.sh writes, and the
mode of its env file."""

import os
import re
import shlex
from pathlib import Path

from otterstack_hooks.adapters.local.paths import Paths
from otterstack_hooks.cli.doctor.check import Check, file_mode, from_problems, run
from otterstack_hooks.core.names import printable
from otterstack_hooks.core.records import App
from otterstack_hooks.rules import command_lines as commands


def check_repo(app: App) -> Check:
    name = f"repo of {app.name}"
    repo = Path(app.repo)
    reinstall = f"re-run ./install.sh {app.name}"
    if not repo.is_dir():
        return Check(name, False, f"{repo} does not exist", reinstall)
    proc = run(commands.git_is_bare(repo))
    if proc.returncode != 0 or proc.stdout.strip() != "true":
        return Check(name, False, f"{repo} is not a bare git repository",
                     f"{reinstall} --repo PATH with a bare repo (git init --bare)")
    proc = run(commands.git_config_bool(repo, "receive.advertisePushOptions"))
    if proc.stdout.strip() != "true":
        return Check(name, False, f"{repo}: receive.advertisePushOptions is not true, so "
                     "`git push -o ...` options are refused",
                     f"git -C {repo} config receive.advertisePushOptions true (or {reinstall})")
    proc = run(commands.git_config_bool(repo, "receive.fsckObjects"))
    if proc.stdout.strip() != "true":
        return Check(name, False, f"{repo}: receive.fsckObjects is not true, so pushed objects "
                     "are stored unchecked (malformed trees, hostile path names)",
                     f"git -C {repo} config receive.fsckObjects true (or {reinstall})",
                     warning=True)
    return Check(name, True, f"{repo} (bare, push options on, pushed objects checked)")


def _hook_setting(text: str, key: str) -> str | None:
    """A VAR=value line install.sh wrote (with printf %q quoting); None if absent or odd."""
    match = re.search(rf"^{key}=(.*)$", text, re.M)
    if match is None:
        return None
    try:
        words = shlex.split(match.group(1))
    except ValueError:
        return None
    return words[0] if len(words) == 1 else None


def check_hook(app: App, paths: Paths) -> Check:
    """Both hooks install.sh writes: pre-receive (refuses what cannot deploy) and
    post-receive (deploys)."""
    name = f"hooks of {app.name}"
    reinstall = f"re-run ./install.sh {app.name}"
    if not Path(app.repo).is_dir():
        return Check(name, False, f"no repo at {app.repo}, so no hook", reinstall)
    found: list[str] = []
    fixes: list[str] = []
    for hook_name in ("pre-receive", "post-receive"):
        hook = Path(app.repo) / "hooks" / hook_name
        if not hook.is_file():
            found.append(f"{hook} is missing" + (": pushes do not deploy"
                                                 if hook_name == "post-receive" else ""))
            fixes.append(reinstall)
            continue
        _check_one_hook(app, paths, hook, reinstall, found, fixes)
    return from_problems(name, found, list(dict.fromkeys(fixes)),
                     f"{Path(app.repo) / 'hooks'}/pre-receive, post-receive")


def _check_one_hook(app: App, paths: Paths, hook: Path, reinstall: str, found: list[str],
                    fixes: list[str]) -> None:
    if not os.access(hook, os.X_OK):
        found.append(f"{hook} is not executable: git skips it")
        fixes.append(f"chmod 755 {hook} (or {reinstall})")
    if file_mode(hook) & 0o022:
        found.append(f"{hook} has mode {file_mode(hook):04o}: others may change what pushes run")
        fixes.append(f"chmod go-w {hook}")
    text = hook.read_text(errors="replace")
    if not re.search(rf"^OTTERSTACK_APP=(['\"]?){re.escape(app.name)}\1\s*$", text, re.M):
        found.append(f"{hook} is not OtterStack's hook for {app.name} (no "
                     f"OTTERSTACK_APP={app.name})")
        fixes.append(reinstall)
    else:
        data_dir = _hook_setting(text, "OTTERSTACK_DATA_DIR")
        if data_dir and Path(data_dir).resolve() != paths.root.resolve():
            found.append(f"{hook} deploys with data dir {printable(data_dir, 200)}, "
                         f"not {paths.root}")
            fixes.append(f"OTTERSTACK_DATA_DIR={paths.root} ./install.sh {app.name}")


def check_env_file(app: App, paths: Paths) -> Check | None:
    env_file = paths.env_file(app.name)
    if not env_file.exists():
        return None
    mode = file_mode(env_file)
    if mode & 0o077:
        return Check(f"env of {app.name}", False,
                     f"{env_file} has mode {mode:04o}: other users can read its secrets",
                     f"chmod 600 {env_file}")
    return Check(f"env of {app.name}", True, f"{env_file} (mode {mode:04o})")
