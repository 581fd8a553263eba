"""Previews through the pipeline, on fake ports (fakes.py): the deploy of a branch's preview,
its replacement, admission (limit, slug, hosts), removal by label and by TTL, and the attacks
of docs/design/previews.md. What runs is asserted as the calls it makes."""

import os
import time
from dataclasses import replace

import pytest
from fakes import ROUTED, World

from otterstack_hooks.adapters.local import secrets
from otterstack_hooks.adapters.local.lock import app_lock
from otterstack_hooks.rules.preview.lifecycle import DAY, LivePreview
from otterstack_hooks.usecases.deploy import DeployRequest
from otterstack_hooks.usecases.preview_deploy import PreviewDeploy
from otterstack_hooks.usecases.preview_removal import RemovePreview, preview_of, remove_stale
from otterstack_hooks.usecases.prune import Prune
from otterstack_hooks.usecases.remove_app import RemoveApp

DATA = ROUTED + "    volumes: [{type: volume, source: data, target: /data}]\nvolumes:\n  data: {}\n"


@pytest.fixture
def world(tmp_path) -> World:
    world = World(tmp_path)
    world.store.set_app_setting("app", "retire_after", 0)
    return world


def test_a_preview_deploys_next_to_production_under_its_own_names_and_prints_its_url(world):
    world.push(DATA)
    outcome = world.push_preview("feature-x", DATA)
    assert outcome.ok, world.output.getvalue()
    assert outcome.message.startswith("deployed the preview of feature-x of app ")
    assert outcome.message.endswith("): http://feature-x.preview.test/")
    assert world.runtime.commands("up")[-2:] == [  # its singleton is its own, too
        ("up", "app_feature-x-state", ("worker",)), ("up", "app_feature-x-r2", ("web",))]
    assert world.router.serving("app") == "app-r1"  # production untouched
    assert world.router.serving("app_feature-x") == "app_feature-x-r2"
    assert world.runtime.volumes == {"app_data", "app.feature-x_data"}
    assert world.runtime.app_resources("app") == (["app_data"], [])
    assert world.runtime.app_resources("app", "feature-x") == (["app.feature-x_data"], [])
    labels = world.runtime.labels["app_feature-x-r2", "web"]
    assert labels["traefik.http.routers.web~app_feature-x-r2.rule"] == \
        "Host(`feature-x.preview.test`)"
    assert labels["dev.otterstack.preview"] == "feature-x"
    [live] = world.store.previews("app")
    assert (live.branch, live.url, live.hosts) == (
        "feature-x", "http://feature-x.preview.test/", (("feature-x.preview.test", "web"),))


def test_a_preview_release_is_never_productions_active_kept_or_rollback_target(world):
    world.push()
    world.push_preview("feature-x")
    world.push_preview("feature-x")
    assert world.store.active_release("app").name == "r1"
    assert [r.name for r in world.store.releases("app")] == ["r1"]
    assert world.store.rollback_target("app") is None
    assert world.store.active_release("app", "feature-x").name == "r3"
    assert [r.name for r in world.store.releases("app", preview=None)] == ["r3", "r2", "r1"]
    assert world.push().ok  # production's next release replaces r1, not a preview's
    assert ("stop", "app-r1") in world.runtime.calls
    assert ("stop", "app_feature-x-r3") not in world.runtime.calls


def test_a_second_push_replaces_the_preview_with_the_same_switch_and_keeps_nothing(world):
    world.store.set_app_setting("app", "retire_after", 300)  # production's window only
    world.push_preview("feature-x")
    assert world.push_preview("feature-x").ok
    assert world.runtime.commands("up", "drain", "stop", "remove") == [
        ("up", "app_feature-x-r1", ("web", "worker")),
        ("up", "app_feature-x-r2", ("web", "worker")),
        ("drain", "app_feature-x-r1"),
        ("stop", "app_feature-x-r1"),
        ("remove", "app_feature-x-r1", None),  # keep_releases 1 for a preview
    ]
    assert world.scheduled == []  # no rollback window
    assert world.router.serving("app_feature-x") == "app_feature-x-r2"


