"""Bounded commands: a timeout fires while output still streams and kills the whole group."""

import os
import time

import pytest

from otterstack_hooks.adapters.local import process
from otterstack_hooks.adapters.local.process import StepTimeout

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
    from otterstack_hooks.core.errors import OtterError
    with pytest.raises(OtterError, match="is not installed"):
        process.run(["otterstack-no-such-program"], 5)


def test_run_feeds_stdin_as_text_or_bytes():
    proc = process.run(["sh", "-c", "tr a-z A-Z"], 30, input="hello\n")
    assert (proc.returncode, proc.stdout) == (0, "HELLO\n")
    proc = process.run(["sh", "-c", "cat; printf '\\0\\377' >&2"], 30, input=b"a\0b\xff",
                       text=False)
    assert (proc.stdout, proc.stderr) == (b"a\0b\xff", b"\0\xff")


def test_run_without_input_gives_an_empty_stdin():
    assert process.run(["sh", "-c", "cat"], 30).stdout == ""


def test_run_ends_even_if_a_process_outside_the_group_holds_the_output(tmp_path):
    # setsid: the grandchild leaves the group, so the group kill misses it; its pipe is closed
    pidfile = tmp_path / "pid"
    started = time.monotonic()
    with pytest.raises(StepTimeout):
        process.run(["sh", "-c", "setsid sleep 100 & echo $! > \"$PIDFILE\"; sleep 100"], 1,
                    env={**os.environ, "PIDFILE": str(pidfile)})
    assert time.monotonic() - started < 30
    try:
        os.kill(int(pidfile.read_text()), 9)
    except ProcessLookupError:
        pass


def test_passthrough_inherits_output_and_gives_the_exit_code(capfd):
    assert process.passthrough(["sh", "-c", "echo out; echo err >&2; exit 4"], 30) == 4
    out, err = capfd.readouterr()
    assert (out, err) == ("out\n", "err\n")


def test_passthrough_timeout_kills_the_whole_group(tmp_path):
    pidfile = tmp_path / "pid"
    started = time.monotonic()
    with pytest.raises(StepTimeout) as caught:
        process.passthrough(["sh", "-c", "sleep 100 & echo $! > \"$PIDFILE\"; sleep 100"], 1,
                            env={**os.environ, "PIDFILE": str(pidfile)})
    assert caught.value.seconds == 1
    assert time.monotonic() - started < 30
    assert wait_dead(int(pidfile.read_text()))


def test_passthrough_without_timeout_still_runs_in_its_own_group():
    # field 5 of /proc/PID/stat is the process group: the shell leads its own, so a Ctrl-C
    # reaches us (and we end it), not it directly
    code = process.passthrough(["sh", "-c", "test \"$(cut -d' ' -f5 /proc/$$/stat)\" = $$"],
                               None)
    assert code == 0


def test_passthrough_interrupted_kills_the_group(tmp_path, monkeypatch):
    pidfile = tmp_path / "pid"
    real_wait = process.subprocess.Popen.wait
    calls: list[float | None] = []

    def interrupted_wait(self, timeout=None):
        calls.append(timeout)
        if len(calls) == 1:  # the first wait: as if Ctrl-C came while it runs
            deadline = time.monotonic() + 10
            while not pidfile.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.1)
            raise KeyboardInterrupt
        return real_wait(self, timeout)

    monkeypatch.setattr(process.subprocess.Popen, "wait", interrupted_wait)
    with pytest.raises(KeyboardInterrupt):
        process.passthrough(["sh", "-c", "sleep 100 & echo $! > \"$PIDFILE\"; sleep 100"], None,
                            env={**os.environ, "PIDFILE": str(pidfile)})
    assert wait_dead(int(pidfile.read_text()))


def test_a_missing_program_keeps_its_os_error():
    with pytest.raises(process.ProgramMissing) as caught:
        process.run(["otterstack-no-such-program", "x"], 5)
    assert isinstance(caught.value.error, FileNotFoundError)
    assert str(caught.value) == "otterstack-no-such-program is not installed"
    with pytest.raises(process.ProgramMissing, match="for docker: install Docker Engine"):
        process.run(["docker"], 5, env={"PATH": "/nonexistent"})


def test_passthrough_all_runs_them_at_once_and_gives_the_first_failure(capfd, tmp_path):
    marker = tmp_path / "second-started"
    # the first waits for the second: they run at the same time, or this times out
    first = ["sh", "-c", f"while [ ! -e '{marker}' ]; do sleep 0.05; done; echo one"]
    second = ["sh", "-c", f"touch '{marker}'; echo two; exit 3"]
    assert process.passthrough_all([first, second], 30) == 3
    assert sorted(capfd.readouterr().out.split()) == ["one", "two"]
    assert process.passthrough_all([["true"], ["true"]], 30) == 0


def test_passthrough_all_timeout_kills_every_group(tmp_path):
    pidfiles = [tmp_path / "a", tmp_path / "b"]
    runs = [["sh", "-c", f"sleep 100 & echo $! > '{pidfile}'; sleep 100"] for pidfile in pidfiles]
    started = time.monotonic()
    with pytest.raises(StepTimeout):
        process.passthrough_all(runs, 1)
    assert time.monotonic() - started < 30
    assert all(wait_dead(int(pidfile.read_text())) for pidfile in pidfiles)


def test_run_checked_names_the_command_and_the_fix_when_it_fails():
    from otterstack_hooks.core.errors import OtterError
    script = "for i in $(seq 1 9); do echo e$i >&2; done; exit 4"
    with pytest.raises(OtterError) as caught:
        process.run_checked(["sh", "-c", script], 30, "counting", fix="count less")
    assert str(caught.value) == "counting failed: e4 | e5 | e6 | e7 | e8 | e9; count less"
    with pytest.raises(OtterError, match=r"^`sh -c exit 3` failed: exit 3$"):
        process.run_checked(["sh", "-c", "exit 3"], 30)
    proc = process.run_checked(["sh", "-c", "echo \x1b[31m >&2; exit 5"], 30, "x", check=False)
    assert proc.returncode == 5
    assert process.failure_text(proc) == "?[31m"  # printable: no terminal escapes
    bytes_proc = process.run_checked(["sh", "-c", "echo no >&2; exit 1"], 30, check=False,
                                     text=False)
    assert process.failure_text(bytes_proc) == "no"


def test_run_checked_times_out_as_a_command_not_as_a_step(tmp_path):
    """Its timeout is not a StepTimeout: the caller's step limit (a setting) did not run out,
    so release_steps.limit must not name that setting."""
    pidfile = tmp_path / "pid"
    with pytest.raises(process.CommandTimeout) as caught:
        process.run_checked(CHATTY, 1, "ticking", env={**os.environ, "PIDFILE": str(pidfile)},
                            fix="tick less")
    assert not isinstance(caught.value, StepTimeout)
    assert str(caught.value) == "ticking did not finish in 1 s and was stopped; tick less"
    assert wait_dead(int(pidfile.read_text()))
