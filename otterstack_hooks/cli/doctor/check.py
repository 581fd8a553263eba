"""What `doctor` and `doctor_swarm` share: a `Check` (one line of the report) and the one
Docker client every check uses.

Kept apart so the one-host checks (`doctor`) and the Swarm checks (`doctor_swarm`) can both
import them without importing each other.
"""

from dataclasses import dataclass

import docker

from otterstack_hooks.adapters.docker import engine


@dataclass(frozen=True)
class Check:
    name: str  # e.g. "git", "docker engine", "hooks of myapp", "disk"
    ok: bool
    detail: str  # what was found
    fix: str = ""  # when not ok: exactly what to do
    warning: bool = False  # not ok, but deploys still work


class DoctorEngine:
    """One Docker client for all checks, connected on first use; its failure is kept."""

    def __init__(self) -> None:
        self._tried = False
        self._dc: docker.DockerClient | None = None
        self.error: BaseException | None = None

    def client(self) -> docker.DockerClient | None:
        if not self._tried:
            self._tried = True
            try:
                dc = engine.client()
                engine.ping(dc)
                self._dc = dc
            except Exception as exc:  # any failure: the engine check reports it
                self.error = exc
        return self._dc
