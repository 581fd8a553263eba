#!/usr/bin/env python3
"""Benchmark: three ways to replace a running Compose app behind Traefik, under the same load.

One Traefik, started by `otterstack traefik up` (its default provider throttle unless
--throttle), one app (examples/hello's image: busybox httpd with a 1 s HEALTHCHECK) with
--services routed services, --deploys new versions and one rollback per design, under steady
load from --threads client threads through Traefik:

  in place    `docker compose up -d --build` on the running project (Compose recreates the
              containers); rollback: the same with the previous files.
  naive       each version a compose project of its own whose labels reuse the router (and
              service) names with a higher `priority`; once it is healthy the old project is
              stopped (`docker compose down`); rollback: the previous files the same way.
  OtterStack  `git push` to an app installed with install.sh; rollback: `otterstack rollback`.

Prints, per design: failed requests, deploy wall time, healthy -> served (from Docker's
`health_status: healthy` event of a new container to the first response the load got from
it, worst service of the release) and rollback -> served (from starting the rollback to the
first response from the release it made); the ratio of each design to OtterStack; and
OtterStack's own time: deploy wall time minus build minus health wait, from the release's
recorded timestamps and its deploy log's step lines.

Scale: --apps N runs N-1 more OtterStack apps on the same Traefik before measuring;
--concurrent-apps K then pushes K more apps at the same moment under load (all must deploy,
with 0 failed requests on any). Needs a Docker Engine, Compose v2 and the local busybox and
traefik:v3 images (scripts/setup-docker.sh). Traffic goes to 127.0.0.1 only; every step and
the load are bounded, and everything it starts is removed at the end (unless --keep).
"""

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from testsupport.load import FULL_SPEED, HEADER, Endpoint, Load, LoadResult  # noqa: E402

STEP_TIMEOUT = 600  # any one command
HEALTH_TIMEOUT = 120  # a design's own wait for healthy containers
LOAD_LIMIT = 1800  # the load stops by itself after this many seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# docker


def run(args: list[str], env: dict | None = None, cwd: Path | None = None, check: bool = True,
        timeout: float = STEP_TIMEOUT) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(args)}\n{proc.stdout}\n{proc.stderr}")
    return proc


