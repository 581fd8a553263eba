"""A throwaway OtterStack install, Traefik and app for the benchmark scripts.

A thin layer over testsupport/otterapp.py, the helper the integration tests use too, so a
benchmark sets up exactly what the tests check: the real install.sh, `otterstack traefik up`
on free loopback ports, `git push` of a copy of examples/hello. What it adds is the benchmarks'
way of working: one app per run in a temp dir, commits that are healthy or not, and an exit
with a message instead of a traceback when setup fails.

Everything lives in a temp dir and in Docker objects named after a random run id; `close()`
removes it all. Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from testsupport.otterapp import (  # noqa: E402 - after the sys.path line above
    App,
    Traefik,
    app_env,
    compose_projects,
    example_files,
    free_port,
    run,
)

HOST = "hello.localhost"


class BenchApp:
    """One app with Traefik routing on, its own OtterStack install and its own Traefik.

    `app` is the shared App; the attributes below are the ones the scripts read (`otter` is
    the installed command as a string, `traefik` the Traefik's container and network name)."""

    def __init__(self, prefix: str = "bench"):
        if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
            sys.exit("no Docker Engine: run scripts/setup-docker.sh first")
        run_id = uuid.uuid4().hex[:6]
        self.work = Path(tempfile.mkdtemp(prefix=f"otterstack-{prefix}-"))
        self.name = f"{prefix}-{run_id}"
        env = app_env(self.work / "home", self.work / "data", bin_dir=self.work / "bin",
                      author="bench", email="bench@localhost")
        self.app = App(self.name, self.work, self.work / "home", env, ["--traefik-routing"],
                       timeout=900)
        self.env = env
        self.otter = str(self.app.otterstack)
        self.traefik = f"otterstack-{prefix}-{run_id}"
        self.router = Traefik(self.traefik, self.traefik, free_port(), free_port())
        self.http_port, self.api_port = self.router.http_port, self.router.api_port
        self.repo = self.app.repo
        self.src = self.app.src
        self.good_dockerfile = ""

    def sh(self, args: list[str], cwd: Path | None = None, check: bool = True
           ) -> subprocess.CompletedProcess:
        """A command in the app's environment; a failure ends the benchmark with its output."""
        proc = run(args, env=self.env, cwd=cwd, timeout=900)
        if check and proc.returncode != 0:
            sys.exit(f"failed: {' '.join(args)}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def setup(self) -> None:
        """Install, start the Traefik, point OtterStack at it, and clone examples/hello."""
        print(f"installing into {self.work} ...", flush=True)
        try:
            self.app.install()
            self.router.start(self.app.otterstack, self.env)
            self.app.init_source(example_files())
        except AssertionError as exc:
            sys.exit(f"setup failed: {exc}")
        self.sh([self.otter, "config", "--global", "traefik_container", self.traefik])
        self.good_dockerfile = (self.src / "Dockerfile").read_text()

    def commit(self, label: str, healthy: bool = True, extra: str = "") -> None:
        """A commit serving `label`; an unhealthy one points its healthcheck at a missing
        path. `extra` is appended to the Dockerfile (e.g. a failing RUN)."""
        dockerfile = self.good_dockerfile if healthy else self.good_dockerfile.replace(
            "/health", "/missing")
        self.app.write("www/index.html", f"{label}\n")
        self.app.write("Dockerfile", dockerfile + extra)
        try:
            self.app.commit(label)
        except AssertionError as exc:
            sys.exit(f"commit failed: {exc}")

    def push(self, *options: str) -> str:
        """`git push [options] production main`: everything the pusher saw."""
        return self.app.push(*options, "main").output

    def releases(self) -> list[dict]:
        out = self.sh([self.otter, "releases", self.name, "--json", "--limit", "100000"]).stdout
        return sorted(json.loads(out), key=lambda r: r["id"])

    def projects(self) -> set[str]:
        """Every compose project named after the app, whatever its suffix (soak counts the
        ones no release accounts for), its previews' (`<app>_<slug>-...`) too."""
        return {p for p in compose_projects()
                if p.startswith((f"{self.name}-", f"{self.name}_"))}

    def close(self) -> None:
        self.app.cleanup(sorted(self.projects()))
        self.router.stop()
        shutil.rmtree(self.work, ignore_errors=True)


def round_args(doc: str, rounds: int, what: str) -> argparse.Namespace:
    """The options of a benchmark run in rounds under client threads (watch.py, preview.py):
    `what` names a round in the help ("bad releases", "branches")."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=rounds, help=f"{what} (default {rounds})")
    parser.add_argument("--threads", type=int, default=4, help="client threads (default 4)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--show", action="store_true", help="print what each push showed")
    parser.add_argument("--keep", action="store_true", help="leave the app and Traefik running")
    return parser.parse_args()
