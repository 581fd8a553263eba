"""Traefik I/O: find the running proxy, read its API, send real requests through it."""

import http.client
import io
import json
import re
import socket
import ssl
import tarfile
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors
import yaml

from otterstack_hooks.adapters.docker.engine import engine_errors
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.names import printable
from otterstack_hooks.rules.compose.model import image_repository, runs_traefik
from otterstack_hooks.rules.traefik.routing_plan import TraefikInfo
from otterstack_hooks.rules.traefik.rule_matchers import RuleSyntax
from otterstack_hooks.rules.traefik.rule_syntax import DefaultSyntax

DEFAULT_IMAGE = "traefik:v3"
API_NETWORK_LABEL = "dev.otterstack.api-network"  # on `traefik up`'s container: its API's
DEFAULT_CONTAINER = "otterstack-traefik"
DEFAULT_NETWORK = "otterstack"
LOOPBACK = {"", "0.0.0.0", "127.0.0.1", "::", "::1"}


def _get_json(url: str, timeout: float = 3) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - our own URL
        return json.loads(resp.read().decode())


def find_container(dc: docker.DockerClient, wanted: str, running: bool = True,
                   provider: str = "docker") -> dict[str, Any] | None:
    """The (running) Traefik container: by name or image if configured; else the one
    `otterstack traefik up` starts by default, then any it started, then any traefik image.
    For the swarm provider, the task of `traefik up --swarm` on this host comes first; for
    the docker provider, that one is never taken (it does not read containers)."""
    with engine_errors("looking for Traefik"):
        listed = dc.api.containers(filters={"status": "running"}) if running else \
            dc.api.containers(all=True)
        ranked = []
        for item in listed:
            names = [n.lstrip("/") for n in item.get("Names", [])]
            image = item.get("Image", "")
            labels = item.get("Labels") or {}
            ours = labels.get("dev.otterstack.traefik")
            if wanted:  # a container's name, a Swarm service's name, or an image
                rank = 0 if (wanted in names or image == wanted
                             or labels.get("com.docker.swarm.service.name") == wanted
                             or image_repository(image) == wanted) else None
            elif ours == "swarm":
                rank = 0 if provider == "swarm" else None
            elif DEFAULT_CONTAINER in names and provider == "docker":
                rank = 0
            elif "dev.otterstack.traefik" in (item.get("Labels") or {}):
                rank = 1
            elif runs_traefik(image):
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


