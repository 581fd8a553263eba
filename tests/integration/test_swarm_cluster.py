"""The Swarm runtime on a real 3-node Swarm: scripts/setup-swarm-cluster.sh (os-n1 manager,
os-n2 and os-n3 workers, each its own dockerd in its own network namespace, a registry at
10.99.0.254:5000, node label db=true on os-n2), behind a Traefik with the swarm provider at
its default refreshSeconds (15 s) on the manager.

OtterStack runs in the manager's network namespace, as it would on the manager itself: it
reaches Traefik's API on the Traefik task's docker_gwbridge address, which only the manager
can reach (benchmarks/swarm.py does the same; its cluster helpers are imported from there).
The load comes from this machine's root namespace to 10.99.0.1, the manager's address.

One app for the whole module, its releases pushed in order (the tests build on each other
and run in file order): r1, r2 under load; a drained worker; a worker's engine killed
mid-deploy; then the app removed. Needs root (network namespaces, the nodes' dockerds): if
the cluster cannot come up, the fixture fails with the script's output, it never skips.
"""

import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import RUN_ID, App, Push, app_env, run, wait_for
from swarm import (
    CLUSTER_SCRIPT,
    Target,
    cluster_target,
    ensure_image,
    remove_images,
    retire_sleepers,
    wait_gone,
    wait_traefik,
)
from swarm_apps import WEB as ONE_NODE_WEB

from testsupport.load import HEADER, Endpoint, Load, connection
from testsupport.otterapp import example_files

PORT = 18280  # Traefik's http port on the manager (its own network namespace: no clash here)
NODE_SOCKET = "unix:///run/os-{}/docker.sock"
WORKERS = {"os-n2", "os-n3"}

# the one-node test's app, its web tasks on the workers, and a database pinned to os-n2
DB = """\
  db:
    image: {registry}/busybox:latest
    command: ["sh", "-c", "mkdir -p /data; echo boot >> /data/boots; exec sleep 100000"]
    stop_grace_period: 1s
    volumes: [data:/data]
    deploy:
      placement:
        constraints: [node.labels.db == true]
volumes:
  data: {{}}
"""


def cluster_compose(host: str, registry: str) -> str:
    web = ONE_NODE_WEB.format(host=host).replace(
        "      replicas: 2\n",
        "      replicas: 2\n      placement:\n        constraints: [node.role == worker]\n")
    return web + DB.format(registry=registry)


