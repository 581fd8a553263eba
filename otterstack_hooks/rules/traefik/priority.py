"""The priority of a release's router.

Priorities must order routers exactly as Traefik would without OtterStack (the user's priority,
else the rule's length), since several apps share one Traefik: a global clock as the major key
once sent every request of one app to a catch-all of another. So the major key is Traefik's own
and the minor key is the release number, which only decides between two releases of one app.
Where a new router would rank below an overlapping router of the release it replaces (its rule
became shorter), it is raised just above that router: the newer release must win the requests
both match, or the switch could never be proven.
"""

import re
from collections.abc import Container, Sequence
from dataclasses import dataclass

from otterstack_hooks.rules.traefik.rule_parser import may_overlap

_PRIORITY = re.compile(r"[0-9]{1,10}")
# priority = major (the user's priority or the rule length) * PRIORITY_SCALE + release number
PRIORITY_SCALE = 10**9
MAX_PRIORITY = 2**63 - 1 - 1000  # Traefik disables routers above this
MAX_USER_PRIORITY = MAX_PRIORITY // PRIORITY_SCALE - 1


class PriorityError(ValueError):
    """A router's priority Traefik would not take; the message says how to fix it."""


@dataclass(frozen=True)
class Incumbent:
    """A router of the release that serves the same app now, as Traefik runs it."""

    protocol: str
    name: str
    rule: str | None
    entrypoints: tuple[str, ...]
    priority: int
    original: str = ""  # the router's name as the user wrote it (release_names.original_name)


def user_priority(priority: str | None, rule: str | None) -> int:
    """The priority the user asked for (the label's value), or Traefik's default (the
    rule's length in bytes, as Traefik counts)."""
    if priority is not None:
        if not _PRIORITY.fullmatch(priority.strip()) or int(priority) > MAX_USER_PRIORITY:
            raise PriorityError(f"priority must be an integer 0..{MAX_USER_PRIORITY}; fix it")
        return int(priority)
    if rule is None:
        return 0
    return len(rule.encode())


def release_priority(proto: str, name: str, major: int, sequence: int, rule: str | None,
                     entrypoints: list[str], incumbents: Sequence[Incumbent],
                     ours: Container[str]) -> tuple[int, tuple[str, ...]]:
    """Traefik's own rank (`major`) as the major key, the release number (`sequence`) as the
    minor one; raised just above any overlapping router of the replaced release that would
    still outrank it. `ours`: the names of this release's routers of `proto`. With the
    incumbents it was raised above."""
    priority = major * PRIORITY_SCALE + sequence
    # Only the router's own predecessor (same name), or a router this release no longer has,
    # must be outranked: a router the user ranked higher keeps its rank (its successor in this
    # release takes its requests), or the raise would tie routers the user ordered.
    above = [
        incumbent for incumbent in incumbents
        if incumbent.protocol == proto and incumbent.priority >= priority
        and (incumbent.original == name or incumbent.original not in ours)
        and may_overlap(proto, rule, entrypoints, incumbent.rule, incumbent.entrypoints)
    ]
    if above:
        priority = max(incumbent.priority for incumbent in above) + 1
    if priority > MAX_PRIORITY:
        raise PriorityError(f"priority {priority} exceeds Traefik's maximum {MAX_PRIORITY}; "
                            "lower the router's priority")
    return priority, tuple(sorted(incumbent.name for incumbent in above))
