"""Every rule of deploy, failure, recovery, rollback and pruning, on fake ports (fakes.py):
no Docker, no git, no Traefik. What a deploy runs is asserted as the exact calls it makes."""

import time

import pytest
from fakes import ROUTED, World

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.vocabulary import Phase
from otterstack_hooks.rules.command_lines import ComposeTarget
from otterstack_hooks.usecases.deploy import Deploy, DeployRequest
from otterstack_hooks.usecases.prune import Prune, prunable
from otterstack_hooks.usecases.recover import Recover
from otterstack_hooks.usecases.retire import Retire
from otterstack_hooks.usecases.rollback import Rollback, rollback_target

BUILT = ROUTED.replace("    image: busybox\n    healthcheck", "    build: .\n    healthcheck", 1)
UNROUTED = "services:\n  web:\n    image: busybox\n"


@pytest.fixture
def world(tmp_path) -> World:
    return World(tmp_path)


def test_a_first_deploy_runs_these_commands_in_this_order(world):
    outcome = world.push(BUILT)
    assert outcome.ok, world.output.getvalue()
    assert world.runtime.commands("build", "up", "stop", "remove", "drain") == [
        ("build", "app-r1", ("web", "worker")),
        ("up", "app-r1", ("web", "worker")),
    ]
    assert world.router.calls[0] == ("wait_enabled", ("web~app-r1",))
    assert world.statuses() == {"r1": "active"}
    release = world.store.release(outcome.release.id)
    assert release.healthy_at and release.served_at >= release.healthy_at - 1


def test_a_second_deploy_starts_next_to_the_old_one_then_drains_and_stops_it(world):
    world.store.set_app_setting("app", "retire_after", 0)
    world.push()
    assert world.push().ok
    assert world.runtime.commands("up", "drain", "stop", "remove") == [
        ("up", "app-r1", ("web", "worker")),
        ("up", "app-r2", ("web", "worker")),
        ("drain", "app-r1"),
        ("stop", "app-r1"),
    ]
    assert world.statuses() == {"r2": "active", "r1": "superseded"}
    assert world.router.serving("app") == "app-r2"


@pytest.mark.parametrize("step, scripted, reason", [
    ("build", {"fail": {"build": "build failed: exit 1"}}, "build failed"),
    ("up", {"fail": {"up": "starting the release failed"}}, "starting the release failed"),
    ("health", {"health": {"web": "unhealthy"}}, "failed its healthcheck"),
    ("crash", {"health": {"web": "exited"}}, "exited with code 1"),
])
def test_a_failure_at_any_step_removes_the_new_release_and_keeps_the_old(world, step,
                                                                          scripted, reason):
    world.push(BUILT)
    for attr, value in scripted.items():
        setattr(world.runtime, attr, value)
    outcome = world.push(BUILT)
    assert not outcome.ok and reason in outcome.message
    assert "still serving r1" in outcome.message
    assert world.statuses() == {"r2": "failed", "r1": "active"}
    assert ("remove", "app-r2", 0) in world.runtime.calls
    assert ("stop", "app-r1") not in world.runtime.calls
    assert world.router.serving("app") == "app-r1"
    assert not (world.paths.worktree("app", "r2")).exists()


def test_deploy_events_go_through_the_notifier_port_and_a_failure_to_tell_is_a_warning(world):
    world.store.set_app_setting("app", "notify", "https://hooks.example/deploy")
    world.push()
    assert [(target, event["event"], event["release"]) for target, event in world.notifier.sent] \
        == [("https://hooks.example/deploy", "started", "r1"),
            ("https://hooks.example/deploy", "succeeded", "r1")]
    world.notifier.fail = "timed out after 5 s"
    assert world.push().ok
    assert "could not send the succeeded event: timed out after 5 s" in world.output.getvalue()
    world.store.set_app_setting("app", "notify", "")
    sent = len(world.notifier.sent)
    world.push()
    assert len(world.notifier.sent) == sent  # no target, nothing told


