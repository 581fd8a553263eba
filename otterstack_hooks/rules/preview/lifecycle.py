"""When previews go, and when a new one may come (pure: the time is an argument).

Every deploy of the app (production or preview) and `otterstack prune` remove the previews
whose branch saw no push for `preview_ttl` days; then, at `preview_limit` live previews, a
preview of a new branch is refused with the list of the live ones and how to remove one (a
push to a branch that already has one replaces it and is never refused). A refusal never
removes anything by itself: which preview goes is the team's choice, not the oldest's.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.names import printable, short

DAY = 86_400


@dataclass(frozen=True)
class LivePreview:
    """A preview as the state remembers it."""

    branch: str
    slug: str
    sha: str
    pushed_at: float  # the last push to its branch (or deploy of it)
    url: str = ""  # where its main routed service answers; empty: not yet served
    created_at: float = 0.0
    urls: tuple[str, ...] = ()  # every routed service's, the main one first
    hosts: tuple[tuple[str, str], ...] = ()  # (host, compose service) it answers at

    def notice(self) -> dict[str, str]:
        """What a notification says of it (`preview` of rules/notify_target.build_event)."""
        return {"branch": self.branch, "slug": self.slug, "url": self.url}


def stale(previews: Iterable[LivePreview], now: float, ttl_days: int) -> list[LivePreview]:
    """The previews without a push for `ttl_days` days at `now`, oldest first."""
    limit = ttl_days * DAY
    return sorted((p for p in previews if now - p.pushed_at >= limit),
                  key=lambda p: (p.pushed_at, p.slug))


def check_limit(app: str, branch: str, live: Iterable[LivePreview], limit: int,
                now: float) -> None:
    """Refuse a preview of a new branch when `limit` previews live already (after the stale
    ones went); the text lists them, newest first, and says how to make room."""
    previews = sorted(live, key=lambda p: (-p.pushed_at, p.slug))
    if any(p.branch == branch for p in previews) or len(previews) < limit:
        return
    listed = "; ".join(f"{printable(p.branch, 60)} ({short(p.sha)}, {age(now - p.pushed_at)}"
                       f"{', ' + p.url if p.url else ''})" for p in previews)
    raise OtterError(
        f"preview of {printable(branch, 60)} refused: {app} has {len(previews)} live "
        f"preview{'' if len(previews) == 1 else 's'}, its preview_limit: {listed}. Remove "
        f"one with `git push <remote> :<branch>` or `otterstack previews {app} remove "
        f"<branch>`, then push again; or an admin raises the limit: `otterstack config "
        f"{app} preview_limit {limit + 1}`")


def check_slug_free(app: str, branch: str, slug: str, live: Iterable[LivePreview]) -> None:
    """Refuse a branch whose slug a live preview of another branch has (two changed slugs
    whose hashes agree): it would replace that preview."""
    for preview in live:
        if preview.slug == slug and preview.branch != branch:
            raise OtterError(
                f"preview of {printable(branch, 60)} refused: its name {slug} is already the "
                f"preview of branch {printable(preview.branch, 60)} of {app}. Push it under "
                "another branch name, or remove that preview first (`otterstack previews "
                f"{app} remove {printable(preview.branch, 60)}`)")


def check_hosts_free(hosts: Mapping[str, str], taken: Mapping[str, str]) -> None:
    """Refuse a preview whose hosts (host -> its compose service) another preview or the
    app's production already answers at (`taken`: host -> who, e.g. "preview of branch x"):
    a branch `api-x` is served at `api-x.<domain>`, and so is service `api` of the preview
    of branch `x`."""
    for host, service in hosts.items():
        owner = taken.get(host)
        if owner is not None:
            raise OtterError(
                f"preview refused: service {service} would answer at {host}, where {owner} "
                "answers already. Push the branch under another name, or remove the other "
                "preview first")


def age(seconds: float) -> str:
    """How long ago, in the largest whole unit: `45 s`, `12 min`, `5 h`, `3 d`."""
    seconds = max(0, int(seconds))
    for unit, size in (("d", DAY), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"
