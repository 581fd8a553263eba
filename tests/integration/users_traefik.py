"""A Traefik configured the way real users configure theirs, and apps pointed at it.

OtterStack's own `otterstack traefik up` gives a plain `web` entrypoint. Users' proxies look
different: `web` on :80 and `websecure` on :443 with TLS set on the entrypoint, a file
provider with their `@file` middlewares, certificate resolvers (here with an unreachable CA, so
routers that name them load and serve Traefik's default certificate), the API on a third
entrypoint and labels on the Traefik container itself (a dashboard router to `api@internal`,
shared middlewares other projects reference as `NAME@docker`). Every port is a free port on
127.0.0.1, and every name is unique per run, so runs of other engineers do not meet this one.

Registered in conftest.py; the acceptance script (benchmarks/realworld_acceptance.py) starts
the same Traefik through `start_users_traefik`.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from testsupport.load import HEADER, connection  # noqa: E402
from testsupport.otterapp import free_port  # noqa: E402

IMAGE = "traefik:v3"
# resolvers the users' label sets name; the CA is unreachable on purpose (port 9 = discard)
RESOLVERS = ("letsencrypt", "le", "myresolver", "leresolver", "http", "your_domain")
UNREACHABLE_CA = "https://127.0.0.1:9/directory"

DYNAMIC_YAML = """\
# The users' own middlewares, referenced from labels as NAME@file.
http:
  middlewares:
    secure-headers:
      headers:
        stsSeconds: 31536000
        frameDeny: true
        customResponseHeaders:
          X-Secure-Headers: "on"
    compress:
      compress: {}
    secured:
      chain:
        middlewares:
          - secure-headers
          - compress
"""


@dataclass(frozen=True)
class UsersTraefik:
    """One running users' Traefik: its container, network and the host ports of its
    entrypoints (name -> port on 127.0.0.1)."""

    name: str
    network: str
    ports: dict[str, int]
    dynamic_dir: Path
    extra_labels: dict[str, str] = field(default_factory=dict)

    @property
    def http_port(self) -> int:
        return self.ports["web"]

    @property
    def https_port(self) -> int:
        return self.ports["websecure"]

    @property
    def api_port(self) -> int:
        return self.ports["traefik"]

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def get(self, host: str, path: str = "/", headers: dict[str, str] | None = None,
            entrypoint: str = "web") -> tuple[int, str | None, str]:
        """Plain HTTP GET through an entrypoint: (status, release header, body)."""
        return self._request(self.ports[entrypoint], host, path, headers, tls=False)

    def get_tls(self, host: str, path: str = "/", headers: dict[str, str] | None = None,
                entrypoint: str = "websecure") -> tuple[int, str | None, str]:
        """HTTPS GET with `host` as SNI and Host, certificate not verified."""
        return self._request(self.ports[entrypoint], host, path, headers, tls=True)

    def response(self, host: str, path: str = "/", headers: dict[str, str] | None = None,
                 tls: bool = False, entrypoint: str | None = None
                 ) -> tuple[int, dict[str, str], str]:
        """Status, all response headers (lower-case names) and body."""
        port = self.ports[entrypoint or ("websecure" if tls else "web")]
        conn = connection(port, host, tls, timeout=10)
        try:
            conn.request("GET", path, headers={"Host": host, **(headers or {})})
            resp = conn.getresponse()
            body = resp.read().decode(errors="replace")
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
        finally:
            conn.close()

    def _request(self, port: int, host: str, path: str, headers: dict[str, str] | None,
                 tls: bool) -> tuple[int, str | None, str]:
        conn = connection(port, host, tls, timeout=10)
        try:
            conn.request("GET", path, headers={"Host": host, **(headers or {})})
            resp = conn.getresponse()
            return resp.status, resp.getheader(HEADER), resp.read().decode(errors="replace")
        finally:
            conn.close()

    def api(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.api_url}{path}", timeout=5) as resp:  # noqa: S310
            return json.loads(resp.read().decode())

    def router(self, protocol: str, name: str) -> dict[str, Any] | None:
        """A router as Traefik's API shows it (`name@provider`), None if it is not loaded."""
        try:
            return self.api(f"/api/{protocol}/routers/{name}")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def router_errors(self, contains: str = "") -> list[str]:
        """Routers of every protocol whose status is not `enabled`, with Traefik's reasons."""
        found = []
        for protocol in ("http", "tcp", "udp"):
            for item in self.api(f"/api/{protocol}/routers?per_page=1000"):
                if contains in item.get("name", "") and item.get("status") != "enabled":
                    found.append(f"{protocol} {item['name']}: {item.get('status')} "
                                 f"{'; '.join(item.get('error') or [])}")
        return found

    def logs(self, since: float | None = None) -> list[str]:
        """Traefik's own log lines (errors, warnings), optionally since a Unix time."""
        args = ["docker", "logs", self.name]
        if since is not None:
            args[2:2] = ["--since", str(int(since))]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=60)
        return (proc.stdout + proc.stderr).splitlines()

    def client_hello_reply(self, sni: str, entrypoint: str = "websecure") -> bytes:
        """Send a real TLS ClientHello for `sni` and return the first raw bytes that come back:
        a TLS record from Traefik itself, or whatever a passthrough backend answers."""
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = context.wrap_bio(incoming, outgoing, server_hostname=sni)
        try:
            tls.do_handshake()
        except ssl.SSLWantReadError:
            pass
        hello = outgoing.read()
        with socket.create_connection(("127.0.0.1", self.ports[entrypoint]), timeout=10) as sock:
            sock.sendall(hello)
            try:
                return sock.recv(4096)
            except OSError:
                return b""


