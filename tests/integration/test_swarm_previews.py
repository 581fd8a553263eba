"""Previews of an app on the Swarm runtime (issue 25), through real pushes to a real
single-node Swarm behind Traefik's swarm provider at a 1 s refresh (`quick_swarm_traefik`:
this test proves names, hosts, isolation and removal, not the switch's timing, which
test_swarm.py proves at the default 15 s)."""

import json
import time
import urllib.request

from conftest import RUN_ID, Traefik, run, wait_for
from swarm_apps import swarm_files

PREVIEW = "dev.otterstack.preview"


def _listed(kind: str, *labels: str) -> list[str]:
    """Names of Docker `kind` (volume, network) with every one of `labels`."""
    args = [arg for label in labels for arg in ("--filter", f"label={label}")]
    return sorted(run(["docker", kind, "ls", "--format", "{{.Name}}", *args]).stdout.split())


def _stacks() -> list[str]:
    return run(["docker", "stack", "ls", "--format", "{{.Name}}"]).stdout.split()


def _service_labels(name: str) -> dict[str, str]:
    inspected = run(["docker", "service", "inspect", name, "--format",
                     "{{json .Spec.Labels}}"])
    assert inspected.returncode == 0, inspected.stderr
    return json.loads(inspected.stdout)


def _routers(traefik: Traefik) -> list[str]:
    """The HTTP routers Traefik has, from its API on the task's docker_gwbridge address
    (unpublished, as `otterstack traefik up --swarm` starts it)."""
    task = run(["docker", "ps", "-q", "--filter",
                f"label=com.docker.swarm.service.name={traefik.name}"]).stdout.split()[0]
    bridge = json.loads(run(["docker", "network", "inspect", "docker_gwbridge", "--format",
                             "{{json .Containers}}"]).stdout)
    address = next(v["IPv4Address"] for k, v in bridge.items() if k.startswith(task))
    url = f"http://{address.split('/')[0]}:8080/api/http/routers?per_page=1000"
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - this host's bridge
        return [router["name"] for router in json.load(resp)]


def _push_until_answering(app, branch: str, traefik: Traefik, host: str, body: str
                          ) -> tuple[str, float]:
    """Push `branch`; its output and the seconds from the push to `host` answering `body`."""
    started = time.monotonic()
    push = app.push(branch)
    assert "==> deployed the preview of feature-x of " in push.result, push.output
    wait_for(lambda: traefik.get(host)[2] == body, timeout=30, interval=0.1)
    return push.output, time.monotonic() - started


def test_a_preview_on_a_swarm_is_served_at_its_host_replaced_and_removed_by_label(
        swarm_app, quick_swarm_traefik):
    traefik, host, domain = quick_swarm_traefik, f"shop-{RUN_ID}.swarm.test", \
        f"pv-{RUN_ID}.swarm.test"
    app = swarm_app(swarm_files("production", host, db=True), traefik)
    for key, value in (("previews", "on"), ("preview_domain", domain)):
        proc = app.otter("config", app.name, key, value)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    app.commit("production")
    assert "==> deployed" in app.push("main").result
    production = (200, app.project("r1"), "production\n")
    kept = (_listed("volume", f"dev.otterstack.app={app.name}"),
            _listed("network", f"dev.otterstack.app={app.name}"))
    assert kept == ([f"{app.name}_data"], [f"{app.name}_default"])

    # a preview's release command runs on its own overlay network, next to its own database
    proc = app.otter("config", app.name, "release_command",
                     "web sh -c 'ping -c 1 -W 2 db >/dev/null && echo migrated next to db'")
    assert proc.returncode == 0, proc.stderr
    app.git("checkout", "-q", "-b", "feature-x")
    preview_host, mine = f"feature-x.{domain}", f"{app.name}_feature-x"
    for text in ("preview one", "preview two"):
        for path, content in swarm_files(text, host, db=True).items():
            app.write(path, content)
        app.commit(text)
        output, seconds = _push_until_answering(app, "feature-x", traefik, preview_host,
                                                f"{text}\n")
        print(f"push of {text} to its preview answering: {seconds:.1f} s")
        assert f"http://{preview_host}/" in output and "migrated next to db" in output, output
        assert traefik.get(host) == production  # production's host never reaches it
    # one stack per release, the second replacing the first; its singletons its own
    assert sorted(s for s in _stacks() if s.startswith(mine)) == [f"{mine}-r3", f"{mine}-state"]
    assert traefik.get(preview_host)[1] == f"{mine}-r3"
    labels = _service_labels(f"{mine}-r3_web")
    assert labels[PREVIEW] == "feature-x" and labels["dev.otterstack.app"] == app.name
    rules = [v for k, v in labels.items() if k.endswith(".rule")]
    assert rules == [f"Host(`{preview_host}`)"], labels  # no router of production's host
    # production's service has its renamed router only: never the one deploy.labels named
    assert "traefik.http.routers.hello.rule" not in _service_labels(f"{app.project('r1')}_web")
    owned = (f"dev.otterstack.app={app.name}", f"{PREVIEW}=feature-x")
    assert _listed("volume", *owned) == [f"{app.name}.feature-x_data"]
    assert _listed("network", *owned) == [f"{app.name}-_feature-x_default"]  # no `.`: Swarm

    push = app.push(":feature-x")
    assert push.result == f"==> removed the preview of feature-x of {app.name}", push.output
    assert not [s for s in _stacks() if s.startswith(mine)]
    assert _listed("volume", *owned) == [] and _listed("network", *owned) == []
    images = run(["docker", "images", "--format", "{{.Repository}}"]).stdout.split()
    assert not [i for i in images if i.startswith(mine)], images  # its commit tags too
    wait_for(lambda: traefik.get(preview_host)[0] == 404, timeout=10)
    assert not [r for r in _routers(traefik) if mine in r], _routers(traefik)
    assert traefik.get(host) == production
    assert (_listed("volume", f"dev.otterstack.app={app.name}"),
            _listed("network", f"dev.otterstack.app={app.name}")) == kept
    assert sorted(s for s in _stacks() if s.startswith(app.name)) == [
        app.project("r1"), f"{app.name}-state"]
