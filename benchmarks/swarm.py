#!/usr/bin/env python3
"""Benchmark: zero downtime on Docker Swarm, OtterStack's release stacks against Swarm's own
rolling update, behind one Traefik with the swarm provider at its default refreshSeconds (15 s).

  OtterStack      an app with `runtime swarm` (busybox httpd, HEALTHCHECK, 2 replicas, Traefik
                  labels in deploy.labels): r1 pushed, then r2 pushed under load, then
                  `otterstack rollback` under load. Each release is its own stack; OtterStack
                  switches traffic only once Traefik proved the new routers.
  Swarm rolling   one stack of the same service (`update_config: order start-first,
                  parallelism 1`, dnsrr), updated under the same load by `docker stack deploy`
                  with a new image tag (prebuilt, so the update is only the swap). Swarm stops
                  an old task as soon as its replacement runs, while Traefik still routes to the
                  old task's address until its next poll: the control shows what that costs.

Load: --threads clients on keep-alive connections through Traefik's host-mode port; every
answer other than 200, and every connection error, is a failed request. Which version served
a request is read from the body (each version's page is its name).

Prints a table (requests, failed, deploy wall time, healthy -> served, rollback -> served)
and, for failures, when they happened (seconds after the deploy or update began); --json
writes everything. Single node: the main engine (a Swarm manager shared with other work:
every object here is named bench-<id>, and only those are removed). --cluster: the 3-node
Swarm of scripts/setup-swarm-cluster.sh (brought up if it is not, and then taken down), app
tasks on the workers, images through its registry, Traefik on the manager; OtterStack runs in
the manager's network namespace, as it would on the manager itself (the Traefik API it
reaches is on the manager's docker_gwbridge). Needs root for --cluster, the local busybox and
traefik:v3 images, and the repo's .venv with OtterStack installed (scripts/test.sh makes it).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from testsupport.load import FULL_SPEED, Endpoint, Load, LoadResult  # noqa: E402

OTTER = ROOT / ".venv" / "bin" / "otterstack"
HOOK = ROOT / "hooks" / "post-receive"
CLUSTER_SCRIPT = ROOT / "scripts" / "setup-swarm-cluster.sh"
MANAGER_NETNS = "/run/netns/os-n1"
REFRESH = "15s"  # Traefik's own default for the swarm provider: the point of the benchmark
STEP_TIMEOUT = 600  # any one command
SERVE_TIMEOUT = 90  # Traefik serves a new stack within a poll (15 s) and its throttle
LOAD_LIMIT = 1800  # the load stops by itself after this long
SLOW = 1.0  # s: a request this slow stalled (the app answers in milliseconds)
TAIL = 20.0  # s of load after a switch: more than one Traefik poll, so stale routes show


# commands


def run(args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None,
        check: bool = True, timeout: float = STEP_TIMEOUT,
        stdin: Any = None) -> subprocess.CompletedProcess:
    """subprocess.run, text, bounded; a failed command that must succeed ends the run with
    its output (the cleanup still runs: SystemExit passes through `finally`)."""
    proc = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, stdin=stdin)
    if check and proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(args)}\n{proc.stdout}\n{proc.stderr}")
    return proc


def free_port(start: int) -> int:
    """A port free on every address of this host, from `start` up: Traefik publishes it in
    host mode on 0.0.0.0, beside other work's ports."""
    for port in range(start, start + 200):
        with socket.socket() as sock:
            try:
                sock.bind(("0.0.0.0", port))  # noqa: S104 - only probing
            except OSError:
                continue
            return port
    raise SystemExit(f"no free port in {start}-{start + 199}")


@dataclass
class Target:
    """Where the Swarm is: the engine the docker CLI and SDK talk to (DOCKER_HOST, "" for the
    main one), the address the load sends to, the registry built images go through, and the
    network namespace OtterStack runs in (the manager's: it reaches Traefik's API on the
    manager's docker_gwbridge, as it would on the manager itself)."""

    cluster: bool
    docker_host: str = ""
    address: str = "127.0.0.1"
    registry: str = ""
    netns: str = ""
    brought_up: bool = False  # the cluster was started by this run: take it down at the end

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ if base is None else base)
        if self.docker_host:
            env["DOCKER_HOST"] = self.docker_host
        else:
            env.pop("DOCKER_HOST", None)
        return env

    def docker(self, *args: str, check: bool = True, timeout: float = STEP_TIMEOUT,
               cwd: Path | None = None) -> subprocess.CompletedProcess:
        return run(["docker", *args], self.env(), cwd=cwd, check=check, timeout=timeout)

    def on_manager(self, args: list[str]) -> list[str]:
        """`args` run in the manager's network namespace (cluster), else as they are."""
        return ["nsenter", f"--net={self.netns}", "--", *args] if self.netns else args


