"""Docker Compose v2 CLI I/O. Argument lists only; no shell ever sees user text."""

import ctypes
import json
import signal
import subprocess
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import OtterError
from .names import printable


@dataclass(frozen=True)
class ComposeTarget:
    """One release as Compose sees it: project name, project dir and its -f files in order."""

    project: str
    directory: Path
    files: tuple[str, ...]
    env_files: tuple[Path, ...] = ()  # for ${VAR} interpolation, later ones win

    def args(self) -> list[str]:
        args = ["docker", "compose", "-p", self.project, "--project-directory",
                str(self.directory)]
        for env_file in self.env_files:
            args += ["--env-file", str(env_file)]
        for name in self.files:  # one -f per file: compose does not split on commas
            args += ["-f", str(self.directory / name)]
        return args


def _die_with_parent() -> None:
    """Linux: SIGKILL this child when the deploy process dies, so a killed deploy never
    leaves a `docker compose up` running on behind the recovery of the next one."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _run(args: Sequence[str], cwd: Path | None = None, timeout: float = 120
         ) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            list(args), cwd=cwd, capture_output=True, text=True, timeout=timeout,
            stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent,
        )
    except FileNotFoundError as exc:
        raise OtterError(
            "the docker client is not installed; install Docker Engine and the Compose v2 plugin"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise OtterError(f"`{' '.join(args[:4])} ...` did not finish in {timeout:.0f} s") from exc


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
    proc = _run([*target.args(), "config", "--format", "json"], cwd=target.directory)
    return _config_result(proc.returncode, proc.stdout, proc.stderr)


def config_and_raw(target: ComposeTarget, timeout: float = 120
                   ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The effective config and the un-interpolated one (which still names the `env_file`s
    that the compose policy checks), from two `docker compose config` run side by side so a
    push waits for one, not two."""
    base = [*target.args(), "config", "--format", "json"]
    procs: list[subprocess.Popen] = []
    try:
        for args in (base, [*base, "--no-interpolate"]):
            procs.append(subprocess.Popen(
                args, cwd=target.directory, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True, preexec_fn=_die_with_parent))
        outputs = [proc.communicate(timeout=timeout) for proc in procs]
    except FileNotFoundError as exc:
        raise OtterError("the docker client is not installed; install Docker Engine and the "
                         "Compose v2 plugin") from exc
    except subprocess.TimeoutExpired as exc:
        raise OtterError(f"`docker compose config` did not finish in {timeout:.0f} s") from exc
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    (out, err), (raw_out, raw_err) = outputs
    return (_config_result(procs[0].returncode, out, err),
            _config_result(procs[1].returncode, raw_out, raw_err))


def stream(args: Sequence[str], cwd: Path, on_line: Callable[[str], None],
           timeout: float = 3600) -> tuple[int, list[str]]:
    """Run a command, handing each output line to `on_line`; return its code and last lines."""
    tail: deque[str] = deque(maxlen=15)
    try:
        proc = subprocess.Popen(
            list(args), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, text=True, errors="replace", bufsize=1,
            preexec_fn=_die_with_parent,
        )
    except FileNotFoundError as exc:
        raise OtterError("the docker client is not installed") from exc
    assert proc.stdout is not None
    for raw in proc.stdout:
        line = printable(raw.rstrip("\n"), 300)
        if line.strip():
            tail.append(line)
            on_line(line)
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
    return code, list(tail)


def _checked(target: ComposeTarget, args: Sequence[str], on_line: Callable[[str], None],
             failure: str) -> None:
    """A streamed compose command in the release's directory; on failure `failure` (which may
    name the {code}) with the output's last lines."""
    code, tail = stream([*target.args(), *args], target.directory, on_line)
    if code != 0:
        raise OtterError(f"{failure.format(code=code)}: {_error_text(chr(10).join(tail))}")


def build(target: ComposeTarget, services: Sequence[str], on_line: Callable[[str], None]
          ) -> None:
    _checked(target, ["build", *services], on_line, "build failed")


def up(target: ComposeTarget, services: Sequence[str], on_line: Callable[[str], None]
       ) -> None:
    """Start the named services only (--no-deps: singletons run in their own project)."""
    _checked(target, ["up", "--detach", "--no-build", "--no-deps", *services], on_line,
             "starting the release failed")


def pull(target: ComposeTarget, service: str) -> None:
    proc = _run([*target.args(), "pull", "--", service], cwd=target.directory, timeout=900)
    if proc.returncode != 0:
        raise OtterError(f"pulling the image of {service} failed: {_error_text(proc.stderr)}")


def run_once(target: ComposeTarget, service: str, command: Sequence[str],
             on_line: Callable[[str], None]) -> None:
    """A one-off container of the release (not routed: Traefik must never send it traffic)."""
    _checked(target, ["run", "--rm", "--no-deps", "-T", "--label", "traefik.enable=false",
                      service, *command], on_line, "the release command failed (exit {code})")


def stop(project: str, timeout: int | None = None) -> None:
    """Stop a release gracefully: SIGTERM, then its own stop grace period (or `timeout`)."""
    args = ["docker", "compose", "-p", project, "stop"]
    if timeout is not None:
        args += ["--timeout", str(timeout)]
    proc = _run(args, timeout=600)
    if proc.returncode != 0:
        raise OtterError(f"stopping {project} failed: {_error_text(proc.stderr)}")


def down(project: str, timeout: int | None = None, remove_images: bool = False) -> None:
    """Remove a release's containers and networks (and the images it built, if asked);
    named volumes are always kept."""
    args = ["docker", "compose", "-p", project, "down", "--remove-orphans"]
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