def test_production_hosts_never_reach_a_preview_and_tcp_routers_are_left_out(world):
    compose = ROUTED.replace("Host(`app.test`)", "Host(`app.test`) || Host(`www.app.test`)") \
        + "    labels:\n      traefik.enable: \"true\"\n" \
        "      traefik.tcp.routers.db.rule: HostSNI(`db.app.test`)\n" \
        "      traefik.tcp.services.db.loadbalancer.server.port: \"5432\"\n" \
        "    healthcheck: {test: [CMD, \"true\"]}\n"
    assert world.push_preview("feature-x", compose).ok, world.output.getvalue()
    every = " ".join(v for labels in world.runtime.labels.values() for v in labels.values())
    assert "app.test" not in every and "HostSNI" not in every, every
    assert "tcp router 'db' (only HTTP routers are) is not published" in \
        world.output.getvalue()


def test_a_preview_has_its_own_lock_so_production_holding_its_own_never_blocks_it(world,
                                                                                  monkeypatch):
    monkeypatch.setattr("otterstack_hooks.usecases.preview_deploy.lock_limit", lambda app: 1)
    with app_lock(world.paths.lock("app"), "a long production deploy", 1, lambda who: None):
        assert world.push_preview("feature-x").ok
    with app_lock(world.paths.preview_lock("app", "feature-x"), "its own deploy", 1,
                  lambda who: None):
        outcome = world.push_preview("feature-x")
    assert not outcome.ok and "gave up after 1 s" in outcome.message
    assert world.push().ok


@pytest.mark.parametrize("settings, refused", [
    ({"preview_domain": "preview.test"}, "previews of app are off"),
    ({"previews": True, "preview_domain": "preview.test", "traefik_routing": False},
     "through Traefik: `otterstack config app traefik_routing on` first"),
])
def test_a_preview_that_cannot_be_served_deploys_nothing_and_says_why(world, settings,
                                                                      refused):
    for key, value in settings.items():
        world.store.set_app_setting("app", key, value)
    outcome = world.push_preview("feature-x")
    assert not outcome.ok and refused in outcome.message
    assert world.runtime.calls == [] and world.store.previews("app") == []


NETWORKED = ROUTED + "    networks: [back]\nnetworks:\n  back: {}\n"


def test_on_a_swarm_a_preview_gets_overlay_names_without_a_dot(world):
    """A Swarm refuses a `.` in an overlay network's name: `<app>-_<slug>_<key>` there."""
    world.store.set_app_setting("app", "runtime", "swarm")
    assert world.push_preview("feature-x", NETWORKED).ok, world.output.getvalue()
    assert world.runtime.networks == {"app-_feature-x_back"}
    assert world.runtime.app_resources("app", "feature-x") == ([], ["app-_feature-x_back"])
    assert world.runtime.app_resources("app") == ([], [])


@pytest.mark.parametrize("compose, refused", [
    (ROUTED.replace("  worker:", "  a-worker-with-a-name-this-long-is-fine-on-one-host:"),
     "service a-worker-with-a-name-this-long-is-fine-on-one-host would be the Swarm "
     "service app_feature-x-r1_a-worker-with-a-name-this-long-is-fine-on-one-host, 67 "
     "characters: Swarm names a service <stack>_<service> and allows at most 63. Shorten "
     "the service's name (to at most 46 characters) or the branch's"),
    (NETWORKED.replace("back", "a-back-network-with-a-name-this-long-is-fine-too-x"),
     "network a-back-network-with-a-name-this-long-is-fine-too-x would be the overlay "
     "network app-_feature-x_a-back-network-with-a-name-this-long-is-fine-too-x, 65 "
     "characters: Swarm allows at most 63. Shorten the network's key (to at most 48"),
])
def test_on_a_swarm_a_name_swarm_would_refuse_is_refused_before_anything_runs(
        world, compose, refused):
    world.store.set_app_setting("app", "runtime", "swarm")
    outcome = world.push_preview("feature-x", compose)
    assert not outcome.ok and refused in outcome.message, outcome.message
    assert world.runtime.commands("build", "up") == [] and world.runtime.networks == set()
    world.store.set_app_setting("app", "runtime", "compose")  # one host takes them
    assert world.push_preview("feature-x", compose).ok, world.output.getvalue()