def cluster_target(in_netns: bool) -> Target:
    """The 3-node cluster: up already (then left up), or brought up by the script now."""
    if os.geteuid() != 0:
        raise SystemExit("--cluster needs root (network namespaces, the nodes' dockerds)")
    probe = run(["docker", "-H", "unix:///run/os-n1/docker.sock", "info"], check=False,
                timeout=30)
    brought_up = probe.returncode != 0
    out = ""  # already up (someone else's, maybe): used as it is, no verify (it resets it)
    if brought_up:
        print("bringing the 3-node cluster up (scripts/setup-swarm-cluster.sh up) ...",
              flush=True)
        out = run([str(CLUSTER_SCRIPT), "up"], timeout=900).stdout
    lines = dict(line.split("=", 1) for line in out.splitlines()
                 if line.startswith("OTTERSTACK_CLUSTER_") and "=" in line)
    return Target(cluster=True, brought_up=brought_up,
                  docker_host=lines.get("OTTERSTACK_CLUSTER_MANAGER",
                                        "unix:///run/os-n1/docker.sock"),
                  address=lines.get("OTTERSTACK_CLUSTER_MANAGER_ADDR", "10.99.0.1"),
                  registry=lines.get("OTTERSTACK_CLUSTER_REGISTRY", "10.99.0.254:5000"),
                  netns=MANAGER_NETNS if in_netns else "")


def ensure_image(target: Target, image: str) -> None:
    """Copy a main-engine image to the cluster's manager: it has no way to pull from the
    internet, and the main engine does not trust the cluster's plain-HTTP registry."""
    if not target.docker_host or target.docker("image", "inspect", image,
                                               check=False).returncode == 0:
        return
    save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE,
                            env=Target(False).env())
    try:
        run(["docker", "load", "-q"], target.env(), stdin=save.stdout)
    finally:
        save.wait(timeout=STEP_TIMEOUT)


# load


def load_on(target: Target, port: int, host: str, threads: int) -> Load:
    """`threads` clients sending GET / with the app's Host through Traefik as fast as it
    answers, until stopped: the same pressure on both designs. The app's page is its
    version (v1, v2), read from the body."""
    return Load(Endpoint(port, host, address=target.address), threads=threads,
                max_seconds=LOAD_LIMIT, release_in_body=True, pause=FULL_SPEED)


def stalls(traffic: LoadResult) -> tuple[int, float]:
    """(requests that took over SLOW s, failed or not; the longest one): a client thread
    held by a dead address fails once in 5 s, so the failed count alone hides how long the
    service stood still."""
    took = [r.ended - r.started for r in traffic.requests if r.ended - r.started > SLOW]
    return len(took), max(took, default=0.0)


def wait_served(target: Target, port: int, host: str, version: str,
                timeout: float = SERVE_TIMEOUT) -> float:
    """Until Traefik answers `version` for `host` (before the load starts); the seconds it
    took. A new stack waits for Traefik's next poll, up to refreshSeconds."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            conn = http.client.HTTPConnection(target.address, port, timeout=3)
            conn.request("GET", "/", headers={"Host": host})
            resp = conn.getresponse()
            if resp.status == 200 and resp.read().decode().strip() == version:
                return time.monotonic() - started
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.3)
    raise SystemExit(f"{host}: {version} not served through Traefik within {timeout:.0f} s")


# the app


DOCKERFILE = """\
FROM busybox:latest
RUN mkdir -p /www
COPY www /www
COPY serve.sh /serve.sh
HEALTHCHECK --interval=1s --timeout=2s --retries=3 \\
  CMD wget -qO- http://127.0.0.1:8000/ >/dev/null || exit 1