def test_a_release_command_failure_stops_before_anything_starts(world):
    world.push()
    world.store.set_app_setting("app", "release_command", "web migrate --all")
    world.runtime.fail["run_once"] = "the release command failed (exit 3)"
    outcome = world.push()
    assert not outcome.ok and "exit 3" in outcome.message
    assert ("run_once", "app-r2", "web", ("migrate", "--all")) in world.runtime.calls
    assert ("up", "app-r2", ("web", "worker")) not in world.runtime.calls


def test_a_release_command_must_name_a_service_of_the_release(world):
    world.store.set_app_setting("app", "release_command", "db migrate")
    outcome = world.push()
    assert not outcome.ok and "'db' is not a service of this release" in outcome.message


def test_the_health_wait_has_a_limit_that_names_the_setting(world):
    world.runtime.health["web"] = "starting"
    outcome = world.push(health_timeout=1)
    assert not outcome.ok
    assert "not healthy after 1 s" in outcome.message
    assert "otterstack config app health_timeout" in outcome.message


def test_a_router_traefik_refuses_fails_the_deploy_and_takes_the_healthy_release_out(world):
    world.push()
    world.router.refuse = "Traefik rejected router web~app-r2"
    outcome = world.push()
    assert not outcome.ok and "rejected router" in outcome.message
    # it was healthy, so it may have had requests: out of Traefik, drained, stopped while
    # still out of Traefik, only then the fence goes, then removed
    assert world.router.calls[-2:] == [("withdraw", "app-r2"), ("unfence", "app-r2")]
    order = world.runtime.commands("drain", "stop", "unfence", "remove")[-4:]
    assert order == [("drain", "app-r2"), ("stop", "app-r2"), ("unfence", "app-r2"),
                     ("remove", "app-r2", 0)]
    assert world.router.serving("app") == "app-r1"


def test_when_the_old_release_still_answers_the_failure_says_whose_making_it_is(world,
                                                                                  monkeypatch):
    monkeypatch.setattr("otterstack_hooks.usecases.release_steps.SERVE_PROOF_SECONDS", 0)
    world.push()
    world.router.answer_as = "app-r1"
    outcome = world.push()
    assert not outcome.ok
    assert "the release being replaced (app-r1) still answers" in outcome.message


def test_a_routed_service_without_a_healthcheck_is_refused_before_it_starts(world):
    outcome = world.push(ROUTED.replace('    healthcheck: {test: [CMD, "true"]}\n', ""))
    assert not outcome.ok and "has no HEALTHCHECK" in outcome.message
    assert world.runtime.commands("up") == []
    assert ("pull", "app-r1", "web") in world.runtime.calls


def test_without_a_traefik_it_deploys_unrouted_and_says_so(world):
    world.router.present = False
    assert world.push().ok
    assert "no running Traefik container found" in world.output.getvalue()
    assert world.router.calls == []


def test_an_unrouted_app_never_asks_the_router(tmp_path):
    world = World(tmp_path, routed=False)
    assert world.push(UNROUTED).ok and world.push(UNROUTED).ok
    assert world.router.calls == []
    assert world.statuses() == {"r2": "active", "r1": "superseded"}


def test_a_failure_after_activation_only_warns(world):
    world.push()
    world.store.set_app_setting("app", "retire_after", 0)
    world.runtime.fail["stop"] = "stopping app-r1 failed"
    outcome = world.push()
    assert outcome.ok
    assert "stopping app-r1 failed; the new release serves" in world.output.getvalue()
    assert world.statuses() == {"r2": "active", "r1": "superseded"}


def test_a_push_that_waited_while_a_newer_one_arrived_is_skipped(world):
    world.push()
    older = world.repo.commit({"compose.yaml": ROUTED}, "older")
    world.repo.commit({"compose.yaml": ROUTED}, "newer")  # the branch moved on
    outcome = Deploy(world.ports()).run(DeployRequest(app="app", ref=older, trigger="push",
                                                      only_if_branch_head=True))
    assert outcome.ok and outcome.skipped and "a newer push" in outcome.message
    assert world.statuses() == {"r1": "active"}