def test_a_new_branch_at_the_limit_is_refused_listing_the_live_ones(world):
    world.push_preview("a")
    world.store.set_app_setting("app", "preview_limit", 2)
    world.push_preview("b")
    outcome = world.push_preview("c")
    assert not outcome.ok
    assert "app has 2 live previews, its preview_limit: b (" in outcome.message
    assert "otterstack previews app remove <branch>" in outcome.message
    assert world.push_preview("a").ok  # a branch that has one is never refused
    assert [p.branch for p in world.store.previews("app")] == ["a", "b"]


def test_a_branch_whose_slug_a_live_preview_of_another_branch_has_is_refused(world):
    """Two changed names whose hashes agree (brute-forced): the second never replaces the
    first."""
    world.push_preview("feature-x")
    world.store.put_preview("app", LivePreview("Other/Branch", "feature-x", "f" * 40,
                                               time.time()))
    outcome = world.push_preview("feature-x")
    assert not outcome.ok and "already the preview of branch Other/Branch" in outcome.message


def test_a_branch_named_to_take_another_previews_service_host_is_refused(world):
    api = ROUTED.replace("Host(`app.test`)", "Host(`app.test`)") + (
        "  api:\n    image: busybox\n    healthcheck: {test: [CMD, \"true\"]}\n"
        "    labels:\n      traefik.enable: \"true\"\n"
        "      traefik.http.routers.api.rule: Host(`api.app.test`)\n"
        "      traefik.http.services.api.loadbalancer.server.port: \"8000\"\n")
    assert world.push_preview("x", api).ok
    assert world.store.previews("app")[0].urls == ("http://x.preview.test/",
                                                   "http://api-x.preview.test/")
    outcome = world.push_preview("api-x")
    assert not outcome.ok
    assert "would answer at api-x.preview.test, where the preview of branch x answers" \
        in outcome.message
    assert world.router.serving("app_x") == "app_x-r1"  # the first one untouched


@pytest.mark.parametrize("compose, refused", [
    (ROUTED + "volumes:\n  d: {external: true, name: app_data}\n", "volumes.d is external"),
    (ROUTED + "networks:\n  n: {external: true, name: app_default}\n", "networks.n is external"),
    (ROUTED.replace("  worker:\n    image: busybox\n",
                    "  worker:\n    image: busybox\n"
                    "    ports: [{target: 5432, published: '5432'}]\n"
                    "    labels: {dev.otterstack.singleton: 'true'}\n"),
     "publishes host port(s)"),
    (ROUTED.replace("  worker:\n    image: busybox\n",
                    "  worker:\n    image: busybox\n    container_name: app-db\n"
                    "    labels: {dev.otterstack.singleton: 'true'}\n"),
     "sets container_name: app-db"),
])
def test_a_preview_asking_for_productions_data_network_or_ports_is_refused(world, compose,
                                                                           refused):
    """Even where production's policy allows it: the admin allowed production to reach
    outside the app's own names, never a preview."""
    world.store.set_app_setting("app", "allow", "external-volumes,shared-names")
    world.push(DATA)
    outcome = world.push_preview("feature-x", compose)
    assert not outcome.ok and refused in outcome.message
    assert world.runtime.commands("up")[-1][1] == "app-r1"
    assert world.router.serving("app") == "app-r1"


def test_a_volume_named_like_productions_is_pinned_to_the_previews_own(world):
    world.push(DATA)
    named = DATA.replace("  data: {}\n", "  data: {name: app_data}\n")
    assert world.push_preview("feature-x", named).ok, world.output.getvalue()
    assert "app.feature-x_data" in world.runtime.volumes
    override = (world.paths.generated("app", "r2") / "docker-compose.otterstack.yml")
    assert "name: app.feature-x_data" in override.read_text()


