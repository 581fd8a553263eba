"""Docker Compose v2 CLI I/O. Argument lists only; no shell ever sees user text."""

import json
import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import process
from .errors import OtterError
from .names import printable, validate_project_name
from .process import StepTimeout


@dataclass(frozen=True)
class ComposeTarget:
    """One release as Compose sees it: project name, project dir and its -f files in order
    (relative to the directory, or absolute: the generated ones live outside the checkout).

    `environment` (the app's secrets) reaches Compose as its own process environment, never
    as argv and never through a dotenv file Compose would re-parse: Compose's `${VAR}`
    interpolation reads it, and `environment: [KEY]` entries take it byte for byte."""

    project: str
    directory: Path
    files: tuple[str | Path, ...]
    env_files: tuple[Path, ...] = ()  # the project's own .env, for ${VAR} interpolation
    environment: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate_project_name(self.project)

    def process_env(self) -> dict[str, str]:
        """Our environment plus the app's variables, which win (as they did in Compose)."""
        return {**os.environ, **self.environment}

    def args(self) -> list[str]:
        args = ["docker", "compose", "-p", self.project, "--project-directory",
                str(self.directory)]
        for env_file in self.env_files:
            args += ["--env-file", str(env_file)]
        for name in self.files:  # one -f per file: compose does not split on commas
            args += ["-f", str(self.directory / name)]
        return args


def _run(args: Sequence[str], cwd: Path | None = None, timeout: float = 120,
         env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
    try:
        return process.run(args, timeout, cwd, env)
    except StepTimeout as exc:
        raise OtterError(str(exc)) from exc


def _error_text(text: str, limit: int = 600) -> str:
    lines = [printable(line, 300) for line in text.strip().splitlines() if line.strip()]
    joined = " | ".join(lines[-6:])
    return joined if len(joined) <= limit else "..." + joined[-limit:]


def _config_result(returncode: int, stdout: str, stderr: str) -> dict[str, Any]:
    if returncode != 0:
        raise OtterError(f"compose file is invalid: {_error_text(stderr)}")
    try:
        return json.loads(stdout)
    except json.JSONDecodeError as exc:
        raise OtterError(f"docker compose config gave unreadable output: {exc}") from exc


def config(target: ComposeTarget) -> dict[str, Any]:
    """The effective config (interpolated, merged, normalised) or compose's own complaint."""
    proc = _run([*target.args(), "config", "--format", "json"], cwd=target.directory,
                env=target.process_env())
    return _config_result(proc.returncode, proc.stdout, proc.stderr)


def config_and_raw(target: ComposeTarget, timeout: float = 120
                   ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The effective config and the un-interpolated one (which still names the `env_file`s
    that the compose policy checks), from two `docker compose config` run side by side so a
    push waits for one, not two. Each is bounded as every command is (process.run)."""
    base = [*target.args(), "config", "--format", "json"]
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(_run, args, target.directory, timeout, target.process_env())
                   for args in (base, [*base, "--no-interpolate"])]
        effective, raw = (future.result() for future in futures)
    return (_config_result(effective.returncode, effective.stdout, effective.stderr),
            _config_result(raw.returncode, raw.stdout, raw.stderr))


def _checked(target: ComposeTarget, args: Sequence[str], on_line: Callable[[str], None],
             failure: str, timeout: float) -> None:
    """A streamed compose command in the release's directory; on failure `failure` (which may
    name the {code}) with the output's last lines. StepTimeout past `timeout` s."""
    code, tail = process.stream([*target.args(), *args], timeout, on_line, target.directory,
                                target.process_env())
    if code != 0:
        raise OtterError(f"{failure.format(code=code)}: {_error_text(chr(10).join(tail))}")


def build(target: ComposeTarget, services: Sequence[str], on_line: Callable[[str], None],
          timeout: float) -> None:
    _checked(target, ["build", *services], on_line, "build failed", timeout)


def up(target: ComposeTarget, services: Sequence[str], on_line: Callable[[str], None],
       timeout: float) -> None:
    """Start the named services only (--no-deps: singletons run in their own project)."""
    _checked(target, ["up", "--detach", "--no-build", "--no-deps", *services], on_line,
             "starting the release failed", timeout)


def pull(target: ComposeTarget, service: str) -> None:
    proc = _run([*target.args(), "pull", "--", service], cwd=target.directory, timeout=900,
                env=target.process_env())
    if proc.returncode != 0:
        raise OtterError(f"pulling the image of {service} failed: {_error_text(proc.stderr)}")


def run_once(target: ComposeTarget, service: str, command: Sequence[str],
             on_line: Callable[[str], None], timeout: float) -> None:
    """A one-off container of the release (not routed: Traefik must never send it traffic)."""
    _checked(target, ["run", "--rm", "--no-deps", "-T", "--label", "traefik.enable=false",
                      service, *command], on_line, "the release command failed (exit {code})",
             timeout)


def stop(project: str, timeout: int | None = None) -> None:
    """Stop a release gracefully: SIGTERM, then its own stop grace period (or `timeout`)."""
    args = ["docker", "compose", "-p", validate_project_name(project), "stop"]
    if timeout is not None:
        args += ["--timeout", str(timeout)]
    proc = _run(args, timeout=600)
    if proc.returncode != 0:
        raise OtterError(f"stopping {project} failed: {_error_text(proc.stderr)}")


def down(project: str, timeout: int | None = None, remove_images: bool = False) -> None:
    """Remove a release's containers and networks (and the images it built, if asked);
    named volumes are always kept."""
    args = ["docker", "compose", "-p", validate_project_name(project), "down",
            "--remove-orphans"]
    if timeout is not None:
        args += ["--timeout", str(timeout)]
    if remove_images:
        args += ["--rmi", "local"]
    proc = _run(args, timeout=600)
    if proc.returncode != 0:
        raise OtterError(f"removing {project} failed: {_error_text(proc.stderr)}")


def version() -> str | None:
    proc = _run(["docker", "compose", "version", "--short"], timeout=30)
    return proc.stdout.strip().lstrip("v") if proc.returncode == 0 else None
