"""The Router port (ports.Router) on Traefik's docker provider: find Traefik, read its API
and its metrics, send real requests through it, take a release out of it. Thin over
discovery, api_client, probe and fence."""

from typing import Any

import docker

from otterstack_hooks.adapters.docker import engine
from otterstack_hooks.adapters.traefik import api_client, discovery
from otterstack_hooks.adapters.traefik import fence as traefik_fence
from otterstack_hooks.adapters.traefik import probe as traefik_probe
from otterstack_hooks.adapters.traefik.log import TraefikLog
from otterstack_hooks.core.ports import Say
from otterstack_hooks.rules.traefik.routing_plan import Probe, TraefikInfo


class TraefikRouter:
    PROVIDER = "docker"  # the Traefik provider that reads the releases' labels

    def __init__(self, settings: Any):
        """`settings` answers `setting(key)` (the store): which Traefik, API and network."""
        self._settings = settings

    @property
    def dc(self) -> docker.DockerClient:
        """The process's one client (engine.client), made on first use."""
        return engine.client()

    def detect(self) -> TraefikInfo | None:
        return discovery.detect(self.dc, self._settings.setting("traefik_container"),
                                 self._settings.setting("traefik_api_url"),
                                 self._settings.setting("traefik_network"), self.PROVIDER)

    def routers_of(self, info: TraefikInfo, project: str) -> list[dict[str, Any]] | None:
        return api_client.release_routers(info.api_url, project, self.router_names(project),
                                          self.PROVIDER)

    def router_names(self, project: str) -> dict[str, set[str]]:
        """The router names the release's own labels define, by protocol: how its routers
        are told from every other app's (api_answers.release_routers_of)."""
        return traefik_fence.router_names(self.dc, project)

    def wait_enabled(self, info: TraefikInfo, routers: list[tuple[str, str]], timeout: float,
                     say: Say, since: float) -> None:
        log = TraefikLog(self.dc, info.container, since)
        api_client.wait_enabled(info.api_url, routers, timeout, say, log.reason, self.PROVIDER)

    def probe(self, check: Probe, header: str) -> tuple[int, str | None]:
        try:
            return traefik_probe.probe(check.port, check.host, check.path, header, tls=check.tls)
        except OSError:
            return 0, None

    def withdraw(self, info: TraefikInfo, project: str) -> bool:
        return traefik_fence.withdraw(self.dc, info, project)

    def readmit(self, info: TraefikInfo, project: str) -> bool:
        return traefik_fence.readmit(self.dc, info, project)

    def unfence(self, info: TraefikInfo, project: str) -> None:
        traefik_fence.unfence(self.dc, project)

    def sweep(self, app: str) -> list[str]:
        return traefik_fence.sweep(self.dc, app)

    def scrape_metrics(self, info: TraefikInfo, timeout: float) -> str:
        return api_client.metrics_page(info.api_url, timeout)