def test_a_pinned_app_takes_no_push_but_a_manual_deploy(world):
    world.push()
    world.store.pin("app", "rolled back to r1")
    pushed = world.push()
    assert pushed.skipped and "was pinned while the push waited" in pushed.message
    assert world.push(trigger="manual").ok
    assert world.statuses() == {"r2": "active", "r1": "superseded"}


def test_rollback_starts_the_retained_images_without_a_build_and_can_pin(world):
    world.store.set_app_setting("app", "retire_after", 0)  # outside any window
    world.push(BUILT)
    world.push(BUILT)
    outcome = Rollback(world.ports()).run(world.app, None, True, "admin", None)
    assert outcome.ok
    assert ("reuse_images", "app-r1", "app-r3", ("web",)) in world.runtime.calls
    assert world.runtime.commands("build")[-1] == ("build", "app-r2", ("web", "worker"))
    assert world.store.release(outcome.release.id).sha == world.store.releases("app")[-1].sha
    assert world.app.pinned == "rolled back to r1"


def test_rollback_rebuilds_when_the_images_are_gone(world):
    world.store.set_app_setting("app", "retire_after", 0)  # outside any window
    world.push(BUILT)
    world.push(BUILT)
    world.runtime.images.clear()
    assert Rollback(world.ports()).run(world.app, "r1", False, "admin", None).ok
    assert "images of app-r1 are gone (pruned): rebuilding" in world.output.getvalue()
    assert world.runtime.commands("build")[-1] == ("build", "app-r3", ("web", "worker"))


def test_rollback_target_choice(world):
    for _ in range(3):
        world.push()
    releases = world.store.releases("app", limit=100)
    default = world.store.rollback_target("app")
    app = world.app
    assert rollback_target(app, releases, default, None).name == "r2"
    assert rollback_target(app, releases, default, "r1").name == "r1"
    with pytest.raises(OtterError, match="already the active release"):
        rollback_target(app, releases, default, "r3")
    with pytest.raises(OtterError, match="no release 'r9' to roll back to"):
        rollback_target(app, releases, default, "r9")
    with pytest.raises(OtterError, match="no earlier release"):
        rollback_target(app, releases, None, None)


def test_prune_never_removes_the_active_release_or_the_rollback_target(world):
    world.store.set_app_setting("app", "keep_releases", 10)
    for _ in range(5):
        world.push(no_watch=True)
    world.store.set_app_setting("app", "keep_releases", 1)
    pruned = Prune(world.ports()).run(world.app)
    assert pruned == ["r3", "r2", "r1"]
    assert world.statuses()["r5"] == "active"
    kept = {r.name for r in world.store.releases("app") if r.worktree}
    assert kept == {"r5", "r4"}  # r4: where `rollback` goes
    assert ("remove", "app-r4", None) not in world.runtime.calls


def test_prunable_is_pure_and_keeps_the_newest(world):
    world.store.set_app_setting("app", "keep_releases", 10)
    for _ in range(4):
        world.push(no_watch=True)
    releases = world.store.releases("app")
    target = world.store.rollback_target("app")
    assert [r.name for r in prunable(releases, 2, target)] == ["r2", "r1"]
    assert [r.name for r in prunable(releases, 1, None)] == ["r2", "r1"]  # r3: kept
    assert prunable(releases, 10, target) == []
    # a release left running until a watch is over waits for its retire, not for prune
    world.store.update_release(releases[-1].id, retire_at=time.time() + 60)
    assert [r.name for r in prunable(world.store.releases("app"), 2, target)] == ["r2"]


