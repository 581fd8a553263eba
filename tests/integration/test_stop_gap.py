"""A release taken out of traffic never serves again while it stops, whatever its server does
with SIGTERM, and a keep-alive server drains at once (issue: "a rolled-back release comes
back while it stops").

Four apps behind the Traefik of `otterstack traefik up`, deployed and rolled back at the
same time, each under a 5 ms poller and (the busybox ones) a stream of 2 s requests, while a
throwaway container starts every second, so that Traefik re-reads the containers again and
again during every drain and stop:
- `ignores`: busybox httpd as PID 1, which ignores SIGTERM (killed after its grace period);
- `exits`: the same with `init: true`, which exits at once;
- `slow`: a shell that takes 5 s to exit after SIGTERM, serving meanwhile;
- `keepalive`: a Go server (Traefik's binary answering /ping) that keeps connections alive.
Each runs an instant rollback, a deploy with `retire_after 0` and a rollback outside the
window (OTTERSTACK_STOP_GAP_CYCLES times, 1 by default). After each switch is proven, every
answer comes from the release switched to; no answer is other than 200; every 2 s request
completes."""

import http.client
import os
import re
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from testsupport.load import HEADER, connection

CYCLES = int(os.environ.get("OTTERSTACK_STOP_GAP_CYCLES", "1"))
BUSYBOX = """\
FROM busybox
COPY www /www
RUN chmod +x /www/cgi-bin/slow
HEALTHCHECK --interval=1s --timeout=2s --retries=3 \\
  CMD wget -q -O /dev/null http://127.0.0.1:8000/health || exit 1
"""
HTTPD = 'CMD ["httpd", "-f", "-p", "8000", "-h", "/www"]\n'
SLOW_EXIT = 'CMD ["/bin/sh", "-c", "httpd -f -p 8000 -h /www & p=$!; ' \
    "trap 'sleep 5; kill $p; exit 0' TERM; wait $p\"]\n"
KEEPALIVE = """\
FROM traefik:v3 AS t
FROM busybox
COPY --from=t /traefik /traefik
HEALTHCHECK --interval=1s --timeout=2s --retries=3 \\
  CMD wget -q -O /dev/null http://127.0.0.1:8000/ping || exit 1
ENTRYPOINT ["/traefik", "--entrypoints.web.address=:8000", "--ping=true", \
"--ping.entrypoint=web", "--log.level=ERROR"]
"""
SLOW_CGI = "#!/bin/sh\nsleep 2\necho 'Content-Type: text/plain'\necho\necho slow\n"
KINDS = {  # kind: (Dockerfile, extra compose lines of the web service, path polled)
    "ignores": (BUSYBOX + HTTPD, "    stop_grace_period: 3s\n", "/"),
    "exits": (BUSYBOX + HTTPD, "    init: true\n", "/"),
    "slow": (BUSYBOX + SLOW_EXIT, "    stop_grace_period: 10s\n", "/"),
    "keepalive": (KEEPALIVE, "    stop_grace_period: 12s\n", "/ping"),
}


def files_of(kind: str, host: str, version: str) -> dict[str, str]:
    dockerfile, extra, _ = KINDS[kind]
    return {
        "Dockerfile": dockerfile,
        "compose.yaml": (
            "services:\n  web:\n    build: .\n" + extra + "    labels:\n"
            '      traefik.enable: "true"\n'
            f"      traefik.http.routers.web.rule: Host(`{host}`)\n"
            '      traefik.http.services.web.loadbalancer.server.port: "8000"\n'),
        "www/index.html": f"{version}\n",
        "www/health": "ok\n",
        "www/cgi-bin/slow": SLOW_CGI,
    }


@dataclass
class Answers:
    """What one client saw: (time, status, release) per request; slow: (start, end, status)."""

    polls: list[tuple[float, int, str]] = field(default_factory=list)
    slow: list[tuple[float, float, int]] = field(default_factory=list)


def poll(port: int, host: str, path: str, stop: threading.Event, into: Answers) -> None:
    """A request every 5 ms, on a kept-alive connection, as a browser would."""
    conn: http.client.HTTPConnection | None = None
    deadline = time.monotonic() + 900
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            conn = conn or connection(port, host, timeout=10)
            conn.request("GET", path, headers={"Host": host})
            resp = conn.getresponse()
            resp.read()
            into.polls.append((time.time(), resp.status, resp.getheader(HEADER) or "-"))
            if resp.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as exc:
            into.polls.append((time.time(), 0, type(exc).__name__))
            if conn is not None:
                conn.close()
            conn = None
        time.sleep(0.005)


def slow_requests(port: int, host: str, stop: threading.Event, into: Answers) -> None:
    """One 2 s request after the other, each on a connection of its own."""
    deadline = time.monotonic() + 900
    while not stop.is_set() and time.monotonic() < deadline:
        started = time.time()
        try:
            conn = connection(port, host, timeout=30)
            conn.request("GET", "/cgi-bin/slow", headers={"Host": host})
            resp = conn.getresponse()
            resp.read()
            status = resp.status
            conn.close()
        except (OSError, http.client.HTTPException):
            status = 0
        into.slow.append((started, time.time(), status))


def container_events(stop: threading.Event) -> None:
    """A throwaway container every second: its start and die make Traefik re-read."""
    while not stop.wait(1.0):
        subprocess.run(["docker", "run", "--rm", "--network", "none", "busybox", "true"],
                       capture_output=True, timeout=60)


@dataclass
class Step:
    what: str
    started: float
    ended: float
    target: str  # the project that must serve from `ended` on
    output: str


