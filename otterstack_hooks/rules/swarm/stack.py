"""Turn a release's Compose config into the stack file `docker stack deploy` runs (pure).

The input is what `docker compose config --format json` printed for the release's files,
our overrides included (renamed Traefik labels, pinned volumes and networks, Traefik's
network). Swarm reads that format with different rules, so the stack is rewritten, not
copied:

- Traefik's swarm provider reads *service* labels: every `traefik.*` label moves to
  `deploy.labels` (Compose put it on the container), and a preview's label goes there too
  (what is a preview's is read from labels).
- `endpoint_mode: dnsrr`: Traefik reaches each task by its own address. The virtual IP
  (`vip`, Swarm's default) needs IPVS, which many kernels lack, and hides the tasks from
  Traefik's health view.
- `build:` is ignored by Swarm: a built service runs the image OtterStack built and tagged
  (pinned by digest when there is a registry), passed in as `images`.
- A release runs next to the one before it, so a published port of a release service would
  be wanted twice on a node: refused. The app's stateful services (the data stack) may
  publish, in host mode (ingress also needs IPVS).
- `docker stack deploy` interpolates `${VAR}` again; Compose's config already writes every
  `$` of a resolved value as `$$`, so the values pass through as they are and are deployed
  byte for byte as Compose resolved them.
- What Swarm silently ignores (`restart`, `depends_on`, `container_name`...) is named in a
  note the pusher sees; what it cannot do safely (`network_mode`, `privileged`, devices) is
  refused with the way out.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from otterstack_hooks.core.errors import OtterError

APP_LABEL = "dev.otterstack.app"
PREVIEW_LABEL = "dev.otterstack.preview"  # its value: the preview's slug (rules/preview)
RELEASE_LABEL = "dev.otterstack.release"
REPLICAS_LABEL = "dev.otterstack.replicas"  # what `start` scales a stopped service back to
STACK_LABEL = "com.docker.stack.namespace"  # set by `docker stack deploy` on everything

# Compose service keys a stack service takes as they are.
_KEPT = (
    "command", "entrypoint", "environment", "healthcheck", "volumes", "working_dir", "user",
    "stop_grace_period", "stop_signal", "secrets", "configs", "hostname", "tty",
    "stdin_open", "read_only", "cap_add", "cap_drop", "sysctls", "ulimits", "tmpfs",
    "extra_hosts", "dns", "dns_search", "logging", "init", "isolation",
)
# Keys Swarm ignores; what the user meant by them is Swarm's own (`deploy.restart_policy`)
# or does not apply to services (names, start order).
_IGNORED = ("restart", "depends_on", "container_name", "links", "pull_policy", "profiles",
            "expose", "scale", "platform", "mem_limit", "cpus")
# Keys Swarm cannot run: a service with one would run differently than on one host.
_REFUSED = {
    "network_mode": "Swarm services cannot share a host's or a container's network",
    "privileged": "Swarm services cannot run privileged",
    "devices": "Swarm services cannot be given host devices",
    "pid": "Swarm services cannot share a host's process namespace",
    "ipc": "Swarm services cannot share a host's IPC namespace",
    "cgroup_parent": "Swarm services cannot choose their cgroup",
}


@dataclass(frozen=True)
class Stack:
    text: str  # the stack file
    notes: tuple[str, ...]  # what the pusher should know (keys Swarm ignores)


def render_stack(config: Mapping[str, Any], services: Sequence[str],
                 images: Mapping[str, str], app: str, release: str,
                 data: bool = False) -> Stack:
    """The stack file for `services` of one release (or, with `data`, the app's stateful
    services, updated stop-first: never two writers on one volume). `images`: the image to
    run for each built service."""
    notes: list[str] = []
    out_services: dict[str, Any] = {}
    used_networks: set[str] = set()
    used_volumes: set[str] = set()
    for name in services:
        source = config["services"][name]
        out_services[name] = _service(name, source, images.get(name), app, release, data,
                                      notes)
        used_networks.update(source.get("networks") or {})
        used_volumes.update(v["source"] for v in source.get("volumes") or []
                            if v.get("type") == "volume" and v.get("source"))
    document: dict[str, Any] = {"version": "3.8", "services": out_services}
    networks = {key: _network(config.get("networks", {}).get(key) or {})
                for key in sorted(used_networks)}
    if networks:
        document["networks"] = networks
    volumes = {key: _volume(spec) for key, spec in (config.get("volumes") or {}).items()
               if key in used_volumes}
    if volumes:
        document["volumes"] = volumes
    for kind in ("secrets", "configs"):
        used = {ref["source"] for svc in services
                for ref in config["services"][svc].get(kind) or [] if "source" in ref}
        if used:
            document[kind] = {key: spec for key, spec in (config.get(kind) or {}).items()
                              if key in used}
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=1000)
    return Stack(text, tuple(notes))


def _service(name: str, source: Mapping[str, Any], built: str | None, app: str,
             release: str, data: bool, notes: list[str]) -> dict[str, Any]:
    for key, why in _REFUSED.items():
        if source.get(key):
            raise OtterError(f"service {name} sets `{key}`: {why}. Remove it, or keep this "
                             "app on one host (`otterstack config APP runtime compose`)")
    ignored = sorted(key for key in _IGNORED if source.get(key))
    if ignored:
        notes.append(f"{name}: Swarm ignores {', '.join(ignored)}"
                     + (" (its restart policy is deploy.restart_policy)"
                        if "restart" in ignored else ""))
    if source.get("build") and not built:
        raise OtterError(f"service {name} is built (`build:`), and no image was built for it")
    image = built or source.get("image")
    if not image:
        raise OtterError(f"service {name} has neither `image:` nor `build:`")
    out: dict[str, Any] = {"image": image}
    for key in _KEPT:
        if key in source and source[key] not in (None, [], {}):
            out[key] = source[key]
    labels = {str(k): str(v) for k, v in (source.get("labels") or {}).items()}
    deploy = dict(source.get("deploy") or {})
    service_labels = {str(k): str(v) for k, v in (deploy.get("labels") or {}).items()}
    service_labels.update({k: v for k, v in labels.items()
                           if k.startswith("traefik.") or k == PREVIEW_LABEL})
    container_labels = {k: v for k, v in labels.items() if not k.startswith("traefik.")}
    if container_labels:
        out["labels"] = container_labels
    replicas = int(deploy.get("replicas", 1))
    if deploy.get("mode") == "global":
        raise OtterError(f"service {name} is `deploy.mode: global`: a release runs next to "
                         "the one before it, one task per node of each would be two; use "
                         "`replicas` instead")
    service_labels.update({APP_LABEL: app, RELEASE_LABEL: release,
                           REPLICAS_LABEL: str(replicas)})
    deploy["labels"] = dict(sorted(service_labels.items()))
    deploy["endpoint_mode"] = "dnsrr"
    if data:
        deploy["replicas"] = 1 if replicas else 0
        deploy["update_config"] = {**(deploy.get("update_config") or {}),
                                   "order": "stop-first"}
    out["deploy"] = deploy
    ports = source.get("ports") or []
    if ports and not data:
        shown = ports[0].get("published") or ports[0].get("target")
        raise OtterError(
            f"service {name} publishes port {shown}: on Swarm each release runs next to the "
            "one before it, so two tasks would want that port on one node. Route it through "
            "Traefik (and drop `ports:`), or, for a service that must keep one address, make "
            f"it stateful (label dev.otterstack.singleton=true) so it runs once per app")
    if ports:
        out["ports"] = [{**port, "mode": "host"} for port in ports]
    networks = source.get("networks") or {}
    if networks:
        out["networks"] = {key: ({"aliases": value["aliases"]}
                                 if value and value.get("aliases") else None)
                           for key, value in networks.items()}
    return out


def _network(spec: Mapping[str, Any]) -> dict[str, Any]:
    """An external network keeps its name; the release's own become attachable overlays
    (attachable: a one-off container of the release can join them)."""
    if spec.get("external"):
        return {"external": True, "name": spec["name"]}
    out: dict[str, Any] = {"driver": "overlay", "attachable": True}
    for key in ("driver_opts", "ipam", "internal", "labels"):
        if spec.get(key):
            out[key] = spec[key]
    return out


def _volume(spec: Mapping[str, Any]) -> dict[str, Any]:
    if spec.get("external"):
        return {"external": True, "name": spec["name"]}
    return {key: spec[key] for key in ("driver", "driver_opts", "labels") if spec.get(key)}

