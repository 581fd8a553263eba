"""Real-world fixtures: a real Docker Engine, real bare repos, real `git push` over a path.

Every test gets its own app name, data dir and bare repo; OtterStack itself is installed once
per session by the real install.sh into a temporary virtualenv.
"""

import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from users_traefik import users_app, users_traefik  # noqa: F401 - fixtures, registered here

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
EXAMPLE = ROOT / "examples" / "hello"
_counter = itertools.count(1)
RUN_ID = uuid.uuid4().hex[:4]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this directory needs a real Docker Engine, so each carries the `docker`
    marker, added here (before `-m` selects) so that no test module has to remember it.
    `pytest -m "not docker"` then runs the fast suite on any machine: deselected tests run no
    fixture, so `docker_ready` and the session installs below never start."""
    here = Path(__file__).resolve().parent
    for item in items:
        if here in item.path.resolve().parents:
            item.add_marker(pytest.mark.docker)


def run(args: list[str], **kw) -> subprocess.CompletedProcess:
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 600)
    return subprocess.run(args, **kw)


@pytest.fixture(scope="session", autouse=True)
def docker_ready() -> None:
    """The suite needs the real thing; scripts/test.sh sets it up. Never skip silently."""
    info = run(["docker", "info", "--format", "{{.ServerVersion}}"])
    assert info.returncode == 0, "no Docker Engine: run scripts/setup-docker.sh first"
    assert run(["docker", "image", "inspect", "busybox:latest"]).returncode == 0


@pytest.fixture(scope="session")
def install_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("otterstack-home")


@pytest.fixture(scope="session")
def otterstack_bin(install_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """OtterStack installed once per session by the real install.sh (for a first app)."""
    base = tmp_path_factory.mktemp("bootstrap")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "OTTERSTACK_"))}
    env.update(OTTERSTACK_HOME=str(install_home), OTTERSTACK_BIN_DIR=str(install_home / "bin"),
               OTTERSTACK_DATA_DIR=str(base / "data"))
    proc = run([str(ROOT / "install.sh"), f"t{RUN_ID}-0", "--repo", str(base / "r.git")], env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (install_home / "bin" / "otterstack").resolve().exists()
    return install_home / "venv" / "bin" / "otterstack"


@dataclass
class Push:
    returncode: int
    output: str

    def lines(self) -> list[str]:
        return [re.sub(r"\x1b\[[0-9;]*m", "", line).removeprefix("remote: ").rstrip()
                for line in self.output.splitlines()]

    @property
    def result(self) -> str:
        """The last `==> ...` line the pusher saw."""
        found = [line for line in self.lines() if line.startswith("==> ")]
        return found[-1] if found else ""


@dataclass
class App:
    """One app under test: its source clone, bare repo and data dir."""

    name: str
    base: Path
    home: Path
    env: dict[str, str]
    install_args: list[str] = field(default_factory=list)

    @property
    def src(self) -> Path:
        return self.base / "src"

    @property
    def repo(self) -> Path:
        return self.base / f"{self.name}.git"

    @property
    def data(self) -> Path:
        return Path(self.env["OTTERSTACK_DATA_DIR"])

    def install(self, *extra: str) -> subprocess.CompletedProcess:
        proc = run([str(ROOT / "install.sh"), self.name, "--repo", str(self.repo),
                    *self.install_args, *extra], env=self.env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = run(["git", "-C", str(self.src), *args], env=self.env)
        if check:
            assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    def write(self, path: str, content: str) -> None:
        target = self.src / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)

    def commit(self, message: str = "change") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD").stdout.strip()

    def push(self, *args: str) -> Push:
        proc = run(["git", "-C", str(self.src), "push", "production", *args],
                   env=self.env, stderr=subprocess.STDOUT, stdout=subprocess.PIPE,
                   capture_output=False)
        return Push(proc.returncode, proc.stdout)

    def serve_and_stage_next(self) -> str:
        """r1 serves; a newer commit is on the server but not deployed (for `otterstack
        deploy`). Returns r1's commit."""
        first = self.commit("first")
        assert "deployed" in self.push("main").result
        self.write("www/index.html", "two\n")
        self.commit("two")
        assert "skip-deploy" in self.push("-o", "skip-deploy", "main").result
        return first

    def push_fixed(self) -> Push:
        """Back to the example app: the push after a bad one must deploy."""
        for path, content in example_files("fixed").items():
            self.write(path, content)
        self.commit("fixed")
        push = self.push("main")
        assert "==> deployed" in push.result, push.output
        return push

    def push_bg(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            ["git", "-C", str(self.src), "push", "production", *args], env=self.env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def otter(self, *args: str) -> subprocess.CompletedProcess:
        return run([str(self.home / "venv" / "bin" / "otterstack"), *args], env=self.env)

    def otter_in(self, stdin: str, *args: str) -> subprocess.CompletedProcess:
        """otterstack with `stdin` as its input (a value that must never be an argument)."""
        return run([str(self.home / "venv" / "bin" / "otterstack"), *args], env=self.env,
                   input=stdin)

    def releases(self) -> list[dict]:
        proc = self.otter("releases", self.name, "--json", "--limit", "100")
        assert proc.returncode == 0, proc.stderr
        return list(reversed(json.loads(proc.stdout)))

    def active(self) -> dict | None:
        proc = self.otter("status", self.name, "--json")
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)["active"]

    def project(self, release: str) -> str:
        """The compose project of a release: also its Traefik names' suffix and id header."""
        return f"{self.name}-{release}"

    def containers(self, release: str, all_: bool = False) -> list[str]:
        args = ["docker", "ps", "-q", "--filter",
                f"label=com.docker.compose.project={self.name}-{release}"]
        return run(args + (["-a"] if all_ else [])).stdout.split()

    def answer(self, release: str, path: str = "/") -> str:
        """What a release's web container answers, asked from inside it (no host ports)."""
        ids = self.containers(release)
        assert ids, f"{release} has no running container"
        proc = run(["docker", "exec", ids[0], "wget", "-q", "-O", "-",
                    f"http://127.0.0.1:8000{path}"])
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def projects(self) -> list[str]:
        out = run(["docker", "ps", "-a", "--format",
                   '{{.Label "com.docker.compose.project"}}']).stdout.split()
        return sorted({p for p in out if re.fullmatch(rf"{self.name}-(r\d+|state)", p)})

    def cleanup(self) -> None:
        for project in self.projects():
            run(["docker", "compose", "-p", project, "down", "-t", "0", "--remove-orphans"])
        label = f"label=dev.otterstack.app={self.name}"
        for kind in ("volume", "network"):
            ids = run(["docker", kind, "ls", "-q", "--filter", label]).stdout.split()
            if ids:
                run(["docker", kind, "rm", *ids])