def test_prune_dry_run_removes_nothing(world):
    world.store.set_app_setting("app", "keep_releases", 10)
    for _ in range(3):
        world.push(no_watch=True)
    assert Prune(world.ports()).run(world.app, keep=1, dry_run=True) == ["r1"]
    assert not world.runtime.commands("remove")


def _interrupted(world: World, health: str = "healthy") -> None:
    """r1 serves; r2's deploy process died after `up` (its row still says deploying)."""
    world.push()
    sha = world.repo.commit({"compose.yaml": ROUTED})
    world.runtime.health["web"] = health
    release = world.store.new_release("app", sha, "main", "push", "", 999999)
    worktree = world.paths.worktree("app", release.name)
    world.repo.add_worktree(worktree, sha)
    world.store.update_release(release.id, worktree=str(worktree), services="web=1,worker=1")
    world.runtime.up(ComposeTarget(release.project, worktree, ("compose.yaml",)),
                     ["web", "worker"], print, 60)
    world.runtime.health.clear()


def test_recovery_completes_an_interrupted_release_that_is_whole_healthy_and_served(world):
    _interrupted(world)
    Recover(world.ports()).run(world.app, world.repo)
    assert world.statuses() == {"r2": "active", "r1": "superseded"}
    assert "healthy and serving; completed its switch" in world.output.getvalue()
    # the replaced release still runs: recovery drains and stops it
    assert world.runtime.commands("drain", "stop")[-2:] == [("drain", "app-r1"),
                                                           ("stop", "app-r1")]


def test_recovery_removes_an_interrupted_release_that_never_became_healthy(world):
    _interrupted(world, health="unhealthy")
    Recover(world.ports()).run(world.app, world.repo)
    assert world.statuses() == {"r2": "interrupted", "r1": "active"}
    assert ("remove", "app-r2", 0) in world.runtime.calls
    assert ("withdraw", "app-r2") not in world.router.calls  # never healthy: never routed
    assert world.router.serving("app") == "app-r1"


def test_recovery_runs_first_in_the_next_deploy(world):
    _interrupted(world, health="unhealthy")
    assert world.push().ok
    assert world.statuses() == {"r3": "active", "r2": "interrupted", "r1": "superseded"}


def test_the_result_line_says_how_long_the_deploy_took(world):
    started = time.monotonic()
    outcome = world.push()
    assert outcome.message.startswith("deployed app ")
    assert outcome.message.endswith("proven 0.0 s, old stopped 0.0 s)")
    assert time.monotonic() - started < 5
    phases = world.store.release(outcome.release.id).as_dict()["phases"]
    assert list(phases) == [p.value for p in Phase]
    assert all(seconds >= 0 for seconds in phases.values())


# the rollback window (retire_after) and instant rollback
def test_the_replaced_release_keeps_its_routed_services_out_of_traffic_for_a_while(world):
    world.push()
    assert world.push().ok
    assert world.runtime.commands("stop", "drain") == [("stop", "app-r1", "worker")]
    web = [c for c in world.runtime.containers("app-r1") if c.service == "web"]
    assert [c.status for c in web] == ["running"]
    assert world.router.serving("app") == "app-r2"  # outranked by r2's routers
    r1 = world.store.releases("app")[-1]
    assert r1.status == "superseded" and r1.retire_at > time.time() + 290
    assert world.scheduled == [("app", "r1", 300)]


def test_a_rollback_inside_the_window_switches_back_without_a_start(world):
    world.push(BUILT)
    world.push(BUILT)
    world.runtime.calls.clear()
    outcome = Rollback(world.ports()).run(world.app, None, False, "admin", None)
    assert outcome.ok and "without a start" in outcome.message, world.output.getvalue()
    assert world.runtime.commands("build", "up", "reuse_images") == []
    assert world.runtime.commands("stop", "start", "drain") == [
        ("drain", "app-r2"), ("stop", "app-r2"), ("start", "app-r1", "worker")]
    assert ("withdraw", "app-r2") in world.router.calls
    assert world.statuses() == {"r2": "superseded", "r1": "active"}
    assert world.router.serving("app") == "app-r1"
    assert world.store.release(outcome.release.id).retire_at is None


