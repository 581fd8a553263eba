"""Names in a compose file that reach Docker must be the app's own.

Docker names volumes, networks and images in one namespace per host. A compose file that
says `volumes: {d: {name: shop_data}}` mounts app shop's database; `networks: {n: {name:
shop_default, external: true}}` joins shop's network; `image: busybox:latest` on a service
that is built retags the base image every other app builds from, so their next build runs
the pusher's code; `image: shop-r7-web` runs shop's image. So (compose_policy runs this):

- a volume, network, secret or config named by the user (`name:` other than Compose's own
  `<project>_<key>`) or `external: true` must carry the app's prefix `<app>_`: app names
  have no `_`, so no other app's names start with it. Traefik's networks are shared on
  purpose: a routed service joins one anyway, and what it is called there is
  rules/compose/dns_names.py's.
- a service that is built keeps the name OtterStack gives its image (`image:` and
  `build.tags` are refused): what it builds never lands on a name another app runs.
- a service that is not built may not run an image another app built (told by the image's
  `com.docker.compose.project` label, not by its name).
Each refusal needs `shared-names` (`otterstack config APP allow shared-names`).
"""

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from otterstack_hooks.rules.compose.access import Access, Refusal
from otterstack_hooks.rules.compose.dns_names import dns_name_refusals

_KINDS = ("volumes", "networks", "secrets", "configs")


def owns_project(app: str, project: str) -> bool:
    """Whether a compose project is one of the app's: `<app>-r<N>` or `<app>-state`."""
    rest = project.removeprefix(f"{app}-") if project.startswith(f"{app}-") else None
    return rest is not None and (rest == "state" or (rest[:1] == "r" and rest[1:].isdigit()))


def name_refusals(config: Mapping[str, Any], app: str, edge: Iterable[str] = (),
                  image_project: Callable[[str], str | None] = lambda ref: None
                  ) -> list[Refusal]:
    """Every name in `config` (Compose's effective config) that is not the app's own."""
    out: list[Refusal] = []
    project, shared = str(config.get("name") or ""), frozenset(edge)
    for kind in _KINDS:
        for key, spec in (config.get(kind) or {}).items():
            if not isinstance(spec, Mapping):
                continue
            name = str(spec.get("name") or key)
            chosen = spec.get("external") or name != f"{project}_{key}"
            if (chosen and not name.startswith(f"{app}_")
                    and not (kind == "networks" and name in shared)):
                out.append(Refusal("", f"{kind}.{key}", f"name {name}", Access.SHARED_NAMES))
    for service, svc in (config.get("services") or {}).items():
        if isinstance(svc, Mapping):
            out += _image_refusals(str(service), svc, app, image_project)
    return out + dns_name_refusals(config, shared)


def _image_refusals(service: str, svc: Mapping[str, Any], app: str,
                    image_project: Callable[[str], str | None]) -> list[Refusal]:
    image = str(svc.get("image") or "")
    build = svc.get("build")
    if build:
        out = [Refusal(service, "build.tags", str(tag), Access.SHARED_NAMES)
               for tag in (build.get("tags") or [] if isinstance(build, Mapping) else [])]
        if image:
            out.insert(0, Refusal(service, "image", f"{image} on a service that is built "
                                  "(OtterStack names the images it builds: remove it)",
                                  Access.SHARED_NAMES))
        return out
    owner = image_project(image) if image else None
    if owner and not owns_project(app, owner):
        return [Refusal(service, "image", f"{image} (built by compose project {owner})",
                        Access.SHARED_NAMES)]
    return []
