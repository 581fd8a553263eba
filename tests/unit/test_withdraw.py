"""traefik.withdraw against a fake Docker client and a fake Traefik API: every container
paused, Traefik made to re-read, every container unpaused; a pause the kernel refuses once
is tried again. (A release Traefik routes again later is taken out again before it stops:
release_steps.stop_withdrawn, in test_deploy_rules.py.)"""

from types import SimpleNamespace

import pytest

from otterstack_hooks import traefik
from otterstack_hooks.routing import TraefikInfo

INFO = TraefikInfo("traefik", "http://api", "edge", {"web": 80}, image="traefik:v3")


class FakeApi:
    """Containers that can be paused; `sick_after_pause`: their health after an unpause
    (they turn healthy on the first inspect after it, as a passing check would)."""

    def __init__(self, sick_after_pause: bool):
        self.sick_after_pause = sick_after_pause
        self.calls: list[tuple[str, str]] = []
        self.health = {"c1": "healthy", "c2": "healthy"}

    def containers(self, filters):
        return [{"Id": c} for c in self.health]

    def pause(self, container):
        self.calls.append(("pause", container))

    def unpause(self, container):
        self.calls.append(("unpause", container))
        if self.sick_after_pause:
            self.health[container] = "unhealthy"

    def inspect_container(self, container):
        status = self.health[container]
        if status == "unhealthy":
            self.health[container] = "healthy"  # the next check passes
        return {"State": {"Health": {"Status": status}}}


class FakeContainers:
    def create(self, image, command, **kw):
        return SimpleNamespace(start=lambda: None, remove=lambda force: None)


@pytest.fixture
def world(monkeypatch):
    state = {"listed": True, "rereads": 0}

    def routers(api, project):
        return [{"name": f"web-{project}@docker"}] if state["listed"] else []

    def reread(dc, image):  # Traefik re-reads: paused containers are left out
        state["rereads"] += 1
        state["listed"] = False

    monkeypatch.setattr(traefik, "release_routers", routers)
    monkeypatch.setattr(traefik, "_trigger_reread", reread)
    return state


def test_a_release_that_stayed_healthy_is_taken_out_once(world):
    api = FakeApi(sick_after_pause=False)
    dc = SimpleNamespace(api=api, containers=FakeContainers())
    assert traefik.withdraw(dc, INFO, "app-r2")
    assert world["rereads"] == 1
    assert sorted(api.calls) == [("pause", "c1"), ("pause", "c2"), ("unpause", "c1"),
                                 ("unpause", "c2")]


def test_a_pause_the_kernel_refuses_once_is_tried_again(world):
    import docker.errors
    api = FakeApi(sick_after_pause=False)
    refused = {"c2"}
    real_pause = api.pause

    def pause(container):
        if container in refused:
            refused.discard(container)
            raise docker.errors.APIError("OCI runtime pause failed: unable to freeze")
        real_pause(container)
    api.pause = pause
    dc = SimpleNamespace(api=api, containers=FakeContainers())
    assert traefik.withdraw(dc, INFO, "app-r2")
    assert sorted(c for c in api.calls if c[0] == "unpause") == [("unpause", "c1"),
                                                                 ("unpause", "c2")]
