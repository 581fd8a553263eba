"""Checks of the images a release starts, before it starts: a routed service needs a
HEALTHCHECK (or it would get traffic the moment it starts), and no image may carry Traefik
labels (its containers would get them where the compose policy does not look). An image
not pulled yet is pulled through the Runtime to be read."""

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.ports import Ports
from otterstack_hooks.core.records import App
from otterstack_hooks.rules.command_lines import ComposeTarget
from otterstack_hooks.rules.compose.model import ComposeModel


def check_healthchecks(ports: Ports, app: App, target: ComposeTarget,
                       model: ComposeModel) -> None:
    """A routed service without a HEALTHCHECK would get traffic the moment it starts."""
    if not app.traefik_routing or not app.require_healthcheck:
        return
    runtime = ports.runtime
    for svc in model.routed():
        has = svc.healthcheck
        if has is None:
            has = runtime.image_has_healthcheck(svc.image)
            if has is None:  # not pulled yet: its HEALTHCHECK is in the image
                runtime.pull(target, svc.name)
                has = runtime.image_has_healthcheck(svc.image)
        if not has:
            raise OtterError(
                f"service {svc.name} is routed by Traefik but has no HEALTHCHECK, so it "
                "would get traffic before it is ready: add one to the service (e.g. "
                "`healthcheck: {test: [CMD, wget, -q, -O, /dev/null, "
                "http://127.0.0.1:8000/], interval: 2s}`) or to its Dockerfile, or opt out "
                f"with `otterstack config {app.name} require_healthcheck off`")

def check_image_labels(ports: Ports, target: ComposeTarget, model: ComposeModel,
                       images: dict[str, str] | None = None) -> None:
    """Docker gives a container its image's labels too, where the compose policy does
    not look: a Dockerfile's `LABEL traefik.http.routers.x.service=api@internal`, or an
    image pulled with such labels, would route what the policy refuses. So the images
    of what starts may carry no Traefik label (`images`: service -> image, where it is
    not the model's)."""
    runtime = ports.runtime
    for svc in model.services.values():
        image = (images or {}).get(svc.name, svc.image)
        labels = runtime.image_labels(image)
        if labels is None:  # not pulled yet: its labels are in the image
            runtime.pull(target, svc.name)
            labels = runtime.image_labels(image) or {}
        found = sorted(key for key in labels if key.lower().startswith("traefik."))
        if found:
            raise OtterError(
                f"service {svc.name}: its image {image} carries Traefik labels "
                f"({', '.join(found[:3])}{', ...' if len(found) > 3 else ''}), which "
                "its containers would get where the compose policy does not see them; "
                "put Traefik labels in the compose file, and build or pull an image "
                "without them")
