#!/usr/bin/env python3
"""Soak: many deploys with random faults injected, under steady HTTP load through Traefik.

Each round picks one of: a healthy push, an unhealthy push, a push whose build fails, a manual
deploy SIGKILLed after a random step, or two pushes racing each other. At the end one more
push must deploy, and the script prints: deploys attempted, succeeded, failed cleanly, killed,
requests sent and failed, orphan release projects and worktrees, locks left held, releases
stuck in "deploying". Exit code 0 only if nothing failed that should not have.
"""

import argparse
import fcntl
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import HOST, BenchApp  # noqa: E402 - puts the repo root on sys.path

from testsupport.load import FULL_SPEED, Endpoint, Load  # noqa: E402

KILL_STEPS = ["lock", "checkout", "config", "traefik", "build", "start", "health", "healthy",
              "switch", "served", "stop"]


def kill_during(bench: BenchApp, step: str) -> bool:
    """Run a manual deploy and SIGKILL it once it prints `step`; True if it was killed."""
    proc = subprocess.Popen([bench.otter, "deploy", bench.name], env=bench.env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        parts = line.split(None, 2)
        if len(parts) >= 2 and parts[1] == step:
            proc.kill()
            break
    proc.wait()
    return proc.returncode == -signal.SIGKILL


def lock_held(path: Path) -> bool:
    if not path.exists():
        return False
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deploys", type=int, default=50)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    print(f"seed {seed}", flush=True)
    bench = BenchApp("soak")
    counts: Counter = Counter()
    try:
        bench.setup()
        bench.commit("v0")
        if "==> deployed" not in bench.push():
            sys.exit("the first deploy failed")
        with Load(Endpoint(bench.http_port, HOST), threads=args.threads,
                  max_seconds=3600, pause=FULL_SPEED) as load:
            n = 0
            while counts["attempted"] < args.deploys:
                n += 1
                fault = rng.choice(["healthy", "healthy", "unhealthy", "build-fails", "kill",
                                    "race"])
                label = f"s{n}"
                if fault in ("healthy", "unhealthy", "build-fails"):
                    bench.commit(label, healthy=fault != "unhealthy",
                                 extra="RUN false\n" if fault == "build-fails" else "")
                    out = bench.push()
                    counts["attempted"] += 1
                    ok = "==> deployed" in out
                    expected = fault == "healthy"
                    counts["succeeded" if ok else "failed cleanly"] += ok or "==> FAILED" in out
                    if ok != expected:
                        counts["unexpected"] += 1
                        print(out)
                elif fault == "kill":
                    bench.commit(label)
                    bench.push("-o", "skip-deploy")
                    step = rng.choice(KILL_STEPS)
                    killed = kill_during(bench, step)
                    counts["attempted"] += 1
                    counts["killed"] += killed
                    fault = f"kill after {step}"
                else:
                    bench.commit(label + "a")
                    first = subprocess.Popen(["git", "push", "production", "main"],
                                             cwd=bench.src, env=bench.env,
                                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                             text=True)
                    time.sleep(rng.uniform(0.2, 2.0))
                    bench.commit(label + "b")
                    second = bench.push()
                    first_out = first.communicate(timeout=900)[0]
                    counts["attempted"] += 2
                    for out in (first_out, second):
                        if "==> deployed" in out and "skipped" not in out:
                            counts["succeeded"] += 1
                        elif "skipped" in out:
                            counts["skipped (newer push won)"] += 1
                        elif "rejected" in out or "non-fast-forward" in out:
                            counts["push rejected by git"] += 1
                        else:
                            counts["unexpected"] += 1
                            print(out)
                print(f"  {counts['attempted']:>3}  {fault}", flush=True)
            bench.commit("final")
            final = bench.push()
            result = load.stop()
        releases = bench.releases()
        known = {f"{bench.name}-{r['name']}" for r in releases
                 if r["status"] in ("active", "superseded") and r["worktree"]}
        orphans = bench.projects() - known - {f"{bench.name}-state"}
        worktree_dir = bench.work / "data" / "apps" / bench.name / "releases"
        stray = {p.name for p in worktree_dir.iterdir()} - {r["name"] for r in releases
                                                           if r["worktree"]}
        stuck = [r["name"] for r in releases if r["status"] == "deploying"]
        locks = lock_held(bench.work / "data" / "locks" / f"{bench.name}.lock")
        statuses = Counter(r["status"] for r in releases)
        print()
        print(f"deploys attempted:        {counts['attempted']} (seed {seed})")
        print(f"succeeded:                {counts['succeeded']}")
        print(f"failed cleanly:           {counts['failed cleanly']}")
        print(f"killed mid-deploy:        {counts['killed']}")
        print(f"skipped (newer push won): {counts['skipped (newer push won)']}")
        print(f"unexpected outcomes:      {counts['unexpected']}")
        print(f"final push deployed:      {'yes' if '==> deployed' in final else 'NO'}")
        print(f"requests sent:            {result.sent} ({args.threads} threads)")
        print(f"requests failed:          {result.failed} {dict(result.failures) or ''}")
        print(f"orphan projects left:     {len(orphans)} {sorted(orphans) or ''}")
        print(f"orphan worktrees left:    {len(stray)} {sorted(stray) or ''}")
        print(f"releases stuck deploying: {len(stuck)}")
        print(f"locks left held:          {int(locks)}")
        print(f"release states:           {dict(statuses)}")
        bad = (result.failed or orphans or stray or stuck or locks or counts["unexpected"]
               or "==> deployed" not in final)
        return 1 if bad else 0
    finally:
        bench.close()


if __name__ == "__main__":
    sys.exit(main())
