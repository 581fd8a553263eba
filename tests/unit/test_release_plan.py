"""Which services are kept across releases, what gets pinned, what is refused."""

import pytest
import yaml

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.rules.compose.model import parse_config
from otterstack_hooks.rules.compose.override import render_state_override
from otterstack_hooks.rules.release_plan import plan_release


def model(services, volumes=None, networks=None, project="app-r3"):
    cfg = {"services": services, "volumes": volumes or {},
           "networks": networks or {"default": {"name": f"{project}_default"}}}
    return parse_config(cfg, project)


VOL = [{"type": "volume", "source": "data", "target": "/data"}]


def test_a_service_on_a_named_volume_is_a_singleton_unless_routed_or_labelled():
    m = model({
        "web": {"image": "w", "volumes": [{"type": "volume", "source": "up", "target": "/u"}],
                "labels": {"traefik.enable": "true"}},
        "db": {"image": "postgres", "volumes": VOL},
        "cache": {"image": "redis", "labels": {"dev.otterstack.singleton": "true"}},
        "worker": {"image": "w", "volumes": VOL, "labels": {"dev.otterstack.singleton": "false"}},
    }, volumes={"data": {"name": "app-r3_data"}, "up": {"name": "app-r3_up"}})
    plan = plan_release(m, "app", "app-r3")
    assert plan.singletons == ("db", "cache")
    assert plan.release_services == ("web", "worker")


def test_compose_named_volumes_and_networks_are_pinned_per_app():
    m = model({"web": {"image": "w"}},
              volumes={"data": {"name": "app-r3_data"}, "mine": {"name": "my-volume"},
                       "ext": {"name": "shared", "external": True}},
              networks={"default": {"name": "app-r3_default"},
                        "edge": {"name": "edge", "external": True}})
    plan = plan_release(m, "app", "app-r3")
    assert plan.volumes == {"data": "app_data"}
    assert plan.networks == {"default": "app_default"}
    doc = yaml.safe_load(render_state_override(plan, "r3"))
    assert doc == {"volumes": {"data": {"name": "app_data", "external": True}},
                   "networks": {"default": {"name": "app_default", "external": True}}}


def test_nothing_to_pin_writes_no_file():
    plan = plan_release(model({"web": {"image": "w"}}, networks={"x": {"external": True}}),
                        "app", "app-r3")
    assert render_state_override(plan, "r3") is None


@pytest.mark.parametrize("svc, message", [
    ({"image": "w", "ports": [{"target": 80, "published": "8080"}]}, "publishes host port"),
    ({"image": "w", "container_name": "web"}, "sets container_name: web"),
])
def test_release_services_that_cannot_run_twice_are_refused(svc, message):
    with pytest.raises(OtterError, match=message):
        plan_release(model({"web": svc}), "app", "app-r3")


def test_singletons_may_publish_ports_and_fix_names():
    svc = {"image": "w", "ports": [{"target": 80, "published": "8080"}],
           "container_name": "db", "labels": {"dev.otterstack.singleton": "true"}}
    plan = plan_release(model({"db": svc, "web": {"image": "w"}}), "app", "app-r3")
    assert plan.singletons == ("db",)


def test_bad_label_and_all_singletons_are_clear_errors():
    with pytest.raises(OtterError, match="takes true or false"):
        plan_release(model({"web": {"image": "w", "labels": {"dev.otterstack.singleton": "x"}}}),
                     "app", "app-r3")
    with pytest.raises(OtterError, match="every service is a singleton"):
        plan_release(model({"db": {"image": "p", "volumes": VOL}},
                           volumes={"data": {"name": "app-r3_data"}}), "app", "app-r3")
