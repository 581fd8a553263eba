"""Traefik I/O: find the running proxy, read its API, send real requests through it."""

import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import docker

from .engine import engine_errors
from .errors import OtterError
from .names import printable

DEFAULT_IMAGE = "traefik:v3"
DEFAULT_CONTAINER = "otterstack-traefik"
DEFAULT_NETWORK = "otterstack"
LOOPBACK = {"", "0.0.0.0", "127.0.0.1", "::", "::1"}


@dataclass(frozen=True)
class TraefikInfo:
    container: str
    api_url: str
    network: str
    entrypoints: dict[str, int]  # entrypoint name -> host port reachable on 127.0.0.1


def _get_json(url: str, timeout: float = 3) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - our own URL
        return json.loads(resp.read().decode())


def image_repository(image: str) -> str:
    """`registry:5000/library/traefik:v3@sha256:...` -> `registry:5000/library/traefik`."""
    name = image.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    last = last.split(":", 1)[0]
    return f"{head}/{last}" if head else last


def find_container(dc: docker.DockerClient, wanted: str, running: bool = True
                   ) -> dict[str, Any] | None:
    """The (running) Traefik container: by name or image if configured; else the one
    `otterstack traefik up` starts by default, then any it started, then any traefik image."""
    with engine_errors("looking for Traefik"):
        listed = dc.api.containers(filters={"status": "running"}) if running else \
            dc.api.containers(all=True)
        ranked = []
        for item in listed:
            names = [n.lstrip("/") for n in item.get("Names", [])]
            image = item.get("Image", "")
            repo = image_repository(image)
            if wanted:
                rank = 0 if (wanted in names or image == wanted or repo == wanted) else None
            elif DEFAULT_CONTAINER in names:
                rank = 0
            elif "dev.otterstack.traefik" in (item.get("Labels") or {}):
                rank = 1
            elif repo.rsplit("/", 1)[-1] == "traefik":
                rank = 2
            else:
                rank = None
            if rank is not None:
                ranked.append((rank, item["Id"]))
        if not ranked:
            return None
        return dc.api.inspect_container(min(ranked)[1])


def _published(attrs: dict[str, Any]) -> dict[str, int]:
    """container port ('80/tcp') -> host port reachable from this host over loopback."""
    ports = (attrs.get("NetworkSettings") or {}).get("Ports") or {}
    result = {}
    for container_port, bindings in ports.items():
        for binding in bindings or []:
            if binding.get("HostIp", "") in LOOPBACK and binding.get("HostPort"):
                result[container_port] = int(binding["HostPort"])
                break
    return result


def detect(dc: docker.DockerClient, wanted: str, api_url: str, network: str
           ) -> TraefikInfo | None:
    """Find Traefik and its API; None if no Traefik runs, OtterError if it is unusable."""
    attrs = find_container(dc, wanted)
    if attrs is None:
        stopped = find_container(dc, wanted, running=False)
        if stopped is not None:  # there is a Traefik, it is down: deploying blind would break
            name = stopped["Name"].lstrip("/")
            raise OtterError(f"Traefik container {name} is not running "
                             f"({stopped['State']['Status']}): start it (`docker start {name}`)"
                             " and deploy again; the current release is untouched")
        return None
    name = attrs["Name"].lstrip("/")
    published = _published(attrs)
    candidates = [api_url.rstrip("/")] if api_url else [
        f"http://127.0.0.1:{port}" for key, port in sorted(published.items())
        if key.endswith("/tcp")
    ]
    api = next((url for url in candidates if _answers_api(url)), None)
    if api is None:
        raise OtterError(
            f"Traefik container {name} runs but its API is not reachable from this host: start "
            "it with --api.insecure=true and publish its port 8080 on 127.0.0.1 only (e.g. "
            "-p 127.0.0.1:8080:8080), or set `otterstack config --global traefik_api_url URL`; "
            "`otterstack traefik up` starts one configured this way"
        )
    entrypoints = {}
    try:
        listed = _get_json(f"{api}/api/entrypoints")
    except (OSError, ValueError) as exc:
        raise OtterError(f"Traefik's API at {api} did not list its entrypoints ({exc})") from exc
    for entry in listed:
        port = str(entry.get("address", "")).rsplit(":", 1)[-1]
        if f"{port}/tcp" in published:
            entrypoints[entry["name"]] = published[f"{port}/tcp"]
    return TraefikInfo(name, api, network or _pick_network(attrs, name), entrypoints)


def _answers_api(url: str) -> bool:
    try:
        return "Version" in _get_json(f"{url}/api/version", timeout=2)
    except (OSError, ValueError, urllib.error.URLError):
        return False