def example_files(index_text: str = "hello") -> dict[str, str]:
    files = {str(p.relative_to(EXAMPLE)): p.read_text() for p in EXAMPLE.rglob("*")
             if p.is_file()}
    files["www/index.html"] = index_text + "\n"
    return files


def compose_with(extra: str) -> dict[str, str]:
    """The example app with `extra` lines added to its web service."""
    files = example_files()
    files["compose.yaml"] = files["compose.yaml"].replace("    build: .\n",
                                                          "    build: .\n" + extra)
    assert extra in files["compose.yaml"]
    return files


@pytest.fixture
def make_app(tmp_path: Path, install_home: Path, otterstack_bin: Path) -> Iterator:
    apps: list[App] = []

    def factory(files: dict[str, str] | None = None, install_args: tuple[str, ...] = (),
                init: bool = True) -> App:
        name = f"t{RUN_ID}-{next(_counter)}"
        base = tmp_path / name
        base.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "OTTERSTACK_"))}
        env.update(
            OTTERSTACK_HOME=str(install_home), OTTERSTACK_BIN_DIR=str(install_home / "bin"),
            OTTERSTACK_DATA_DIR=str(base / "data"), NO_COLOR="1",
            GIT_AUTHOR_NAME="dev", GIT_AUTHOR_EMAIL="dev@example.test",
            GIT_COMMITTER_NAME="dev", GIT_COMMITTER_EMAIL="dev@example.test",
        )
        app = App(name, base, install_home, env, list(install_args))
        apps.append(app)
        if init:
            app.install()
            app.src.mkdir()
            app.git("init", "-q", "-b", "main")
            app.git("remote", "add", "production", str(app.repo))
            for path, content in (files if files is not None else example_files()).items():
                app.write(path, content)
        return app

    yield factory
    for app in apps:
        app.cleanup()
        shutil.rmtree(app.base, ignore_errors=True)


def wait_for(predicate, timeout: float = 30, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Traefik:
    name: str
    network: str
    http_port: int
    api_port: int

    def get(self, host: str, path: str = "/") -> tuple[int, str | None, str]:
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=5)
        try:
            conn.request("GET", path, headers={"Host": host})
            resp = conn.getresponse()
            return resp.status, resp.getheader("X-Otterstack-Release"), resp.read().decode()
        finally:
            conn.close()


@pytest.fixture(scope="session")
def traefik(otterstack_bin: Path, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Traefik]:
    """A real Traefik started by `otterstack traefik up`, on loopback ports of its own."""
    info = Traefik(f"otterstack-test-traefik-{RUN_ID}", f"otterstack-test-{RUN_ID}",
                   free_port(), free_port())
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTTERSTACK_")}
    env["OTTERSTACK_DATA_DIR"] = str(tmp_path_factory.mktemp("traefik-data"))
    proc = run([str(otterstack_bin), "traefik", "up",
                "--name", info.name, "--network", info.network, "--bind", "127.0.0.1",
                "--http-port", str(info.http_port), "--api-port", str(info.api_port),
                # other test runs on this engine (a developer's, beside CI) stay out of it
                "--constraints", f"LabelRegex(`com.docker.compose.project`, `t{RUN_ID}-.+`)"],
               env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wait_for(lambda: _answers(f"http://127.0.0.1:{info.api_port}/api/version"), timeout=30)
    yield info
    run(["docker", "rm", "-f", info.name])
    run(["docker", "network", "rm", info.network])


def _answers(url: str) -> bool:
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


@pytest.fixture
def routed_app(make_app, traefik: Traefik):
    """make_app for apps with Traefik routing on, pointed at the test Traefik."""

    def factory(files: dict[str, str] | None = None) -> App:
        app = make_app(files, install_args=("--traefik-routing",))
        proc = app.otter("config", "--global", "traefik_container", traefik.name)
        assert proc.returncode == 0, proc.stderr
        return app

    return factory
