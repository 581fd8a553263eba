#!/usr/bin/env python3
"""Benchmark: a release that fails under real traffic, undone by the watch after its switch.

Installs OtterStack with install.sh into a temporary place, starts its own Traefik on loopback
ports (`otterstack traefik up`, which serves Traefik's Prometheus metrics), registers an app
with Traefik routing, deploys a good release, then N times: under client threads at full speed
on the app's checkout page through Traefik, pushes a release whose checkout answers 500 while
/ and /health answer 200 (so its health check and the deploy's proof pass), and waits for the
watch to roll it back; then deploys a good release again (`-o no-watch`, to be quick). Prints
per round, from the load's own clock: the seconds from the first 500 a client got to the last
one (from then on the good release answers every request: the old release is serving again),
and how many 500s the clients got in between.

Needs a Docker Engine, Compose v2 and the local images (scripts/setup-docker.sh). Traffic goes
to 127.0.0.1 only; the run is bounded and stops by itself.
"""

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import HOST, BenchApp, round_args  # noqa: E402 - puts the repo root on sys.path

from testsupport.load import FULL_SPEED, Endpoint, Load  # noqa: E402
from testsupport.otterapp import CHECKOUT, with_checkout  # noqa: E402


def main() -> int:
    args = round_args(__doc__, 5, "bad releases")

    bench = BenchApp("watch")
    try:
        bench.setup()
        bench.sh([bench.otter, "config", bench.name, "watch_seconds", "30"])

        def push(label: str, broken: bool, *options: str) -> str:
            for path, text in with_checkout({}, label, broken).items():
                bench.app.write(path, text)
            (bench.src / ("www" + CHECKOUT)).chmod(0o755)
            bench.commit(label)
            return bench.push(*options)

        if "==> deployed" not in push("v0", False):
            sys.exit("the first deploy failed")
        rounds = []
        for n in range(1, args.rounds + 1):
            good = bench.releases()[-1]
            with Load(Endpoint(bench.http_port, HOST, CHECKOUT), threads=args.threads,
                      max_seconds=300, pause=FULL_SPEED) as load:
                time.sleep(1)
                output = push(f"bad{n}", True)
                time.sleep(1)
            result = load.stop()
            if args.show:
                print(output, flush=True)
            if "rolled back by watch" not in output:
                sys.exit(f"round {n}: the watch did not roll back:\n{output}")
            errors = [r for r in result.requests if r.status >= 500]
            first, back = min(r.started for r in errors), max(r.ended for r in errors)
            after = [r for r in result.requests if r.started > back]
            if not after or {r.release for r in after} != {f"{bench.name}-{good['name']}"}:
                sys.exit(f"round {n}: {good['name']} does not serve alone after the last 5xx")
            other = [r for r in result.requests if not r.ok and r.status < 500]
            rounds.append({"round": n, "first_5xx_to_served": round(back - first, 3),
                           "answers_5xx": len(errors), "other_failures": len(other),
                           "requests": result.sent})
            print(f"round {n}: first 5xx -> {good['name']} serving again {back - first:.2f} s; "
                  f"{len(errors)} answers 5xx, {len(other)} other failures, "
                  f"{result.sent} requests", flush=True)
            if "==> deployed" not in push(f"v{n}", False, "-o", "no-watch"):
                sys.exit(f"round {n}: the good release after it failed")
        times = [r["first_5xx_to_served"] for r in rounds]
        counts = [r["answers_5xx"] for r in rounds]
        print(f"\n{len(rounds)} bad releases under {args.threads} threads at full speed: first "
              f"5xx -> old release serving median {statistics.median(times):.2f} s, max "
              f"{max(times):.2f} s; 5xx answers median {statistics.median(counts):.0f}, max "
              f"{max(counts)}; other failures {sum(r['other_failures'] for r in rounds)}")
        if args.json:
            args.json.write_text(json.dumps({"threads": args.threads, "rounds": rounds},
                                            indent=2) + "\n")
        return 0
    finally:
        if not args.keep:
            bench.close()


if __name__ == "__main__":
    sys.exit(main())
