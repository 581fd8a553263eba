"""The stack file a release runs on Swarm (swarm_stack.render_stack), from Compose's config."""

import pytest
import yaml

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.rules.swarm.stack import render_stack


def config(**web):
    """Compose's normalised config (as `docker compose config --format json` prints it) of a
    release with a routed, built `web`, after our override (renamed labels, Traefik's net)."""
    service = {
        "build": {"context": "/src", "dockerfile": "Dockerfile"},
        "environment": {"TOKEN": "a$$b"},
        "healthcheck": {"test": ["CMD", "true"], "interval": "1s"},
        "labels": {"traefik.enable": "true",
                   "traefik.http.routers.web-shop-r7.rule": "Host(`shop.test`)",
                   "traefik.swarm.network": "edge", "com.example.team": "a"},
        "deploy": {"replicas": 2, "resources": {}, "placement": {}},
        "networks": {"default": None, "otterstack_edge": {"aliases": ["shop-r7__web"]}},
        "volumes": [{"type": "volume", "source": "uploads", "target": "/u"}],
        **web,
    }
    return {
        "services": {"web": service},
        "networks": {"default": {"name": "shop_default", "external": True},
                     "otterstack_edge": {"name": "edge", "external": True}},
        "volumes": {"uploads": {"name": "shop_uploads", "external": True}},
    }


def rendered(cfg=None, images=None, data=False):
    stack = render_stack(cfg or config(), ["web"], images or {"web": "shop-web:abc"}, "shop",
                         "shop-r7", data)
    return yaml.safe_load(stack.text), stack.notes


def test_traefik_labels_become_service_labels_and_the_rest_stay_on_the_container():
    doc, _ = rendered()
    web = doc["services"]["web"]
    assert web["labels"] == {"com.example.team": "a"}
    assert web["deploy"]["labels"] == {
        "dev.otterstack.app": "shop", "dev.otterstack.release": "shop-r7",
        "dev.otterstack.replicas": "2", "traefik.enable": "true",
        "traefik.http.routers.web-shop-r7.rule": "Host(`shop.test`)",
        "traefik.swarm.network": "edge"}


def test_a_previews_label_is_on_its_services_too():
    cfg = config()
    cfg["services"]["web"]["labels"]["dev.otterstack.preview"] = "feature-x"
    web = yaml.safe_load(render_stack(cfg, ["web"], {"web": "shop_feature-x-web:abc"}, "shop",
                                      "shop_feature-x-r7").text)["services"]["web"]
    assert web["deploy"]["labels"]["dev.otterstack.preview"] == "feature-x"
    assert web["labels"]["dev.otterstack.preview"] == "feature-x"


def test_tasks_are_reached_by_their_own_address_and_run_the_built_image():
    doc, _ = rendered()
    web = doc["services"]["web"]
    assert web["deploy"]["endpoint_mode"] == "dnsrr"
    assert web["image"] == "shop-web:abc"
    assert "build" not in web
    assert doc["version"] == "3.8"


def test_values_pass_through_as_compose_escaped_them():
    """Compose writes a resolved `$` as `$$`; `stack deploy` reads it back as one `$`."""
    doc, _ = rendered()
    assert doc["services"]["web"]["environment"] == {"TOKEN": "a$$b"}


def test_pinned_networks_and_volumes_stay_external_by_name():
    doc, _ = rendered()
    assert doc["networks"] == {"default": {"external": True, "name": "shop_default"},
                               "otterstack_edge": {"external": True, "name": "edge"}}
    assert doc["volumes"] == {"uploads": {"external": True, "name": "shop_uploads"}}
    assert doc["services"]["web"]["networks"] == {
        "default": None, "otterstack_edge": {"aliases": ["shop-r7__web"]}}


def test_a_network_of_the_release_alone_is_an_attachable_overlay():
    cfg = config(networks={"back": None})
    cfg["networks"]["back"] = {"name": "shop-r7_back", "ipam": {}}
    doc, _ = rendered(cfg)
    assert doc["networks"] == {"back": {"driver": "overlay", "attachable": True}}


def test_keys_swarm_ignores_are_named_for_the_pusher():
    _, notes = rendered(config(restart="always", depends_on={"db": {}}))
    assert notes == ("web: Swarm ignores depends_on, restart (its restart policy is "
                     "deploy.restart_policy)",)


@pytest.mark.parametrize(("key", "value"), [("network_mode", "host"), ("privileged", True),
                                            ("devices", ["/dev/fuse"])])
def test_what_swarm_cannot_run_is_refused_with_the_way_out(key, value):
    with pytest.raises(OtterError, match=rf"service web sets `{key}`.*runtime compose"):
        rendered(config(**{key: value}))


def test_a_published_port_of_a_release_service_is_refused():
    ports = [{"mode": "ingress", "target": 8000, "published": "8080", "protocol": "tcp"}]
    with pytest.raises(OtterError, match="publishes port 8080: on Swarm each release runs next"
                                         " to the one before it"):
        rendered(config(ports=ports))


def test_the_data_stack_publishes_in_host_mode_and_updates_stop_first():
    ports = [{"mode": "ingress", "target": 5432, "published": "5432", "protocol": "tcp"}]
    doc, _ = rendered(config(ports=ports, deploy={"replicas": 1}), data=True)
    web = doc["services"]["web"]
    assert web["ports"] == [{"mode": "host", "target": 5432, "published": "5432",
                             "protocol": "tcp"}]
    assert web["deploy"]["update_config"] == {"order": "stop-first"}
    assert web["deploy"]["replicas"] == 1


def test_global_mode_is_refused():
    with pytest.raises(OtterError, match="deploy.mode: global"):
        rendered(config(deploy={"mode": "global"}))


def test_a_built_service_without_an_image_is_an_error_not_a_guess():
    with pytest.raises(OtterError, match="no image was built"):
        render_stack(config(), ["web"], {}, "shop", "shop-r7")
