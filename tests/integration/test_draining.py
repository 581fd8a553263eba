"""Draining: a release that served is stopped only once its requests are done (or the drain
timeout cuts them, reported). The app exits at once on SIGTERM (busybox httpd behind
`init: true`), so any request still in flight when it stops fails: nothing here passes by the
luck of a server that ignores SIGTERM."""

import re
import socket
import subprocess
import uuid

import docker
import pytest

from otterstack_hooks.adapters.docker import drain
from testsupport import slow_app
from testsupport.load import Load
from testsupport.otterapp import wait_for
from testsupport.slow_app import SLOW, SLOWER

START = re.compile(r"\sstart\s+starting ")
DRAINING = re.compile(r"draining (r\d+): (\d+) requests? in flight \(counted as established "
                      r"connections in its containers")


def streamed(args: list[str], env: dict[str, str], on_line) -> tuple[int, list[str]]:
    """Run a command, handing each output line to `on_line` as it arrives."""
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    lines = []
    assert proc.stdout is not None
    for raw in proc.stdout:
        line = re.sub(r"\x1b\[[0-9;]*m", "", raw).removeprefix("remote: ").rstrip()
        lines.append(line)
        on_line(line)
    return proc.wait(timeout=600), lines


def deploy_with_overlong_requests(app, port: int, command: list[str]) -> tuple[list[str], list]:
    """Run a push or rollback; as it starts the new release (which gets no traffic before it
    is healthy), send 2 requests to SLOWER: they are in flight in the old release when it goes."""
    bursts: list[Load] = []

    def on_line(line: str) -> None:
        if START.search(line) and not bursts:
            bursts.append(slow_app.load(port, [SLOWER] * 2, max_requests=2).start())

    code, lines = streamed(command, app.env, on_line)
    assert code == 0, "\n".join(lines)
    assert bursts, "\n".join(lines)
    return lines, bursts[0].wait(90).requests


@pytest.mark.parametrize("drain_timeout", [30, 3])
def test_no_request_is_cut_unless_it_outlives_the_drain_timeout(routed_app, traefik,
                                                                drain_timeout):
    """8 clients (6 sending 2 s requests without pause, 2 sending 12 s requests at each
    deploy), 5 deploys and 2 rollbacks. With a drain timeout above 12 s nothing fails; with
    3 s exactly the 12 s requests fail, and each deploy reports how many it cut."""
    app = routed_app(slow_app.files("v0"))
    assert app.otter("config", app.name, "drain_timeout", str(drain_timeout)).returncode == 0
    # each deploy stops the release it replaces (no rollback window: test_rollback_window.py)
    assert app.otter("config", app.name, "retire_after", "0").returncode == 0
    app.commit("v0")
    assert "==> deployed" in app.push("main").result
    push = ["git", "-C", str(app.src), "push", "production", "main"]
    rollback = [str(app.home / "venv" / "bin" / "otterstack"), "rollback", app.name]
    cycles = []
    with slow_app.load(traefik.http_port, [SLOW] * 6) as clients:
        for n in range(1, 6):
            app.write("www/index.html", f"v{n}\n")
            app.commit(f"v{n}")
            cycles.append(deploy_with_overlong_requests(app, traefik.http_port, push))
        for _ in range(2):
            cycles.append(deploy_with_overlong_requests(app, traefik.http_port, rollback))
        steady = clients.stop().requests

    assert len(steady) > 50
    assert [r for r in steady if not r.ok] == []  # no 2 s request was ever cut
    for lines, overlong in cycles:
        text = "\n".join(lines)
        draining = [DRAINING.search(line) for line in lines if DRAINING.search(line)]
        assert len(draining) == 1, text
        assert int(draining[0].group(2)) >= 2, text  # the two 12 s requests at least
        if drain_timeout > slow_app.SECONDS[SLOWER]:
            assert "drained in " in text and "drain timeout" not in text, text
            assert [r.status for r in overlong] == [200, 200], text
            assert {r.release for r in overlong} == {app.project(draining[0].group(1))}
        else:
            assert re.search(r"drain timeout: 2 cut \(after \d+\.\d s\)", text), text
            assert [r.ok for r in overlong] == [False, False], text
            assert all(r.status in (0, 502) for r in overlong), overlong
        stop_at = next(i for i, line in enumerate(lines) if " stop " in f" {line} "
                       and "stop grace period" in line)
        verdict_at = next(i for i, line in enumerate(lines)
                          if "drained in" in line or "drain timeout" in line)
        assert verdict_at < stop_at, text  # stopped only after the drain
    statuses = [r["status"] for r in app.releases()]
    assert statuses.count("active") == 1 and "failed" not in statuses


def test_apps_remove_lets_a_request_in_flight_finish(routed_app, traefik):
    """`apps remove` drains too (drain_timeout 30 s by default), so the request finishes."""
    app = routed_app(slow_app.files("v0"))
    app.commit("v0")
    assert "==> deployed" in app.push("main").result
    burst = slow_app.load(traefik.http_port, [SLOWER], max_requests=1).start()  # 12 s
    proc = app.otter("apps", "remove", app.name)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [request] = burst.wait(90).requests
    assert request.status == 200 and request.release == app.project("r1")
    assert re.search(r"draining r1: 1 request in flight", proc.stdout), proc.stdout
    assert "drained in" in proc.stdout
    assert proc.stdout.index("drained in") < proc.stdout.index(f"removing {app.project('r1')}")
    assert app.projects() == []


def test_a_paused_container_still_counts_the_requests_it_holds():
    """A paused container's requests count: they resume once it is unpaused, and a stop
    while it is paused would cut them."""
    project = f"inflight-{uuid.uuid4().hex[:8]}"
    dc = docker.from_env()
    container = dc.containers.run("busybox", ["httpd", "-f", "-p", "8000"], detach=True,
                                  labels={"com.docker.compose.project": project})
    try:
        container.reload()
        address = next(iter(container.attrs["NetworkSettings"]["Networks"].values()))
        where = (address["IPAddress"], 8000)
        # httpd listens a moment after its container starts (longer on a busy host)
        wait_for(lambda: _accepts(where), timeout=30)
        with socket.create_connection(where, timeout=5):
            assert drain.project_in_flight(dc, project) == 1
            container.pause()
            assert drain.project_in_flight(dc, project) == 1
            container.unpause()
    finally:
        container.remove(force=True)


def _accepts(where: tuple[str, int]) -> bool:
    try:
        socket.create_connection(where, timeout=1).close()
        return True
    except OSError:
        return False
