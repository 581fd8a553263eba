#!/usr/bin/env python3
"""Benchmark: from `git push production <branch>` to the branch's preview URL answering.

Installs OtterStack with install.sh into a temporary place, starts its own Traefik on loopback
ports, registers an app with Traefik routing and previews on (`preview_domain
preview.localhost`), deploys production, then N times, with client threads at full speed on
production's host through Traefik: pushes a new branch and measures, from the moment `git
push` starts, when the preview's URL first answers 200 with the branch's page (a poller asks
every 50 ms); pushes the branch again and measures when the URL answers the new page; deletes
the branch. Prints per round those times, the push's own wall time, and the failed requests
production's clients saw over the whole run (the goal is 0: a preview never touches
production's traffic).

Needs a Docker Engine, Compose v2 and the local images (scripts/setup-docker.sh). Traffic goes
to 127.0.0.1 only; the run is bounded and stops by itself.
"""

import json
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import HOST, BenchApp, round_args  # noqa: E402 - puts the repo root on sys.path

from testsupport.load import FULL_SPEED, Endpoint, Load  # noqa: E402

DOMAIN = "preview.localhost"


def _first_answer(bench: BenchApp, host: str, body: str, stop: threading.Event,
                  found: list[float]) -> None:
    """Poll `host` through Traefik every 50 ms until it answers 200 with `body`."""
    while not stop.is_set():
        try:
            status, _, text = bench.router.get(host)
        except OSError:
            status, text = 0, ""
        if status == 200 and text == body:
            found.append(time.monotonic())
            return
        time.sleep(0.05)


def _timed_push(bench: BenchApp, branch: str, label: str, show: bool) -> tuple[float, float]:
    """Commit `label` on `branch`, push it: (seconds to the URL answering it, push's wall)."""
    git = bench.app.git
    if git("checkout", "-q", branch, check=False).returncode != 0:
        git("checkout", "-q", "-b", branch, "main")
    bench.app.write("www/index.html", f"{label}\n")
    bench.app.commit(label)
    stop, found = threading.Event(), []
    poller = threading.Thread(target=_first_answer, daemon=True,
                              args=(bench, f"{branch}.{DOMAIN}", f"{label}\n", stop, found))
    started = time.monotonic()
    poller.start()
    output = bench.app.push(branch).output
    pushed = time.monotonic() - started
    poller.join(timeout=30)
    stop.set()
    git("checkout", "-q", "main")
    if show:
        print(output, flush=True)
    if "==> deployed the preview" not in output or not found:
        sys.exit(f"the preview of {branch} did not answer {label!r}:\n{output}")
    return found[0] - started, pushed


def main() -> int:
    args = round_args(__doc__, 3, "branches")

    bench = BenchApp("preview")
    try:
        bench.setup()
        for setting in (("previews", "on"), ("preview_domain", DOMAIN)):
            bench.sh([bench.otter, "config", bench.name, *setting])
        bench.commit("production")
        if "==> deployed" not in bench.push():
            sys.exit("the production deploy failed")
        rounds = []
        with Load(Endpoint(bench.http_port, HOST), threads=args.threads, max_seconds=1800,
                  pause=FULL_SPEED) as load:
            for n in range(1, args.rounds + 1):
                branch = f"feature-{n}"
                first, first_push = _timed_push(bench, branch, f"{branch} one", args.show)
                again, again_push = _timed_push(bench, branch, f"{branch} two", args.show)
                removed = bench.app.push(f":{branch}").output
                if args.show:
                    print(removed, flush=True)
                if "==> removed the preview" not in removed:
                    sys.exit(f"the preview of {branch} was not removed:\n{removed}")
                rounds.append({"round": n, "push_to_answering": round(first, 2),
                               "first_push": round(first_push, 2),
                               "again_to_answering": round(again, 2),
                               "again_push": round(again_push, 2)})
                print(f"round {n}: new branch -> URL answering {first:.1f} s (push "
                      f"{first_push:.1f} s); second push -> new page {again:.1f} s (push "
                      f"{again_push:.1f} s)", flush=True)
        result = load.stop()
        firsts = [r["push_to_answering"] for r in rounds]
        print(f"\n{len(rounds)} previews: push -> preview URL answering median "
              f"{statistics.median(firsts):.1f} s, max {max(firsts):.1f} s; production under "
              f"{args.threads} threads at full speed: {result.sent} requests, {result.failed} "
              f"failed, served by {sorted(result.by_release)}")
        if args.json:
            args.json.write_text(json.dumps(
                {"threads": args.threads, "rounds": rounds, "production_requests": result.sent,
                 "production_failed": result.failed}, indent=2) + "\n")
        return 0 if result.failed == 0 else 1
    finally:
        if not args.keep:
            bench.close()


if __name__ == "__main__":
    sys.exit(main())