CMD ["/bin/sh", "/serve.sh"]
"""
# httpd as PID 1 ignores SIGTERM and would serve 10 s longer than asked: stop cleanly, so an
# old task goes away when Swarm says, as a real app does.
SERVE_SH = """\
#!/bin/sh
httpd -f -p 8000 -h /www &
pid=$!
trap 'kill "$pid"; exit 0' TERM INT
wait "$pid"
"""


# --server ignores-sigterm: httpd as PID 1 after all, as many real servers without an init:
# a task being stopped then keeps running for its whole grace period
SERVERS = {"graceful": DOCKERFILE,
           "ignores-sigterm": DOCKERFILE.replace('CMD ["/bin/sh", "/serve.sh"]',
                                                 'CMD ["httpd", "-f", "-p", "8000", "-h", "/www"]')}


def write_app(dest: Path, version: str, server: str = "graceful") -> None:
    """The web app's build context; its page is `version`, its server `server` (SERVERS)."""
    (dest / "www").mkdir(parents=True, exist_ok=True)
    (dest / "Dockerfile").write_text(SERVERS[server])
    (dest / "serve.sh").write_text(SERVE_SH)
    (dest / "www" / "index.html").write_text(f"{version}\n")


def service_deploy(name: str, host: str, cluster: bool, extra: dict[str, Any]) -> dict:
    """deploy: of the web service: 2 replicas, Traefik labels as service labels (the swarm
    provider reads only those), workers only on the cluster (the manager runs Traefik)."""
    deploy: dict[str, Any] = {
        "replicas": 2,
        "labels": {
            "traefik.enable": "true",
            f"traefik.http.routers.{name}.rule": f"Host(`{host}`)",
            f"traefik.http.routers.{name}.entrypoints": "web",
            f"traefik.http.services.{name}.loadbalancer.server.port": "8000",
        },
        **extra,
    }
    if cluster:
        deploy["placement"] = {"constraints": ["node.role == worker"]}
    return deploy


# the OtterStack run


