#!/usr/bin/env python3
"""Benchmark: what Traefik's provider throttle costs and gains when many containers change.

For each throttle value, starts a Traefik with exactly the command line `otterstack traefik
up` gives it (plus Prometheus metrics on its API port, to count configuration reloads), then
starts N routed containers at once (`docker compose up -d`, each with a 1 s HEALTHCHECK) and
stops them all at once (`docker compose down`). Reports, per throttle: how long after the
last container turned healthy (or exited) Traefik's API showed it ("lag", to 0.5 s), the
configuration reloads Traefik did, and the CPU seconds Traefik's container (and dockerd,
which answers Traefik's container listing after every event) used for the whole burst.

Needs a Docker Engine, Compose v2, the local busybox and traefik:v3 images. Traffic goes to
127.0.0.1 only; every wait is bounded.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from performance import Events, free_port  # noqa: E402

from otterstack_hooks.adapters.traefik.up import command  # noqa: E402

SETTLE_LIMIT = 240.0  # seconds a burst may take until Traefik shows all of it
AFTER = 3.0  # seconds after that: longer than the longest throttle compared
POLL = 0.5  # seconds between looks at Traefik's API (each costs Traefik a little CPU)


def run(args: list[str], check: bool = True, timeout: float = 300) -> str:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=3) as resp:  # noqa: S310 - loopback
        return json.loads(resp.read().decode())


def container_cpu(cid: str) -> float:
    """CPU seconds a container has used: its cgroup's account (v1 or v2)."""
    for path in (f"/sys/fs/cgroup/cpuacct/docker/{cid}/cpuacct.usage",
                 f"/sys/fs/cgroup/system.slice/docker-{cid}.scope/cpu.stat"):
        if os.path.exists(path):
            text = Path(path).read_text()
            if path.endswith("cpu.stat"):
                return int(re.search(r"usage_usec (\d+)", text).group(1)) / 1e6
            return int(text) / 1e9
    raise SystemExit(f"no cgroup CPU account for container {cid} readable here")


