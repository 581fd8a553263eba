"""Finding Traefik: which container (or Swarm task) it is, where its API answers, which
networks it reaches apps on, its static configuration. What its container shows is read in
rules/traefik/container.py; what its API answers, through api_client."""

import io
import tarfile
from typing import Any

import docker
import docker.errors

from otterstack_hooks.adapters.docker.engine import engine_errors
from otterstack_hooks.adapters.traefik.api_client import (
    answers_api,
    has_provider,
    published_entrypoints,
)
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.rules.traefik.container import (
    api_port,
    api_port_candidates,
    pick_network,
    published,
    rank,
    user_networks,
)
from otterstack_hooks.rules.traefik.routing_plan import TraefikInfo
from otterstack_hooks.rules.traefik.rule_syntax import DefaultSyntax
from otterstack_hooks.rules.traefik.static_config import (
    config_file_candidates,
    configured_rule_syntax,
)


def find_container(dc: docker.DockerClient, wanted: str, running: bool = True,
                   provider: str = "docker") -> dict[str, Any] | None:
    """The (running) Traefik container, inspected: the best by container.rank; None if
    there is none."""
    with engine_errors("looking for Traefik"):
        listed = dc.api.containers(filters={"status": "running"}) if running else \
            dc.api.containers(all=True)
        ranked = [(found, item["Id"]) for item in listed
                  if (found := rank(item, wanted, provider)) is not None]
        if not ranked:
            return None
        return dc.api.inspect_container(min(ranked)[1])


def detect(dc: docker.DockerClient, wanted: str, api_url: str, network: str,
           provider: str = "docker") -> TraefikInfo | None:
    """Find Traefik and its API; None if no Traefik runs, OtterError if it is unusable.

    `provider="swarm"`: Traefik runs as a Swarm service (its task on this manager) and must
    have its swarm provider on. Swarm cannot publish a port on loopback only, so its API is
    not published: it is reached on the task's address on this host's `docker_gwbridge`,
    which only this host can reach."""
    attrs = find_container(dc, wanted, provider=provider)
    if attrs is None:
        _refuse_stopped(dc, wanted, provider)
        return None
    name = attrs["Name"].lstrip("/")
    api = _find_api(dc, attrs, name, api_url, provider)
    entrypoints, tls = published_entrypoints(api, published(attrs))
    if provider == "swarm" and not has_provider(api, "swarm"):
        raise OtterError(
            f"Traefik ({name}) has no swarm provider, so it would never see this app's "
            "services: start it with --providers.swarm=true (`otterstack traefik up --swarm` "
            "does), or keep the app on one host (`otterstack config APP runtime compose`)")
    return TraefikInfo(name, api, network or pick_network(attrs, name, provider),
                       entrypoints, tls, tuple(user_networks(attrs)),
                       (attrs.get("Config") or {}).get("Image", ""), provider,
                       rule_syntax_of(dc, attrs))


def _refuse_stopped(dc: docker.DockerClient, wanted: str, provider: str) -> None:
    """There is a Traefik but it is down: deploying blind would break the app."""
    stopped = find_container(dc, wanted, running=False, provider=provider)
    if stopped is not None:
        name = stopped["Name"].lstrip("/")
        raise OtterError(f"Traefik container {name} is not running "
                         f"({stopped['State']['Status']}): start it (`docker start {name}`)"
                         " and deploy again; the current release is untouched")


def _find_api(dc: docker.DockerClient, attrs: dict[str, Any], name: str, api_url: str,
              provider: str) -> str:
    """The URL Traefik's API answers on: the one configured, else a port it publishes on
    loopback, else (Swarm) its task's docker_gwbridge address; OtterError with the fix."""
    ports = published(attrs)
    candidates = [api_url.rstrip("/")] if api_url else [
        f"http://127.0.0.1:{ports[port]}"
        for port in api_port_candidates(attrs.get("Args") or [], list(ports))
    ]
    if provider == "swarm" and not api_url:
        candidates += [f"http://{address}:{api_port(attrs.get('Args') or [])}"
                       for address in _gateway_addresses(dc, attrs["Id"])]
    api = next((url for url in candidates if answers_api(url)), None)
    if api is not None:
        return api
    if provider == "swarm":
        raise OtterError(
            f"Traefik's task {name} runs but its API is not reachable from here (tried "
            f"{', '.join(candidates) or 'no address'}): OtterStack reaches it on the task's "
            "docker_gwbridge address, which only the manager that runs the task can reach, so "
            "run OtterStack (receive the pushes) on that manager, with Traefik's API "
            "(--api.insecure=true) on; or publish the API and set `otterstack config --global "
            "traefik_api_url URL`")
    raise OtterError(
        f"Traefik container {name} runs but its API is not reachable from this host: start "
        "it with --api.insecure=true and publish its port 8080 on 127.0.0.1 only (e.g. "
        "-p 127.0.0.1:8080:8080), or set `otterstack config --global traefik_api_url URL`; "
        "`otterstack traefik up` starts one configured this way"
    )


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
        return path, _file_of(b"".join(stream), limit)
    return None


def _file_of(archive: bytes, limit: int) -> str | None:
    """The text of the one file in a tar archive (get_archive's answer); None if there is
    none, it is over `limit` bytes, or the archive is not readable."""
    try:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            member = next((m for m in tar.getmembers() if m.isfile()), None)
            handle = tar.extractfile(member) if member is not None else None
            if handle is None or member is None or member.size > limit:
                return None
            return handle.read().decode("utf-8", "replace")
    except tarfile.TarError:
        return None


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
        return rule_syntax_of(dc, attrs), frozenset(user_networks(attrs))
    except (OtterError, docker.errors.DockerException, OSError):
        return DefaultSyntax(), frozenset()