class OtterApp:
    """The app as a user sets it up: a bare repo with OtterStack's hook (as install.sh writes
    it, but running the project's own venv), `apps add ... --runtime swarm`, and a clone that
    pushes to it. Every command honours the target's DOCKER_HOST."""

    def __init__(self, work: Path, name: str, target: Target, traefik: str,
                 server: str = "graceful"):
        self.server = server
        self.work, self.name, self.target = work, name, target
        self.repo, self.src = work / f"{name}.git", work / "src"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "OTTERSTACK_"))}
        env.update(OTTERSTACK_DATA_DIR=str(work / "data"), NO_COLOR="1",
                   PATH=f"{OTTER.parent}:{env.get('PATH', '/usr/bin:/bin')}",
                   GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@localhost",
                   GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@localhost")
        self.env = target.env(env)
        self.traefik = traefik

    def otter(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run(self.target.on_manager([str(OTTER), *args]), self.env, check=check)

    def setup(self) -> None:
        """Register the app, install the hooks, point OtterStack at this run's Traefik."""
        run(["git", "init", "-q", "--bare", "-b", "main", str(self.repo)], self.env)
        run(["git", "-C", str(self.repo), "config", "receive.advertisePushOptions", "true"],
            self.env)
        self.otter("apps", "add", self.name, "--repo", str(self.repo),
                   "--traefik-routing", "on", "--runtime", "swarm")
        self._install_hooks()
        self.otter("config", "--global", "traefik_container", self.traefik)
        if self.target.registry:
            self.otter("config", self.name, "registry", self.target.registry)
        self.src.mkdir(parents=True)
        run(["git", "init", "-q", "-b", "main"], self.env, self.src)
        run(["git", "remote", "add", "production", str(self.repo)], self.env, self.src)

    def _install_hooks(self) -> None:
        """hooks/post-receive with its settings lines, as install.sh writes it."""
        body = HOOK.read_text().split("\n", 1)[1]
        head = "\n".join([
            "#!/usr/bin/env bash", f"OTTERSTACK_APP={self.name}", f"OTTERSTACK_BIN={OTTER}",
            f"OTTERSTACK_DATA_DIR={self.env['OTTERSTACK_DATA_DIR']}",
            f"OTTERSTACK_PATH={self.env['PATH']}"])
        for hook in ("pre-receive", "post-receive"):
            path = self.repo / "hooks" / hook
            path.write_text(head + "\n" + body)
            path.chmod(0o755)

    def commit(self, version: str, host: str) -> None:
        """The app's files for `version`, committed."""
        write_app(self.src, version, self.server)
        doc = {"services": {"web": {
            "build": ".", "deploy": service_deploy("web", host, self.target.cluster, {})}}}
        (self.src / "compose.yaml").write_text(json.dumps(doc, indent=1) + "\n")
        run(["git", "add", "-A"], self.env, self.src)
        run(["git", "commit", "-qm", version, "--allow-empty"], self.env, self.src)

    def push(self) -> tuple[bool, float, str]:
        """`git push production main`: (deployed, wall seconds, what the pusher saw)."""
        started = time.monotonic()
        proc = run(self.target.on_manager(["git", "push", "production", "main"]), self.env,
                   self.src, check=False)
        out = proc.stdout + proc.stderr
        return "==> deployed" in out, time.monotonic() - started, out

    def rollback(self) -> tuple[bool, float, str]:
        started = time.monotonic()
        proc = self.otter("rollback", self.name, check=False)
        return proc.returncode == 0, time.monotonic() - started, proc.stdout + proc.stderr

    def releases(self) -> list[dict]:
        out = self.otter("releases", self.name, "--json", "--limit", "100").stdout
        return sorted(json.loads(out), key=lambda r: r["id"])

    def remove(self) -> None:
        """`apps remove --volumes` (its stacks, networks, images), after ending the retire
        timers its deploys left: they would outlive the run and recreate the data dir."""
        for pid in retire_sleepers(self.name, self.env["OTTERSTACK_DATA_DIR"]):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        self.otter("apps", "remove", self.name, "--volumes", check=False)


def retire_sleepers(app: str, data_dir: str) -> list[int]:
    """The pids of the `otterstack retire APP ...` timers of this run's app (process.
    spawn_later), found by their command line and data dir, never by a broad name."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if (b"retire" in argv and app.encode() in argv
                and f"OTTERSTACK_DATA_DIR={data_dir}".encode() in environ):
            found.append(int(entry.name))
    return found


def result_line(output: str) -> str:
    """The pusher's last `==> ...` line: OtterStack's own summary with its phases."""
    lines = [line.removeprefix("remote: ").strip() for line in output.splitlines()]
    return next((line for line in reversed(lines) if line.startswith("==> ")), "")


def otterstack_run(bench: Bench) -> dict:
    """r1 without load, then r2 and a rollback under load."""
    app, target = bench.app, bench.target
    print(f"OtterStack: app {app.name}, push r1 ...", flush=True)
    app.setup()
    app.commit("v1", bench.host)
    ok, wall1, out = app.push()
    if not ok:
        return {"error": "the first push did not deploy", "output": tail(out)}
    wait_served(target, bench.port, bench.host, "v1")
    result: dict[str, Any] = {"first_wall": wall1, "first_result": result_line(out)}
    with load_on(target, bench.port, bench.host, bench.args.threads) as load:
        result["load_started"] = time.time()
        time.sleep(2)
        began = time.time()
        app.commit("v2", bench.host)
        print("  push r2 under load ...", flush=True)
        ok, wall, out = app.push()
        result.update(deploy_started=began, deploy_wall=wall, deploy_ok=ok,
                      deploy_result=result_line(out))
        if not ok:
            result["deploy_output"] = tail(out)
        else:
            load.wait_served("v2", began, SERVE_TIMEOUT)
            time.sleep(TAIL / 2)
            back = time.time()
            print("  otterstack rollback under load ...", flush=True)
            ok, rb_wall, rb_out = app.rollback()
            result.update(rollback_started=back, rollback_wall=rb_wall, rollback_ok=ok,
                          rollback_output=tail(rb_out, 12))
            load.wait_served("v1", back, SERVE_TIMEOUT)
            time.sleep(TAIL)
        traffic = load.stop()
    result["releases"] = app.releases()
    return judge_otterstack(result, traffic)


def judge_otterstack(result: dict, traffic: LoadResult) -> dict:
    """The numbers of the OtterStack run from its traffic and its recorded releases."""
    began = result["deploy_started"]
    back = result.get("rollback_started")
    release = next((r for r in reversed(result["releases"]) if r["name"] != "r1"), None)
    served = traffic.first("v2", began)
    healthy = (release or {}).get("healthy_at")
    phases = (release or {}).get("phases") or {}
    if isinstance(phases, str):
        phases = json.loads(phases or "{}")
    rolled = traffic.first("v1", back) if back else None
    sent, failed = traffic.sent, traffic.failed
    slow, slowest = stalls(traffic)
    result.update(
        sent=sent, failed=failed, slow=slow, slowest=slowest,
        healthy_to_served=None if served is None or healthy is None else served - healthy,
        healthy_to_proven=phases.get("proven"), recorded_phases=phases,
        rollback_to_served=None if rolled is None else rolled - back,
        failures=failure_spans(traffic, {"before": result["load_started"],
                                          "deploy r2": began, "rollback": back}))
    return result


def tail(text: str, lines: int = 25) -> list[str]:
    return [line.removeprefix("remote: ") for line in text.strip().splitlines()[-lines:]]


# the control: Swarm's rolling update


def control_stack(name: str, host: str, image: str, network: str, cluster: bool) -> dict:
    """The control's stack file: the same service as OtterStack's, updated by Swarm itself
    (start-first: the new task starts before the old one stops, one at a time)."""
    deploy = service_deploy(name, host, cluster, {
        "endpoint_mode": "dnsrr",
        "update_config": {"order": "start-first", "parallelism": 1},
    })
    deploy["labels"]["traefik.swarm.network"] = network
    return {"version": "3.8",
            "services": {"web": {"image": image, "deploy": deploy, "networks": ["edge"]}},
            "networks": {"edge": {"external": True, "name": network}}}


def build_control_image(bench: Bench, version: str) -> str:
    """Build `version` of the control's image on the target engine; on the cluster push it
    to the registry so the workers can pull it. Its reference."""
    target = bench.target
    context = bench.work / "control" / version
    write_app(context, version, bench.args.server)
    image = f"{bench.prefix}-ctl:{version}"
    if target.registry:
        image = f"{target.registry}/{image}"
    target.docker("build", "-q", "-t", image, str(context))
    if target.registry:
        target.docker("push", "-q", image)
    return image


def deploy_control(bench: Bench, image: str) -> None:
    """`docker stack deploy` of the control stack running `image`."""
    path = bench.work / "control" / "stack.yml"
    path.write_text(json.dumps(control_stack("ctl", bench.control_host, image, bench.network,
                                             bench.target.cluster), indent=1))
    # never: the image is in the registry (cluster) or only here; the update stays the swap
    bench.target.docker("stack", "deploy", "--resolve-image", "never", "-c", str(path),
                        bench.control_stack)


def wait_update(target: Target, service: str, timeout: float = 300) -> str:
    """Until Swarm's update of `service` ends; its final state (completed, paused...)."""
    deadline = time.monotonic() + timeout
    time.sleep(1)
    while time.monotonic() < deadline:
        out = target.docker("service", "inspect", service, "--format",
                            "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}").stdout.strip()
        if out and out not in ("updating", "rollback_started"):
            return out
        time.sleep(0.3)
    return "timeout"


def task_events(target: Target, service: str, since: float) -> list[dict]:
    """Each task of the service with its desired and current state and when it reached it
    (seconds after `since`): when the new tasks ran and the old ones were shut down."""
    ids = target.docker("service", "ps", "-q", "--no-trunc", service).stdout.split()
    if not ids:
        return []
    tasks = json.loads(target.docker("inspect", *ids).stdout)
    events = []
    for task in tasks:
        status = task.get("Status") or {}
        when = parse_time(str(status.get("Timestamp", "")))
        image = str(task["Spec"]["ContainerSpec"]["Image"]).split("@")[0].rsplit(":", 1)[-1]
        events.append({"slot": task.get("Slot"), "version": image,
                       "state": status.get("State"), "desired": task.get("DesiredState"),
                       "at": None if when is None else round(when - since, 2)})
    return sorted(events, key=lambda e: (e["at"] is None, e["at"] or 0))


def parse_time(text: str) -> float | None:
    """Docker's RFC 3339 time with nanoseconds."""
    if not text or text.startswith("0001-"):
        return None
    head, _, frac = text.rstrip("Z").partition(".")
    moment = datetime.fromisoformat(head).replace(tzinfo=UTC).timestamp()
    return moment + (float(f"0.{frac[:6]}") if frac[:6].isdigit() else 0.0)


def control_run(bench: Bench) -> dict:
    """v1 deployed, then updated to v2 by Swarm under load."""
    target = bench.target
    print(f"Swarm rolling update: stack {bench.control_stack} ...", flush=True)
    v1, v2 = build_control_image(bench, "v1"), build_control_image(bench, "v2")
    deploy_control(bench, v1)
    service = f"{bench.control_stack}_web"
    wait_served(target, bench.port, bench.control_host, "v1", SERVE_TIMEOUT + 60)
    result: dict[str, Any] = {}
    with load_on(target, bench.port, bench.control_host, bench.args.threads) as load:
        loaded = time.time()
        time.sleep(2)
        began = time.time()
        print("  docker stack deploy v2 under load ...", flush=True)
        deploy_control(bench, v2)
        state = wait_update(target, service)
        done = time.time()
        load.wait_served("v2", began, SERVE_TIMEOUT)
        time.sleep(TAIL)
        traffic = load.stop()
    served = traffic.first("v2", began)
    tasks = task_events(target, service, began)
    first_new = min((e["at"] for e in tasks if e["version"] == "v2" and e["at"] is not None
                     and e["state"] == "running"), default=None)
    sent, failed = traffic.sent, traffic.failed
    slow, slowest = stalls(traffic)
    result.update(
        update_state=state, deploy_started=began, deploy_wall=done - began, sent=sent,
        failed=failed, slow=slow, slowest=slowest, tasks=tasks,
        healthy_to_served=None if served is None or first_new is None
        else served - (began + first_new),
        rollback_to_served=None,
        failures=failure_spans(traffic, {"before": loaded, "update to v2": began}))
    return result


# failures


def failure_spans(traffic: LoadResult, starts: dict[str, float | None]) -> list[dict]:
    """Per step (deploy, rollback, update), from its start to the next one's: how many
    requests failed, why, and when (bursts of failures, in seconds after the step began)."""
    marks = sorted((t, name) for name, t in starts.items() if t is not None)
    spans = []
    for (start, name), (end, _) in zip(marks, marks[1:] + [(float("inf"), "")], strict=True):
        times = traffic.between(start, end).failure_timeline
        if not times:
            continue
        reasons: dict[str, int] = {}
        for _, why in times:
            reasons[why] = reasons.get(why, 0) + 1
        spans.append({"step": name, "failed": len(times), "reasons": reasons,
                      "bursts": bursts([t - start for t, _ in times])})
    return spans


def bursts(offsets: list[float], gap: float = 1.0) -> list[tuple[float, float, int]]:
    """Failure times grouped into bursts (no gap longer than `gap` s): (from, to, count)."""
    groups: list[list[float]] = []
    for t in sorted(offsets):
        if groups and t - groups[-1][-1] <= gap:
            groups[-1].append(t)
        else:
            groups.append([t])
    return [(round(g[0], 2), round(g[-1], 2), len(g)) for g in groups]


# the bench


class Bench:
    """One run: its names (bench-<id>...), the Traefik, the app, the control; and everything
    it made, removed at the end."""

    def __init__(self, args: argparse.Namespace, target: Target):
        self.args, self.target = args, target
        self.id = uuid.uuid4().hex[:6]
        self.prefix = f"bench-{self.id}"
        self.work = Path(tempfile.mkdtemp(prefix=f"otterstack-{self.prefix}-"))
        self.traefik = f"{self.prefix}-traefik"
        self.network = f"{self.prefix}-edge"
        self.control_stack = f"{self.prefix}-ctl"
        self.host = f"{self.prefix}.localhost"
        self.control_host = f"ctl.{self.prefix}.localhost"
        self.port = args.port if target.cluster else free_port(args.port)
        self.app = OtterApp(self.work, self.prefix, target, self.traefik, args.server)

    def start_traefik(self) -> str:
        """`otterstack traefik up --swarm` at Traefik's default refresh (15 s), under this
        run's names and only for this run's stacks (the engine may be shared)."""
        ensure_image(self.target, "traefik:v3")
        ensure_image(self.target, "busybox:latest")
        constraint = f"LabelRegex(`com.docker.stack.namespace`, `{self.prefix}.*`)"
        out = run([str(OTTER), "traefik", "up", "--swarm", "--name", self.traefik,
                   "--network", self.network, "--refresh", REFRESH,
                   "--http-port", str(self.port), "--constraints", constraint],
                  self.app.env).stdout.strip()
        if self.target.docker("service", "inspect", self.traefik, check=False).returncode:
            out = f"`otterstack traefik up --swarm` made no service {self.traefik} ({out}); " \
                  + self._create_traefik(constraint)
        wait_traefik(self.target, self.port)
        return out

    def _create_traefik(self, constraint: str) -> str:
        """The same service by hand: an OtterStack whose `traefik up --swarm` has one fixed
        name (already taken on a shared engine) still gets a Traefik of this run's own."""
        target = self.target
        if target.docker("network", "inspect", self.network, check=False).returncode:
            target.docker("network", "create", "-d", "overlay", "--attachable", self.network)
        target.docker(
            "service", "create", "-q", "--detach", "--no-resolve-image", "--name", self.traefik,
            "--constraint", "node.role == manager", "--network", self.network,
            "--endpoint-mode", "dnsrr", "--label", "dev.otterstack.traefik=swarm",
            "--container-label", "dev.otterstack.traefik=swarm",
            "--publish", f"mode=host,target=80,published={self.port}",
            "--mount", "type=bind,source=/var/run/docker.sock,target=/var/run/docker.sock,"
            "readonly", "traefik:v3", "--providers.swarm=true",
            "--providers.swarm.exposedbydefault=false",
            f"--providers.swarm.network={self.network}",
            f"--providers.swarm.refreshSeconds={REFRESH}",
            f"--providers.swarm.constraints={constraint}", "--entrypoints.web.address=:80",
            "--api.insecure=true", "--ping=true", "--log.level=INFO")
        return "created it with docker service create"

    def close(self) -> None:
        """Remove what this run made, and only that: the app (and its retire timers), the
        control stack, any stack of ours left, the Traefik, its network, our images, the
        work dir; the cluster only if this run brought it up."""
        target = self.target
        try:
            self.app.remove()
        except (subprocess.SubprocessError, OSError, SystemExit) as exc:
            print(f"cleanup: apps remove: {exc}", file=sys.stderr)
        stacks = target.docker("stack", "ls", "--format", "{{.Name}}", check=False).stdout
        ours = [s for s in stacks.split() if s.startswith(self.prefix)]
        if ours:
            target.docker("stack", "rm", *ours, check=False)
        target.docker("service", "rm", self.traefik, check=False)
        wait_gone(target, self.prefix)
        for _ in range(30):  # a network goes once the last task on it is gone
            if target.docker("network", "rm", self.network, check=False).returncode == 0 or \
                    self.network not in target.docker("network", "ls", "--format",
                                                      "{{.Name}}", check=False).stdout.split():
                break
            time.sleep(1)
        remove_images(target, self.prefix)
        shutil.rmtree(self.work, ignore_errors=True)
        if target.brought_up:
            print("taking the cluster down (it was brought up by this run) ...", flush=True)
            run([str(CLUSTER_SCRIPT), "down"], check=False, timeout=600)


def wait_traefik(target: Target, port: int, timeout: float = 90) -> None:
    """Until Traefik answers on its host-mode port (a 404 for an unknown host is an answer)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection(target.address, port, timeout=2)
            conn.request("GET", "/", headers={"Host": "nothing.invalid"})
            conn.getresponse().read()
            return
        except (OSError, http.client.HTTPException):
            time.sleep(0.5)
    raise SystemExit(f"Traefik does not answer on {target.address}:{port}")


def wait_gone(target: Target, prefix: str, timeout: float = 90) -> None:
    """Until no service and no container of ours is left (stack rm returns at once)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        services = target.docker("service", "ls", "--format", "{{.Name}}",
                                 check=False).stdout.split()
        containers = target.docker("ps", "-a", "--format", "{{.Names}}",
                                   check=False).stdout.split()
        if not [n for n in services + containers if n.startswith(prefix)]:
            return
        time.sleep(1)


def remove_images(target: Target, prefix: str) -> None:
    """Our images (bench-<id>-*, and the registry-tagged ones on the cluster's manager)."""
    refs = target.docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}",
                         check=False).stdout.split()
    ours = [r for r in refs if r.split("/")[-1].startswith(prefix)]
    if ours:
        target.docker("image", "rm", "-f", *ours, check=False)


