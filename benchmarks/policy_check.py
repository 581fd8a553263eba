"""What the compose policy costs a push: the pre-receive check and every deploy run it.

Times, on the example app, `docker compose config` alone (what the check cost before) against
the policy's check (`policy_check.checked_config`: the same call, one `--no-interpolate` call
for the env files, and the pure `compose_policy.refusals`), and the pure part alone on a
200-service config. Usage: .venv/bin/python benchmarks/policy_check.py [--runs N]
"""

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from otterstack_hooks.adapters.compose import compose_cli as compose  # noqa: E402
from otterstack_hooks.adapters.compose import policy_check  # noqa: E402
from otterstack_hooks.rules.compose.policy import refusals  # noqa: E402


def timed(func, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        times.append((time.perf_counter() - start) * 1000)
    return times


def show(label: str, times: list[float]) -> None:
    print(f"{label:<44} median {statistics.median(times):8.2f} ms   max {max(times):8.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory(prefix="otterstack-policy-") as tmp:
        checkout = Path(tmp) / "checkout"
        shutil.copytree(ROOT / "examples" / "hello", checkout)
        target = compose.ComposeTarget("bench-policy", checkout, ("compose.yaml",))
        show("docker compose config (before)", timed(lambda: compose.config(target), runs))
        show("policy_check.checked_config (now)", timed(
            lambda: policy_check.checked_config(target, checkout, "bench", frozenset()), runs))
    big = {"services": {f"s{i}": {"image": "busybox", "cap_add": ["CHOWN"], "volumes": [
        {"type": "bind", "source": f"/c/s{i}", "target": "/x"},
        {"type": "volume", "source": "v", "target": "/v"}]} for i in range(200)}}
    show("compose_policy.refusals, 200 services", timed(lambda: refusals(big, "/c"), runs))


if __name__ == "__main__":
    main()
