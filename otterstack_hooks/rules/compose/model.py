"""Pure reading of `docker compose config --format json` output: what a release consists of."""

from dataclasses import dataclass, field, replace
from typing import Any

from otterstack_hooks.core.errors import OtterError

COMPOSE_FILE_CANDIDATES = (
    "compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml",
)


@dataclass(frozen=True)
class ServiceModel:
    name: str
    labels: dict[str, str]
    image: str
    builds: bool
    healthcheck: bool | None  # True defined, False disabled, None: whatever the image says
    host_ports: tuple[str, ...]
    container_name: str | None
    networks: tuple[str, ...]
    replicas: int
    named_volumes: tuple[str, ...] = ()  # keys of top-level volumes it mounts
    deploy_labels: dict[str, str] = field(default_factory=dict)  # Swarm's service labels
    build_labels: dict[str, str] = field(default_factory=dict)  # the built image's labels


@dataclass(frozen=True)
class ComposeModel:
    services: dict[str, ServiceModel]
    networks: dict[str, Any] = field(default_factory=dict)
    volumes: dict[str, Any] = field(default_factory=dict)

    def only(self, names: tuple[str, ...]) -> "ComposeModel":
        """The same project restricted to some services."""
        return ComposeModel({n: self.services[n] for n in names}, self.networks, self.volumes)

    def routed(self) -> list[ServiceModel]:
        return [s for s in self.services.values() if is_routed(s.labels)]

    def relabelled(self, labels: dict[str, dict[str, str]]) -> "ComposeModel":
        """The same project with each service's labels replaced (a preview's hosts)."""
        return ComposeModel({n: replace(svc, labels=labels[n]) for n, svc in
                             self.services.items()}, self.networks, self.volumes)

    def with_deploy_labels(self) -> "ComposeModel":
        """`deploy.labels` (Swarm's form) used as container labels, for users who opt in;
        a label set in both places keeps its container value."""
        services = {
            name: replace(svc, labels={**svc.deploy_labels, **svc.labels})
            for name, svc in self.services.items()
        }
        return ComposeModel(services, self.networks, self.volumes)


def image_repository(image: str) -> str:
    """`registry:5000/library/traefik:v3@sha256:...` -> `registry:5000/library/traefik`."""
    name = image.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    last = last.split(":", 1)[0]
    return f"{head}/{last}" if head else last


def runs_traefik(image: str) -> bool:
    """Whether an image reference is Traefik's (`traefik:v3.6`, `docker.io/library/traefik`):
    the last part of its repository is `traefik`. One rule for finding the user's Traefik and
    for refusing a compose file that runs one."""
    return image_repository(image).rsplit("/", 1)[-1].lower() == "traefik"


# Values Go's strconv.ParseBool reads as true (compared lower-cased), as Traefik does.
TRUE_VALUES = frozenset({"true", "t", "1"})


def is_routed(labels: dict[str, str]) -> bool:
    """Whether Traefik (exposedbydefault=false) routes a service with these labels."""
    return str(labels.get("traefik.enable", "")).strip().lower() in TRUE_VALUES


def label_map(labels: Any) -> dict[str, str]:
    """Compose normalises labels to a mapping; be lenient with the list form anyway."""
    if isinstance(labels, list):
        labels = dict(item.split("=", 1) if "=" in item else (item, "") for item in labels)
    return {str(k): str(v) for k, v in (labels or {}).items()}


def build_labels(svc: dict[str, Any]) -> dict[str, str]:
    """`build.labels`: labels of the built image, which its containers inherit."""
    build = svc.get("build")
    return label_map(build.get("labels")) if isinstance(build, dict) else {}


def parse_config(config: Any, project: str) -> ComposeModel:
    """Turn compose's effective config into the few facts a deploy decides on."""
    if not isinstance(config, dict) or not isinstance(config.get("services"), dict):
        raise OtterError("the compose file defines no services: add a `services:` section")
    if not config["services"]:
        raise OtterError("the compose file defines no services: add a `services:` section")
    services = {}
    for name, svc in config["services"].items():
        health = svc.get("healthcheck")
        if health is None:
            healthcheck = None
        else:
            healthcheck = not health.get("disable", False) and health.get("test") not in (
                None, [], ["NONE"])
        ports = tuple(
            f"{p.get('host_ip') or '0.0.0.0'}:{p['published']}->{p.get('target')}"
            f"/{p.get('protocol', 'tcp')}"
            for p in svc.get("ports") or []
            if p.get("published")
        )
        deploy = svc.get("deploy") or {}
        replicas = deploy.get("replicas")
        services[name] = ServiceModel(
            name=name,
            labels=label_map(svc.get("labels")),
            image=svc.get("image") or f"{project}-{name}",
            builds="build" in svc,
            healthcheck=healthcheck,
            host_ports=ports,
            container_name=svc.get("container_name"),
            networks=tuple(svc.get("networks") or {"default": None}),
            replicas=1 if replicas is None else int(replicas),
            named_volumes=tuple(
                v["source"] for v in svc.get("volumes") or []
                if v.get("type") == "volume" and v.get("source")
            ),
            deploy_labels=label_map(deploy.get("labels")),
            build_labels=build_labels(svc),
        )
    return ComposeModel(services=services, networks=dict(config.get("networks") or {}),
                        volumes=dict(config.get("volumes") or {}))


def pick_compose_file(configured: str, present: set[str]) -> str:
    """The configured compose file, or the first of Compose's own default names present."""
    if configured:
        if configured not in present:
            raise OtterError(
                f"compose file {configured!r} is not in this commit; add it, or change the "
                f"app's setting with `otterstack config APP compose_file FILE`"
            )
        return configured
    for name in COMPOSE_FILE_CANDIDATES:
        if name in present:
            return name
    raise OtterError(
        "no compose file in this commit: add compose.yaml (or docker-compose.yml) to the "
        "repo root, or set another path with `otterstack config APP compose_file FILE`"
    )
