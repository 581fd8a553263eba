"""The Swarm runtime's test apps and Traefiks, shared by the Swarm tests (conftest registers
the fixtures): a routed web service in Swarm's form (its routers in deploy.labels), an
optional database on a volume, and `otterstack traefik up --swarm` at Traefik's default
15 s refresh or at 1 s."""

import itertools
import os
import re
from collections.abc import Iterator

import pytest

from testsupport.otterapp import Traefik, example_files, free_port, run, wait_for

WEB = """\
services:
  web:
    build: .
    deploy:
      replicas: 2
      labels:
        traefik.enable: "true"
        traefik.http.routers.hello.rule: Host(`{host}`)
        traefik.http.routers.hello.entrypoints: web
        traefik.http.services.hello.loadbalancer.server.port: "8000"
"""
DB = """\
  db:
    image: busybox
    command: ["sh", "-c", "mkdir -p /data; echo boot >> /data/boots; exec sleep 100000"]
    stop_grace_period: 1s
    volumes: [data:/data]
volumes:
  data: {}
"""


def swarm_files(text: str, host: str, db: bool = False) -> dict[str, str]:
    files = example_files(text)
    files["compose.yaml"] = WEB.format(host=host) + (DB if db else "")
    return files


def stacks(app) -> list[str]:
    listed = run(["docker", "stack", "ls", "--format", "{{.Name}}"]).stdout.split()
    return sorted(s for s in listed if re.fullmatch(rf"{app.name}-(r\d+|state)", s))


def remove_stacks(app) -> None:
    for stack in stacks(app):
        run(["docker", "stack", "rm", stack])


_TRAEFIKS = itertools.count(1)


def _swarm_traefik(otterstack_bin, data_dir, refresh: str, kind: str) -> Iterator[Traefik]:
    """`otterstack traefik up --swarm` with the given refreshSeconds, on a port and a network
    of its own, seeing only this run's apps."""
    from conftest import RUN_ID  # the test apps' name prefix (t<RUN_ID>-<n>)
    # a name of its own per module: one module's Traefik network may still be going (Swarm
    # removes an overlay network after its service) when the next module's starts
    name = f"otterstack-test-swarm{kind}-{RUN_ID}-{next(_TRAEFIKS)}"
    info = Traefik(name, name, free_port(), 0)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTTERSTACK_")}
    env["OTTERSTACK_DATA_DIR"] = str(data_dir)
    proc = run([str(otterstack_bin), "traefik", "up", "--swarm", "--name", info.name,
                "--network", info.network, "--http-port", str(info.http_port),
                "--refresh", refresh, "--constraints",
                f"LabelRegex(`dev.otterstack.app`, `t{RUN_ID}-.+`)"], env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wait_for(lambda: _answers(info), timeout=60)
    yield info
    run(["docker", "service", "rm", info.name])
    wait_for(lambda: run(["docker", "network", "rm", info.network]).returncode == 0 or
             not run(["docker", "network", "inspect", info.network]).returncode == 0,
             timeout=60, interval=1)


@pytest.fixture(scope="module")
def swarm_traefik(otterstack_bin, tmp_path_factory) -> Iterator[Traefik]:
    """At Traefik's default refreshSeconds (15 s): what users run, and the setting under which
    the switch is proven under load."""
    yield from _swarm_traefik(otterstack_bin, tmp_path_factory.mktemp("swarm-traefik-data"),
                              "15s", "")


@pytest.fixture(scope="module")
def quick_swarm_traefik(otterstack_bin, tmp_path_factory) -> Iterator[Traefik]:
    """At a 1 s refresh, for the tests that prove what a deploy keeps or refuses, not the
    switch's timing: each of their deploys would otherwise wait out 15 s refreshes."""
    yield from _swarm_traefik(otterstack_bin, tmp_path_factory.mktemp("quick-traefik-data"),
                              "1s", "-quick")


def _answers(traefik: Traefik) -> bool:
    try:
        return traefik.get("nothing.test")[0] == 404
    except OSError:
        return False


@pytest.fixture
def swarm_app(make_app):
    apps = []

    def factory(files: dict[str, str], traefik: Traefik):
        app = make_app(files, install_args=("--swarm",))
        proc = app.otter("config", "--global", "traefik_container", traefik.name)
        assert proc.returncode == 0, proc.stderr
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.otter("apps", "remove", app.name, "--volumes")
        remove_stacks(app)
