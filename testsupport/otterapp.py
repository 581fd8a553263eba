"""One OtterStack app driven the way a user drives it: the real install.sh, a source clone with
a `production` remote, real `git push`, the `otterstack` CLI, and a Traefik started by
`otterstack traefik up`.

The integration tests (tests/integration/conftest.py wraps this in fixtures) and the benchmark
scripts (benchmarks/harness.py) both use it, so that what a benchmark measures is set up
exactly as what the tests check. Failures of setup commands are AssertionErrors carrying the
command's output: pytest shows them as they are, the benchmarks turn them into an exit message.
Every Docker object is named after the app or the Traefik, so cleanup removes only its own.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "hello"
INSTALL_SH = ROOT / "install.sh"
T = TypeVar("T")


def run(args: list[str], **kw) -> subprocess.CompletedProcess:
    """subprocess.run with text output captured and a time limit, so a hung command fails the
    caller instead of hanging the run."""
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 600)
    return subprocess.run(args, **kw)


def free_port() -> int:
    """A free TCP port on 127.0.0.1: every Traefik of a run gets its own, so runs beside each
    other on one Docker host never share one."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate: Callable[[], T], timeout: float = 30, interval: float = 0.2) -> T:
    """Poll until `predicate` returns something truthy and return it; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def answers(url: str) -> bool:
    """True if `url` answers 200 (a Traefik API that is up)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback only
            return resp.status == 200
    except OSError:
        return False


def clean_env() -> dict[str, str]:
    """This process's environment without GIT_* and OTTERSTACK_*: the caller's git identity,
    repo overrides and OtterStack settings must not leak into the app under test."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "OTTERSTACK_"))}


def app_env(home: Path, data: Path, bin_dir: Path | None = None, author: str = "dev",
            email: str = "dev@example.test") -> dict[str, str]:
    """The environment of one app: where OtterStack is installed (`home`, its `bin_dir`, by
    default home/bin), the app's own data dir, no colours, and a fixed git identity."""
    env = clean_env()
    env.update(
        OTTERSTACK_HOME=str(home), OTTERSTACK_BIN_DIR=str(bin_dir or home / "bin"),
        OTTERSTACK_DATA_DIR=str(data), NO_COLOR="1",
        GIT_AUTHOR_NAME=author, GIT_AUTHOR_EMAIL=email,
        GIT_COMMITTER_NAME=author, GIT_COMMITTER_EMAIL=email,
    )
    return env


def example_files(index_text: str = "hello") -> dict[str, str]:
    """examples/hello (path -> content) with `index_text` as the page it serves."""
    files = {str(p.relative_to(EXAMPLE)): p.read_text() for p in EXAMPLE.rglob("*")
             if p.is_file()}
    files["www/index.html"] = index_text + "\n"
    return files


CHECKOUT = "/cgi-bin/checkout"
_PAGE = "#!/bin/sh\nprintf 'Status: {status}\\r\\nContent-Type: text/plain\\r\\n\\r\\n{text}\\n'\n"


def with_checkout(files: dict[str, str], text: str, broken: bool = False) -> dict[str, str]:
    """`files` with a checkout page (CHECKOUT, a CGI script: commit it executable) that
    answers 200 with `text`, or, `broken`, 500 while / and /health still answer 200: a
    release that passes its health check and the deploy's proof, with one view failing (what
    the watch after a switch must catch)."""
    status = "500 Internal Server Error" if broken else "200 OK"
    return files | {"www" + CHECKOUT: _PAGE.format(status=status, text=text)}


def compose_with(extra: str) -> dict[str, str]:
    """The example app with `extra` lines added to its web service."""
    files = example_files()
    files["compose.yaml"] = files["compose.yaml"].replace("    build: .\n",
                                                          "    build: .\n" + extra)
    assert extra in files["compose.yaml"]
    return files


