"""Containers as `otterstack status` shows them (pure): one row each, by name, with its
service, state and health."""

from collections.abc import Iterable

from otterstack_hooks.rules.health import ContainerSnapshot


def container_rows(snapshots: Iterable[ContainerSnapshot]) -> list[dict[str, str]]:
    """name, service, status and health ("no healthcheck" without one), sorted by name."""
    rows = [{"name": snap.name, "service": snap.service, "status": snap.status,
             "health": snap.health or "no healthcheck"} for snap in snapshots]
    return sorted(rows, key=lambda row: row["name"])
