#!/usr/bin/env python3
"""Benchmark: zero-downtime deploys through a real Traefik under steady HTTP load.

Installs OtterStack with install.sh into a temporary place, starts its own Traefik on loopback
ports (`otterstack traefik up`), registers an app with Traefik routing, then pushes N releases
with `git push` while client threads hammer the app through Traefik. Healthy and unhealthy
releases alternate (every --bad-every-th is unhealthy). Prints, for the whole run, requests
sent / failed / answered by an unhealthy release, and per deploy the seconds from
"new release healthy" to "new release served" (first response the load saw from it) and from
"health check failed" to "new release removed".

Needs a Docker Engine, Compose v2 and the local images (scripts/setup-docker.sh). Traffic goes
to 127.0.0.1 only; the run is bounded and stops by itself.
"""

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import HOST, BenchApp  # noqa: E402 - puts the repo root on sys.path

from testsupport.load import FULL_SPEED, Endpoint, Load  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--healthy", type=int, default=10, help="healthy deploys (default 10)")
    parser.add_argument("--bad-every", type=int, default=4,
                        help="after every Nth healthy deploy push an unhealthy one (default 4)")
    parser.add_argument("--threads", type=int, default=4, help="client threads (default 4)")
    parser.add_argument("--rollbacks", type=int, default=2,
                        help="rollbacks to the previous release at the end (default 2)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--plot", type=Path, metavar="FILE.svg",
                        help="draw the requests over time, served and failed per 100 ms, "
                        "with each push and rollback marked (needs matplotlib: .[bench])")
    parser.add_argument("--keep", action="store_true", help="leave the app and Traefik running")
    args = parser.parse_args()

    bench = BenchApp("bench")
    try:
        bench.setup()

        marks: list[tuple[float, float, str]] = []  # (start, end, label): for --plot

        def push(label: str, healthy: bool) -> tuple[bool, float]:
            bench.commit(label, healthy)
            started = time.time()
            ok = "==> deployed" in bench.push()
            marks.append((started, time.time(), label))
            return ok, time.time() - started

        ok, _ = push("v0", True)
        if not ok:
            sys.exit("the first deploy failed")
        plan = []
        for n in range(1, args.healthy + 1):
            plan.append((f"v{n}", True))
            if args.bad_every and n % args.bad_every == 0:
                plan.append((f"bad{n}", False))
        print(f"load: {args.threads} threads on 127.0.0.1:{bench.http_port} (Host {HOST}); "
              f"{len(plan)} deploys", flush=True)
        outcomes = []
        with Load(Endpoint(bench.http_port, HOST), threads=args.threads,
                  max_seconds=1800, pause=FULL_SPEED) as load:
            time.sleep(1)
            for label, healthy in plan:
                ok, took = push(label, healthy)
                outcomes.append((label, healthy, ok, took))
                print(f"  {label:<6} {'healthy' if healthy else 'unhealthy':<9} "
                      f"{'deployed' if ok else 'FAILED'} in {took:.1f} s", flush=True)
            rollbacks = []
            for _ in range(args.rollbacks):
                started = time.time()
                proc = bench.sh([bench.otter, "rollback", bench.name], check=False)
                ok = proc.returncode == 0
                rollbacks.append((started, ok))
                marks.append((started, time.time(), "rollback"))
                print(f"  rollback {'done' if ok else 'FAILED'} in {time.time() - started:.1f} s",
                      flush=True)
            time.sleep(1)
            result = load.stop()
        releases = bench.releases()
        report = summarize(bench.name, releases, result, outcomes)
        report["rollback_to_served"] = rollback_times(bench.name, releases, result, rollbacks)
        print_report(report, args.threads)
        if args.json:
            args.json.write_text(json.dumps(report, indent=2))
        if args.plot:
            from plot import Panel, draw  # matplotlib only with --plot
            draw([Panel("OtterStack", [(r.ended, r.ok) for r in result.requests],
                        marks[1:])], args.plot)  # marks[0]: the first push, before the load
            print(f"requests over time: {args.plot}")
        good = (report["failed"] == 0 and report["to_unhealthy"] == 0
                and all(outcome[1] == outcome[2] for outcome in outcomes)
                and all(ok for _started, ok in rollbacks))
        return 0 if good else 1
    finally:
        if not args.keep:
            bench.close()


