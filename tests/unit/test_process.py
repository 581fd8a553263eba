"""Bounded commands: a timeout fires while output still streams and kills the whole group."""

import os
import time

import pytest

from otterstack_hooks import process
from otterstack_hooks.process import StepTimeout

# a command that keeps printing, and a grandchild that would outlive it
CHATTY = ["sh", "-c", "sleep 1000 & echo $! > \"$PIDFILE\"; "
          "while true; do echo tick; sleep 0.2; done"]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead: it only waits for its parent to read its status
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_dead(pid: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_stream_times_out_while_output_streams_and_kills_the_group(tmp_path):
    pidfile = tmp_path / "pid"
    lines: list[str] = []
    started = time.monotonic()
    with pytest.raises(StepTimeout) as caught:
        process.stream(CHATTY, 1.5, lines.append, env={**os.environ, "PIDFILE": str(pidfile)})
    assert caught.value.seconds == 1.5
    assert "did not finish in 2 s" in str(caught.value)
    assert lines and set(lines) == {"tick"}
    assert time.monotonic() - started < 60  # it ended (the bound is generous: shared CPU)
    assert wait_dead(int(pidfile.read_text()))


def test_run_times_out_and_kills_the_group(tmp_path):
    pidfile = tmp_path / "pid"
    with pytest.raises(StepTimeout):
        process.run(CHATTY, 1, env={**os.environ, "PIDFILE": str(pidfile)})
    assert wait_dead(int(pidfile.read_text()))


def test_a_command_that_ends_gives_its_code_and_last_lines():
    code, tail = process.stream(["sh", "-c", "for i in $(seq 1 20); do echo l$i; done; exit 3"],
                                30, lambda line: None)
    assert code == 3 and tail == [f"l{i}" for i in range(6, 21)]
    proc = process.run(["sh", "-c", "echo out; echo err >&2"], 30)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "out\n", "err\n")


def test_a_missing_program_is_a_clear_error():
    from otterstack_hooks.errors import OtterError
    with pytest.raises(OtterError, match="is not installed"):
        process.run(["otterstack-no-such-program"], 5)
