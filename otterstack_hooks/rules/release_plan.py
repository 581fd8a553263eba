"""Plan what a release replaces and what it keeps (pure): singletons, volumes, networks.

Each release is its own compose project, so by default every named volume and network would be
per release (`<project>_<name>`): a database would start empty on every deploy. The plan pins
them to per-app names instead, and splits the services in two:

- singletons (a database on a volume, anything labelled so) run once per app, in the compose
  project `<app>-state`, and are recreated only when their own definition changes;
- every other service starts anew for each release, next to the previous one.
"""

from dataclasses import dataclass
from typing import Any

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.rules.compose.model import ComposeModel, ServiceModel, is_routed

SINGLETON_LABEL = "dev.otterstack.singleton"
STATE_SUFFIX = "state"


@dataclass(frozen=True)
class ReleasePlan:
    singletons: tuple[str, ...]
    release_services: tuple[str, ...]
    volumes: dict[str, str]  # volume key -> per-app name OtterStack creates and pins
    networks: dict[str, str]  # network key -> per-app name OtterStack creates and pins


def state_project(app: str) -> str:
    return f"{app}-{STATE_SUFFIX}"


def is_singleton(svc: ServiceModel) -> bool:
    """Labelled true/false wins; else a service on a named volume that Traefik does not route."""
    label = svc.labels.get(SINGLETON_LABEL, "").strip().lower()
    if label in ("true", "1", "yes"):
        return True
    if label in ("false", "0", "no"):
        return False
    if label:
        raise OtterError(f"service {svc.name}: label {SINGLETON_LABEL} takes true or false, "
                         f"not {label!r}")
    return bool(svc.named_volumes) and not is_routed(svc.labels)


def _pinned(specs: dict[str, Any], project: str, app: str) -> dict[str, str]:
    """Compose-named (not external, not named by the user) resources get per-app names."""
    pinned = {}
    for key, spec in specs.items():
        spec = spec or {}
        if spec.get("external"):
            continue
        if spec.get("name", f"{project}_{key}") == f"{project}_{key}":
            pinned[key] = f"{app}_{key}"
    return pinned


def plan_release(model: ComposeModel, app: str, project: str) -> ReleasePlan:
    singletons = tuple(name for name, svc in model.services.items() if is_singleton(svc))
    release = tuple(name for name in model.services if name not in singletons)
    if not release:
        raise OtterError(
            "every service is a singleton (kept across releases), so a deploy would start "
            f"nothing new: label the app's own services `{SINGLETON_LABEL}: \"false\"`")
    for name in release:
        svc = model.services[name]
        if svc.container_name:
            raise OtterError(
                f"service {name} sets container_name: {svc.container_name}; two releases run "
                "side by side during a deploy and cannot share a name. Remove container_name "
                "(other services reach it by its service name), or label it "
                f"`{SINGLETON_LABEL}: \"true\"` to run it once and replace it in place")
        if svc.host_ports:
            raise OtterError(
                f"service {name} publishes host port(s) {', '.join(svc.host_ports)}; two "
                "releases cannot both bind them. Route it through Traefik instead (remove "
                "`ports:`, add traefik.* labels, `otterstack config APP traefik_routing on`), "
                f"or label it `{SINGLETON_LABEL}: \"true\"` to replace it in place with a "
                "short interruption")
    return ReleasePlan(
        singletons=singletons,
        release_services=release,
        volumes=_pinned(model.volumes, project, app),
        networks=_pinned(model.networks, project, app),
    )