def _run(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


def traefik_labels(name: str) -> dict[str, str]:
    """Labels on the users' Traefik container itself, as many users set them: a dashboard
    router to api@internal and middlewares other projects reference as NAME@docker."""
    return {
        "traefik.enable": "true",
        f"traefik.http.routers.{name}-dashboard.rule": f"Host(`traefik.{name}.test`)",
        f"traefik.http.routers.{name}-dashboard.entrypoints": "web",
        f"traefik.http.routers.{name}-dashboard.service": "api@internal",
        f"traefik.http.services.{name}-noop.loadbalancer.server.port": "8080",
        f"traefik.http.middlewares.{name}-to-https.redirectscheme.scheme": "https",
        f"traefik.http.middlewares.{name}-to-https.redirectscheme.permanent": "true",
        f"traefik.http.middlewares.{name}-shared.headers.customresponseheaders.X-Shared":
            "from-traefik",
    }


def start_users_traefik(name: str, network: str, dynamic_dir: Path,
                        extra_entrypoints: dict[str, str] | None = None,
                        extra_labels: dict[str, str] | None = None,
                        tls_entrypoints: tuple[str, ...] = ("websecure",),
                        projects: str = "",
                        ) -> UsersTraefik:
    """Start the users' Traefik on its own user network; idempotent network creation.

    `extra_entrypoints` maps further entrypoint names to container addresses (":81",
    ":17000/udp"); TCP ones are published on free loopback ports too. Entrypoints named in
    `tls_entrypoints` get TLS on the entrypoint (no tls label needed on routers). With
    `projects` (a regex of compose project names) the docker provider reads only those
    projects and this Traefik container (`providers.docker.constraints`), so containers of
    other engineers' runs on this Docker host cannot take this run's requests; what the labels
    of the containers it reads mean is unchanged."""
    dynamic_dir.mkdir(parents=True, exist_ok=True)
    (dynamic_dir / "middlewares.yml").write_text(DYNAMIC_YAML)
    os.chmod(dynamic_dir, 0o755)
    os.chmod(dynamic_dir / "middlewares.yml", 0o644)
    if _run(["docker", "network", "inspect", network]).returncode != 0:
        proc = _run(["docker", "network", "create", "--label", "dev.otterstack.test=users",
                     network])
        assert proc.returncode == 0, proc.stderr
    entrypoints = {"web": ":80", "websecure": ":443", "traefik": ":8080",
                   **(extra_entrypoints or {})}
    ports = {ep: free_port() for ep, address in entrypoints.items()
             if not address.endswith("/udp")}
    labels = {**traefik_labels(name), **(extra_labels or {})}
    args = ["docker", "run", "-d", "--name", name, "--network", network,
            "--label", "dev.otterstack.test=users",
            "--label", f"dev.otterstack.users-traefik={name}",
            "-v", "/var/run/docker.sock:/var/run/docker.sock:ro",
            "-v", f"{dynamic_dir}:/dynamic:ro", "--tmpfs", "/acme"]
    for ep, port in ports.items():
        container_port = entrypoints[ep].lstrip(":").split("/")[0]
        args += ["-p", f"127.0.0.1:{port}:{container_port}"]
    for key, value in labels.items():
        args += ["--label", f"{key}={value}"]
    args.append(IMAGE)
    for ep, address in entrypoints.items():
        args.append(f"--entrypoints.{ep}.address={address}")
    for ep in tls_entrypoints:
        args.append(f"--entrypoints.{ep}.http.tls=true")
    args += [
        "--api.insecure=true",
        "--providers.docker=true",
        "--providers.docker.exposedbydefault=false",
        f"--providers.docker.network={network}",
        "--providers.file.directory=/dynamic",
        "--providers.file.watch=true",
        "--log.level=INFO",
    ]
    if projects:
        args.append("--providers.docker.constraints="
                    f"LabelRegex(`com.docker.compose.project`, `{projects}`)"
                    f" || LabelRegex(`dev.otterstack.app`, `{projects}`)"
                    f" || Label(`dev.otterstack.users-traefik`, `{name}`)")
    for resolver in RESOLVERS:
        args += [f"--certificatesresolvers.{resolver}.acme.email=ops@example.test",
                 f"--certificatesresolvers.{resolver}.acme.storage=/acme/{resolver}.json",
                 f"--certificatesresolvers.{resolver}.acme.caserver={UNREACHABLE_CA}",
                 f"--certificatesresolvers.{resolver}.acme.httpchallenge.entrypoint=web"]
    proc = _run(args)
    assert proc.returncode == 0, proc.stderr
    info = UsersTraefik(name, network, ports, dynamic_dir, labels)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            names = {r["name"] for r in info.api("/api/http/routers?per_page=1000")}
            if f"{name}-dashboard@docker" in names and "secured@file" in {
                    m["name"] for m in info.api("/api/http/middlewares?per_page=1000")}:
                return info
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.3)
    logs = "\n".join(info.logs()[-20:])
    stop_users_traefik(info)
    raise AssertionError(f"users' Traefik {name} did not come up:\n{logs}")