def detect(dc: docker.DockerClient, wanted: str, api_url: str, network: str,
           provider: str = "docker") -> TraefikInfo | None:
    """Find Traefik and its API; None if no Traefik runs, OtterError if it is unusable.

    `provider="swarm"`: Traefik runs as a Swarm service (its task on this manager) and must
    have its swarm provider on. Swarm cannot publish a port on loopback only, so its API is
    not published: it is reached on the task's address on this host's `docker_gwbridge`,
    which only this host can reach."""
    attrs = find_container(dc, wanted, provider=provider)
    if attrs is None:
        stopped = find_container(dc, wanted, running=False, provider=provider)
        if stopped is not None:  # there is a Traefik, it is down: deploying blind would break
            name = stopped["Name"].lstrip("/")
            raise OtterError(f"Traefik container {name} is not running "
                             f"({stopped['State']['Status']}): start it (`docker start {name}`)"
                             " and deploy again; the current release is untouched")
        return None
    name = attrs["Name"].lstrip("/")
    published = _published(attrs)
    candidates = [api_url.rstrip("/")] if api_url else [
        f"http://127.0.0.1:{published[port]}"
        for port in api_port_candidates(attrs.get("Args") or [], list(published))
    ]
    if provider == "swarm" and not api_url:
        candidates += [f"http://{address}:{api_port(attrs.get('Args') or [])}"
                       for address in _gateway_addresses(dc, attrs["Id"])]
    api = next((url for url in candidates if _answers_api(url)), None)
    if api is None and provider == "swarm":
        raise OtterError(
            f"Traefik's task {name} runs but its API is not reachable from here (tried "
            f"{', '.join(candidates) or 'no address'}): OtterStack reaches it on the task's "
            "docker_gwbridge address, which only the manager that runs the task can reach, so "
            "run OtterStack (receive the pushes) on that manager, with Traefik's API "
            "(--api.insecure=true) on; or publish the API and set `otterstack config --global "
            "traefik_api_url URL`")
    if api is None:
        raise OtterError(
            f"Traefik container {name} runs but its API is not reachable from this host: start "
            "it with --api.insecure=true and publish its port 8080 on 127.0.0.1 only (e.g. "
            "-p 127.0.0.1:8080:8080), or set `otterstack config --global traefik_api_url URL`; "
            "`otterstack traefik up` starts one configured this way"
        )
    entrypoints, tls = {}, set()
    try:
        listed = _get_json(f"{api}/api/entrypoints")
    except (OSError, ValueError) as exc:
        raise OtterError(f"Traefik's API at {api} did not list its entrypoints ({exc})") from exc
    for entry in listed:
        port = str(entry.get("address", "")).split("/", 1)[0].rsplit(":", 1)[-1]
        if f"{port}/tcp" in published:
            entrypoints[entry["name"]] = published[f"{port}/tcp"]
        if "tls" in (entry.get("http") or {}):
            tls.add(entry["name"])
    if provider == "swarm" and not _has_provider(api, "swarm"):
        raise OtterError(
            f"Traefik ({name}) has no swarm provider, so it would never see this app's "
            "services: start it with --providers.swarm=true (`otterstack traefik up --swarm` "
            "does), or keep the app on one host (`otterstack config APP runtime compose`)")
    return TraefikInfo(name, api, network or _pick_network(attrs, name, provider),
                       entrypoints, frozenset(tls), tuple(_user_networks(attrs)),
                       (attrs.get("Config") or {}).get("Image", ""), provider,
                       rule_syntax_of(dc, attrs))


def _gateway_addresses(dc: docker.DockerClient, container: str) -> list[str]:
    """A Swarm task's address on this host's `docker_gwbridge` (Docker lists that endpoint
    on the network, not on the container)."""
    try:
        listed = dc.api.inspect_network("docker_gwbridge").get("Containers") or {}
    except docker.errors.NotFound:
        return []
    entry = listed.get(container) or {}
    address = str(entry.get("IPv4Address", "")).split("/", 1)[0]
    return [address] if address else []


def _has_provider(api: str, provider: str) -> bool:
    """Whether Traefik's overview lists the provider (`Swarm`, `Docker`, `File`)."""
    try:
        listed = (_get_json(f"{api}/api/overview") or {}).get("providers") or []
    except (OSError, ValueError, urllib.error.URLError):
        return False
    return provider.lower() in {str(p).lower() for p in listed}


_API_ADDRESS = re.compile(r"--entry[pP]oints\.traefik\.address=(.*)")


def api_port_candidates(args: list[str], published: list[str]) -> list[str]:
    """Published container ports ('8080/tcp') to ask for Traefik's API, best first: the
    address Traefik was configured with (entrypoint `traefik`, default :8080), then the
    others in numeric order. An app that answers /api/version must not be taken for it."""
    configured = api_port(args)
    tcp = sorted((p for p in published if p.endswith("/tcp")),
                 key=lambda p: (p != f"{configured}/tcp", int(p.split("/", 1)[0] or 0)))
    return tcp


def is_traefik_version(answer: Any) -> bool:
    """Traefik's /api/version names its version, codename and start date; nothing else's."""
    return isinstance(answer, dict) and all(
        isinstance(answer.get(key), str) and answer[key]
        for key in ("Version", "Codename", "startDate"))


def _answers_api(url: str) -> bool:
    try:
        return is_traefik_version(_get_json(f"{url}/api/version", timeout=2))
    except (OSError, ValueError, urllib.error.URLError):
        return False


def api_port(args: list[str]) -> str:
    """The port of Traefik's API entrypoint (`traefik`, :8080 unless configured)."""
    for arg in args:
        match = _API_ADDRESS.fullmatch(arg)
        if match:
            return match.group(1).split("/", 1)[0].rsplit(":", 1)[-1]
    return "8080"