def test_a_preview_gets_its_own_variables_and_only_shared_production_ones(world):
    secrets.save(world.paths.env_file("app"), {"SECRET": "prod-password", "API": "https://a"})
    secrets.save(world.paths.preview_env_file("app"), {"FLAG": "on"})
    secrets.save_names(world.paths.shared_file("app"), ["API"])
    world.store.set_app_setting("app", "previews", True)
    world.store.set_app_setting("app", "preview_domain", "preview.test")
    sha = world.repo.commit({"compose.yaml": ROUTED}, branch="feature-x")
    deploy = PreviewDeploy(world.ports())
    assert deploy.run(DeployRequest(app="app", ref=sha, preview_branch="feature-x")).ok
    assert deploy.env == {"API": "https://a", "FLAG": "on"}
    assert deploy.out.redact("prod-password and on") == "*** and on"


def test_removal_takes_exactly_that_preview_and_never_production_or_another(world):
    world.push(DATA)
    world.push_preview("feature-x", DATA)
    world.push_preview("other", DATA)
    RemovePreview(world.ports()).run(world.app, preview_of(world.ports(), "app", "feature-x"),
                                     "asked")
    assert set(world.runtime.running) == {"app-r1", "app-state", "app_other-r3",
                                          "app_other-state"}
    assert world.runtime.volumes == {"app_data", "app.other_data"}
    assert [p.branch for p in world.store.previews("app")] == ["other"]
    assert world.store.releases("app", preview="feature-x") == []
    assert world.store.active_release("app").name == "r1"
    assert not world.paths.worktree("app", "r2").exists()
    assert "removed the preview of branch feature-x of app (asked)" in world.output.getvalue()


def test_stale_previews_go_at_every_deploy_and_at_prune(world):
    world.push()
    world.push_preview("old")
    world.push_preview("older")
    week_ago = time.time() - 8 * DAY
    for preview in world.store.previews("app"):
        world.store.put_preview("app", LivePreview(preview.branch, preview.slug, preview.sha,
                                                   week_ago, created_at=week_ago))
    assert world.push_preview("new").ok  # a preview deploy removes them before its limit
    assert [p.branch for p in world.store.previews("app")] == ["new"]
    world.store.put_preview("app", LivePreview("new", "new", "f" * 40, week_ago))
    assert world.push().ok  # production's, after its switch
    assert world.store.previews("app") == []
    world.push_preview("late")
    assert remove_stale(world.ports(), world.app, time.time() + 8 * DAY) == ["late"]
    world.push_preview("later")
    world.store.put_preview("app", LivePreview("later", "later", "f" * 40, week_ago))
    Prune(world.ports()).run(world.app)  # and `otterstack prune`
    assert world.store.previews("app") == []


def test_a_preview_of_a_branch_deleted_while_it_waited_is_not_deployed(world):
    world.store.set_app_setting("app", "previews", True)
    world.store.set_app_setting("app", "preview_domain", "preview.test")
    sha = world.repo.commit({"compose.yaml": ROUTED}, branch="gone")
    del world.repo.refs["refs/heads/gone"]
    outcome = PreviewDeploy(world.ports()).run(DeployRequest(
        app="app", ref=sha, trigger="push", preview_branch="gone", only_if_branch_head=True))
    assert outcome.skipped and "the branch was deleted" in outcome.message
    assert world.store.previews("app") == []


def test_removing_the_app_removes_its_previews_and_keeps_productions_volumes(world):
    world.push(DATA)
    world.push_preview("feature-x", DATA)
    RemoveApp(world.ports()).run(world.app, volumes=False)
    assert world.runtime.running == {}
    assert world.runtime.volumes == {"app_data"}
    assert "kept volume app_data" in world.output.getvalue()