def test_a_withdrawn_release_stays_out_of_traffic_until_it_has_exited(world):
    world.push()
    world.push()
    assert Rollback(world.ports()).run(world.app, None, False, "admin", None).ok
    order = [c for c in world.runtime.commands("drain", "stop", "unfence") if c[1] == "app-r2"]
    assert order == [("drain", "app-r2"), ("stop", "app-r2"), ("unfence", "app-r2")]
    assert world.router.serving("app") == "app-r1"
    assert "stopping r2: up to 10 s stop grace period" in world.output.getvalue()


def test_a_withdrawn_release_whose_stop_fails_stays_fenced(world):
    world.push()
    world.push()
    world.runtime.fail["stop"] = "docker compose stop did not finish"
    with pytest.raises(OtterError, match="did not finish"):
        Rollback(world.ports()).run(world.app, None, False, "admin", None)
    assert ("withdraw", "app-r2") in world.router.calls
    assert ("unfence", "app-r2") not in world.router.calls  # it may still run: keep it out


def test_the_next_deploy_removes_a_fence_a_killed_deploy_left(world):
    world.push()
    world.router.left_fenced = ["app-r1"]
    assert world.push().ok
    assert "app-r1 had exited but was still fenced out of Traefik" in world.output.getvalue()


def test_a_rollback_after_the_window_starts_the_release_again(world):
    world.push(BUILT)
    world.push(BUILT)
    r1 = world.store.releases("app")[-1]
    world.store.update_release(r1.id, retire_at=time.time() - 1)
    outcome = Rollback(world.ports()).run(world.app, None, False, "admin", None)
    assert outcome.ok and outcome.release.name == "r3"
    assert ("reuse_images", "app-r1", "app-r3", ("web",)) in world.runtime.calls


def test_a_failed_instant_switch_routes_the_current_release_again_then_goes_the_long_way(
        world, monkeypatch):
    monkeypatch.setattr("otterstack_hooks.usecases.release_steps.SERVE_PROOF_SECONDS", 0)
    world.push()
    world.push()
    world.router.answer_as = "other-r9"
    outcome = Rollback(world.ports()).run(world.app, None, False, "admin", None)
    assert ("readmit", "app-r2") in world.router.calls
    assert "rolling back with a start" in world.output.getvalue()
    # the long way fails the same proof here: r3 is removed, r2 still serves
    assert not outcome.ok and "still serving r2" in outcome.message
    assert world.statuses() == {"r3": "failed", "r2": "active", "r1": "superseded"}
    # the workers change only after a proven switch: r1's were never started again
    assert world.runtime.commands("start") == []
    assert world.router.serving("app") == "app-r2"


def test_the_next_deploy_stops_the_release_kept_before(world):
    for _ in range(3):
        world.push(no_watch=True)
    assert ("stop", "app-r1") in world.runtime.calls  # r2 is the one kept now
    assert [r.name for r in world.store.releases("app") if r.retire_at] == ["r2"]


def test_a_watched_deploy_stops_the_release_kept_before_once_its_watch_is_over(world):
    """Its drain and stop under the lock would hold back the watch's rollback."""
    world.push()
    world.push()
    started = time.time()
    assert world.push().ok
    assert ("stop", "app-r1") not in world.runtime.calls
    wait = world.app.watch_seconds + 1
    assert ("app", "r1", wait) in world.scheduled
    assert f"r1 (kept before) stops in {wait} s, once the watch" in world.output.getvalue()
    r1 = next(r for r in world.store.releases("app") if r.name == "r1")
    assert r1.retire_at is not None and started + wait <= r1.retire_at <= time.time() + wait
    assert not Retire(world.ports()).run(world.app, "r1")  # not before the watch is over
    world.store.update_release(r1.id, retire_at=time.time() - 1)
    assert Retire(world.ports()).run(world.app, "r1")
    assert ("stop", "app-r1") in world.runtime.calls