def _user_networks(attrs: dict[str, Any]) -> list[str]:
    """The networks Traefik shares with apps: not Docker's own, and not the network of its
    API that `traefik up` made (named by the container's label), which no app may join."""
    api = ((attrs.get("Config") or {}).get("Labels") or {}).get(API_NETWORK_LABEL)
    return [n for n in (attrs.get("NetworkSettings") or {}).get("Networks", {})
            if n not in ("bridge", "host", "none", "docker_gwbridge", "ingress", api)]


def _pick_network(attrs: dict[str, Any], name: str, provider: str = "docker") -> str:
    nets = _user_networks(attrs)
    for arg in attrs.get("Args") or []:
        if arg.startswith(f"--providers.{provider}.network="):
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


def router_status(api: str, protocol: str, name: str, provider: str = "docker"
                  ) -> dict[str, Any] | None:
    try:
        return _get_json(f"{api}/api/{protocol}/routers/{name}@{provider}")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise
    except (OSError, ValueError):
        return None


def service_pending(api: str, protocol: str, service: str, provider: str = "docker"
                    ) -> str | None:
    """Why a router's service cannot serve yet, or None when it can. Services of other
    providers (`api@internal`, `x@file`) have no servers of this release to wait for, and
    weighted/mirroring/failover services are made of services that are checked themselves."""
    if "@" in service and not service.endswith(f"@{provider}"):
        return None
    if "@" not in service:
        service += f"@{provider}"
    try:
        data = _get_json(f"{api}/api/{protocol}/services/{service}")
    except (OSError, ValueError):
        return "service not loaded yet"
    if "loadBalancer" not in data:
        return None
    status = data.get("serverStatus") or {}
    if not status:  # no health check in Traefik: every listed server counts as up
        servers = (data.get("loadBalancer") or {}).get("servers") or []
        status = {s.get("url") or s.get("address", "?"): "UP" for s in servers}
    if not status or any(v != "UP" for v in status.values()):
        return f"servers {status or 'none'}"
    return None


# Traefik applies container events in batches (providersThrottleDuration, 2 s by default): a
# router may be in error for a moment ("middleware ... does not exist" while the service that
# defines it is applied in the next batch). Only an error that outlasts this is the user's.
ERROR_GRACE = 6.0


def wait_enabled(api: str, routers: list[tuple[str, str]], timeout: float,
                 on_change: Callable[[str], None],
                 why_missing: Callable[[str], str | None] = lambda name: None,
                 provider: str = "docker") -> None:
    """Wait until Traefik shows every (protocol, router) enabled with all servers UP.
    `provider`: the Traefik provider that defines them (`docker`, or `swarm`).
    `why_missing` finds Traefik's own reason (its log) for a router that does not appear.
    A router in error fails the wait once the error has lasted ERROR_GRACE seconds."""
    deadline = time.monotonic() + timeout
    last = ""
    erring: dict[str, float] = {}  # router -> when its current error was first seen
    while True:
        pending, errors = [], []
        for protocol, name in routers:
            info = router_status(api, protocol, name, provider)
            problem = None
            if info is None:
                reason = why_missing(name)
                if reason:
                    problem = f"Traefik did not load router {name}: {reason}"
                else:
                    pending.append(f"{name} not loaded yet")
            elif info.get("status") != "enabled" or info.get("error"):
                text = "; ".join(printable(str(e), 200) for e in info.get("error") or [])
                problem = (f"Traefik rejected router {name} ({info.get('status')}: "
                           f"{text or 'no reason'}); fix the traefik.* labels of the service")
            else:
                waiting = service_pending(api, protocol, info.get("service", ""), provider)
                if waiting:
                    pending.append(f"{name} {waiting}")
            if problem is None:
                erring.pop(name, None)
                continue
            since = erring.setdefault(name, time.monotonic())
            if time.monotonic() - since >= ERROR_GRACE:
                raise OtterError(problem)
            errors.append(problem)
            pending.append(f"{name} in error, waiting {ERROR_GRACE:.0f} s for Traefik's next "
                           "batch")
        if not pending:
            return
        text = ", ".join(pending)
        if text != last:
            on_change(text)
            last = text
        if time.monotonic() > deadline:
            raise OtterError(errors[0] if errors else
                             f"Traefik did not enable the new routers within {timeout:.0f} s: "
                             f"{text}")
        time.sleep(0.2)


