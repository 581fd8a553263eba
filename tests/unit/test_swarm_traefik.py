"""The Traefik `otterstack traefik up --swarm` runs: its arguments as an exact list."""

import pytest

from otterstack_hooks.adapters.swarm.traefik_up import command
from otterstack_hooks.core.errors import OtterError


def test_the_swarm_provider_opt_in_on_one_network_polled_every_refresh():
    assert command("otterstack-swarm", "200ms", "1s") == [
        "--providers.swarm=true",
        "--providers.swarm.exposedbydefault=false",
        "--providers.swarm.network=otterstack-swarm",
        "--providers.swarm.refreshSeconds=1s",
        "--providers.providersThrottleDuration=200ms",
        "--entrypoints.web.address=:80",
        "--api.insecure=true",
        "--metrics.prometheus=true",
        "--ping=true",
        "--log.level=INFO",
    ]


def test_constraints_keep_other_services_out():
    assert command("n", "2s", "15s", "Label(`a`, `b`)")[-1] == \
        "--providers.swarm.constraints=Label(`a`, `b`)"
    assert "--providers.swarm.refreshSeconds=15s" in command("n", "2s", "15s")


@pytest.mark.parametrize("refresh", ["500ms", "1.5s"])
def test_refresh_is_whole_seconds(refresh):
    with pytest.raises(OtterError, match="whole seconds"):
        command("n", "200ms", refresh)
