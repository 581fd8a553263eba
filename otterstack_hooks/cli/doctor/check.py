"""What the doctor's checks share: a `Check` (one line of the report), the one Docker client
every check uses, how a check runs a command, and `RuntimeChecks`, the checks one runtime
adds (wiring.doctor_check_sets picks which apps each set looks at).

Kept apart so the check modules (host, traefik, apps, swarm) and the report can all import
them without importing each other.
"""

import os
import subprocess  # CompletedProcess only: process.run starts every command
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import docker

from otterstack_hooks.adapters.docker import engine
from otterstack_hooks.adapters.local import process
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.records import App

TIMEOUT = 15


@dataclass(frozen=True)
class Check:
    name: str  # e.g. "git", "docker engine", "hooks of myapp", "disk"
    ok: bool
    detail: str  # what was found
    fix: str = ""  # when not ok: exactly what to do
    warning: bool = False  # not ok, but deploys still work


class DoctorEngine:
    """One Docker client for all checks, connected on first use; its failure is kept."""

    def __init__(self) -> None:
        self._tried = False
        self._dc: docker.DockerClient | None = None
        self.error: BaseException | None = None

    def client(self) -> docker.DockerClient | None:
        if not self._tried:
            self._tried = True
            try:
                dc = engine.client()
                engine.ping(dc)
                self._dc = dc
            except Exception as exc:  # any failure: the engine check reports it
                self.error = exc
        return self._dc


Named = tuple[str, Callable[[], Check | list[Check] | None]]
"""A check and the name its line gets if it crashes (report._guarded)."""


class RuntimeChecks(Protocol):
    """The checks of one runtime, for the apps that use it (`apps`, maybe none): some for all
    of them at once, run once the apps are known, and some for each, run after that app's
    repo, hooks and env."""

    apps: list[App]

    def together(self) -> list[Named]: ...

    def of_app(self, app: App) -> list[Named]: ...


def _git_env() -> dict[str, str]:
    """This process's environment without GIT_* (set inside hooks, they would redirect git)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}


def run(args: Sequence[str], timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    """A check's command, bounded like every other (process.run_checked: its whole group is
    killed past `timeout`); a missing program in the doctor's own words."""
    try:
        return process.run_checked(args, timeout, env=_git_env(), check=False)
    except process.ProgramMissing as exc:
        raise OtterError(f"{args[0]} is not installed") from exc


def file_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def from_problems(name: str, found: list[str], fixes: list[str], ok_detail: str) -> Check:
    """One Check from a list of problems (and their fixes, deduplicated, in order)."""
    if not found:
        return Check(name, True, ok_detail)
    return Check(name, False, "; ".join(found), "; ".join(dict.fromkeys(fixes)))