def release_routers(api: str, project: str, provider: str = "docker"
                    ) -> list[dict[str, Any]] | None:
    """Every router Traefik runs for a release (names end in `-<project>`), as its API
    shows them: rule, entrypoints, priority. None when the API cannot say. `provider`:
    `docker` (containers' labels) or `swarm` (services' labels)."""
    found = []
    for protocol in ("http", "tcp", "udp"):
        try:
            listed = _get_json(f"{api}/api/{protocol}/routers?per_page=10000&search="
                               f"{urllib.parse.quote(project)}")
        except (OSError, ValueError):
            return None
        for router in listed if isinstance(listed, list) else []:
            name = str(router.get("name", ""))
            if name.endswith(f"-{project}@{provider}"):
                found.append({**router, "protocol": protocol})
    return found


class _SNIConnection(http.client.HTTPSConnection):
    """HTTPS to a loopback port with the router's host as SNI: the way a browser reaches a
    TLS router. Certificates are not verified: the probe tests routing, not trust."""

    def __init__(self, port: int, server_name: str, timeout: float) -> None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        super().__init__("127.0.0.1", port, timeout=timeout, context=context)
        self._server_name = server_name

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self._server_name)


def probe(port: int, host: str, path: str, header: str, timeout: float = 5,
          tls: bool = False) -> tuple[int, str | None]:
    """One real request through Traefik's entrypoint: (status, value of the release header)."""
    conn: http.client.HTTPConnection = (
        _SNIConnection(port, host, timeout) if tls
        else http.client.HTTPConnection("127.0.0.1", port, timeout=timeout))
    try:
        conn.request("GET", path or "/", headers={"Host": host, "User-Agent": "otterstack-probe"})
        resp = conn.getresponse()
        resp.read()
        return resp.status, resp.getheader(header)
    finally:
        conn.close()


# How often Traefik applies what its providers saw (`providers.providersThrottleDuration`):
# the first change after a quiet spell is applied at once, later ones wait until this much
# time has passed since the last applied one. Traefik's default, 2 s, is most of the time
# between "new release healthy" and "new release served" (docs/performance.md).
THROTTLE_FLAG = "--providers.providersThrottleDuration"
TRAEFIK_DEFAULT_THROTTLE = 2.0  # seconds: Traefik's own default
DEFAULT_THROTTLE = "200ms"  # `otterstack traefik up`'s: measured in docs/performance.md
# How long Traefik keeps an idle keep-alive connection to a server (its own default: 90 s).
# A release taken out of traffic cannot tell an idle connection from a request in flight
# (both are an established connection with nothing queued, adapters/docker/drain.py), so its
# drain waited for Traefik to drop the idle ones: up to drain_timeout with a keep-alive server.
# Under load a connection is never idle this long; a quiet site opens one per request.
IDLE_CONN_TIMEOUT = "250ms"
IDLE_CONN_FLAG = "--serversTransport.forwardingTimeouts.idleConnTimeout"
MAX_THROTTLE = 60.0

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str | int | float) -> float:
    """Seconds of a Traefik duration: Go's form ("200ms", "1m30s", "1.5s") or a bare number
    of seconds ("2", 2), as Traefik reads `providersThrottleDuration`. ValueError otherwise."""
    if isinstance(text, bool):
        raise ValueError(f"not a duration: {text!r}")
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        value = text.strip()
        if re.fullmatch(r"\d+(?:\.\d+)?", value):
            seconds = float(value)
        else:
            parts = _DURATION_PART.findall(value)
            if not parts or "".join(n + u for n, u in parts) != value:
                raise ValueError(f"not a duration: {text!r} (e.g. 200ms, 1s, 2)")
            seconds = sum(float(n) * _UNIT[u] for n, u in parts)
    if not 0 <= seconds <= MAX_THROTTLE:
        raise ValueError(f"{text!r} is out of range (0 to {MAX_THROTTLE:.0f}s)")
    return seconds