def test_a_previews_deploy_that_died_is_cleaned_up_by_its_next_push_never_productions(world):
    world.push()
    world.push_preview("feature-x")
    dead = world.store.new_release("app", "f" * 40, "feature-x", "push", "", 1, "feature-x")
    world.runtime.running[dead.project] = list(world.runtime.running["app_feature-x-r2"])
    assert world.push_preview("feature-x").ok
    assert world.store.release(dead.id).status == "interrupted"
    assert ("remove", "app_feature-x-r3", 0) in world.runtime.calls
    assert world.store.active_release("app").name == "r1"


def test_a_branch_named_for_a_host_production_answers_at_is_refused(world):
    """`preview_domain` under a production domain: branch `www` would be production's www."""
    world.push(ROUTED.replace("Host(`app.test`)", "Host(`www.preview.test`)"))
    outcome = world.push_preview("www")
    assert not outcome.ok
    assert "would answer at www.preview.test, where production of app answers" in \
        outcome.message
    assert world.router.serving("app") == "app-r1"


def test_a_previews_dry_run_plans_under_the_previews_names_and_changes_nothing(world):
    world.push(DATA)
    outcome = world.push_preview("feature-x", DATA, dry_run=True)
    assert outcome.ok, world.output.getvalue()
    out = world.output.getvalue()
    assert "would become r2 (compose project app_feature-x-r2)" in out
    assert "volume data -> app.feature-x_data" in out
    assert "nothing to stop (first release)" in out  # the preview's, not production's r1
    assert world.store.previews("app") == [] and world.runtime.commands("up")[-1][1] == "app-r1"


def test_a_previews_url_says_https_when_tls_is_set_on_its_entrypoint_itself(world):
    world.router.info = replace(world.router.info, tls_entrypoints=frozenset({"web"}))
    outcome = world.push_preview("feature-x")
    assert outcome.ok and outcome.message.endswith("): https://feature-x.preview.test/")
    assert world.store.previews("app")[0].url == "https://feature-x.preview.test/"


def test_a_failed_preview_release_points_its_own_singletons_back_never_productions(world):
    world.push(DATA)
    world.push_preview("feature-x", DATA)
    world.store.set_app_setting("app", "release_command", "web migrate")
    world.runtime.fail["run_once"] = "the release command failed (exit 3)"
    assert not world.push_preview("feature-x", DATA).ok  # after its singletons were updated
    for slug in ("feature-x", ""):
        active = world.store.active_release("app", slug)
        assert os.readlink(world.paths.current("app", slug)) == active.worktree


def test_a_previews_failed_first_deploy_removes_it_and_keeps_its_failed_release(world):
    """Nothing of it served: it holds no place under the limit and leaves no volume; why it
    failed stays readable (the release and its log)."""
    world.store.set_app_setting("app", "notify", "https://hooks.example/deploy")
    world.push(DATA)
    world.push_preview("a", DATA)
    world.store.set_app_setting("app", "preview_limit", 2)
    world.runtime.fail["up"] = "starting the release failed"
    outcome = world.push_preview("b", DATA)
    assert not outcome.ok and "starting the release failed" in outcome.message
    assert [p.branch for p in world.store.previews("app")] == ["a"]
    assert world.runtime.volumes == {"app_data", "app.a_data"}
    assert "app_b-state" not in world.runtime.running
    [failed] = world.store.releases("app", preview="b")
    assert failed.status == "failed" and world.paths.log("app", failed.name).exists()
    assert "removed the preview of branch b of app (its first deploy failed: it never " \
        "served)" in world.output.getvalue()
    assert [(e["event"], e["preview"]["branch"]) for _, e in world.notifier.sent[-2:]] == [
        ("failed", "b"), ("removed", "b")]
    assert world.push_preview("a", DATA).ok is False  # one that served keeps serving
    assert world.router.serving("app_a") == "app_a-r2"
    assert [p.branch for p in world.store.previews("app")] == ["a"]
    del world.runtime.fail["up"]
    assert world.push_preview("c", DATA).ok  # b took no place under the limit
    assert world.push_preview("b", DATA).ok is False  # now it would be the third
