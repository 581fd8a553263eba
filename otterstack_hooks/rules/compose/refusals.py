"""Compose files OtterStack refuses before anything starts (pure), each with the fix.

Both shapes come from compose files people copy from docs and templates; deployed as they are,
each one broke silently: a second Traefik started for every release, or every request got
Traefik's 404 while the deploy reported success.
"""

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.rules.compose.model import ComposeModel, runs_traefik


def check_compose_rules(model: ComposeModel, app: str, use_deploy_labels: bool) -> None:
    """Refuse a compose file that contains Traefik itself, or whose Traefik labels exist only
    in `deploy.labels` (Swarm's form, which Compose on one host never gives to containers)."""
    for svc in model.services.values():
        if runs_traefik(svc.image):
            raise OtterError(
                f"service {svc.name} runs Traefik itself (image {svc.image}). Every release "
                "starts next to the previous one, so each deploy would start another Traefik. "
                "Run the proxy once, outside the app: `otterstack traefik up`, or your own "
                "Traefik; then leave it out of the file OtterStack deploys: give the service "
                "`profiles: [proxy]` (Compose then skips it), or move the app's services to "
                "their own compose file and point OtterStack at it (`otterstack config "
                f"{app} compose_file FILE`, or install.sh --compose-file FILE)"
            )
    if use_deploy_labels:
        return
    for svc in model.services.values():
        ignored = sorted(key for key, value in svc.deploy_labels.items()
                         if key.startswith("traefik.") and svc.labels.get(key) != value)
        if ignored:
            raise OtterError(
                f"service {svc.name} has Traefik labels under deploy.labels ({ignored[0]}"
                f"{f' and {len(ignored) - 1} more' if len(ignored) > 1 else ''}): that is "
                "Docker Swarm's form, and on one host Compose never gives them to the "
                "container, so Traefik would not route it (every request a 404). Move them to "
                f"the service's `labels:`, or let OtterStack use them as container labels: "
                f"`otterstack config {app} use_deploy_labels on`"
            )