def command(network: str, constraints: str = "", throttle: str = DEFAULT_THROTTLE,
            api_address: str = "") -> list[str]:
    """Traefik's command line as `otterstack traefik up` starts it: the docker provider on
    `network` only for containers that opt in, the web entrypoint, the API (published on
    127.0.0.1 only by `up`; with `api_address`, listening on that address only: a network
    no app is on), ping, the provider throttle `throttle`, and idle connections to servers
    closed after IDLE_CONN_TIMEOUT."""
    parse_duration(throttle)  # never start a Traefik that would refuse its own flags
    return [
        "--providers.docker=true",
        "--providers.docker.exposedbydefault=false",
        f"--providers.docker.network={network}",
        f"{THROTTLE_FLAG}={throttle}",
        f"{IDLE_CONN_FLAG}={IDLE_CONN_TIMEOUT}",
        "--entrypoints.web.address=:80",
        "--api.insecure=true",
        "--ping=true",
        "--log.level=INFO",
        *([f"--providers.docker.constraints={constraints}"] if constraints else []),
        *([f"--entrypoints.traefik.address={api_address}"] if api_address else []),
    ]


_THROTTLE_KEY = "providers.providersthrottleduration"


def _traefik_flags(args: list[str]) -> list[str]:
    """The arguments Traefik's flag parser reads: without the image's leading `traefik`,
    up to the first one that is not a flag (and the value after a flag without `=`)."""
    if args and args[0].rsplit("/", 1)[-1].lower() == "traefik":
        args = args[1:]
    flags: list[str] = []
    for arg in args:
        if arg in ("-", "--"):
            break
        is_flag = arg.startswith("-")
        value_of_previous = bool(flags) and flags[-1].startswith("-") and "=" not in flags[-1]
        if not is_flag and not value_of_previous:
            break
        flags.append(arg)
    return flags


def _flag_value(args: list[str], key: str) -> str | None:
    """The value of flag `key` (lower case, without dashes) as Traefik's flag parser reads
    it: `-k=v`, `--k=v` or `--k v`, the key in any case; the last one wins."""
    flags = _traefik_flags(args)
    found = None
    for i, arg in enumerate(flags):
        if not arg.startswith("-"):
            continue
        name, eq, value = arg.lstrip("-").partition("=")
        if name.lower() in (key, f"traefik.{key}"):
            if eq:
                found = value
            elif i + 1 < len(flags) and not flags[i + 1].startswith("-"):
                found = flags[i + 1]
    return found


def _config_value(text: str, path: str, key: str = _THROTTLE_KEY) -> tuple[bool, Any]:
    """(found, value) of `key` (providers.providersThrottleDuration unless said) in a static
    config file's text, YAML or TOML by its extension; keys match in any case, as Traefik
    reads them."""
    if path.endswith(".toml"):
        data: Any = tomllib.loads(text)
    else:
        data = yaml.safe_load(text)
    for part in key.split("."):
        if not isinstance(data, dict):
            return False, None
        match = [v for k, v in data.items() if str(k).lower() == part]
        if not match:
            return False, None
        data = match[0]
    return True, data


def config_file_candidates(args: list[str], env: list[str], workdir: str) -> list[str]:
    """Where Traefik looks for its static config file, in its order: `--configFile`, else
    traefik.{toml,yaml,yml} in /etc/traefik, $XDG_CONFIG_HOME, $HOME/.config and the working
    directory."""
    given = _flag_value(args, "configfile")
    if given:
        return [given if given.startswith("/") else f"{workdir.rstrip('/')}/{given}"]
    variables = dict(item.split("=", 1) for item in env if "=" in item)
    bases = ["/etc/traefik", variables.get("XDG_CONFIG_HOME", ""),
             f"{variables.get('HOME', '/root').rstrip('/')}/.config", workdir or "/"]
    found: list[str] = []
    for base in bases:
        for ext in ("toml", "yaml", "yml"):
            path = f"{base.rstrip('/')}/traefik.{ext}"
            if path not in found:
                found.append(path)
    return found


