"""The Router port (ports.Router) on Traefik's swarm provider: the same proof as on one host
(router.TraefikRouter: the API shows every new router enabled, then real requests), with the
routers found under `@swarm`, and a release taken out of traffic through its services'
labels. Its metrics (`scrape_metrics`, for the watch after a switch) are read as on one
host, at `/metrics` beside the API on the task's address that `detect` found; their series
name services `...@swarm`.

Traefik's swarm provider polls (`--providers.swarm.refreshSeconds`, 15 s by default) instead
of following events, so "out of traffic" is only true once the API no longer lists the
release's routers: `withdraw` changes the label, then waits for that, a poll and a throttle
later at most.
"""

import time

from otterstack_hooks.adapters.docker import engine
from otterstack_hooks.adapters.local import process
from otterstack_hooks.adapters.traefik.router import TraefikRouter
from otterstack_hooks.core.ports import Say
from otterstack_hooks.rules import command_lines as commands
from otterstack_hooks.rules.traefik.fence import routers_of
from otterstack_hooks.rules.traefik.routing_plan import TraefikInfo

POLL_SECONDS = 45  # the default refresh (15 s) and throttle (2 s), twice, and some margin


class SwarmTraefikRouter(TraefikRouter):
    PROVIDER = "swarm"

    def wait_enabled(self, info: TraefikInfo, routers: list[tuple[str, str]], timeout: float,
                     say: Say, since: float) -> None:
        """At least one poll of the swarm provider, and a throttle, later."""
        super().wait_enabled(info, routers, max(timeout, POLL_SECONDS), say, since)

    def router_names(self, project: str) -> dict[str, set[str]]:
        """From the labels of the stack's services (the swarm provider reads those)."""
        return routers_of(s["Spec"].get("Labels") or {}
                          for s in engine.stack_services(self.dc, project))

    def withdraw(self, info: TraefikInfo, project: str) -> bool:
        """`traefik.enable=false` on the release's routed services (their tasks keep
        running, and finish what they serve), then wait until Traefik dropped the routers."""
        self._label(project, "false")
        return self._wait(info, project, present=False)

    def readmit(self, info: TraefikInfo, project: str) -> bool:
        self._label(project, "true")
        return self._wait(info, project, present=True)

    def unfence(self, info: TraefikInfo, project: str) -> None:
        """The label stays on the stopped services: nothing to undo (a readmit sets it)."""

    def _label(self, project: str, enable: str) -> None:
        services = [s["Spec"]["Name"]
                    for s in engine.stack_services(self.dc, project, "traefik.enable")]
        for name in services:
            process.run_checked(commands.service_labels(name, {"traefik.enable": enable}), 60,
                                f"changing the labels of {name}")

    def _wait(self, info: TraefikInfo, project: str, present: bool) -> bool:
        deadline = time.monotonic() + POLL_SECONDS
        while True:
            listed = self.routers_of(info, project)
            if listed is not None and bool(listed) == present:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
