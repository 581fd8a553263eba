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
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from .errors import OtterError
from .names import printable

TAIL_LINES = 15


class StepTimeout(OtterError):
    """A command ran past its time limit and was killed (with everything it started)."""

    def __init__(self, args: Sequence[str], seconds: float):
        self.seconds = seconds
        super().__init__(f"`{' '.join(args[:4])} ...` did not finish in {seconds:.0f} s and "
                         "was stopped")


def _die_with_parent() -> None:
    """Linux: SIGKILL this child when the deploy process dies, so a killed deploy never
    leaves a `docker compose up` running on behind the recovery of the next one."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _popen(args: Sequence[str], cwd: Path | None, env: Mapping[str, str] | None,
           **kw) -> subprocess.Popen:
    try:
        return subprocess.Popen(
            list(args), cwd=cwd, env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_die_with_parent,
            **kw)
    except FileNotFoundError as exc:
        raise OtterError(f"{args[0]} is not installed; for docker: install Docker Engine and "
                         "the Compose v2 plugin") from exc


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the command's whole process group (it leads its own session)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run(args: Sequence[str], timeout: float, cwd: Path | None = None,
        env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run to completion and capture its output (text); StepTimeout past `timeout` s."""
    proc = _popen(args, cwd, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                  errors="replace")
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        proc.communicate()
        raise StepTimeout(args, timeout) from None
    return subprocess.CompletedProcess(list(args), proc.returncode, out, err)


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