@dataclass(frozen=True)
class Throttle:
    """A Traefik's provider throttle as its container shows it."""
    seconds: float | None  # None: set in a form Traefik itself would refuse, or unreadable
    source: str  # where Traefik takes its static configuration from: "file", "flags", "env"
    where: str  # for people: "command line", "static config file /etc/traefik/traefik.yml"
    path: str = ""  # the static config file, when source is "file"

    @property
    def is_default(self) -> bool:
        return "default" in self.where


def configured_throttle(args: list[str], env: list[str],
                        config: tuple[str, str | None] | None) -> Throttle:
    """A Traefik's provider throttle from what its container shows: Traefik takes its static
    configuration from one source only, the config file if there is one (`config`: path and
    text), else the command line if it has flags, else the TRAEFIK_* environment; a source
    that does not set it leaves Traefik's default (2 s)."""
    def read(value: Any, source: str, where: str, path: str = "") -> Throttle:
        try:
            return Throttle(parse_duration(value), source, where, path)
        except (ValueError, TypeError):
            return Throttle(None, source, f"{where}: {printable(str(value), 40)!r} is not a "
                            "duration", path)

    if config is not None:
        path, text = config
        if text is None:
            return Throttle(None, "file", f"static config file {path}: not readable here", path)
        try:
            found, value = _config_value(text, path)
        except (ValueError, yaml.YAMLError, tomllib.TOMLDecodeError):
            return Throttle(None, "file", f"static config file {path}: not valid", path)
        if found:
            return read(value, "file", f"static config file {path}", path)
        return Throttle(TRAEFIK_DEFAULT_THROTTLE, "file",
                        f"Traefik's default: not set in {path}", path)
    if _traefik_flags(args):
        value = _flag_value(args, _THROTTLE_KEY)
        if value is not None:
            return read(value, "flags", "command line")
        return Throttle(TRAEFIK_DEFAULT_THROTTLE, "flags",
                        "Traefik's default: not on its command line")
    for item in env:
        name, _, value = item.partition("=")
        if name.upper() == "TRAEFIK_PROVIDERS_PROVIDERSTHROTTLEDURATION":
            return read(value, "env", f"environment {name}")
    return Throttle(TRAEFIK_DEFAULT_THROTTLE, "env", "Traefik's default: not configured")


def static_config(dc: docker.DockerClient, attrs: dict[str, Any], limit: int = 1 << 20
                  ) -> tuple[str, str | None] | None:
    """(path, text) of the static config file a Traefik container reads, fetched from the
    container itself (Engine API, read only); None if it has none. Where Traefik would find
    one but it cannot be read here, the text is None."""
    config = attrs.get("Config") or {}
    for path in config_file_candidates(attrs.get("Args") or [], config.get("Env") or [],
                                       config.get("WorkingDir") or "/"):
        try:
            stream, stat = dc.api.get_archive(attrs["Id"], path)
        except docker.errors.NotFound:
            continue
        except (docker.errors.DockerException, OSError):
            return path, None
        if int(stat.get("size") or 0) > limit:
            return path, None
        data = b"".join(stream)
        try:
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                member = next((m for m in tar.getmembers() if m.isfile()), None)
                handle = tar.extractfile(member) if member is not None else None
                if handle is None or member.size > limit:
                    return path, None
                return path, handle.read().decode("utf-8", "replace")
        except tarfile.TarError:
            return path, None
    return None


# --- core.defaultRuleSyntax: the syntax rule_syntax checks a release's rules against --------

_RULE_SYNTAX_KEY = "core.defaultrulesyntax"


