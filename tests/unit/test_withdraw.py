"""Taking a release out of Traefik with a fence (rules/traefik/fence.py,
adapters/traefik/fence.py): the fence's labels redefine every router of the release,
differently, and copy what the user's Traefik
selects containers by; the adapter starts one fence per project, waits for the API, and
removes fences by label. Against a fake Docker client and a fake Traefik API; the real thing
is in tests/integration/test_stop_gap.py."""

from types import SimpleNamespace
from typing import Any

import pytest

from otterstack_hooks.adapters.docker import engine
from otterstack_hooks.adapters.swarm.router import SwarmTraefikRouter
from otterstack_hooks.adapters.traefik import fence as traefik_fence
from otterstack_hooks.rules.traefik.fence import FENCE_HOST, FENCE_LABEL, fence_labels, routers_of
from otterstack_hooks.rules.traefik.routing_plan import TraefikInfo

APP = "dev.otterstack.app"
INFO = TraefikInfo("traefik", "http://api", "edge", {"web": 80}, image="traefik:v3")
WEB = {
    "com.docker.compose.project": "app-r2",
    "com.docker.compose.service": "web",
    "dev.otterstack.release": "r2",
    "traefik.enable": "true",
    "traefik.docker.network": "edge",
    "tier": "public",  # what a user's --providers.docker.constraints may select on
    "traefik.http.routers.web~app-r2.rule": "Host(`app.example.com`)",
    "traefik.http.routers.web~app-r2.entrypoints": "websecure",
    "traefik.http.routers.web~app-r2.middlewares": "auth@file",
    "traefik.http.services.web~app-r2.loadbalancer.server.port": "8000",
}
DB = {"traefik.enable": "true",
      "traefik.tcp.routers.db~app-r2.rule": "HostSNI(`db.example.com`)",
      "traefik.udp.routers.dns~app-r2.entrypoints": "dns"}


def test_every_router_of_the_release_is_defined_again_differently():
    labels = fence_labels([WEB, DB], "app-r2")
    assert routers_of([labels]) == routers_of([WEB, DB]) == {
        "http": {"web~app-r2"}, "tcp": {"db~app-r2"}, "udp": {"dns~app-r2"}}
    assert labels["traefik.http.routers.web~app-r2.rule"] == f"Host(`{FENCE_HOST}`)"
    assert labels["traefik.tcp.routers.db~app-r2.rule"] == f"HostSNI(`{FENCE_HOST}`)"
    for protocol, name in (("http", "web~app-r2"), ("tcp", "db~app-r2"), ("udp", "dns~app-r2")):
        service = labels[f"traefik.{protocol}.routers.{name}.service"]
        assert service == "otterstack-fence-app-r2"
        assert labels[f"traefik.{protocol}.services.{service}.loadbalancer.server.port"] == "9"


def test_the_fence_is_read_by_the_same_traefik_and_belongs_to_no_project():
    labels = fence_labels([WEB], "app-r2")
    assert labels["traefik.enable"] == "true"
    assert labels["traefik.docker.network"] == "edge"
    assert labels["tier"] == "public"
    assert labels[FENCE_LABEL] == "app-r2"
    assert not [k for k in labels if k.startswith(("com.docker.compose.", "dev.otterstack.r"))]
    # none of the release's own routing is copied: middlewares, entrypoints, its service
    assert not [k for k in labels if "middlewares" in k or "entrypoints" in k
                or "web~app-r2.loadbalancer" in k]


def test_a_release_without_routers_needs_no_fence():
    assert fence_labels([{"traefik.enable": "false", "x": "y"}], "app-r2") == {}