def summarize(app: str, releases: list[dict], result, outcomes) -> dict:
    first_seen: dict[str, float] = {}
    for ts, release in result.timeline:
        first_seen.setdefault(release, ts)
    deploys = []
    for rel in sorted(releases, key=lambda r: r["id"])[1:]:  # the first one ran before load
        project = f"{app}-{rel['name']}"
        entry = {"release": rel["name"], "status": rel["status"]}
        if rel["status"] in ("active", "superseded"):
            seen = first_seen.get(project)
            entry["healthy_to_served"] = (None if seen is None or rel["healthy_at"] is None
                                          else round(seen - rel["healthy_at"], 2))
        else:
            events = [json.loads(line) for line in Path(rel["log_path"]).read_text().splitlines()]
            start = next(e["ts"] for e in events if e.get("step") == "rollback")
            done = next(e["ts"] for e in events if "removed in" in str(e.get("event")))
            entry["failure_to_removed"] = round(done - start, 2)
            entry["reason"] = rel["reason"].splitlines()[0]
        deploys.append(entry)
    unhealthy = {f"{app}-{r['name']}" for r in releases if r["status"] == "failed"}
    return {
        "sent": result.sent,
        "failed": result.failed,
        "failures": dict(result.failures),
        "to_unhealthy": sum(result.by_release.get(p, 0) for p in unhealthy),
        "deploys": deploys,
    }


def rollback_times(app: str, releases: list[dict], result, rollbacks) -> list[float]:
    """Seconds from `otterstack rollback` to the first response from the release it made."""
    first_seen: dict[str, float] = {}
    for ts, release in result.timeline:
        first_seen.setdefault(release, ts)
    made = [r for r in releases if r["trigger"] == "rollback"]
    return [round(first_seen[f"{app}-{r['name']}"] - started, 2)
            for r, (started, ok) in zip(made, rollbacks, strict=False)
            if ok and f"{app}-{r['name']}" in first_seen]


def print_report(report: dict, threads: int) -> None:
    print()
    print(f"{'release':<8} {'status':<11} {'healthy->served s':>18} {'failure->removed s':>19}")
    for d in report["deploys"]:
        hs = d.get("healthy_to_served")
        fr = d.get("failure_to_removed")
        print(f"{d['release']:<8} {d['status']:<11} {'' if hs is None else f'{hs:.2f}':>18} "
              f"{'' if fr is None else f'{fr:.2f}':>19}")
    served = [d["healthy_to_served"] for d in report["deploys"]
              if d.get("healthy_to_served") is not None]
    removed = [d["failure_to_removed"] for d in report["deploys"] if "failure_to_removed" in d]
    print()
    print(f"requests sent:                    {report['sent']} ({threads} threads)")
    print(f"requests failed:                  {report['failed']} {report['failures'] or ''}")
    print(f"requests to unhealthy releases:   {report['to_unhealthy']}")
    if served:
        print(f"healthy -> served (s):            max {max(served):.2f}, "
              f"mean {sum(served) / len(served):.2f} over {len(served)} deploys")
    if removed:
        print(f"failure -> removed (s):           max {max(removed):.2f}, "
              f"mean {sum(removed) / len(removed):.2f} over {len(removed)} deploys")
    rolled = report.get("rollback_to_served") or []
    if rolled:
        print(f"rollback command -> served (s):   {', '.join(f'{s:.2f}' for s in rolled)}")


if __name__ == "__main__":
    sys.exit(main())