def exercise(app, kind: str, host: str) -> list[Step]:
    """The operations of one app, each with the release that must serve after it."""
    steps: list[Step] = []
    version = iter(range(1, 100))

    def push(what: str) -> None:
        for path, text in files_of(kind, host, f"v{next(version)}").items():
            app.write(path, text)
        app.commit(what)
        started = time.time()
        proc = app.push("main")
        assert "deployed" in proc.result, proc.output
        steps.append(Step(what, started, time.time(), app.project(app.active()["name"]),
                          proc.output))

    def rollback(what: str) -> None:
        started = time.time()
        proc = app.otter("rollback", app.name)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        steps.append(Step(what, started, time.time(), app.project(app.active()["name"]),
                          proc.stdout))

    def config(key: str, value: str) -> None:
        assert app.otter("config", app.name, key, value).returncode == 0

    push("second")  # the warm-up's release is kept for the first instant rollback
    for _ in range(CYCLES):
        rollback("instant rollback")
        assert "without a start" in steps[-1].output, steps[-1].output
        push("push")
        config("retire_after", "0")
        push("push with retire_after 0")
        rollback("rollback outside the window")
        assert "without a start" not in steps[-1].output, steps[-1].output
        config("retire_after", "300")
        push("push kept for the next instant rollback")
    return steps


def judge(steps: list[Step], answers: Answers) -> list[str]:
    """Every way the answers broke the promise, for the failure message."""
    problems = [f"{status} from {by} at {t:.3f}" for t, status, by in answers.polls
                if status != 200]
    bounds = [s.started for s in steps[1:]] + [float("inf")]
    for step, until in zip(steps, bounds, strict=True):
        during = [(t, by) for t, status, by in answers.polls if step.started <= t < step.ended]
        after = [(t, by) for t, status, by in answers.polls if step.ended <= t < until]
        first = next((t for t, by in during if by == step.target), None)
        back = [(t, by) for t, by in during if first is not None and t > first
                and by != step.target]
        back += [(t, by) for t, by in after if by != step.target]
        if back:
            problems.append(f"{step.what}: {len(back)} answers from {sorted({b for _, b in back})}"
                            f" after {step.target} served (first at {back[0][0]:.3f})")
    problems += [f"2 s request from {s:.3f} ended {e - s:.1f} s later with {status}"
                 for s, e, status in answers.slow if status != 200]
    return problems


def test_a_release_out_of_traffic_never_serves_again_whatever_it_does_with_sigterm(
        routed_app, traefik):
    apps = {}
    for kind in KINDS:
        app = routed_app(files_of(kind, "x.localhost", "v0"))
        apps[kind] = (app, f"{app.name}.localhost")
    stop = threading.Event()
    answers = {kind: Answers() for kind in KINDS}
    clients: list[threading.Thread] = [threading.Thread(target=container_events, args=(stop,))]
    started_clients = False
    with ThreadPoolExecutor(max_workers=len(KINDS)) as pool:
        # each app's first push, then the clients, then the rest of the operations
        firsts = {kind: pool.submit(exercise_first, app, kind, host)
                  for kind, (app, host) in apps.items()}
        for future in firsts.values():
            future.result()
        for kind, (_, host) in apps.items():
            clients.append(threading.Thread(target=poll, args=(
                traefik.http_port, host, KINDS[kind][2], stop, answers[kind])))
            if kind != "keepalive":  # Traefik's /ping has no slow page
                clients.append(threading.Thread(target=slow_requests, args=(
                    traefik.http_port, host, stop, answers[kind])))
        for client in clients:
            client.start()
        started_clients = True
        try:
            runs = {kind: pool.submit(exercise, app, kind, host)
                    for kind, (app, host) in apps.items()}
            steps = {kind: future.result() for kind, future in runs.items()}
        finally:
            stop.set()
            if started_clients:
                for client in clients:
                    client.join(timeout=60)
    for kind, kind_steps in steps.items():  # what the closing note quotes (pytest -s)
        drains = [m.group(0) for s in kind_steps
                  for m in re.finditer(r"drained in [\d.]+ s|drain timeout[^\n]*", s.output)]
        print(f"{kind}: {len(answers[kind].polls)} polls, "
              f"{sum(1 for p in answers[kind].polls if p[1] != 200)} not 200, "
              f"{len(answers[kind].slow)} slow requests, "
              + ", ".join(f"{s.what} {s.ended - s.started:.1f} s" for s in kind_steps
                          if "rollback" in s.what or "retire" in s.what)
              + f"; drains: {', '.join(drains)}")
    report = []
    for kind, kind_steps in steps.items():
        problems = judge(kind_steps, answers[kind])
        polls = len(answers[kind].polls)
        report += [f"{kind}: {p}" for p in problems[:10]]
        assert polls > 500, f"{kind}: only {polls} polls"
    assert not report, "\n".join(report)
    for kind, kind_steps in steps.items():
        for step in kind_steps:
            assert "drain timeout" not in step.output, f"{kind} {step.what}:\n{step.output}"
    # the keep-alive server's idle connection is no request: its instant rollback drains
    # at once instead of waiting drain_timeout (30 s) for it
    instant = next(s for s in steps["keepalive"] if s.what == "instant rollback")
    assert instant.ended - instant.started < 20, instant.output
    assert "stopping r2: up to 12 s stop grace period" in instant.output, instant.output
    drained = re.search(r"drained in ([\d.]+) s", instant.output)
    assert drained and float(drained.group(1)) < 5, instant.output  # not drain_timeout's 30 s


def exercise_first(app, kind: str, host: str) -> None:
    """Build the app's image once before the clients start (the first push of a busybox app
    and of the keep-alive one), so the measured operations do not wait on a cold build."""
    for path, text in files_of(kind, host, "v0").items():
        app.write(path, text)
    app.commit("warm up")
    proc = app.push("main")
    assert "deployed" in proc.result, proc.output