def dockerd_cpu() -> float | None:
    """CPU seconds of dockerd, if this host's dockerd is visible here (other users of the
    engine add to it: read it as an upper bound)."""
    pids = run(["pgrep", "-x", "dockerd"], check=False).split()
    if len(pids) != 1:
        return None
    fields = Path(f"/proc/{pids[0]}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metrics(api: str) -> tuple[int, float]:
    """(configuration reloads so far, time of the last successful one) from Traefik."""
    with urllib.request.urlopen(f"{api}/metrics", timeout=3) as resp:  # noqa: S310
        text = resp.read().decode()

    def value(name: str) -> float:
        match = re.search(rf"^{name} (\S+)$", text, re.M)
        return float(match.group(1)) if match else -1.0

    return (int(value("traefik_config_reloads_total")),
            value("traefik_config_last_reload_success"))


def compose_file(prefix: str, network: str, count: int) -> dict:
    serve = ("mkdir -p /w && echo ok > /w/index.html && "
             "trap 'exit 0' TERM && httpd -f -p 8000 -h /w & wait")
    services = {}
    for i in range(count):
        router = f"{prefix}-s{i}"
        services[f"s{i}"] = {
            "image": "busybox:latest",
            "command": ["sh", "-c", serve],
            "healthcheck": {"test": ["CMD", "wget", "-q", "-O", "/dev/null",
                                     "http://127.0.0.1:8000/"],
                            "interval": "1s", "timeout": "2s", "retries": 3},
            "labels": {"traefik.enable": "true",
                       f"traefik.http.routers.{router}.rule": f"Host(`s{i}.{prefix}.localhost`)",
                       f"traefik.http.routers.{router}.entrypoints": "web",
                       f"traefik.http.services.{router}.loadbalancer.server.port": "8000"},
            "networks": ["edge"],
        }
    return {"services": services,
            "networks": {"edge": {"external": True, "name": network}}}


def routed(api: str, prefix: str) -> int:
    """Routers of this burst that Traefik shows enabled with a server UP."""
    listed = get_json(f"{api}/api/http/services?per_page=10000&search={prefix}-s")
    return sum(1 for s in listed if isinstance(s, dict) and s.get("name", "").startswith(
        f"{prefix}-s") and "UP" in (s.get("serverStatus") or {}).values())


def measure(throttle: str, count: int, work: Path) -> dict:
    run_id = uuid.uuid4().hex[:6]
    prefix = f"thr{run_id}"
    network = f"otterstack-{prefix}"
    api_port, http_port = free_port(), free_port()
    api = f"http://127.0.0.1:{api_port}"
    project = f"{prefix}-burst"
    run(["docker", "network", "create", network])
    args = command(network, f"LabelRegex(`com.docker.compose.project`, `{prefix}-.+`)",
                   throttle)
    cid = run(["docker", "run", "-d", "--name", network, "--network", network,
               "-p", f"127.0.0.1:{http_port}:80", "-p", f"127.0.0.1:{api_port}:8080",
               "-v", "/var/run/docker.sock:/var/run/docker.sock:ro",
               "traefik:v3", *args, "--metrics.prometheus=true"]).strip()
    file = work / f"{prefix}.json"
    file.write_text(json.dumps(compose_file(prefix, network, count)))
    compose = ["docker", "compose", "-p", project, "-f", str(file)]
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                get_json(f"{api}/api/version")
                break
            except OSError:
                if time.monotonic() > deadline:
                    sys.exit("Traefik's API did not answer")
                time.sleep(0.2)
        time.sleep(3)  # Traefik's own start settles
        result: dict = {"throttle": throttle, "containers": count}
        watch = Events()
        for phase in ("up", "down"):
            cpu0, dockerd0 = container_cpu(cid), dockerd_cpu()
            reloads0, _ = metrics(api)
            wall0 = time.time()
            started = time.monotonic()
            if phase == "up":
                run([*compose, "up", "-d"])
            else:
                run([*compose, "down", "-t", "0"])
            want = count if phase == "up" else 0
            while routed(api, prefix) != want:
                if time.monotonic() - started > SETTLE_LIMIT:
                    sys.exit(f"throttle {throttle}: Traefik did not show {want} routers within "
                             f"{SETTLE_LIMIT:.0f} s")
                time.sleep(POLL)
            shown = time.time()
            time.sleep(AFTER)  # a reload the throttle held back still comes in this time
            cpu1, dockerd1 = container_cpu(cid), dockerd_cpu()
            reloads1, _ = metrics(api)
            marks = watch.of(project, wall0, "health_status: healthy" if phase == "up"
                             else "die")
            events, last = len(marks), max(marks.values(), default=None)
            result[phase] = {
                "events": events,
                "lag_s": None if last is None or events != count else round(shown - last, 1),
                "reloads": reloads1 - reloads0,
                "traefik_cpu_s": round(cpu1 - cpu0, 3),
                "dockerd_cpu_s": (None if dockerd0 is None or dockerd1 is None
                                  else round(dockerd1 - dockerd0, 2)),
            }
        watch.close()
        return result
    finally:
        run([*compose, "down", "-t", "0"], check=False)
        run(["docker", "rm", "-f", network], check=False)
        run(["docker", "network", "rm", network], check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--throttles", default="0s,100ms,200ms,500ms,2s",
                        help="comma-separated values to compare (default 0s,100ms,200ms,500ms,2s)")
    parser.add_argument("--containers", type=int, default=30,
                        help="routed containers started and stopped at once (default 30)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    if run(["docker", "info"], check=False) == "":
        sys.exit("no Docker Engine: run scripts/setup-docker.sh first")
    results = []
    with tempfile.TemporaryDirectory(prefix="otterstack-throttle-") as tmp:
        for throttle in args.throttles.split(","):
            print(f"throttle {throttle}: {args.containers} containers up, then down ...",
                  flush=True)
            results.append(measure(throttle.strip(), args.containers, Path(tmp)))
    print()
    print(f"{'throttle':>9} | {'up: lag s':>9} {'reloads':>7} {'traefik cpu s':>13} "
          f"{'dockerd cpu s':>13} | {'down: lag s':>11} {'reloads':>7} {'traefik cpu s':>13}")
    for r in results:
        up, down = r["up"], r["down"]
        print(f"{r['throttle']:>9} | {fmt(up['lag_s']):>9} {up['reloads']:>7} "
              f"{up['traefik_cpu_s']:>13.3f} {fmt(up['dockerd_cpu_s']):>13} | "
              f"{fmt(down['lag_s']):>11} {down['reloads']:>7} {down['traefik_cpu_s']:>13.3f}")
    print(f"load average {os.getloadavg()[1]:.1f} (5 min), {os.cpu_count()} CPUs")
    print(f"\nlag: from the last container turning healthy (up) or exiting (down) to Traefik's "
          f"API showing the result (looked at every {POLL} s); CPU and reloads from `compose "
          f"up`/`down` until then, plus {AFTER:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    sys.exit(main())
