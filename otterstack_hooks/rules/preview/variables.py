"""A preview's variables: its own, and production's only where an admin shared them (pure).

A preview runs the code of any branch of any pusher of the app, before review: production's
secrets (a payment key, the database password) must not reach it by default. So a preview
gets the variables set for previews (`otterstack env APP --preview set KEY`), and of
production's only those an admin marked shared (`otterstack env APP share KEY`: a public
API base URL, a feature flag); a preview variable wins over a shared one of the same name.
"""

from collections.abc import Iterable, Mapping

from otterstack_hooks.core.errors import OtterError


def preview_environment(production: Mapping[str, str], preview: Mapping[str, str],
                        shared: Iterable[str]) -> dict[str, str]:
    """What a preview's Compose environment holds: shared production values, then the
    preview's own over them. A shared name production no longer has is left out."""
    own = dict(preview)
    return {**{k: production[k] for k in shared if k in production and k not in own}, **own}


def check_shareable(names: Iterable[str], production: Mapping[str, str], app: str) -> None:
    """Only a variable production has can be shared: a typo would share nothing, silently."""
    missing = sorted(set(names) - set(production))
    if missing:
        raise OtterError(f"{app} has no production variable {', '.join(missing)} to share "
                         f"with its previews (`otterstack env {app} list` shows them)")
