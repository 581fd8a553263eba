"""What Traefik's API answers mean (its JSON, judged without asking it anything): whether an
answer is Traefik's at all, its entrypoints, its providers, whether a router and its
service can serve, which routers are a release's."""

from collections.abc import Collection
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


def release_routers_of(listed: Any, names: Collection[str], provider: str, protocol: str
                       ) -> list[dict[str, Any]]:
    """Of the routers an API listing shows, those a release defines, its labels defining the
    router names `names` (of this protocol), each with its protocol and `defined`, the name
    as its labels write it. By exact name, never by a suffix: names of releases deployed
    before `~` (release_names.py) are `<name>-<project>`, which another app's could end in."""
    found = []
    for router in listed if isinstance(listed, list) else []:
        defined = _defined_by(str(router.get("name", "")), names, provider,
                              router.get("entryPoints") or ())
        if defined is not None:
            found.append({**router, "protocol": protocol, "defined": defined})
    return found


def _defined_by(name: str, names: Collection[str], provider: str,
                entrypoints: Collection[str]) -> str | None:
    """Which of `names` a listed router (`name@provider`) is: that name, or Traefik's copy of
    it for an entrypoint with TLS of its own (`websecure-<name>`, listed with that one
    entrypoint) when the router names no entrypoint; None for another's router."""
    base, at, theirs = name.rpartition("@")
    if not at or theirs != provider:
        return None
    if base in names:
        return base
    for entrypoint in entrypoints:
        copied = base.removeprefix(f"{entrypoint}-")
        if copied != base and copied in names:
            return copied
    return None