def stop_users_traefik(info: UsersTraefik) -> None:
    _run(["docker", "rm", "-f", info.name])
    _run(["docker", "network", "rm", info.network])


@pytest.fixture(scope="session")
def users_traefik(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UsersTraefik]:
    """The users' Traefik for this test session (see the module docstring), with one more
    entrypoint, `public`, that only this Traefik has (for catch-all routers that other
    engineers' Traefiks on this Docker host must not pick up on their `web`)."""
    from conftest import RUN_ID  # the test apps' name prefix (t<RUN_ID>-<n>)

    run_id = uuid.uuid4().hex[:6]
    info = start_users_traefik(f"users-traefik-{run_id}", f"users-net-{run_id}",
                               tmp_path_factory.mktemp("users-traefik") / "dynamic",
                               extra_entrypoints={"public": ":81"},
                               projects=f"t{RUN_ID}-.+")
    yield info
    stop_users_traefik(info)


@pytest.fixture
def users_app(make_app, users_traefik: UsersTraefik):
    """make_app for routed apps pointed at the users' Traefik
    (`otterstack config --global traefik_container NAME`)."""

    def factory(files: dict[str, str] | None = None):
        app = make_app(files, install_args=("--traefik-routing",))
        proc = app.otter("config", "--global", "traefik_container", users_traefik.name)
        assert proc.returncode == 0, proc.stderr
        return app

    return factory