@contextmanager
def terminated_as_exit() -> Iterator[None]:
    """SIGTERM ends the run through its `finally`, so the cleanup still runs."""
    def handler(signum: int, _frame: object) -> None:
        raise SystemExit(f"signal {signum}")
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# output


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_table(report: dict) -> None:
    """The two designs side by side, then where the failures were."""
    results = report["designs"]
    order = [d for d in ("OtterStack", "Swarm rolling") if d in results]
    print()
    print(f"Swarm {report['where']}: Traefik swarm provider refreshSeconds {REFRESH}, 2 "
          f"replicas, {report['threads']} client threads; load average "
          f"{report['loadavg_5min']:.1f} (5 min), {os.cpu_count()} CPUs")
    print(f"{'':<28}" + "".join(f"{d:>16}" for d in order))
    rows = [
        ("requests", lambda r: str(r.get("sent", "-"))),
        ("failed", lambda r: str(r.get("failed", "-"))),
        (f"slower than {SLOW:.0f} s (max s)", lambda r: "-" if "slow" not in r
         else f"{r['slow']} ({r['slowest']:.1f})"),
        ("deploy wall time s", lambda r: fmt(r.get("deploy_wall"), 1)),
        ("healthy -> served s", lambda r: fmt(r.get("healthy_to_served"))),
        ("  recorded healthy->proven", lambda r: fmt(r.get("healthy_to_proven"))),
        ("rollback -> served s", lambda r: fmt(r.get("rollback_to_served"))),
    ]
    for label, show in rows:
        print(f"{label:<28}" + "".join(f"{show(results[d]):>16}" for d in order))
    for design in order:
        result = results[design]
        if result.get("error"):
            print(f"{design}: ERROR {result['error']}")
            for line in result.get("output", []):
                print(f"    | {line}")
        for span in result.get("failures", []):
            shown = ", ".join(f"{a}-{b} s ({n})" for a, b, n in span["bursts"])
            print(f"{design} {span['step']}: {span['failed']} failed {span['reasons']}; "
                  f"after it began: {shown}")
    print_notes(results)


