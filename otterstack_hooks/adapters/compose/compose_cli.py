"""Docker Compose v2 CLI I/O: run the argument lists of `commands` through `process` and make
sense of what comes back. No shell ever sees user text."""

import json
import os
import subprocess
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from otterstack_hooks.adapters.local import process
from otterstack_hooks.adapters.local.process import last_lines, run_checked
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.rules import command_lines as commands
from otterstack_hooks.rules.command_lines import ComposeTarget

__all__ = ["ComposeTarget", "build", "config", "config_and_raw", "down", "pull", "run_once",
           "stop", "up", "version"]


def _env(target: ComposeTarget) -> dict[str, str]:
    """Compose's environment: ours plus the app's variables (see ComposeTarget)."""
    return target.process_env(os.environ)


def _config_result(returncode: int, stdout: str, stderr: str) -> dict[str, Any]:
    if returncode != 0:
        raise OtterError(f"compose file is invalid: {last_lines(stderr)}")
    try:
        return json.loads(stdout)
    except json.JSONDecodeError as exc:
        raise OtterError(f"docker compose config gave unreadable output: {exc}") from exc


def config(target: ComposeTarget) -> dict[str, Any]:
    """The effective config (interpolated, merged, normalised) or compose's own complaint."""
    proc = _read_config(target, True, 120)
    return _config_result(proc.returncode, proc.stdout, proc.stderr)


def config_and_raw(target: ComposeTarget, timeout: float = 120
                   ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The effective config and the un-interpolated one (which still names the `env_file`s
    that the compose policy checks), from two `docker compose config` run side by side so a
    push waits for one, not two. Each is bounded as every command is (process.run)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(_read_config, target, interpolate, timeout)
                   for interpolate in (True, False)]
        effective, raw = (future.result() for future in futures)
    return (_config_result(effective.returncode, effective.stdout, effective.stderr),
            _config_result(raw.returncode, raw.stdout, raw.stderr))


def _read_config(target: ComposeTarget, interpolate: bool, timeout: float
                 ) -> subprocess.CompletedProcess:
    """`docker compose config` of the release (its exit code is the caller's to judge)."""
    return run_checked(commands.compose_config(target, interpolate), timeout,
                       cwd=target.directory, env=_env(target), check=False)


def _checked(target: ComposeTarget, args: Sequence[str], on_line: Callable[[str], None],
             failure: str, timeout: float) -> None:
    """A streamed compose command (`args`, whole) in the release's directory; on failure
    `failure` (which may name the {code}) with the output's last lines. StepTimeout past
    `timeout` s."""
    code, tail = process.stream(args, timeout, on_line, target.directory, _env(target))
    if code != 0:
        raise OtterError(f"{failure.format(code=code)}: {last_lines(chr(10).join(tail))}")


def build(target: ComposeTarget, services: Sequence[str], on_line: Callable[[str], None],
          timeout: float) -> None:
    _checked(target, commands.compose_build(target, services), on_line, "build failed", timeout)


def up(target: ComposeTarget, services: Sequence[str], on_line: Callable[[str], None],
       timeout: float) -> None:
    """Start the named services only (--no-deps: singletons run in their own project)."""
    _checked(target, commands.compose_up(target, services), on_line,
             "starting the release failed", timeout)


def pull(target: ComposeTarget, service: str) -> None:
    run_checked(commands.compose_pull(target, service), 900, f"pulling the image of {service}",
                cwd=target.directory, env=_env(target))


def run_once(target: ComposeTarget, service: str, command: Sequence[str],
             on_line: Callable[[str], None], timeout: float) -> None:
    """A one-off container of the release (not routed: Traefik must never send it traffic)."""
    _checked(target, commands.compose_run_once(target, service, command), on_line,
             "the release command failed (exit {code})", timeout)


def stop(project: str, timeout: int | None = None, services: Sequence[str] = ()) -> None:
    """Stop a release (or some of its services) gracefully: SIGTERM, then its own stop grace
    period (or `timeout`)."""
    run_checked(commands.compose_stop(project, timeout, services), 600, f"stopping {project}")


def start(project: str, services: Sequence[str]) -> None:
    """Start stopped services of a release again, as they were."""
    run_checked(commands.compose_start(project, services), 120,
                f"starting {', '.join(services)} of {project}")


def down(project: str, timeout: int | None = None, remove_images: bool = False) -> None:
    """Remove a release's containers and networks (and the images it built, if asked);
    named volumes are always kept."""
    run_checked(commands.compose_down(project, timeout, remove_images), 600,
                f"removing {project}")


def version() -> str | None:
    proc = run_checked(commands.compose_version(), 30, check=False)
    return proc.stdout.strip().lstrip("v") if proc.returncode == 0 else None