def configured_rule_syntax(args: list[str], env: list[str],
                           config: tuple[str, str | None] | None, container: str
                           ) -> DefaultSyntax:
    """Traefik's `core.defaultRuleSyntax` from what its container shows, from the one source
    Traefik reads its static configuration from, as for the throttle (configured_throttle):
    the config file if there is one, else the command line if it has flags, else the
    TRAEFIK_* environment. Unset, or not readable here: v3, Traefik's own default (a Traefik
    that read anything but v2 or v3 there would not have started)."""
    value, where = None, ""
    if config is not None:
        path, text = config
        try:
            found, value = _config_value(text, path, _RULE_SYNTAX_KEY) if text is not None \
                else (False, None)
        except (ValueError, yaml.YAMLError, tomllib.TOMLDecodeError):
            found = False
        where = f"static config file {path}" if found else ""
    elif _traefik_flags(args):
        value = _flag_value(args, _RULE_SYNTAX_KEY)
        where = "command line"
    else:
        value = next((item.partition("=")[2] for item in env
                      if item.partition("=")[0].upper() == "TRAEFIK_CORE_DEFAULTRULESYNTAX"),
                     None)
        where = "environment"
    if str(value) == RuleSyntax.V2:
        return DefaultSyntax(RuleSyntax.V2,
                             f"core.defaultRuleSyntax=v2 of Traefik {container} ({where})")
    if str(value) == RuleSyntax.V3:
        return DefaultSyntax(RuleSyntax.V3,
                             f"core.defaultRuleSyntax=v3 of Traefik {container} ({where})")
    return DefaultSyntax(RuleSyntax.V3, f"the default of Traefik {container}")


def rule_syntax_of(dc: docker.DockerClient, attrs: dict[str, Any]) -> DefaultSyntax:
    """The default rule syntax of the Traefik container `attrs` (inspect output)."""
    config = attrs.get("Config") or {}
    return configured_rule_syntax(attrs.get("Args") or [], config.get("Env") or [],
                                  static_config(dc, attrs), attrs.get("Name", "?").lstrip("/"))


def for_precheck(dc: docker.DockerClient, wanted: str, provider: str = "docker"
                 ) -> tuple[DefaultSyntax, frozenset[str]]:
    """For pre-receive, which must not fail on Traefik: of the Traefik a deploy would use
    (running, else stopped: a deploy would ask to start it), its default rule syntax and its
    user networks (every routed app may join them); v3 and none when there is no Traefik or
    it cannot be read."""
    try:
        attrs = find_container(dc, wanted, provider=provider) or find_container(
            dc, wanted, running=False, provider=provider)
        if attrs is None:
            return DefaultSyntax(), frozenset()
        return rule_syntax_of(dc, attrs), frozenset(_user_networks(attrs))
    except (OtterError, docker.errors.DockerException, OSError):
        return DefaultSyntax(), frozenset()


def format_seconds(seconds: float) -> str:
    """0.2 -> '200ms', 2.0 -> '2s', 1.5 -> '1.5s': the way Traefik's flags write them."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    return f"{seconds:g}s"


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_CONSOLE_ERROR = re.compile(r"\s(?:ERR|ERROR)\s+(.+?)\s+\w+=")


def log_reason(lines: list[str], router: str) -> str | None:
    """Traefik's own words (the last error it logged) about a router, e.g. "HTTP router
    defined multiple times with different configurations"; None if it said nothing. Reads
    both of Traefik's log formats (console, the default, and json)."""
    names = {router, f"{router}@docker", f"{router}@swarm"}
    found = None
    for raw in lines:
        line = _ANSI.sub("", raw).strip()
        if line.startswith("{"):
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if (isinstance(entry, dict) and entry.get("level") == "error"
                    and entry.get("routerName") in names):
                found = str(entry.get("message") or entry.get("error") or "error")
            continue
        if not re.search(rf"routerName={re.escape(router)}(?:@docker|@swarm)?(?:\s|$)", line):
            continue
        match = _CONSOLE_ERROR.search(line)
        if match:
            found = match.group(1).strip()
    return found


class TraefikLog:
    """Reads the Traefik container's log since a moment, at most every `every` seconds, to
    report why a router never appeared instead of waiting out the timeout."""

    def __init__(self, dc: docker.DockerClient, container: str, since: float,
                 every: float = 2.0) -> None:
        self.dc, self.container, self.since, self.every = dc, container, int(since), every
        self._read_at = 0.0
        self._lines: list[str] = []

    def reason(self, router: str) -> str | None:
        if time.monotonic() - self._read_at >= self.every:
            self._read_at = time.monotonic()
            try:
                raw = self.dc.api.logs(self.container, stdout=True, stderr=True,
                                       since=self.since, tail=2000)
                self._lines = raw.decode("utf-8", "replace").splitlines()
            except (docker.errors.DockerException, OSError):
                self._lines = []
        reason = log_reason(self._lines, router)
        return printable(reason, 200) if reason else None
