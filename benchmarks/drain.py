#!/usr/bin/env python3
"""Benchmark: draining the old release under load, with an app that exits at once on SIGTERM.

The app (testsupport/slow_app.py) is busybox httpd behind `init: true` with endpoints that take
2 s and 12 s. 8 clients send requests through a real Traefik without pause (6 to the 2 s one,
2 to the 12 s one) while 5 deploys and 2 rollbacks run, once with a drain timeout above the
longest request (30 s) and once below it (5 s). Prints, per deploy, the requests in flight
when the drain began, how long it took, how many it reported cut, and the longest request the
old release was still serving when the drain began; and, per run, every failed request by
endpoint. Expected: nothing fails with 30 s; with 5 s only 12 s requests fail, as many as
reported cut.

Needs a Docker Engine, Compose v2 and the local images (scripts/setup-docker.sh). Traffic goes
to 127.0.0.1 only; the run is bounded and stops by itself.
"""

import argparse
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import BenchApp  # noqa: E402 - puts the repo root on sys.path

from testsupport import slow_app  # noqa: E402
from testsupport.slow_app import SLOW, SLOWER  # noqa: E402


def drain_events(release: dict) -> dict | None:
    """The drain a deploy did (in its own log): start time, in flight, seconds, cut."""
    if not release.get("log_path") or not Path(release["log_path"]).is_file():
        return None
    events = [json.loads(line) for line in Path(release["log_path"]).read_text().splitlines()]
    drains = [e for e in events if e.get("step") == "drain"]
    if not drains:
        return None
    first, last = drains[0], drains[-1]
    words = str(first["event"]).split()
    text = str(last["event"])
    seconds = re.search(r"(\d+\.\d) s", text)
    cut = re.search(r"drain timeout: (\d+) cut", text)
    return {"old": words[1].rstrip(":"), "began": first["ts"], "in_flight": words[2],
            "seconds": float(seconds.group(1)) if seconds else None,
            "cut": int(cut.group(1)) if cut else 0}


def one_run(drain_timeout: int, deploys: int, rollbacks: int, slow: int, slower: int) -> dict:
    bench = BenchApp("drain")
    try:
        bench.setup()
        for path, content in slow_app.files().items():
            target = bench.src / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        bench.good_dockerfile = slow_app.DOCKERFILE
        bench.sh([bench.otter, "config", bench.name, "drain_timeout", str(drain_timeout)])
        bench.commit("v0")
        if "==> deployed" not in bench.push():
            sys.exit("the first deploy failed")
        print(f"drain_timeout {drain_timeout} s: {slow} clients on {SLOW}, {slower} on {SLOWER}; "
              f"{deploys} deploys, {rollbacks} rollbacks", flush=True)
        with slow_app.load(bench.http_port, [SLOW] * slow + [SLOWER] * slower) as clients:
            time.sleep(slow_app.SECONDS[SLOWER] / 2)  # 12 s requests are under way
            for n in range(1, deploys + 1):
                bench.commit(f"v{n}")
                started = time.monotonic()
                ok = "==> deployed" in bench.push()
                print(f"  deploy v{n}: {'deployed' if ok else 'FAILED'} in "
                      f"{time.monotonic() - started:.1f} s", flush=True)
            for _ in range(rollbacks):
                started = time.monotonic()
                ok = bench.sh([bench.otter, "rollback", bench.name], check=False).returncode == 0
                print(f"  rollback: {'done' if ok else 'FAILED'} in "
                      f"{time.monotonic() - started:.1f} s", flush=True)
            time.sleep(1)
            requests = clients.stop().requests
        drains = []
        for rel in bench.releases()[1:]:
            found = drain_events(rel)
            if found is None:
                continue
            old_project = f"{bench.name}-{found['old']}"
            remaining = [r.ended - found["began"] for r in requests
                         if r.ok and r.release == old_project and r.ended > found["began"]]
            found["longest_remaining"] = round(max(remaining, default=0.0), 2)
            found["release"] = rel["name"]
            found["trigger"] = rel["trigger"]
            drains.append(found)
        failed = Counter(f"{r.path} -> {r.status or r.error}" for r in requests if not r.ok)
        return {"drain_timeout": drain_timeout, "sent": len(requests),
                "by_path": dict(Counter(r.path for r in requests)),
                "failed": sum(failed.values()), "failures": dict(failed),
                "reported_cut": sum(d["cut"] for d in drains), "drains": drains,
                "failed_requests": [
                    {"path": r.path, "status": r.status, "error": r.error, "release": r.release,
                     "started": round(r.started, 2), "seconds": round(r.ended - r.started, 2)}
                    for r in requests if not r.ok]}
    finally:
        bench.close()


def print_run(run: dict) -> None:
    print()
    print(f"drain_timeout {run['drain_timeout']} s")
    print(f"  {'release':<8} {'trigger':<9} {'old':<5} {'in flight':>9} {'drain s':>8} "
          f"{'cut':>4} {'longest request left s':>23}")
    for d in run["drains"]:
        print(f"  {d['release']:<8} {d['trigger']:<9} {d['old']:<5} {d['in_flight']:>9} "
              f"{d['seconds']:>8.1f} {d['cut']:>4} {d['longest_remaining']:>23.2f}")
    print(f"  requests: {run['sent']} {run['by_path']}")
    print(f"  failed:   {run['failed']} {run['failures'] or ''}")
    print(f"  reported cut by the drains: {run['reported_cut']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deploys", type=int, default=5)
    parser.add_argument("--rollbacks", type=int, default=2)
    parser.add_argument("--slow-clients", type=int, default=6, help=f"clients on {SLOW}")
    parser.add_argument("--slower-clients", type=int, default=2, help=f"clients on {SLOWER}")
    parser.add_argument("--timeouts", default="30,5",
                        help="drain timeouts to run with, comma separated (default 30,5)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    runs = [one_run(int(t), args.deploys, args.rollbacks, args.slow_clients,
                    args.slower_clients) for t in args.timeouts.split(",")]
    for run in runs:
        print_run(run)
    if args.json:
        args.json.write_text(json.dumps(runs, indent=2))
    good = True
    for run in runs:
        longest = max(slow_app.SECONDS.values())
        slow_failed = sum(n for key, n in run["failures"].items() if key.startswith(SLOW + " "))
        if run["drain_timeout"] > longest:
            good &= run["failed"] == 0
        else:
            good &= slow_failed == 0 and run["failed"] == run["reported_cut"]
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
