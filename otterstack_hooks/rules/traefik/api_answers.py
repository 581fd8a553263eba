"""What Traefik's API answers mean (its JSON, judged without asking it anything): whether an
answer is Traefik's at all, its entrypoints, its providers, whether a router and its
service can serve, which routers are a release's."""

from typing import Any

from otterstack_hooks.core.names import printable


def is_traefik_version(answer: Any) -> bool:
    """Traefik's /api/version names its version, codename and start date; nothing else's."""
    return isinstance(answer, dict) and all(
        isinstance(answer.get(key), str) and answer[key]
        for key in ("Version", "Codename", "startDate"))


def entrypoints(listed: Any, published: dict[str, int]) -> tuple[dict[str, int], frozenset[str]]:
    """From /api/entrypoints and the container's published ports: entrypoint -> the host port
    it is published on (those reachable from here), and the entrypoints that speak TLS."""
    found, tls = {}, set()
    for entry in listed:
        port = str(entry.get("address", "")).split("/", 1)[0].rsplit(":", 1)[-1]
        if f"{port}/tcp" in published:
            found[entry["name"]] = published[f"{port}/tcp"]
        if "tls" in (entry.get("http") or {}):
            tls.add(entry["name"])
    return found, frozenset(tls)


def lists_provider(overview: Any, provider: str) -> bool:
    """Whether Traefik's /api/overview lists the provider (`Swarm`, `Docker`, `File`)."""
    listed = (overview or {}).get("providers") or []
    return provider.lower() in {str(p).lower() for p in listed}


def service_key(service: str, provider: str) -> str | None:
    """The name to ask the API about a router's service by (`name@provider`); None for a
    service of another provider (`api@internal`, `x@file`): no servers of this release."""
    if "@" in service and not service.endswith(f"@{provider}"):
        return None
    return service if "@" in service else f"{service}@{provider}"


def service_waiting(data: dict[str, Any]) -> str | None:
    """Why a service (its API answer) cannot serve yet, or None when it can. Weighted,
    mirroring and failover services are made of services that are checked themselves."""
    if "loadBalancer" not in data:
        return None
    status = data.get("serverStatus") or {}
    if not status:  # no health check in Traefik: every listed server counts as up
        servers = (data.get("loadBalancer") or {}).get("servers") or []
        status = {s.get("url") or s.get("address", "?"): "UP" for s in servers}
    if not status or any(v != "UP" for v in status.values()):
        return f"servers {status or 'none'}"
    return None


def router_rejected(name: str, info: dict[str, Any]) -> str | None:
    """The error of a router Traefik loaded but did not enable, None if it is enabled."""
    if info.get("status") == "enabled" and not info.get("error"):
        return None
    text = "; ".join(printable(str(e), 200) for e in info.get("error") or [])
    return (f"Traefik rejected router {name} ({info.get('status')}: "
            f"{text or 'no reason'}); fix the traefik.* labels of the service")


def release_routers_of(listed: Any, project: str, provider: str, protocol: str
                       ) -> list[dict[str, Any]]:
    """Of the routers an API listing shows, those of the release `project` (names end in
    `-<project>@<provider>`), each with its protocol."""
    found = []
    for router in listed if isinstance(listed, list) else []:
        name = str(router.get("name", ""))
        if name.endswith(f"-{project}@{provider}"):
            found.append({**router, "protocol": protocol})
    return found