class Events:
    """The Engine's container events (`start`, `die`, `health_status`) from now on, read from
    a live `docker events` stream: the Engine keeps only its last 256 events for a later
    `--since` query, and other users of the engine may push ours out."""

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._proc = subprocess.Popen(
            ["docker", "events", "--filter", "type=container",
             "--filter", "event=start", "--filter", "event=die",
             "--filter", "event=health_status",
             "--filter", "label=com.docker.compose.project", "--format", "{{json .}}"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        time.sleep(0.5)  # the stream is open before anything it should see happens

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            self._lines.append(line)

    def close(self) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()

    def _matching(self, project: str, since: float, status: str):
        for line in list(self._lines):
            try:
                event = json.loads(line)
            except ValueError:
                continue
            attrs = (event.get("Actor") or {}).get("Attributes") or {}
            when = event.get("timeNano", 0) / 1e9
            if (event.get("status") == status and when >= since
                    and attrs.get("com.docker.compose.project") == project):
                yield event["id"], attrs.get("com.docker.compose.service", "?"), when

    def of(self, project: str, since: float, status: str) -> dict[str, float]:
        """container id -> when it first had `status` ("health_status: healthy", "start",
        "die") at or after `since`, for the containers of `project`."""
        found: dict[str, float] = {}
        for container, _service, when in self._matching(project, since, status):
            found.setdefault(container, when)
        return found

    def healthy(self, project: str, since: float) -> dict[str, float]:
        """compose service -> when its first new container of `project` turned healthy."""
        found: dict[str, float] = {}
        for _container, service, when in self._matching(project, since,
                                                        "health_status: healthy"):
            found.setdefault(service, when)
        return found


EVENTS: Events | None = None


def healthy_events(project: str, since: float) -> dict[str, float]:
    """compose service -> when its first container of `project` turned healthy after `since`,
    from the Engine's own events (exact, unlike a poll)."""
    assert EVENTS is not None
    deadline = time.monotonic() + 5
    found = EVENTS.healthy(project, since)
    while not found and time.monotonic() < deadline:  # the stream may lag a moment
        time.sleep(0.2)
        found = EVENTS.healthy(project, since)
    return found


def wait_healthy(project: str, count: int) -> None:
    """Until `count` containers of the project run healthy (bounded)."""
    deadline = time.monotonic() + HEALTH_TIMEOUT
    while time.monotonic() < deadline:
        out = run(["docker", "ps", "--filter", f"label=com.docker.compose.project={project}",
                   "--filter", "health=healthy", "-q"]).stdout.split()
        if len(out) >= count:
            return
        time.sleep(0.2)
    raise SystemExit(f"{project}: not healthy within {HEALTH_TIMEOUT} s")


# the app


# --server: how the app's process takes SIGTERM. examples/hello's serve.sh stops at once;
# busybox httpd as PID 1 ignores it, so Docker waits the stop grace period and kills it (as
# many real servers without an init do): the case where a release being stopped must stay
# out of Traefik for seconds after its stop began.
SERVERS = {"graceful": None, "ignores-sigterm": 'CMD ["httpd", "-f", "-p", "8000", "-h", "/www"]'}


def app_files(dest: Path, version: str, server: str = "graceful") -> None:
    """examples/hello with `version` as its page, its server as `server` (SERVERS)."""
    if not dest.exists():
        shutil.copytree(ROOT / "examples" / "hello", dest)
        command = SERVERS[server]
        if command:
            dockerfile = dest / "Dockerfile"
            lines = [command if line.startswith("CMD ") else line
                     for line in dockerfile.read_text().splitlines()]
            dockerfile.write_text("\n".join(lines) + "\n")
    (dest / "www" / "index.html").write_text(f"{version}\n")


def compose_doc(services: int, labels: Callable[[int], dict], network: str = "") -> dict:
    doc: dict = {"services": {}}
    for i in range(services):
        service: dict = {"build": ".", "labels": labels(i)}
        if network:
            service["networks"] = ["edge"]
        doc["services"][f"web{i}"] = service
    if network:
        doc["networks"] = {"edge": {"external": True, "name": network}}
    return doc


@dataclass
class Deploy:
    design: str
    version: str
    rollback: bool
    wall: float  # the deploy command(s), as the person deploying waits for them
    healthy_to_served: float | None  # worst service; None: never served
    started: float = 0.0
    extra: dict = field(default_factory=dict)


class Bench:
    def __init__(self, args: argparse.Namespace):
        if run(["docker", "info"], check=False).returncode != 0:
            sys.exit("no Docker Engine: run scripts/setup-docker.sh first")
        self.args = args
        self.id = uuid.uuid4().hex[:6]
        self.prefix = f"perf-{self.id}"
        self.work = Path(tempfile.mkdtemp(prefix=f"otterstack-{self.prefix}-"))
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("GIT_", "OTTERSTACK_"))}
        self.env.update(
            OTTERSTACK_HOME=str(self.work / "home"), OTTERSTACK_BIN_DIR=str(self.work / "bin"),
            OTTERSTACK_DATA_DIR=str(self.work / "data"), NO_COLOR="1",
            GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@localhost",
            GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@localhost")
        self.otter = str(self.work / "home" / "venv" / "bin" / "otterstack")
        self.traefik = f"otterstack-{self.prefix}"
        self.http_port, self.api_port = free_port(), free_port()
        self.apps: list[str] = []

    # setup
    def setup(self) -> None:
        print(f"installing into {self.work} ...", flush=True)
        self.install(self.prefix)
        up = [self.otter, "traefik", "up", "--name", self.traefik, "--network", self.traefik,
              "--bind", "127.0.0.1", "--http-port", str(self.http_port),
              "--api-port", str(self.api_port),
              "--constraints", f"LabelRegex(`com.docker.compose.project`, `{self.prefix}.*`) "
              f"|| LabelRegex(`dev.otterstack.app`, `{self.prefix}.*`)"]
        if self.args.throttle:
            up += ["--throttle", self.args.throttle]
        print("  " + run(up, self.env).stdout.strip(), flush=True)
        run([self.otter, "config", "--global", "traefik_container", self.traefik], self.env)

    def install(self, app: str) -> None:
        run([str(ROOT / "install.sh"), app, "--repo", str(self.work / f"{app}.git"),
             "--traefik-routing"], self.env)
        src = self.work / "src" / app
        app_files(src, "v0", self.args.server)
        run(["git", "init", "-q", "-b", "main"], self.env, src)
        run(["git", "remote", "add", "production", str(self.work / f"{app}.git")], self.env, src)
        self.apps.append(app)

    def otter_app(self, app: str, services: int, version: str) -> None:
        """Write the OtterStack app's files for `version` and commit them."""
        src = self.work / "src" / app
        app_files(src, version, self.args.server)
        doc = compose_doc(services, lambda i: {
            "traefik.enable": "true",
            f"traefik.http.routers.web{i}.rule": f"Host(`{self.host(app, i)}`)",
            f"traefik.http.routers.web{i}.entrypoints": "web",
            f"traefik.http.services.web{i}.loadbalancer.server.port": "8000"})
        (src / "compose.yaml").write_text(json.dumps(doc, indent=1) + "\n")
        run(["git", "add", "-A"], self.env, src)
        run(["git", "commit", "-qm", version, "--allow-empty"], self.env, src)

    def push(self, app: str) -> tuple[bool, float, str]:
        started = time.monotonic()
        proc = run(["git", "push", "production", "main"], self.env, self.work / "src" / app,
                   check=False)
        out = proc.stdout + proc.stderr
        return "==> deployed" in out, time.monotonic() - started, out

    def releases(self, app: str) -> list[dict]:
        out = run([self.otter, "releases", app, "--json", "--limit", "100000"], self.env).stdout
        return sorted(json.loads(out), key=lambda r: r["id"])

    @staticmethod
    def host(app: str, service: int) -> str:
        return f"s{service}.{app}.localhost"

    def hosts(self, app: str, services: int) -> list[str]:
        return [self.host(app, i) for i in range(services)]

    def wait_served(self, hosts: list[str], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        for host in hosts:
            while True:
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=3)
                    conn.request("GET", "/", headers={"Host": host})
                    if conn.getresponse().status == 200:
                        break
                except (OSError, http.client.HTTPException):
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit(f"{host} is not served through Traefik")
                time.sleep(0.2)

    def extra_apps(self, count: int) -> None:
        """`count` more OtterStack apps, one routed service each, deployed and serving."""
        if count <= 0:
            return
        print(f"{count} more app(s) on the same Traefik ...", flush=True)
        self.serving_apps([f"{self.prefix}-x{i}" for i in range(1, count + 1)])

    def serving_apps(self, names: list[str]) -> list[str]:
        """Install these apps, deploy v1 of each (one routed service) and wait until Traefik
        serves them all; their hosts."""
        for name in names:  # install.sh one at a time: it may (re)install the venv
            self.install(name)

        def first(name: str) -> None:
            self.otter_app(name, 1, "v1")
            ok, _took, out = self.push(name)
            if not ok:
                raise SystemExit(f"{name}: the first deploy failed\n{out}")

        with ThreadPoolExecutor(max_workers=3) as pool:
            list(pool.map(first, names))
        hosts = [self.host(n, 0) for n in names]
        self.wait_served(hosts)
        return hosts

    # the designs
    def design_files(self, design: str, version: str, labels: Callable[[int], dict]) -> Path:
        dest = self.work / design / version
        app_files(dest, version, self.args.server)
        doc = compose_doc(self.args.services, labels, self.traefik)
        (dest / "compose.yaml").write_text(json.dumps(doc, indent=1) + "\n")
        return dest

    def in_place(self, version: str) -> tuple[float, str]:
        """`docker compose up -d --build` of `version` on the one running project."""
        project = f"{self.prefix}-inplace"
        value = f"{project}:{version}"

        def labels(i: int) -> dict:
            router = f"inplace-s{i}"
            return {"traefik.enable": "true",
                    f"traefik.http.routers.{router}.rule":
                        f"Host(`{self.host('inplace-' + self.prefix, i)}`)",
                    f"traefik.http.routers.{router}.entrypoints": "web",
                    f"traefik.http.routers.{router}.middlewares": "inplace-id",
                    "traefik.http.middlewares.inplace-id.headers.customresponseheaders."
                    f"{HEADER}": value,
                    f"traefik.http.services.{router}.loadbalancer.server.port": "8000",
                    "traefik.docker.network": self.traefik}

        dest = self.design_files("inplace", version, labels)
        started = time.monotonic()
        run(["docker", "compose", "-p", project, "--project-directory", str(dest), "-f",
             str(dest / "compose.yaml"), "up", "-d", "--build"])
        return time.monotonic() - started, value

    def naive(self, number: int, version: str) -> tuple[float, str]:
        """`version` as compose project number `number`, same router names, higher priority;
        the previous project stopped once this one is healthy."""
        project = f"{self.prefix}-naive-{number}"

        def labels(i: int) -> dict:
            router = f"naive-s{i}"
            return {"traefik.enable": "true",
                    f"traefik.http.routers.{router}.rule":
                        f"Host(`{self.host('naive-' + self.prefix, i)}`)",
                    f"traefik.http.routers.{router}.entrypoints": "web",
                    f"traefik.http.routers.{router}.priority": str(1000 + number),
                    f"traefik.http.routers.{router}.service": router,
                    f"traefik.http.routers.{router}.middlewares": f"naive-id-{number}",
                    f"traefik.http.middlewares.naive-id-{number}.headers."
                    f"customresponseheaders.{HEADER}": project,
                    f"traefik.http.services.{router}.loadbalancer.server.port": "8000",
                    "traefik.docker.network": self.traefik}

        dest = self.design_files("naive", f"{number}-{version}", labels)
        started = time.monotonic()
        run(["docker", "compose", "-p", project, "--project-directory", str(dest), "-f",
             str(dest / "compose.yaml"), "up", "-d", "--build"])
        wait_healthy(project, self.args.services)
        if number > 1:
            run(["docker", "compose", "-p", f"{self.prefix}-naive-{number - 1}", "down"])
        return time.monotonic() - started, project

    def load(self, hosts: list[str], threads: int) -> Load:
        """`threads` clients on keep-alive connections to Traefik, each sending GETs to the
        hosts in turn, until stopped (or LOAD_LIMIT): any answer other than 200 and any
        connection error is a failed request."""
        return Load([Endpoint(self.http_port, host) for host in hosts], threads=threads,
                    max_seconds=LOAD_LIMIT, pause=FULL_SPEED)

    def measure_design(self, design: str) -> tuple[list[Deploy], LoadResult, list[str]]:
        services, count = self.args.services, self.args.deploys
        if design == "OtterStack":
            app = self.prefix
            hosts = self.hosts(app, services)
            self.otter_app(app, services, "v1")
            ok, _took, out = self.push(app)
            if not ok:
                raise SystemExit(f"the first OtterStack deploy failed\n{out}")
        else:
            hosts = self.hosts(f"{'inplace' if design == 'in place' else 'naive'}-"
                               f"{self.prefix}", services)
            if design == "in place":
                self.in_place("v1")
            else:
                self.naive(1, "v1")
        self.wait_served(hosts)
        made: list[tuple] = []
        with self.load(hosts, self.args.threads) as load:
            time.sleep(1)
            plan = [(f"v{n}", False) for n in range(2, count + 2)] + [(f"v{count}", True)]
            for number, (version, rollback) in enumerate(plan, start=2):
                extra: dict = {}
                if design == "OtterStack" and not rollback:
                    self.otter_app(self.prefix, services, version)
                wall0 = time.time()
                if design == "in place":
                    wall, value = self.in_place(version)
                    project = f"{self.prefix}-inplace"
                elif design == "naive":
                    wall, value = self.naive(number, version)
                    project = value
                elif rollback:
                    started = time.monotonic()
                    proc = run([self.otter, "rollback", self.prefix], self.env, check=False)
                    wall = time.monotonic() - started
                    if proc.returncode != 0:
                        raise SystemExit(f"otterstack rollback failed\n{proc.stdout}"
                                         f"{proc.stderr}")
                    print("".join(f"    | {line}\n" for line in proc.stdout.splitlines()),
                          end="", flush=True)
                    # inside the rollback window the kept release serves again (no new row)
                    active = next(r for r in self.releases(self.prefix)
                                  if r["status"] == "active")
                    project = value = f"{self.prefix}-{active['name']}"
                else:
                    ok, wall, out = self.push(self.prefix)
                    if not ok:
                        raise SystemExit(f"OtterStack deploy {version} failed\n{out}")
                    release = self.releases(self.prefix)[-1]
                    project = value = f"{self.prefix}-{release['name']}"
                    extra = otterstack_phases(release, wall0, wall)
                    extra["recorded"] = release.get("phases") or {}
                load.wait_served(value, wall0)  # the next deploy replaces a served one
                time.sleep(0.5)
                # Docker's own healthy marks, read now (the Engine keeps few past events)
                made.append((version, rollback, wall, wall0, value,
                             healthy_events(project, wall0), extra))
                print(f"  {design:<10} {'rollback to' if rollback else 'deploy'} {version:<4} "
                      f"wall {wall:5.1f} s", flush=True)
            time.sleep(1)
            traffic = load.stop()
        deploys = [self.judge(design, *item, hosts, traffic) for item in made]
        return deploys, traffic, hosts

    @staticmethod
    def judge(design: str, version: str, rollback: bool, wall: float, wall0: float,
              value: str, healthy: dict[str, float], extra: dict, hosts: list[str],
              traffic: LoadResult) -> Deploy:
        """Healthy -> served of a release: Docker's healthy event of each service's new
        container to the first answer from it on that service's host; the worst service."""
        delays, served, per_service = [], [], []
        for i, host in enumerate(hosts):
            first = traffic.first(value, wall0, host)
            served.append(first)
            mark = healthy.get(f"web{i}")
            per_service.append(None if first is None or mark is None else {
                "healthy": round(mark - wall0, 2), "served": round(first - wall0, 2)})
            if first is not None and mark is not None:
                delays.append(first - mark)
        complete = len(delays) == len(hosts)
        return Deploy(design, version, rollback, wall,
                      max(delays) if complete else None, wall0,
                      {**extra, "served": served, "healthy": healthy,
                       "per_service": per_service})

    def close(self) -> None:
        for app in self.apps:  # its releases, state project and per-app networks
            run([self.otter, "apps", "remove", app, "--volumes"], self.env, check=False)
        out = run(["docker", "ps", "-a", "--format",
                   '{{.Label "com.docker.compose.project"}}'], check=False).stdout.split()
        for project in sorted({p for p in out if p.startswith(self.prefix)}):
            run(["docker", "compose", "-p", project, "down", "-t", "0"], check=False)
        networks = run(["docker", "network", "ls", "-q", "--filter", f"name={self.prefix}"],
                       check=False).stdout.split()
        if networks:  # the Engine has few address pools: leave none behind
            run(["docker", "network", "rm", *networks], check=False)
        images = run(["docker", "image", "ls", "-q", "--filter",
                      f"reference={self.prefix}*"], check=False).stdout.split()
        if images:
            run(["docker", "image", "rm", "-f", *sorted(set(images))], check=False)
        run(["docker", "rm", "-f", self.traefik], check=False)
        run(["docker", "network", "rm", self.traefik, f"0-{self.traefik}-api"], check=False)
        shutil.rmtree(self.work, ignore_errors=True)


def failed_during(deploys: list, traffic: LoadResult) -> list[dict]:
    """When the failed requests happened: per deploy (or rollback), from its start to the
    next one's, the count and the first and last failure in seconds after its start."""
    found = []
    starts = [d.started for d in deploys] + [float("inf")]
    for d, end in zip(deploys, starts[1:], strict=False):
        times = [t for t, _why in traffic.between(d.started, end).failure_timeline]
        if times:
            found.append({"version": d.version, "rollback": d.rollback, "failed": len(times),
                          "first": round(times[0] - d.started, 2),
                          "last": round(times[-1] - d.started, 2)})
    return found


PHASES = ("queued", "checkout", "build", "start", "healthy", "proven", "old_stopped")


def recorded_phases(deploys: list) -> dict[str, float | None]:
    """The means of the phases each deploy recorded itself (`releases --json`: phases)."""
    recorded = [d.extra.get("recorded") or {} for d in deploys]
    return {k: mean([r[k] for r in recorded if r.get(k) is not None]) for k in PHASES}


def otterstack_phases(release: dict, push_start: float, wall: float) -> dict:
    """Where a push's wall time went, from the release's timestamps and its deploy log's step
    lines: build (first `build` step to the `start` step), health wait (`start` step to
    Docker's healthy mark: `compose up` and the app's own health checks), and the rest,
    OtterStack's own time, itself split by the steps around it."""
    steps: dict[str, float] = {}
    first = last = None
    try:
        for line in Path(release["log_path"]).read_text().splitlines():
            event = json.loads(line)
            first = event["ts"] if first is None else first
            last = event["ts"]
            if event.get("step") and event.get("kind") != "detail":
                steps.setdefault(event["step"], event["ts"])
    except (OSError, ValueError, KeyError):
        pass
    started, healthy = release["started_at"], release.get("healthy_at")
    start = steps.get("start")
    build = (start - steps["build"]) if "build" in steps and start else 0.0
    health = (healthy - start) if healthy and start else 0.0
    served = steps.get("served") or release.get("served_at")
    stop = min((steps[k] for k in ("drain", "stop") if k in steps), default=None)

    def span(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else b - a

    return {"phases": {
        "wall": wall,
        "build": build,
        "health_wait": health,
        "overhead": wall - build - health,
        # OtterStack's own time, in order
        "git_and_hooks": span(push_start, first),  # git, pre-receive check, hook start
        "lock_recover": span(first, started),  # lock, recovery, release row
        "checkout_config": span(started, steps.get("build") or start),
        "switch": span(healthy, served),  # healthy -> Traefik proved to serve it
        "before_stop": span(served, stop),  # activation, notification
        "stop_old": span(stop, last),  # the old release drained and stopped, prune
        "after": span(last, push_start + wall),  # the hook exits, git push returns
    }}


def panel(design: str, deploys: list[Deploy], traffic: LoadResult):
    """The design's load and deploys as a panel of the --plot picture."""
    from plot import Panel  # matplotlib only with --plot
    return Panel(design, [(r.ended, r.ok) for r in traffic.requests],
                 [(d.started, d.started + d.wall, f"{'back to ' if d.rollback else ''}{d.version}")
                  for d in deploys])


def by_host(traffic: LoadResult) -> dict[str, int]:
    """"host: reason" -> failed requests."""
    return dict(Counter(f"{r.host}: {r.reason}" for r in traffic.requests if not r.ok))


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None:
        return "-"
    if b == 0:
        return "=" if a == 0 else "inf"
    return f"{a / b:.2f}"


def mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def summarize(design: str, deploys: list[Deploy], traffic: LoadResult, hosts: list[str]
              ) -> dict:
    traffic = traffic.of_hosts(hosts)
    sent, failed = traffic.sent, traffic.failed
    forward = [d for d in deploys if not d.rollback]
    back = [d for d in deploys if d.rollback]
    served = [d.healthy_to_served for d in forward if d.healthy_to_served is not None]
    rollback_served = []
    for d in back:
        firsts = [t for t in d.extra.get("served", []) if t is not None]
        if firsts and len(firsts) == len(hosts):
            rollback_served.append(max(firsts) - d.started)
    phases = [d.extra["phases"] for d in forward if "phases" in d.extra]
    return {
        "design": design,
        "sent": sent, "failed": failed,
        "failures": by_host(traffic),
        "deploy_wall": mean([d.wall for d in forward]),
        "healthy_to_served": mean(served),
        "healthy_to_served_max": max(served) if served else None,
        "never_served": sum(1 for d in forward if d.healthy_to_served is None),
        "rollback_to_served": mean(rollback_served),
        "failed_during": failed_during(deploys, traffic),
        "phases": {k: mean([p[k] for p in phases if p.get(k) is not None])
                   for k in (phases[0] if phases else {})},
        "recorded_phases": recorded_phases(forward),
        "deploys": [{"version": d.version, "rollback": d.rollback, "wall": d.wall,
                     "healthy_to_served": d.healthy_to_served,
                     "per_service": d.extra.get("per_service"),
                     "phases": d.extra.get("phases")} for d in deploys],
    }


def print_table(results: dict[str, dict], args: argparse.Namespace, throttle: str) -> None:
    order = [d for d in ("in place", "naive", "OtterStack") if d in results]
    print()
    print(f"{args.apps} app(s) on Traefik (throttle {throttle}), {args.services} routed "
          f"service(s), {args.deploys} deploys + 1 rollback per design, {args.threads} "
          f"client threads; load average {os.getloadavg()[1]:.1f} (5 min), {os.cpu_count()} "
          "CPUs")
    base = results.get("OtterStack")
    head = f"{'':<26}" + "".join(f"{d:>14}" for d in order)
    if base:
        head += "".join(f"{d + '/OS':>14}" for d in order if d != "OtterStack")
    print(head)
    rows = [
        ("failed requests", "failed", lambda r: f"{r['failed']}/{r['sent']}"),
        ("deploy wall time s", "deploy_wall", lambda r: fmt(r["deploy_wall"], 1)),
        ("healthy -> served s", "healthy_to_served", lambda r: fmt(r["healthy_to_served"])
         + ("" if not r["never_served"] else f" ({r['never_served']} never)")),
        ("  (max)", "healthy_to_served_max", lambda r: fmt(r["healthy_to_served_max"])),
        ("rollback -> served s", "rollback_to_served", lambda r: fmt(r["rollback_to_served"])),
    ]
    for label, key, show in rows:
        line = f"{label:<26}" + "".join(f"{show(results[d]):>14}" for d in order)
        if base:
            line += "".join(f"{ratio(results[d][key], base[key]):>14}"
                            for d in order if d != "OtterStack")
        print(line)
    if base and base["phases"]:
        p = base["phases"]
        print()
        print(f"OtterStack push, mean: wall {fmt(p['wall'], 1)} s = build {fmt(p['build'])} + "
              f"health wait {fmt(p['health_wait'])} + OtterStack's own {fmt(p['overhead'])} s")
        print(f"  own time: git+pre-receive+hook start {fmt(p['git_and_hooks'])}, lock+"
              f"recovery {fmt(p['lock_recover'])}, checkout+config {fmt(p['checkout_config'])}"
              f", healthy->proved served {fmt(p['switch'])}, activation "
              f"{fmt(p['before_stop'])}, old release drained+stopped {fmt(p['stop_old'])}, "
              f"hook exit+git {fmt(p['after'])} s")
        recorded = base.get("recorded_phases") or {}
        if any(v is not None for v in recorded.values()):
            print("  recorded by the deploy (releases --json, means): " + ", ".join(
                f"{k.replace('_', ' ')} {fmt(v)}" for k, v in recorded.items()) + " s")
    for d in order:
        if results[d]["failures"]:
            print(f"{d} failures: {results[d]['failures']}")
            for span in results[d].get("failed_during", []):
                print(f"  during {'rollback to' if span['rollback'] else 'deploy'} "
                      f"{span['version']}: {span['failed']} failed, from {span['first']} s to "
                      f"{span['last']} s after it began")


def concurrent(bench: Bench, count: int, threads: int) -> dict:
    """`count` apps pushed at the same moment under load on all of them."""
    names = [f"{bench.prefix}-c{i}" for i in range(1, count + 1)]
    print(f"{count} apps pushed at once ...", flush=True)
    hosts = bench.serving_apps(names)
    for name in names:
        bench.otter_app(name, 1, "v2")
    with bench.load(hosts, threads) as load:
        time.sleep(1)
        wall0 = time.time()
        barrier = threading.Barrier(count)

        def push(name: str) -> tuple[bool, float]:
            barrier.wait(timeout=60)
            ok, took, _out = bench.push(name)
            return ok, took

        with ThreadPoolExecutor(max_workers=count) as pool:
            outcomes = list(pool.map(push, names))
        time.sleep(1)
        traffic = load.stop()
    per_app = []
    for name, host, (ok, took) in zip(names, hosts, outcomes, strict=True):
        release = bench.releases(name)[-1]
        project = f"{name}-{release['name']}"
        first_seen = traffic.first(project, wall0, host)
        healthy = healthy_events(project, wall0).get("web0")
        per_app.append({"app": name, "deployed": ok, "wall": took,
                        "sent": traffic.of_hosts([host]).sent,
                        "failed": traffic.of_hosts([host]).failed,
                        "healthy_to_served": (None if first_seen is None or healthy is None
                                              else first_seen - healthy)})
    return {"apps": per_app, "failures": by_host(traffic)}


def print_concurrent(result: dict) -> None:
    apps = result["apps"]
    walls = [a["wall"] for a in apps]
    served = [a["healthy_to_served"] for a in apps if a["healthy_to_served"] is not None]
    print()
    print(f"{len(apps)} apps pushed at the same moment: {sum(a['deployed'] for a in apps)} "
          f"deployed; failed requests {sum(a['failed'] for a in apps)}/"
          f"{sum(a['sent'] for a in apps)} (most on one app: "
          f"{max(a['failed'] for a in apps)})")
    print(f"  push wall time s: mean {fmt(mean(walls), 1)}, max {fmt(max(walls), 1)}; "
          f"healthy -> served s: mean {fmt(mean(served))}, max "
          f"{fmt(max(served) if served else None)}")
    if result["failures"]:
        print(f"  failures: {result['failures']}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Default: 1 app, 1 service, 2 deploys + 1 rollback per design (a few minutes).")
    parser.add_argument("--apps", type=int, default=1,
                        help="apps on the Traefik while measuring: N-1 more OtterStack apps "
                        "run beside the measured one (default 1)")
    parser.add_argument("--services", type=int, default=1,
                        help="routed services in the measured app's release (default 1)")
    parser.add_argument("--concurrent-apps", type=int, default=0, metavar="K",
                        help="then push K more apps at the same moment under load (default 0)")
    parser.add_argument("--deploys", type=int, default=2,
                        help="new versions deployed per design, before its rollback (default 2)")
    parser.add_argument("--designs", default="in place,naive,OtterStack",
                        help="which designs, comma-separated (default all three; none with "
                        "'' for --concurrent-apps only)")
    parser.add_argument("--threads", type=int, default=4, help="client threads (default 4)")
    parser.add_argument("--server", choices=sorted(SERVERS), default="graceful",
                        help="how the app takes SIGTERM (default graceful: exits at once)")
    parser.add_argument("--throttle", default="",
                        help="passed to `otterstack traefik up --throttle` (default: its own)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--plot", type=Path, metavar="FILE.svg",
                        help="draw each design's requests over time, served and failed per "
                        "100 ms, with its deploys marked (needs matplotlib: .[bench])")
    parser.add_argument("--keep", action="store_true", help="leave everything running")
    args = parser.parse_args()
    designs = [d.strip() for d in args.designs.split(",") if d.strip()]
    unknown = set(designs) - {"in place", "naive", "OtterStack"}
    if unknown or args.apps < 1 or args.services < 1 or args.deploys < 1:
        parser.error(f"bad arguments ({', '.join(sorted(unknown)) or 'counts must be >= 1'})")

    bench = Bench(args)
    report: dict = {"args": vars(args) | {"json": str(args.json) if args.json else None,
                                          "plot": str(args.plot) if args.plot else None}}
    global EVENTS
    EVENTS = Events()
    try:
        bench.setup()
        throttle = args.throttle or _default_throttle()
        report["throttle"] = throttle
        bench.extra_apps(args.apps - 1)
        results, panels = {}, []
        for design in designs:
            print(f"{design}: {args.deploys} deploys and a rollback under load ...", flush=True)
            deploys, traffic, hosts = bench.measure_design(design)
            results[design] = summarize(design, deploys, traffic, hosts)
            if args.plot:
                panels.append(panel(design, deploys, traffic.of_hosts(hosts)))
        if panels:
            from plot import draw
            draw(panels, args.plot)
            print(f"requests over time: {args.plot}", flush=True)
        report["designs"] = results
        report["loadavg_5min"] = os.getloadavg()[1]
        if results:
            print_table(results, args, throttle)
        if args.concurrent_apps:
            report["concurrent"] = concurrent(bench, args.concurrent_apps, args.threads)
            print_concurrent(report["concurrent"])
        if args.json:
            args.json.write_text(json.dumps(report, indent=2, default=str))
        good = results.get("OtterStack", {}).get("failed", 0) == 0 and all(
            a["deployed"] and a["failed"] == 0
            for a in report.get("concurrent", {}).get("apps", []))
        return 0 if good else 1
    finally:
        EVENTS.close()
        if not args.keep:
            bench.close()


def _default_throttle() -> str:
    from otterstack_hooks.rules.traefik.throttle import DEFAULT_THROTTLE
    return DEFAULT_THROTTLE


if __name__ == "__main__":
    sys.exit(main())
