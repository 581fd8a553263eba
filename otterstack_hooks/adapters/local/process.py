"""Bounded child processes: every command we run ends, by itself or because we end it.

`docker compose` is the docker CLI running the compose plugin as its own child, which in turn
talks to the engine; killing only the process we started would leave the plugin (and its
build) running and holding the pipe. So each command starts in a session (process group) of
its own, and a timeout kills the whole group, also while output is still streaming: a `RUN`
step that sleeps forever prints a line now and then, and must still end.
"""

import ctypes
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.names import printable

TAIL_LINES = 15


def shown(args: Sequence[str]) -> str:
    """A command as messages name it: its first words, quoted."""
    return f"`{' '.join(args[:4])}{' ...' if len(args) > 4 else ''}`"


class StepTimeout(OtterError):
    """A command ran past its time limit and was killed (with everything it started)."""

    def __init__(self, args: Sequence[str], seconds: float):
        self.seconds = seconds
        super().__init__(f"{shown(args)} did not finish in {seconds:.0f} s and was stopped")


class CommandTimeout(OtterError):
    """run_checked's command ran past its time limit and was killed. Not a StepTimeout: that
    one means a deploy step's own limit (a setting the user may raise) ran out."""


class ProgramMissing(OtterError):
    """The program to run is not installed (exec found no such file); `error` is the OSError,
    for a caller that words it its own way."""

    def __init__(self, args: Sequence[str], error: OSError):
        self.error = error
        hint = ("; for docker: install Docker Engine and the Compose v2 plugin"
                if os.path.basename(args[0]) == "docker" else "")
        super().__init__(f"{args[0]} is not installed{hint}")


