"""Traefik's API, asked over HTTP: does a URL answer as Traefik, its entrypoints and
providers, a release's routers, and the wait until Traefik serves new routers. What an answer
means is decided in rules/traefik/api_answers.py."""

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Collection, Mapping
from typing import Any

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.rules.traefik.api_answers import (
    entrypoints,
    is_traefik_version,
    lists_provider,
    release_routers_of,
    router_rejected,
    service_key,
    service_waiting,
)

# Traefik applies container events in batches (providersThrottleDuration, 2 s by default): a
# router may be in error for a moment ("middleware ... does not exist" while the service that
# defines it is applied in the next batch). Only an error that outlasts this is the user's.
ERROR_GRACE = 6.0


def get_json(url: str, timeout: float = 3) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - our own URL
        return json.loads(resp.read().decode())


def answers_api(url: str) -> bool:
    """Whether Traefik's API (not an app's) answers at `url`."""
    try:
        return is_traefik_version(get_json(f"{url}/api/version", timeout=2))
    except (OSError, ValueError, urllib.error.URLError):
        return False


def published_entrypoints(api: str, published: dict[str, int]
                          ) -> tuple[dict[str, int], frozenset[str]]:
    """Traefik's entrypoints reachable from here (api_answers.entrypoints); OtterError if
    the API does not list them."""
    try:
        listed = get_json(f"{api}/api/entrypoints")
    except (OSError, ValueError) as exc:
        raise OtterError(f"Traefik's API at {api} did not list its entrypoints ({exc})") from exc
    return entrypoints(listed, published)


def has_provider(api: str, provider: str) -> bool:
    """Whether Traefik's overview lists the provider (`Swarm`, `Docker`, `File`)."""
    try:
        return lists_provider(get_json(f"{api}/api/overview"), provider)
    except (OSError, ValueError, urllib.error.URLError):
        return False


def router_status(api: str, protocol: str, name: str, provider: str = "docker"
                  ) -> dict[str, Any] | None:
    try:
        return get_json(f"{api}/api/{protocol}/routers/{name}@{provider}")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise
    except (OSError, ValueError):
        return None


def service_pending(api: str, protocol: str, service: str, provider: str = "docker"
                    ) -> str | None:
    """Why a router's service cannot serve yet, or None when it can (api_answers)."""
    key = service_key(service, provider)
    if key is None:
        return None
    try:
        data = get_json(f"{api}/api/{protocol}/services/{key}")
    except (OSError, ValueError):
        return "service not loaded yet"
    return service_waiting(data)


def _router_state(api: str, protocol: str, name: str, provider: str,
                  why_missing: Callable[[str], str | None]) -> tuple[str | None, str | None]:
    """(problem, pending) of one router: the error Traefik shows (or logged) for it, or why
    it cannot serve yet; (None, None) once it serves."""
    info = router_status(api, protocol, name, provider)
    if info is None:
        reason = why_missing(name)
        if reason:
            return f"Traefik did not load router {name}: {reason}", None
        return None, f"{name} not loaded yet"
    problem = router_rejected(name, info)
    if problem:
        return problem, None
    waiting = service_pending(api, protocol, info.get("service", ""), provider)
    return None, f"{name} {waiting}" if waiting else None


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
            problem, waiting = _router_state(api, protocol, name, provider, why_missing)
            if waiting:
                pending.append(waiting)
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


def metrics_page(api: str, timeout: float) -> str:
    """Traefik's `/metrics` (Prometheus text) on its API's address, where `--metrics.
    prometheus=true` serves it by default; OtterError saying why when it serves none."""
    url = f"{api}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - our own URL
            return resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        raise OtterError(f"Traefik serves no metrics at {url} (HTTP {exc.code}: it runs "
                         "without --metrics.prometheus=true)") from exc
    except (OSError, ValueError) as exc:
        raise OtterError(f"Traefik's metrics at {url} did not answer within {timeout:g} s "
                         f"({exc})") from exc


def release_routers(api: str, project: str, names: Mapping[str, Collection[str]],
                    provider: str = "docker") -> list[dict[str, Any]] | None:
    """Every router Traefik runs for a release whose labels define the router names `names`
    (protocol -> names, fence.routers_of), as its API shows them: rule, entrypoints,
    priority (api_answers.release_routers_of). None when the API cannot say. `provider`:
    `docker` (containers' labels) or `swarm` (services' labels)."""
    found = []
    for protocol in ("http", "tcp", "udp"):
        try:
            listed = get_json(f"{api}/api/{protocol}/routers?per_page=10000&search="
                              f"{urllib.parse.quote(project)}")
        except (OSError, ValueError):
            return None
        found += release_routers_of(listed, names.get(protocol, ()), provider, protocol)
    return found