def test_a_router_the_new_release_does_not_replace_means_no_window(world):
    world.push()
    assert world.push(ROUTED.replace("Host(`app.test`)", "Host(`new.test`)")).ok
    assert "cannot be kept for an instant rollback" in world.output.getvalue()
    assert ("stop", "app-r1") in world.runtime.calls
    assert world.scheduled == []


def test_recovery_leaves_a_kept_release_alone_until_its_window_ends(world):
    world.push()
    world.push()
    Recover(world.ports()).run(world.app, world.repo)
    assert ("stop", "app-r1") not in world.runtime.calls
    r1 = world.store.releases("app")[-1]
    world.store.update_release(r1.id, retire_at=time.time() - 1)
    Recover(world.ports()).run(world.app, world.repo)
    assert ("stop", "app-r1") in world.runtime.calls
    assert world.store.release(r1.id).retire_at is None


def test_retire_stops_a_kept_release_once_due_and_never_one_rolled_back_to(world):
    world.push()
    world.push()
    r1 = world.store.releases("app")[-1]
    assert not Retire(world.ports()).run(world.app, "r1")  # not due yet
    world.store.update_release(r1.id, retire_at=time.time())
    assert Retire(world.ports()).run(world.app, "r1")
    assert world.runtime.commands("drain", "stop")[-2:] == [("drain", "app-r1"),
                                                           ("stop", "app-r1")]
    world.push()
    Rollback(world.ports()).run(world.app, None, False, "admin", None)  # back to r2, kept
    assert not Retire(world.ports()).run(world.app, "r2")


def test_removing_an_app_names_a_volume_it_cannot_remove_and_removes_the_rest(world):
    """On a Swarm a volume may live on a node only that node's engine reaches: the removal
    says so (Runtime.remove_volume's error) and goes on; the app is gone."""
    from otterstack_hooks.core.errors import OtterError
    from otterstack_hooks.usecases.remove_app import RemoveApp
    assert "deployed" in world.push().message
    world.runtime.volumes |= {"app_data", "app_cache"}
    removed = []

    def remove_volume(name: str) -> None:
        if name == "app_data":
            raise OtterError("volume app_data is on os-n2, where its service ran: ...")
        removed.append(name)
    world.runtime.remove_volume = remove_volume
    RemoveApp(world.ports()).run(world.app, volumes=True)
    text = world.output.getvalue()
    assert "volume app_data is on os-n2, where its service ran" in text
    assert "removed volume app_cache" in text and "removed volume app_data" not in text
    assert removed == ["app_cache"]
    assert world.store.get_app("app") is None


def test_an_instant_rollback_checks_the_kept_release_again(world):
    """The kept release's checked config against today's allowances: one that cannot be
    judged (its checked file is gone) goes the long way, through prepare's policy."""
    world.push(BUILT)
    world.push(BUILT)
    checked = world.ports().paths.generated("app", "r1") / "compose.checked.json"
    assert checked.is_file()
    checked.unlink()
    outcome = Rollback(world.ports()).run(world.app, None, False, "admin", None)
    assert "r1 cannot switch back as it runs" in world.output.getvalue()
    assert outcome.ok and outcome.release.name == "r3"


def test_an_image_with_traefik_labels_is_refused_before_anything_starts(world):
    """A Dockerfile's LABEL reaches the containers where the compose policy does not look."""
    world.push()
    world.runtime.image_label_sets["app-r2-web"] = {
        "traefik.http.routers.x.service": "api@internal", "org.opencontainers.x": "y"}
    outcome = world.push(BUILT)
    assert not outcome.ok
    assert "its image app-r2-web carries Traefik labels (traefik.http.routers.x.service)" \
        in outcome.message
    assert [c for c in world.runtime.calls if c[0] == "up" and c[1] == "app-r2"] == []
    assert world.router.serving("app") == "app-r1"