@dataclass
class Cluster:
    target: Target
    traefik: str  # the Traefik service's name
    network: str
    host: str  # the app's Host

    def docker(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """The docker CLI on the manager (checked by the caller)."""
        return run(["docker", *args], env=self.target.env(), timeout=timeout)

    def get(self) -> tuple[int, str | None]:
        """GET / through Traefik on the manager: (status, the release that answered)."""
        conn = connection(PORT, self.host, timeout=5, address=self.target.address)
        try:
            conn.request("GET", "/", headers={"Host": self.host})
            resp = conn.getresponse()
            resp.read()
            return resp.status, resp.getheader(HEADER)
        finally:
            conn.close()


def _script(action: str) -> subprocess.CompletedProcess:
    return run([str(CLUSTER_SCRIPT), action], timeout=900)


@pytest.fixture(scope="module")
def cluster(otterstack_bin: Path, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Cluster]:
    """The cluster up (brought up by the script now, or already up: then used and left up),
    traefik:v3 loaded into the manager, and `otterstack traefik up --swarm` at the default
    refresh there, seeing only this run's apps. Torn down at the end: the Traefik, its
    network, and the cluster (`down`) when this module brought it up."""
    if os.geteuid() != 0:
        pytest.fail("the 3-node cluster needs root (network namespaces, the nodes' dockerds): "
                    f"run as root; {CLUSTER_SCRIPT} up was not tried", pytrace=False)
    try:
        target = cluster_target(in_netns=True)
    except SystemExit as exc:  # the script's output (or: not root), as a failure, not a skip
        pytest.fail(f"the 3-node cluster did not come up: {exc}", pytrace=False)
    info = Cluster(target, f"otterstack-test-cluster-{RUN_ID}",
                   f"otterstack-test-cluster-{RUN_ID}", f"hello-{RUN_ID}.cluster.test")
    try:
        ensure_image(target, "traefik:v3")
        # a run that stopped half-way may have left the worker drained
        info.docker("node", "update", "--availability", "active", "os-n3")
        env = target.env({k: v for k, v in os.environ.items()
                          if not k.startswith("OTTERSTACK_")})
        env["OTTERSTACK_DATA_DIR"] = str(tmp_path_factory.mktemp("cluster-traefik-data"))
        proc = run(target.on_manager([
            str(otterstack_bin), "traefik", "up", "--swarm", "--name", info.traefik,
            "--network", info.network, "--http-port", str(PORT), "--refresh", "15s",
            "--constraints", f"LabelRegex(`dev.otterstack.app`, `t{RUN_ID}-.+`)"]), env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        wait_traefik(target, PORT)
        yield info
    except SystemExit as exc:
        pytest.fail(str(exc), pytrace=False)
    finally:
        info.docker("service", "rm", info.traefik)
        wait_gone(target, info.traefik)
        for _ in range(30):  # a network goes once the last task on it is gone
            if info.docker("network", "rm", info.network).returncode == 0 or \
                    info.docker("network", "inspect", info.network).returncode != 0:
                break
            time.sleep(1)
        if target.brought_up:
            down = _script("down")
            assert down.returncode == 0, down.stdout + down.stderr


@pytest.fixture(scope="module")
def app(cluster: Cluster, install_home: Path, otterstack_bin: Path,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """One app with `runtime swarm` for the module, installed by install.sh, every push and
    otterstack command run in the manager's network namespace with its DOCKER_HOST."""
    name = f"t{RUN_ID}-cluster"
    base = tmp_path_factory.mktemp(name)
    env = cluster.target.env(app_env(install_home, base / "data"))
    app = App(name, base, install_home, env, ["--swarm"], timeout=300,
              wrap=cluster.target.on_manager([]))
    app.install()
    app.init_source(files(cluster, "v1"))
    for args in (("--global", "traefik_container", cluster.traefik),
                 (name, "registry", cluster.target.registry),
                 (name, "watch_seconds", "0")):  # a watched push waits out the window
        proc = app.otter("config", *args)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    yield app
    for pid in retire_sleepers(name, env["OTTERSTACK_DATA_DIR"]):  # the rollback windows
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    app.otter("apps", "remove", name, "--volumes")
    left = stacks(cluster, app)
    if left:
        cluster.docker("stack", "rm", *left)
    wait_gone(cluster.target, name)
    remove_images(cluster.target, name)
    for node in WORKERS:  # the db's volume, made by the worker its task ran on (see below)
        run([*node_engine(node), "volume", "rm", f"{name}_data"])


def files(cluster: Cluster, text: str) -> dict[str, str]:
    found = example_files(text)
    found["compose.yaml"] = cluster_compose(cluster.host, cluster.target.registry)
    return found


def push_version(app: App, cluster: Cluster, text: str) -> Push:
    for path, content in files(cluster, text).items():
        app.write(path, content)
    app.commit(text)
    return app.push("main")


def stacks(cluster: Cluster, app: App) -> list[str]:
    listed = cluster.docker("stack", "ls", "--format", "{{.Name}}").stdout.split()
    return sorted(s for s in listed if re.fullmatch(rf"{app.name}-(r\d+|state)", s))


def tasks(cluster: Cluster, service: str) -> list[dict[str, str]]:
    """The tasks Swarm wants running of `service`: id, node, state."""
    proc = cluster.docker("service", "ps", "--no-trunc", "--filter", "desired-state=running",
                          "--format", "{{json .}}", service)
    assert proc.returncode == 0, proc.stderr
    found = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return [{"id": t["ID"], "node": t["Node"], "state": t["CurrentState"].split()[0]}
            for t in found]


def running_on(cluster: Cluster, service: str, nodes: set[str], count: int) -> bool:
    found = tasks(cluster, service)
    return len(found) == count and all(t["state"] == "Running" and t["node"] in nodes
                                       for t in found)


def node_engine(node: str) -> list[str]:
    """`docker -H` of one node's own engine."""
    return ["docker", "-H", NODE_SOCKET.format(node.removeprefix("os-"))]


def db_task(cluster: Cluster, app: App) -> tuple[str, str, str]:
    """The db task of the app's state stack: (task id, node, its boots file)."""
    found = tasks(cluster, f"{app.name}-state_db")
    assert len(found) == 1 and found[0]["state"] == "Running", found
    task = found[0]
    container = cluster.docker("inspect", "--format",
                               "{{.Status.ContainerStatus.ContainerID}}", task["id"]
                               ).stdout.strip()
    boots = run([*node_engine(task["node"]), "exec", container, "cat", "/data/boots"])
    assert boots.returncode == 0, boots.stderr
    return task["id"], task["node"], boots.stdout


def serves(cluster: Cluster, project: str) -> bool:
    try:
        return cluster.get() == (200, project)
    except OSError:
        return False


def test_r2_under_load_on_the_workers_by_digest_none_failed(app: App, cluster: Cluster):
    app.commit("v1")
    push = app.push("main")
    assert "==> deployed" in push.result, push.output
    assert cluster.get() == (200, app.project("r1"))

    with Load(Endpoint(PORT, cluster.host, address=cluster.target.address), threads=4,
              max_seconds=240) as load:
        time.sleep(1)
        push = push_version(app, cluster, "v2")
        time.sleep(2)
    result = load.stop()
    assert "==> deployed" in push.result, push.output
    assert re.search(r"answered 200 from r2", push.output), push.output
    assert result.failed == 0, (result.failures, result.sent)
    assert result.by_release[app.project("r1")] > 0, result.by_release
    assert result.by_release[app.project("r2")] > 0, result.by_release
    assert cluster.get() == (200, app.project("r2"))

    web = f"{app.project('r2')}_web"
    placed = tasks(cluster, web)
    assert len(placed) == 2 and {t["node"] for t in placed} <= WORKERS, placed
    assert all(t["state"] == "Running" for t in placed), placed
    # built on the manager, pushed to the registry, run by digest: the workers pulled it
    image = cluster.docker("service", "inspect", "--format",
                           "{{.Spec.TaskTemplate.ContainerSpec.Image}}", web).stdout.strip()
    registry = cluster.target.registry
    assert image.startswith(f"{registry}/{app.name}-web@sha256:"), image
    for node in {t["node"] for t in placed}:
        digests = run([*node_engine(node), "image", "ls", "--digests", "--format",
                       "{{.Repository}}@{{.Digest}}"]).stdout.split()
        assert image in digests, (node, digests)
    # the database runs once per app, in the state stack, on the node labelled db=true
    _, node, boots = db_task(cluster, app)
    assert (node, boots) == ("os-n2", "boot\n")


def test_a_pinned_database_stays_put_while_a_worker_is_drained(app: App, cluster: Cluster):
    db_before = db_task(cluster, app)
    active = app.active()
    assert active is not None and active["name"] == "r2", active
    web = f"{app.project('r2')}_web"
    try:
        proc = cluster.docker("node", "update", "--availability", "drain", "os-n3")
        assert proc.returncode == 0, proc.stderr
        wait_for(lambda: running_on(cluster, web, {"os-n2"}, 2), timeout=90, interval=1)
        # Swarm moved the tasks by itself, so Traefik may try the drained task's address (a
        # timeout) until its next poll (15 s, and its throttle): the site serves after that
        wait_for(lambda: serves(cluster, app.project("r2")), timeout=45, interval=0.5)
        # the same task, on the same node, started once: its volume written once
        assert db_task(cluster, app) == db_before == (db_before[0], "os-n2", "boot\n")

        push = push_version(app, cluster, "v3")
        assert "==> deployed" in push.result, push.output
        assert "kept db running (unchanged)" in push.output, push.output
        assert running_on(cluster, f"{app.project('r3')}_web", {"os-n2"}, 2), \
            tasks(cluster, f"{app.project('r3')}_web")
        assert db_task(cluster, app) == db_before
        assert cluster.get() == (200, app.project("r3"))
    finally:
        back = cluster.docker("node", "update", "--availability", "active", "os-n3")
    assert back.returncode == 0, back.stderr


def test_a_workers_engine_killed_mid_deploy_leaves_a_consistent_app(app: App,
                                                                   cluster: Cluster):
    for path, content in files(cluster, "v4").items():
        app.write(path, content)
    app.commit("v4")
    proc = app.push_bg("main")
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)
    reader.start()
    pid = int(Path("/run/os-n3/dockerd.pid").read_text())
    try:
        # the health wait: the stack is deployed and OtterStack polls its tasks
        wait_for(lambda: proc.poll() is not None or
                 any(re.search(r"health.*waiting", line) for line in lines), timeout=240)
        assert proc.poll() is None, "".join(lines)
        placed = tasks(cluster, f"{app.project('r4')}_web")
        os.kill(pid, signal.SIGKILL)  # os-n3's engine dies (its containerd with it)
        # the spread puts one of r4's tasks on os-n3 (r2's and r3's moved off it): the kill
        # hits the deploy itself
        assert "os-n3" in {t["node"] for t in placed}, placed
        proc.wait(timeout=300)
        reader.join(timeout=10)
        push = Push(proc.returncode, "".join(lines))
        print(f"r4 tasks when os-n3 was killed: {placed}\nthe push said: {push.result}")
        assert "==> deployed" in push.result or \
            re.search(r"==> FAILED.*still serving r\d+", push.result), push.output

        active = app.active()
        assert active is not None, push.output
        assert active["name"] == ("r4" if "==> deployed" in push.result else "r3"), active
        project = app.project(active["name"])
        assert project in stacks(cluster, app)

        def converged() -> bool:
            status = json.loads(app.otter("status", app.name, "--json").stdout)
            web = [s for s in status["active"]["swarm_services"] if s["service"] == "web"]
            return bool(web) and web[0]["running"] == web[0]["desired"] == 2
        wait_for(converged, timeout=120, interval=1)
        wait_for(lambda: serves(cluster, project), timeout=60, interval=0.5)
        answers = [cluster.get() for _ in range(20)]
        assert answers == [(200, project)] * 20, answers

        push = push_version(app, cluster, "v5")  # os-n3 still down
        assert "==> deployed" in push.result, push.output
        assert cluster.get() == (200, app.project("r5"))
    finally:
        if proc.poll() is None:
            proc.kill()
        up = _script("up")  # idempotent: starts only os-n3's dockerd again
        assert up.returncode == 0, up.stdout + up.stderr
        wait_for(lambda: cluster.docker("node", "inspect", "--format", "{{.Status.State}}",
                                        "os-n3").stdout.strip() == "ready",
                 timeout=60, interval=1)


def test_apps_remove_volumes_leaves_no_stack_and_says_where_the_data_stays(app: App,
                                                                          cluster: Cluster):
    """A named volume lives on the node its task ran on (os-n2, the db's): only that node's
    engine can remove it, so OtterStack says where it stays and how to remove it there."""
    name = f"{app.name}_data"
    assert stacks(cluster, app), "the app has stacks before it is removed"
    proc = app.otter("apps", "remove", app.name, "--volumes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"volume {name} is also on os-n2, where its service ran" in proc.stdout, proc.stdout
    assert f"`docker volume rm {name}` on that node" in proc.stdout, proc.stdout
    wait_for(lambda: not stacks(cluster, app), timeout=60, interval=1)
    assert name not in cluster.docker("volume", "ls", "--format", "{{.Name}}").stdout.split()
    left = run([*node_engine("os-n2"), "volume", "inspect", name])
    assert left.returncode == 0, "the data is where OtterStack said it stays"
    # and the command it names removes it there, once os-n2 has removed the task's container
    wait_for(lambda: run([*node_engine("os-n2"), "volume", "rm", name]).returncode == 0,
             timeout=60, interval=1)
