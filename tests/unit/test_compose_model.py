"""Reading compose's effective config."""

import pytest

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.rules.compose.model import parse_config, pick_compose_file


def test_reads_services_labels_health_ports():
    cfg = {"services": {
        "web": {"build": {"context": "."}, "labels": {"traefik.enable": "true"},
                "healthcheck": {"test": ["CMD", "true"]},
                "ports": [{"target": 8000, "published": "8080", "protocol": "tcp"}],
                "networks": {"default": None, "back": None}},
        "db": {"image": "postgres:16", "healthcheck": {"disable": True},
               "container_name": "db", "deploy": {"replicas": 2}},
    }}
    model = parse_config(cfg, "app-r1")
    web, db = model.services["web"], model.services["db"]
    assert web.image == "app-r1-web" and web.builds and web.healthcheck is True
    assert web.host_ports == ("0.0.0.0:8080->8000/tcp",)
    assert web.networks == ("default", "back")
    assert db.healthcheck is False and db.container_name == "db" and db.replicas == 2
    assert db.networks == ("default",)
    assert [s.name for s in model.routed()] == ["web"]


@pytest.mark.parametrize("cfg", [None, {}, {"services": {}}, {"services": []}])
def test_no_services_is_a_clear_error(cfg):
    with pytest.raises(OtterError, match="defines no services"):
        parse_config(cfg, "p")


def test_compose_file_choice():
    assert pick_compose_file("", {"docker-compose.yml", "compose.yaml"}) == "compose.yaml"
    assert pick_compose_file("deploy/c.yml", {"deploy/c.yml"}) == "deploy/c.yml"
    with pytest.raises(OtterError, match="no compose file in this commit"):
        pick_compose_file("", set())
    with pytest.raises(OtterError, match="is not in this commit"):
        pick_compose_file("x.yml", {"compose.yaml"})