def _die_with_parent() -> None:
    """Linux: SIGKILL this child when the deploy process dies, so a killed deploy never
    leaves a `docker compose up` running on behind the recovery of the next one."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _popen(args: Sequence[str], cwd: Path | None, env: Mapping[str, str] | None,
           stdin: int = subprocess.DEVNULL, **kw) -> subprocess.Popen:
    """Start `args` in a session of its own, dying with us; stdin is empty unless a caller
    feeds it (PIPE)."""
    try:
        return subprocess.Popen(
            list(args), cwd=cwd, env=None if env is None else dict(env),
            stdin=stdin, start_new_session=True, preexec_fn=_die_with_parent, **kw)
    except FileNotFoundError as exc:
        raise ProgramMissing(args, exc) from exc


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the command's whole process group (it leads its own session); if a member may
    not be signalled (it changed its user), at least the command itself."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    except PermissionError:
        proc.kill()


def _reap(proc: subprocess.Popen) -> None:
    """Wait for a killed command. Its output pipes close once the group is gone; if something
    that left the group (a daemon that called setsid) still holds them, stop reading rather
    than wait for it."""
    try:
        proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        proc.wait()


def run(args: Sequence[str], timeout: float, cwd: Path | None = None,
        env: Mapping[str, str] | None = None, *, input: str | bytes | None = None,
        text: bool = True) -> subprocess.CompletedProcess:
    """Run to completion and capture its output; StepTimeout past `timeout` s, counted until
    its output closes (a background child holding it keeps the command running).

    `input` is written to its stdin (which is otherwise empty); `text` decodes the output
    (undecodable bytes replaced) and takes `input` as str, else everything stays bytes (for
    git's NUL-separated and binary output)."""
    codec = {"text": True, "errors": "replace"} if text else {}
    proc = _popen(args, cwd, env, subprocess.DEVNULL if input is None else subprocess.PIPE,
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, **codec)
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        _reap(proc)
        raise StepTimeout(args, timeout) from None
    except BaseException:
        kill_group(proc)
        _reap(proc)
        raise
    return subprocess.CompletedProcess(list(args), proc.returncode, out, err)


def run_checked(args: Sequence[str], timeout: float, what: str = "", *,
                cwd: Path | None = None, env: Mapping[str, str] | None = None,
                input: str | bytes | None = None, text: bool = True, check: bool = True,
                fix: str = "") -> subprocess.CompletedProcess:
    """`run` for a command whose failure is an OtterError a user can act on: `what` names
    the command for people (default: its first words), `fix` says what to do about it.
    Past `timeout` s its whole group is killed: CommandTimeout "<what> did not finish in N s
    and was stopped". With `check`, a non-zero exit is OtterError "<what> failed: <the last
    lines of its stderr>"; without, the caller reads the exit code. ProgramMissing if the
    program is not installed."""
    what = what or shown(args)
    ending = f"; {fix}" if fix else ""
    try:
        proc = run(args, timeout, cwd, env, input=input, text=text)
    except StepTimeout as exc:
        raise CommandTimeout(f"{what} did not finish in {timeout:.0f} s and was stopped"
                             f"{ending}") from exc
    if check and proc.returncode != 0:
        raise OtterError(f"{what} failed: {failure_text(proc)}{ending}")
    return proc


def failure_text(proc: subprocess.CompletedProcess) -> str:
    """What a failed command said: the last lines of its stderr, else its exit code."""
    err = proc.stderr if isinstance(proc.stderr, str) else \
        (proc.stderr or b"").decode("utf-8", "replace")
    return last_lines(err) or f"exit {proc.returncode}"


def last_lines(text: str, limit: int = 600) -> str:
    """A command's output for a one-line message: its last non-empty lines, printable,
    joined with ' | ', at most `limit` characters (the end kept)."""
    lines = [printable(line, 300) for line in text.strip().splitlines() if line.strip()]
    joined = " | ".join(lines[-6:])
    return joined if len(joined) <= limit else "..." + joined[-limit:]


def passthrough(args: Sequence[str], timeout: float | None, cwd: Path | None = None,
                env: Mapping[str, str] | None = None) -> int:
    """Run with our own stdout and stderr (its output goes straight to the user's terminal)
    and return its exit code. StepTimeout past `timeout` s; with None it runs until it ends
    or we are interrupted (Ctrl-C of `logs --follow`). Either way it is in its own group and
    ends with us: an interrupt or any error kills the group before it goes on up."""
    proc = _popen(args, cwd, env)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        proc.wait()
        raise StepTimeout(args, timeout or 0) from None
    except BaseException:
        kill_group(proc)
        proc.wait()
        raise


def passthrough_all(commands: Sequence[Sequence[str]], timeout: float | None) -> int:
    """Several commands at once, each like `passthrough` (its own group, its output straight
    to the terminal): `docker service logs --follow` of each service of a stack. The first
    non-zero exit code, else 0. StepTimeout past `timeout` s; a timeout, an interrupt or any
    error kills every group before it goes on up."""
    procs: list[subprocess.Popen] = []
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        for args in commands:
            procs.append(_popen(args, None, None))
        codes = []
        for proc in procs:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            codes.append(proc.wait(timeout=left))
        return next((code for code in codes if code), 0)
    except subprocess.TimeoutExpired:
        _kill_all(procs)
        raise StepTimeout(commands[0], timeout or 0) from None
    except BaseException:
        _kill_all(procs)
        raise


def _kill_all(procs: Sequence[subprocess.Popen]) -> None:
    """The groups of those still running (one already waited for may have given its id to
    another process)."""
    for proc in procs:
        if proc.returncode is None:
            kill_group(proc)
    for proc in procs:
        proc.wait()


def stream(args: Sequence[str], timeout: float, on_line: Callable[[str], None],
           cwd: Path | None = None, env: Mapping[str, str] | None = None
           ) -> tuple[int, list[str]]:
    """Run, handing each output line (stdout and stderr) to `on_line` as it comes; return the
    exit code and the last lines. StepTimeout once `timeout` s have passed since the start,
    whether or not the command still prints."""
    proc = _popen(args, cwd, env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                  errors="replace", bufsize=1)
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            lines.put(raw)
        lines.put(None)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    deadline = time.monotonic() + timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StepTimeout(args, timeout)
            try:
                raw = lines.get(timeout=min(remaining, 1.0))
            except queue.Empty:
                continue
            if raw is None:
                break
            line = printable(raw.rstrip("\n"), 300)
            if line.strip():
                tail.append(line)
                on_line(line)
        code = proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
    except (StepTimeout, subprocess.TimeoutExpired):
        kill_group(proc)
        proc.wait()
        reader.join(timeout=5)
        raise StepTimeout(args, timeout) from None
    except BaseException:
        kill_group(proc)
        proc.wait()
        raise
    return code, list(tail)


# A tiny process (no imports beyond the interpreter's own) that sleeps, then becomes the
# command: waiting costs a few MB, not a whole otterstack.
_SLEEPER = ("import os, sys, time; time.sleep(float(sys.argv[1])); "
            "os.execv(sys.argv[2], sys.argv[2:])")


def spawn_later(delay: float, args: Sequence[str]) -> None:
    """Run `args` (args[0] an absolute path) once `delay` s have passed, in a process of its
    own session that outlives this one: the end of a release's rollback window, after the
    deploy that started it has returned. The one command not bound to our lifetime; it is
    bounded by its own work (`otterstack retire` waits for the app's lock with a limit)."""
    subprocess.Popen(  # noqa: S603 - an argument list, no shell
        [sys.executable, "-S", "-c", _SLEEPER, f"{delay:.3f}", *args],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, close_fds=True)
