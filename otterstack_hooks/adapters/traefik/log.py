"""Traefik's log, read through the Engine: its reason for a router that never appeared."""

import time

import docker
import docker.errors

from otterstack_hooks.core.names import printable
from otterstack_hooks.rules.traefik.log_reason import log_reason


class TraefikLog:
    """Reads the Traefik container's log since a moment, at most every `every` seconds, to
    report why a router never appeared instead of waiting out the timeout."""

    def __init__(self, dc: docker.DockerClient, container: str, since: float,
                 every: float = 2.0) -> None:
        self.dc, self.container, self.since, self.every = dc, container, int(since), every
        self._read_at = 0.0
        self._lines: list[str] = []

    def reason(self, router: str) -> str | None:
        if time.monotonic() - self._read_at >= self.every:
            self._read_at = time.monotonic()
            try:
                raw = self.dc.api.logs(self.container, stdout=True, stderr=True,
                                       since=self.since, tail=2000)
                self._lines = raw.decode("utf-8", "replace").splitlines()
            except (docker.errors.DockerException, OSError):
                self._lines = []
        reason = log_reason(self._lines, router)
        return printable(reason, 200) if reason else None
