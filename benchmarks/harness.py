"""A throwaway OtterStack install, Traefik and app for the benchmark scripts.

Everything lives in a temp dir and in Docker objects named after a random run id; `close()`
removes it all. Traffic goes to 127.0.0.1 only.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST = "hello.localhost"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class BenchApp:
    def __init__(self, prefix: str = "bench"):
        if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
            sys.exit("no Docker Engine: run scripts/setup-docker.sh first")
        run_id = uuid.uuid4().hex[:6]
        self.work = Path(tempfile.mkdtemp(prefix=f"otterstack-{prefix}-"))
        self.name = f"{prefix}-{run_id}"
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("GIT_", "OTTERSTACK_"))}
        self.env.update(
            OTTERSTACK_HOME=str(self.work / "home"), OTTERSTACK_BIN_DIR=str(self.work / "bin"),
            OTTERSTACK_DATA_DIR=str(self.work / "data"), NO_COLOR="1",
            GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@localhost",
            GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@localhost")
        self.otter = str(self.work / "home" / "venv" / "bin" / "otterstack")
        self.traefik = f"otterstack-{prefix}-{run_id}"
        self.http_port, self.api_port = free_port(), free_port()
        self.repo = self.work / f"{self.name}.git"
        self.src = self.work / "src"

    def sh(self, args: list[str], cwd: Path | None = None, check: bool = True
           ) -> subprocess.CompletedProcess:
        proc = subprocess.run(args, env=self.env, cwd=cwd, capture_output=True, text=True,
                              timeout=900)
        if check and proc.returncode != 0:
            sys.exit(f"failed: {' '.join(args)}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def setup(self) -> None:
        print(f"installing into {self.work} ...", flush=True)
        self.sh([str(ROOT / "install.sh"), self.name, "--repo", str(self.repo),
                 "--traefik-routing"])
        self.sh([self.otter, "traefik", "up", "--name", self.traefik, "--network", self.traefik,
                 "--bind", "127.0.0.1", "--http-port", str(self.http_port),
                 "--api-port", str(self.api_port)])
        self.sh([self.otter, "config", "--global", "traefik_container", self.traefik])
        shutil.copytree(ROOT / "examples" / "hello", self.src)
        self.good_dockerfile = (self.src / "Dockerfile").read_text()
        self.sh(["git", "init", "-q", "-b", "main"], self.src)
        self.sh(["git", "remote", "add", "production", str(self.repo)], self.src)

    def commit(self, label: str, healthy: bool = True, extra: str = "") -> None:
        (self.src / "www" / "index.html").write_text(f"{label}\n")
        dockerfile = self.good_dockerfile if healthy else self.good_dockerfile.replace(
            "/health", "/missing")
        (self.src / "Dockerfile").write_text(dockerfile + extra)
        self.sh(["git", "add", "-A"], self.src)
        self.sh(["git", "commit", "-qm", label], self.src)

    def push(self, *options: str) -> str:
        proc = self.sh(["git", "push", *options, "production", "main"], self.src, check=False)
        return proc.stdout + proc.stderr

    def releases(self) -> list[dict]:
        out = self.sh([self.otter, "releases", self.name, "--json", "--limit", "100000"]).stdout
        return sorted(json.loads(out), key=lambda r: r["id"])

    def projects(self) -> set[str]:
        out = subprocess.run(
            ["docker", "ps", "-a", "--format", '{{.Label "com.docker.compose.project"}}'],
            capture_output=True, text=True).stdout.split()
        return {p for p in out if p.startswith(f"{self.name}-")}

    def close(self) -> None:
        for project in self.projects():
            subprocess.run(["docker", "compose", "-p", project, "down", "-t", "0"],
                           capture_output=True)
        subprocess.run(["docker", "rm", "-f", self.traefik], capture_output=True)
        subprocess.run(["docker", "network", "rm", self.traefik], capture_output=True)
        shutil.rmtree(self.work, ignore_errors=True)