def print_notes(results: dict) -> None:
    """What the table's cells are made of, and OtterStack's own result lines."""
    otter = results.get("OtterStack") or {}
    if otter.get("deploy_result"):
        print(f"OtterStack r2: {otter['deploy_result']}")
    if otter.get("deploy_ok") is False:
        for line in otter.get("deploy_output", []):
            print(f"    | {line}")
    if otter.get("rollback_ok") is False:
        print("OtterStack rollback FAILED:")
        for line in otter.get("rollback_output", []):
            print(f"    | {line}")
    control = results.get("Swarm rolling") or {}
    if control.get("tasks"):
        shown = "; ".join(f"{e['version']}.{e['slot']} {e['state']} {fmt(e['at'], 1)}"
                          for e in control["tasks"] if e["at"] is not None)
        print(f"Swarm rolling (update {control.get('update_state')}), tasks, s after the "
              f"update began: {shown}")
    print("deploy wall: OtterStack's = the git push (build included); Swarm's = stack deploy "
          "to UpdateStatus completed (image prebuilt).")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cluster", action="store_true",
                        help="on the 3-node cluster of scripts/setup-swarm-cluster.sh (root)")
    parser.add_argument("--designs", default="OtterStack,Swarm rolling",
                        help="comma-separated: OtterStack, Swarm rolling (default both)")
    parser.add_argument("--threads", type=int, default=4, help="client threads (default 4)")
    parser.add_argument("--server", choices=sorted(SERVERS), default="graceful",
                        help="how the app takes SIGTERM (default graceful: exits at once)")
    parser.add_argument("--port", type=int, default=18180,
                        help="Traefik's http port (single node: the first free from here)")
    parser.add_argument("--no-netns", action="store_true",
                        help="with --cluster: run OtterStack in this namespace (DOCKER_HOST "
                        "only), not in the manager's")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--keep", action="store_true", help="leave everything (debugging)")
    args = parser.parse_args()
    args.design_list = [d.strip() for d in args.designs.split(",") if d.strip()]
    unknown = set(args.design_list) - {"OtterStack", "Swarm rolling"}
    if unknown or args.threads < 1:
        parser.error(f"bad arguments: {', '.join(sorted(unknown)) or '--threads'}")
    return args


