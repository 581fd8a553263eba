"""Names that reach Docker are the app's own (rules/compose/names.py, through compose_policy): the
attacks of the issue, each refused with `shared-names`, and what an ordinary app does."""

import pytest

from otterstack_hooks.rules.compose.access import Access
from otterstack_hooks.rules.compose.names import owns_project
from otterstack_hooks.rules.compose.policy import refusals

CHECKOUT = "/data/apps/evil/releases/r3"
BUILT = {"build": {"context": CHECKOUT, "dockerfile": "Dockerfile"}}


def config(**top) -> dict:
    return {"name": "evil-r3", "services": {"web": dict(BUILT)}, **top}


def refused(cfg: dict, edge: frozenset[str] = frozenset(), images: dict | None = None
            ) -> list[tuple[str, str]]:
    found = refusals(cfg, CHECKOUT, app="evil", edge=edge,
                     image_project=lambda ref: (images or {}).get(ref))
    return [(r.key, r.access.value) for r in found]


@pytest.mark.parametrize(("top", "key"), [
    ({"volumes": {"d": {"name": "shop_data"}}}, "volumes.d"),
    ({"volumes": {"d": {"name": "shop_data", "external": True}}}, "volumes.d"),
    ({"networks": {"n": {"name": "shop_default", "external": True}}}, "networks.n"),
    ({"networks": {"n": {"name": "shop-r7_default"}}}, "networks.n"),
    ({"secrets": {"s": {"name": "shop_token", "external": True}}}, "secrets.s"),
    ({"configs": {"c": {"name": "shop_conf", "external": True}}}, "configs.c"),
    ({"volumes": {"d": {"name": "evil-x_data"}}}, "volumes.d"),  # app evil-x's, not evil's
])
def test_another_apps_volume_network_secret_or_config_is_refused(top, key):
    assert (key, "shared-names") in refused(config(**top))


def test_the_apps_own_names_and_traefiks_network_pass():
    cfg = config(volumes={"d": {"name": "evil-r3_d"}, "e": {"name": "evil_e"}},
                 networks={"default": {"name": "evil-r3_default"},
                           "proxy": {"name": "proxy", "external": True},
                           "own": {"name": "evil_own", "external": True}})
    assert [k for k in refused(cfg, edge=frozenset({"proxy"})) if k[1] == "shared-names"] \
        == []
    # the same network, when it is not Traefik's, is someone else's
    assert ("networks.proxy", "shared-names") in refused(cfg)


def test_a_built_service_keeps_the_name_otterstack_gives_its_image():
    cfg = config()
    cfg["services"]["web"] = {**BUILT, "image": "busybox:latest"}
    assert refused(cfg) == [("image", "shared-names")]
    cfg["services"]["web"] = {"build": {**BUILT["build"], "tags": ["busybox:latest"]}}
    assert refused(cfg) == [("build.tags", "shared-names")]


def test_an_image_another_app_built_is_refused_by_its_label_not_its_name():
    cfg = config()
    cfg["services"]["web"] = {"image": "shop-r7-web"}
    images = {"shop-r7-web": "shop-r7", "evil-r2-web": "evil-r2", "redis:7": None}
    assert refused(cfg, images=images) == [("image", "shared-names")]
    cfg["services"]["web"] = {"image": "evil-r2-web"}  # its own, from an earlier release
    assert refused(cfg, images=images) == []
    cfg["services"]["web"] = {"image": "redis:7"}  # pulled, built by no app
    assert refused(cfg, images=images) == []


def test_allowing_shared_names_lets_them_through():
    cfg = config(volumes={"d": {"name": "shop_data"}})
    assert refusals(cfg, CHECKOUT, frozenset({Access.SHARED_NAMES}), app="evil") == []


@pytest.mark.parametrize(("project", "owned"), [
    ("evil-r1", True), ("evil-r12", True), ("evil-state", True), ("evil", False),
    ("evil-x-r1", False), ("evil-r", False), ("evil-rx", False), ("evilr1", False),
    ("shop-r1", False)])
def test_which_projects_are_the_apps(project, owned):
    assert owns_project("evil", project) is owned


def test_the_singletons_copy_names_the_checkout_through_current():
    from otterstack_hooks.rules.compose.paths import rebase_paths
    old, new = "/d/apps/a/releases/r3", "/d/apps/a/current"
    cfg = {"services": {"db": {
        "build": {"context": old + "/db", "additional_contexts": {"x": old, "y": "/other"}},
        "volumes": [{"type": "bind", "source": old + "/init.sql", "target": "/i"},
                    {"type": "volume", "source": "data", "target": "/data"},
                    {"type": "bind", "source": old + "x/y", "target": "/z"}]}},
        "secrets": {"s": {"file": old + "/s.txt"}},
        "volumes": {"data": {"driver_opts": {"type": "none", "o": "bind,ro",
                                             "device": old + "/d"}}}}
    moved = rebase_paths(cfg, old, new)
    db = moved["services"]["db"]
    assert db["build"] == {"context": new + "/db", "additional_contexts": {"x": new,
                                                                           "y": "/other"}}
    assert [v["source"] for v in db["volumes"]] == [new + "/init.sql", "data", old + "x/y"]
    assert moved["secrets"]["s"]["file"] == new + "/s.txt"
    assert moved["volumes"]["data"]["driver_opts"]["device"] == new + "/d"
    assert cfg["services"]["db"]["volumes"][0]["source"] == old + "/init.sql"  # a copy