def _pick_network(attrs: dict[str, Any], name: str) -> str:
    nets = [n for n in (attrs.get("NetworkSettings") or {}).get("Networks", {})
            if n not in ("bridge", "host", "none")]
    for arg in attrs.get("Args") or []:
        if arg.startswith("--providers.docker.network="):
            wanted = arg.split("=", 1)[1]
            if wanted in nets:
                return wanted
    if len(nets) == 1:
        return nets[0]
    raise OtterError(
        f"cannot tell which network Traefik ({name}) reaches apps on (it is on "
        f"{', '.join(nets) or 'no user network'}): put it on one user-defined network, or set "
        "`otterstack config --global traefik_network NAME`"
    )


def router_status(api: str, protocol: str, name: str) -> dict[str, Any] | None:
    try:
        return _get_json(f"{api}/api/{protocol}/routers/{name}@docker")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise
    except (OSError, ValueError):
        return None


def service_servers(api: str, protocol: str, name: str) -> dict[str, str]:
    try:
        data = _get_json(f"{api}/api/{protocol}/services/{name}")
    except (OSError, ValueError):
        return {}
    status = data.get("serverStatus") or {}
    if not status:  # no health check in Traefik: every listed server counts as up
        servers = (data.get("loadBalancer") or {}).get("servers") or []
        status = {s.get("url") or s.get("address", "?"): "UP" for s in servers}
    return status


def wait_enabled(api: str, routers: list[tuple[str, str]], timeout: float,
                 on_change: Callable[[str], None]) -> None:
    """Wait until Traefik shows every (protocol, router) enabled with all servers UP."""
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        pending = []
        for protocol, name in routers:
            info = router_status(api, protocol, name)
            if info is None:
                pending.append(f"{name} not loaded yet")
                continue
            if info.get("status") != "enabled" or info.get("error"):
                errors = "; ".join(printable(str(e), 200) for e in info.get("error") or [])
                raise OtterError(
                    f"Traefik rejected router {name} ({info.get('status')}: {errors or 'no reason'}"
                    "); fix the traefik.* labels of the service"
                )
            service = info.get("service", "")
            if "@" not in service:
                service += "@docker"
            servers = service_servers(api, protocol, service)
            if not servers or any(v != "UP" for v in servers.values()):
                pending.append(f"{name} servers {servers or 'none'}")
        if not pending:
            return
        text = ", ".join(pending)
        if text != last:
            on_change(text)
            last = text
        if time.monotonic() > deadline:
            raise OtterError(f"Traefik did not enable the new routers within {timeout:.0f} s: "
                             f"{text}")
        time.sleep(0.2)


def probe(port: int, host: str, path: str, header: str, timeout: float = 5
          ) -> tuple[int, str | None]:
    """One real request through Traefik's entrypoint: (status, value of the release header)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path or "/", headers={"Host": host, "User-Agent": "otterstack-probe"})
        resp = conn.getresponse()
        resp.read()
        return resp.status, resp.getheader(header)
    finally:
        conn.close()


def up(dc: docker.DockerClient, image: str, name: str, network: str, http_port: int,
       bind: str, api_port: int) -> str:
    """Start a Traefik configured the way OtterStack needs it; idempotent."""
    with engine_errors("starting Traefik"):
        try:
            dc.networks.get(network)
        except docker.errors.NotFound:
            dc.networks.create(network, driver="bridge", labels={"dev.otterstack.edge": "1"})
        try:
            existing = dc.containers.get(name)
        except docker.errors.NotFound:
            existing = None
        if existing is not None:
            verb = "is already running"
            if existing.status != "running":
                existing.start()
                verb = "started again"
            existing.reload()
            ports = ", ".join(
                f"{key} on {b['HostIp'] or '0.0.0.0'}:{b['HostPort']}"
                for key, binds in sorted((existing.ports or {}).items()) for b in binds or [])
            return f"Traefik {name} {verb} ({ports or 'no published ports'})"
        try:
            dc.images.get(image)
        except docker.errors.ImageNotFound:
            try:
                dc.images.pull(image)
            except docker.errors.DockerException as exc:
                raise OtterError(
                    f"Traefik image {image} is not here and cannot be pulled ({exc}); "
                    "load or build it, or pass --image"
                ) from exc
        dc.containers.run(
            image,
            name=name,
            detach=True,
            restart_policy={"Name": "unless-stopped"},
            network=network,
            ports={"80/tcp": (bind, http_port), "8080/tcp": ("127.0.0.1", api_port)},
            volumes={"/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "ro"}},
            labels={"dev.otterstack.traefik": "1"},
            command=[
                "--providers.docker=true",
                "--providers.docker.exposedbydefault=false",
                f"--providers.docker.network={network}",
                "--entrypoints.web.address=:80",
                "--api.insecure=true",
                "--ping=true",
                "--log.level=INFO",
            ],
        )
    return f"Traefik {name} started: http on {bind}:{http_port}, API on 127.0.0.1:{api_port}"