class FakeApi:
    """Containers by labels; a fence that `run` starts becomes one of them."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = [
            {"Id": "web1", "State": "running", "Labels": WEB}]
        self.removed: list[str] = []

    def containers(self, all: bool = False, filters: dict | None = None):
        wanted = (filters or {}).get("label", [])
        wanted = [wanted] if isinstance(wanted, str) else wanted

        def has(labels: dict, spec: str) -> bool:
            key, _, value = spec.partition("=")
            return key in labels and (not value or labels[key] == value)

        matching = [c for c in self.items
                    if not [w for w in wanted if not has(c["Labels"], w)]]
        return [c for c in matching if all or c["State"] == "running"]

    def remove_container(self, container: str, force: bool) -> None:
        self.removed.append(container)
        self.items = [c for c in self.items if c["Id"] != container]


@pytest.fixture
def world(monkeypatch):
    api = FakeApi()
    state: dict[str, Any] = {"runs": []}

    def run(image, command, **kw):
        state["runs"].append((image, kw["name"], kw["network"]))
        api.items.append({"Id": f"fence{len(state['runs'])}", "State": "running",
                          "Labels": kw["labels"]})

    def routers(api_url, project, names):  # Traefik: a fenced project's routers are dropped
        state["names"] = names
        fenced = api.containers(filters={"label": f"{FENCE_LABEL}={project}"})
        running = api.containers(filters={"label": f"com.docker.compose.project={project}"})
        return [] if fenced or not running else [{"name": f"{n}@docker"} for n in names["http"]]

    monkeypatch.setattr(traefik_fence, "release_routers", routers)
    dc = SimpleNamespace(api=api, containers=SimpleNamespace(run=run))
    return SimpleNamespace(api=api, dc=dc, state=state)


def test_withdraw_starts_one_fence_and_waits_until_the_routers_are_gone(world):
    assert traefik_fence.withdraw(world.dc, INFO, "app-r2")
    assert world.state["runs"] == [("traefik:v3", "otterstack-fence-app-r2", "edge")]
    assert world.state["names"] == {"http": {"web~app-r2"}}  # the release's own, exactly
    assert traefik_fence.withdraw(world.dc, INFO, "app-r2")  # again: the same fence serves
    assert len(world.state["runs"]) == 1


def test_a_fence_a_killed_deploy_left_for_other_labels_is_replaced(world):
    world.api.items.append({"Id": "old", "State": "exited",
                            "Labels": {FENCE_LABEL: "app-r2"}})
    assert traefik_fence.withdraw(world.dc, INFO, "app-r2")
    assert world.api.removed == ["old"] and len(world.state["runs"]) == 1


def test_readmit_removes_the_fence_and_waits_for_the_routers(world):
    assert traefik_fence.withdraw(world.dc, INFO, "app-r2")
    assert traefik_fence.readmit(world.dc, INFO, "app-r2")
    assert not world.api.containers(all=True, filters={"label": FENCE_LABEL})


def test_without_traefiks_image_there_is_no_fence_and_withdraw_says_so(world):
    no_image = TraefikInfo("traefik", "http://api", "edge", {"web": 80})
    assert not traefik_fence.withdraw(world.dc, no_image, "app-r2", timeout=0.1)
    assert world.state["runs"] == []


def test_sweep_removes_only_the_fences_of_releases_that_no_longer_run(world):
    world.api.items += [
        {"Id": "f-live", "State": "running", "Labels": {FENCE_LABEL: "app-r2", APP: "app"}},
        {"Id": "f-dead", "State": "running", "Labels": {FENCE_LABEL: "app-r1", APP: "app"}},
        {"Id": "f-other", "State": "running", "Labels": {FENCE_LABEL: "b-r1", APP: "b"}}]
    assert traefik_fence.sweep(world.dc, "app") == ["app-r1"]
    assert world.api.removed == ["f-dead"]  # another app's is its own deploy's business


def test_a_release_deployed_before_the_separator_is_waited_for_by_its_own_names(world):
    """Its routers are `<name>-<project>`, which another app's could end in: the wait asks
    for the exact names its labels define."""
    old = {k.replace("~", "-"): v for k, v in WEB.items()}
    world.api.items = [{"Id": "web1", "State": "running", "Labels": old}]
    assert traefik_fence.withdraw(world.dc, INFO, "app-r2")
    assert world.state["names"] == {"http": {"web-app-r2"}}
    assert traefik_fence.readmit(world.dc, INFO, "app-r2")


def test_on_swarm_a_releases_router_names_are_read_from_its_stacks_services(monkeypatch):
    """The swarm provider reads services' labels: the exact names to find are theirs."""
    asked = []

    def services(filters):
        asked.append(filters)
        return [{"Spec": {"Labels": {"traefik.http.routers.web~app-r2.rule": "Host(`a`)",
                                     "traefik.tcp.routers.db-app-r2.rule": "HostSNI(`b`)"}}},
                {"Spec": {}}]

    monkeypatch.setattr(engine, "client", lambda: SimpleNamespace(
        api=SimpleNamespace(services=services)))
    names = SwarmTraefikRouter(settings=None).router_names("app-r2")
    assert names == {"http": {"web~app-r2"}, "tcp": {"db-app-r2"}}
    assert asked == [{"label": "com.docker.stack.namespace=app-r2"}]
