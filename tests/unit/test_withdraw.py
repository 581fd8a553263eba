"""traefik.withdraw against a fake Docker client and a fake Traefik API: every container
paused, Traefik made to re-read, every container unpaused; a pause the kernel refuses once
is tried again; what runs `held_out` (a stop) runs paused. (A release Traefik routes again
later stops held out: release_steps.stop_withdrawn, in test_deploy_rules.py.)"""

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


def test_what_runs_held_out_runs_with_every_container_paused(world):
    import docker.errors
    api = FakeApi(sick_after_pause=False)
    stopped: set[str] = set()
    real_unpause = api.unpause

    def unpause(container):  # Docker's own answer for a container the stop resumed
        if container in stopped:
            api.calls.append(("unpause refused", container))
            raise docker.errors.APIError("is not paused", SimpleNamespace(status_code=409))
        real_unpause(container)
    api.unpause = unpause
    dc = SimpleNamespace(api=api, containers=FakeContainers())
    with traefik.held_out(dc, INFO, "app-r2") as out:
        assert out and not world["listed"]
        assert sorted(api.calls) == [("pause", "c1"), ("pause", "c2")]
        stopped.update(api.health)
    # a refused unpause of a stopped container is not tried again
    assert sorted(api.calls)[2:] == [("unpause refused", "c1"), ("unpause refused", "c2")]


def test_a_release_traefik_already_left_out_is_held_without_a_reread(world):
    world["listed"] = False
    api = FakeApi(sick_after_pause=False)
    dc = SimpleNamespace(api=api, containers=FakeContainers())
    with traefik.held_out(dc, INFO, "app-r2") as out:
        assert out
    assert world["rereads"] == 0
    assert sorted(api.calls) == [("pause", "c1"), ("pause", "c2"), ("unpause", "c1"),
                                 ("unpause", "c2")]


def test_routers_a_stale_reread_brings_back_while_it_settles_are_taken_out_again(
        world, monkeypatch):
    calls = {"n": 0}

    def routers(api, project):  # Traefik applies a re-read it began before the pause, once
        calls["n"] += 1
        if calls["n"] == 3:
            world["listed"] = True
        return [{"name": f"web-{project}@docker"}] if world["listed"] else []
    monkeypatch.setattr(traefik, "release_routers", routers)
    api = FakeApi(sick_after_pause=False)
    dc = SimpleNamespace(api=api, containers=FakeContainers())
    with traefik.held_out(dc, INFO, "app-r2", settle=0.2) as out:
        assert out and not world["listed"]
        assert world["rereads"] == 2