def compose_projects() -> list[str]:
    """The compose project of every container on the engine, running or not."""
    return run(["docker", "ps", "-a", "--format",
                '{{.Label "com.docker.compose.project"}}']).stdout.split()


def _apps_add_args(install_args: list[str]) -> list[str]:
    """install.sh's options for an app as `otterstack apps add` takes them (install.sh maps
    them the same way: --swarm implies Traefik routing)."""
    args: list[str] = []
    words = iter(install_args)
    for word in words:
        if word in ("--branch", "--compose-file"):
            args += [word, next(words)]
        elif word == "--traefik-routing":
            args += [word, "on"]
        elif word == "--swarm":
            args += ["--runtime", "swarm"]
        else:
            raise AssertionError(f"register() does not know install.sh's {word}")
    if "--runtime" in args and "--traefik-routing" not in args:
        args += ["--traefik-routing", "on"]
    return args


@dataclass
class Push:
    """What the pusher saw of one `git push`: its exit code and its output."""

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
    """One app under test: its source clone, bare repo and data dir.

    `home` is the OtterStack install (OTTERSTACK_HOME) the app's commands run from; `env` is
    the environment of every command (see `app_env`); `timeout` bounds each git and otterstack
    command. `wrap` prefixes every `git push` and `otterstack` command (e.g. `nsenter
    --net=... --`: OtterStack run in a Swarm manager's network namespace, as on the manager)."""

    name: str
    base: Path
    home: Path
    env: dict[str, str]
    install_args: list[str] = field(default_factory=list)
    timeout: float = 600
    wrap: list[str] = field(default_factory=list)

    @property
    def src(self) -> Path:
        return self.base / "src"

    @property
    def repo(self) -> Path:
        return self.base / f"{self.name}.git"

    @property
    def data(self) -> Path:
        return Path(self.env["OTTERSTACK_DATA_DIR"])

    @property
    def otterstack(self) -> Path:
        """The installed `otterstack` command."""
        return self.home / "venv" / "bin" / "otterstack"

    def install(self, *extra: str) -> subprocess.CompletedProcess:
        proc = run([str(INSTALL_SH), self.name, "--repo", str(self.repo),
                    *self.install_args, *extra], env=self.env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    def register(self, template: Path) -> None:
        """What install.sh does for one more app once OtterStack is installed, in a fraction of
        its time (no prerequisite checks, no install stamp, one `otterstack` call): `template`
        is a bare repo install.sh made and nothing was pushed to; this app's repo is a copy of
        it (its git settings and hooks as install.sh wrote them) whose hooks name this app and
        data dir, and the app is added to OtterStack's state as install.sh adds it. The tests
        of install.sh itself use `install()`."""
        shutil.copytree(template, self.repo, symlinks=True)
        for hook in ("pre-receive", "post-receive"):
            path = self.repo / "hooks" / hook
            text = re.sub(r"^OTTERSTACK_APP=.*$", f"OTTERSTACK_APP={shlex.quote(self.name)}",
                          path.read_text(), count=1, flags=re.M)
            text = re.sub(r"^OTTERSTACK_DATA_DIR=.*$",
                          lambda _: f"OTTERSTACK_DATA_DIR={shlex.quote(str(self.data))}",
                          text, count=1, flags=re.M)
            path.write_text(text)
        proc = run([str(self.otterstack), "apps", "add", self.name, "--repo", str(self.repo),
                    *_apps_add_args(self.install_args)], env=self.env)
        assert proc.returncode == 0, proc.stdout + proc.stderr

    def init_source(self, files: dict[str, str]) -> None:
        """The developer's clone: a new repo on `main` whose `production` remote is the bare
        repo (a local path, so `git push` runs the real hooks as over SSH), with `files`."""
        self.src.mkdir(exist_ok=True)
        self.git("init", "-q", "-b", "main")
        self.git("remote", "add", "production", str(self.repo))
        for path, content in files.items():
            self.write(path, content)

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = run(["git", "-C", str(self.src), *args], env=self.env, timeout=self.timeout)
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
        proc = run([*self.wrap, "git", "-C", str(self.src), "push", "production", *args],
                   env=self.env, stderr=subprocess.STDOUT, stdout=subprocess.PIPE,
                   capture_output=False, timeout=self.timeout)
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
            [*self.wrap, "git", "-C", str(self.src), "push", "production", *args],
            env=self.env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def otter(self, *args: str) -> subprocess.CompletedProcess:
        return run([*self.wrap, str(self.otterstack), *args], env=self.env,
                   timeout=self.timeout)

    def otter_in(self, stdin: str, *args: str) -> subprocess.CompletedProcess:
        """otterstack with `stdin` as its input (a value that must never be an argument)."""
        return run([*self.wrap, str(self.otterstack), *args], env=self.env, input=stdin,
                   timeout=self.timeout)

    def releases(self, limit: int = 100) -> list[dict]:
        """The app's releases, oldest first."""
        proc = self.otter("releases", self.name, "--json", "--limit", str(limit))
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
        """The app's compose projects OtterStack made: its releases and its singletons, its
        previews' too (`<app>_<slug>-r<N>`)."""
        return sorted({p for p in compose_projects()
                       if re.fullmatch(rf"{self.name}(_[a-z0-9-]+)?-(r\d+|state)", p)})

    def cleanup(self, projects: Iterable[str] | None = None) -> None:
        """Remove the app's containers and networks of `projects` (by default
        `self.projects()`), what `docker compose down -t 0 --remove-orphans` removes but in
        one docker call for all of them, and the app's volumes and networks (label
        dev.otterstack.app); its files are the caller's."""
        wanted = set(self.projects() if projects is None else projects)
        for kind, listing in (("container", ["ps", "-a"]), ("network", ["network", "ls"])):
            rows = run(["docker", *listing, "--format",
                        '{{.ID}} {{.Label "com.docker.compose.project"}}']).stdout.splitlines()
            ids = [row.split()[0] for row in rows if row.split()[1:2] and
                   row.split()[1] in wanted]
            if ids:
                run(["docker", kind, "rm", *(["-f"] if kind == "container" else []), *ids])
        label = f"label=dev.otterstack.app={self.name}"
        for kind in ("volume", "network"):
            ids = run(["docker", kind, "ls", "-q", "--filter", label]).stdout.split()
            if ids:
                run(["docker", kind, "rm", *ids])


@dataclass(frozen=True)
class Traefik:
    """A Traefik of OtterStack's own (`otterstack traefik up`) on loopback ports."""

    name: str
    network: str
    http_port: int
    api_port: int

    def get(self, host: str, path: str = "/") -> tuple[int, str | None, str]:
        """Plain HTTP GET with a Host header: (status, X-Otterstack-Release, body)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=5)
        try:
            conn.request("GET", path, headers={"Host": host})
            resp = conn.getresponse()
            return resp.status, resp.getheader("X-Otterstack-Release"), resp.read().decode()
        finally:
            conn.close()

    def start(self, otterstack: Path, env: dict[str, str], constraints: str = "",
              timeout: float = 30) -> None:
        """`otterstack traefik up` with this name, network and ports on 127.0.0.1, then wait
        until its API answers. `constraints` (a Traefik docker-provider constraint) keeps
        containers of other runs on the same engine out of it."""
        args = [str(otterstack), "traefik", "up", "--name", self.name, "--network", self.network,
                "--bind", "127.0.0.1", "--http-port", str(self.http_port),
                "--api-port", str(self.api_port)]
        if constraints:
            args += ["--constraints", constraints]
        proc = run(args, env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        wait_for(lambda: answers(f"http://127.0.0.1:{self.api_port}/api/version"),
                 timeout=timeout)

    def stop(self) -> None:
        """Remove the container, its network and the network of its API."""
        run(["docker", "rm", "-f", self.name])
        run(["docker", "network", "rm", self.network, f"0-{self.name}-api"])