def measure(bench: Bench) -> dict:
    """Traefik up, then each design in turn (one failing does not hide the other)."""
    report: dict[str, Any] = {"where": "3-node cluster (manager 10.99.0.1, app on 2 workers)"
                              if bench.target.cluster else "single node (main engine)",
                              "threads": bench.args.threads, "prefix": bench.prefix,
                              "designs": {}}
    started = time.monotonic()
    report["traefik"] = bench.start_traefik()
    print(f"  {report['traefik']}", flush=True)
    for design in bench.args.design_list:
        try:
            if design == "OtterStack":
                report["designs"][design] = otterstack_run(bench)
            else:
                report["designs"][design] = control_run(bench)
        except (subprocess.SubprocessError, SystemExit) as exc:
            report["designs"][design] = {"error": str(exc).strip().splitlines()[0][:300],
                                         "output": str(exc).strip().splitlines()[-20:]}
    report["seconds"] = time.monotonic() - started
    report["loadavg_5min"] = os.getloadavg()[1]
    return report


def main() -> int:
    args = parse_args()
    if run(["docker", "info"], check=False).returncode != 0:
        sys.exit("no Docker Engine")
    began = time.monotonic()
    with terminated_as_exit():
        target = cluster_target(not args.no_netns) if args.cluster else Target(cluster=False)
        bench = Bench(args, target)
        try:
            report = measure(bench)
        finally:
            if not args.keep:
                bench.close()
    report["total_seconds"] = time.monotonic() - began
    print_table(report)
    print(f"run took {report['total_seconds']:.0f} s (measuring {report['seconds']:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    otter = report["designs"].get("OtterStack", {})
    return 0 if not otter or (otter.get("failed") == 0 and not otter.get("error")) else 1


if __name__ == "__main__":
    sys.exit(main())
