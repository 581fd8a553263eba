"""The watch after a switch on fake ports (fakes.py), as test_deploy_rules.py does deploys: the
deploy's part (the baseline, the decision, the line that says why not) and the watch itself
(usecases/watch.py) with a clock that moves only when it sleeps. Traffic is what the fake
Traefik counts between two reads of its metrics."""

import time

import pytest
from fakes import FakeRouter, World

from otterstack_hooks.core.vocabulary import WatchStatus
from otterstack_hooks.usecases.watch import Watch

UNROUTED = "services:\n  web:\n    image: busybox\n"


@pytest.fixture
def world(tmp_path) -> World:
    """r1 served 1,000 requests, 3 of them 5xx, before r2 is pushed: r2's baseline."""
    world = World(tmp_path)
    world.store.set_app_setting("app", "watch_seconds", 5)
    assert world.push().ok
    world.router.answer("app", 999, 3)
    return world


def watch(world: World, name: str = "r2") -> WatchStatus | None:
    """Run the watch as `otterstack watch app r2` would, on a clock that only its sleeps
    move."""
    now = [time.time()]

    def sleep(seconds: float) -> None:
        now[0] += seconds
    return Watch(world.ports(), clock=lambda: now[0], sleep=sleep).run(world.app, name)


def release(world: World, name: str):
    return next(r for r in world.store.releases("app") if r.name == name)


def test_a_release_failing_under_real_traffic_is_rolled_back_at_once_and_pins_nothing(world):
    world.store.set_app_setting("app", "notify", "https://hooks.example/deploy")
    assert world.push().ok and world.watches == [("app", "r2")]
    assert ("watching r2 under real traffic for 5 s (baseline 0.3 %: 1,000 requests of r1 in "
            "its whole time in traffic)") in world.output.getvalue()
    world.router.traffic = lambda router: router.answer("app", 40, 30)
    assert watch(world) == WatchStatus.FAILED
    text = world.output.getvalue()
    assert ("r2 fails under real traffic: 30 of 41 requests answered 5xx (baseline 0.3 %): "
            "rolling back to r1") in text
    assert "without a start; r2 stopped" in text  # the instant rollback
    assert world.router.serving("app") == "app-r1"
    assert world.statuses() == {"r2": "superseded", "r1": "active"}
    assert world.app.pinned == ""  # the next push deploys
    r2 = release(world, "r2")
    assert r2.reason == r2.watch_detail == ("rolled back by watch: 30 of 41 requests answered "
                                            "5xx (baseline 0.3 %)")
    assert (r2.watch_status, r2.watch_requests, r2.watch_errors) == ("failed", 41, 30)
    assert r2.note == r2.reason  # what `otterstack releases` shows
    event = world.notifier.sent[-1][1]
    assert (event["event"], event["release"], event["reason"], event["serving"]) == (
        "watch_failed", "r2", r2.reason, f"serving r1 ({release(world, 'r1').sha[:7]}) again")
    assert world.push().ok  # not pinned


def test_the_switch_back_comes_before_the_failed_release_drains(world):
    """The 2 s goal: nothing slow between the verdict and r1 serving again."""
    world.push()
    world.router.traffic = lambda router: router.answer("app", 20, 20)
    world.runtime.calls.clear()
    watch(world)
    text = world.output.getvalue()
    text = text[text.index("r2 fails under real traffic"):]
    lines = ["taking r2 out of Traefik", "answered 200 from r1", "drained r2", "stopping r2",
             "rolled app back to r1"]
    assert [text.index(line) for line in lines] == sorted(text.index(line) for line in lines)
    assert world.runtime.commands("drain", "stop", "start") == [
        ("drain", "app-r2"), ("stop", "app-r2"), ("start", "app-r1", "worker")]


def test_a_rollback_that_fails_ends_the_watch_with_why(world):
    """The switch back worked, the failed release's stop did not: said, kept, not hidden."""
    world.push()
    world.router.traffic = lambda router: router.answer("app", 20, 20)
    world.runtime.fail["stop"] = "docker compose stop did not finish"
    assert watch(world) == WatchStatus.FAILED
    assert release(world, "r2").watch_detail == (
        "failed under real traffic (20 of 21 requests answered 5xx (baseline 0.3 %)), but the "
        "rollback did not complete: docker compose stop did not finish")
    assert world.router.serving("app") == "app-r1"


def test_a_routed_container_that_restarts_fails_the_watch(world):
    from dataclasses import replace
    world.push()

    def restart(router: FakeRouter) -> None:
        world.runtime.running["app-r2"] = [replace(c, restart_count=1)
                                           for c in world.runtime.running["app-r2"]]
    world.router.traffic = restart
    assert watch(world) == WatchStatus.FAILED
    assert release(world, "r2").reason == ("rolled back by watch: container app-r2-web-1 of "
                                           "service web restarted (last exit code 0)")


def test_a_healthy_release_passes_and_keeps_what_it_answered(world):
    world.store.set_app_setting("app", "watch_seconds", 12)
    world.push()
    world.router.traffic = lambda router: router.answer("app", 100, 1)
    assert watch(world) == WatchStatus.PASSED
    r2 = release(world, "r2")
    assert r2.watch_status == "passed" and r2.watch_requests > 1000
    assert r2.watch_detail == f"watched: {r2.watch_requests:,} requests, {r2.watch_errors} errors"
    assert r2.note == r2.watch_detail
    text = world.output.getvalue()
    assert "watching r2 under real traffic: " in text  # every 5 s of the window
    assert world.statuses() == {"r2": "active", "r1": "superseded"}
    assert ("withdraw", "app-r2") not in world.router.calls


def test_a_quiet_app_is_not_rolled_back_for_a_few_errors(world):
    world.push()
    world.router.answer("app", 5, 5)  # 5 of 6 answered 5xx, but 6 requests prove nothing
    assert watch(world) == WatchStatus.PASSED
    assert release(world, "r2").watch_detail == "watched: 6 requests, 5 errors"
    assert world.statuses() == {"r2": "active", "r1": "superseded"}


def test_a_newer_push_ends_the_watch(world):
    world.push()
    pushed: list[bool] = []

    def push_once(router: FakeRouter) -> None:
        if not pushed:  # r3's own deploy reads the metrics too
            pushed.append(True)
            assert world.push().ok
    world.router.traffic = push_once
    assert watch(world) == WatchStatus.ENDED
    r2 = release(world, "r2")
    assert r2.watch_detail == ("watch ended after 1 requests, 0 errors: r3 was pushed after "
                               "it")
    assert world.statuses() == {"r3": "active", "r2": "superseded", "r1": "superseded"}
    assert ("withdraw", "app-r2") not in world.router.calls


def test_a_rollback_by_hand_ends_the_watch(world):
    from otterstack_hooks.usecases.rollback import Rollback
    world.push()
    world.router.traffic = lambda router: Rollback(world.ports()).run(
        world.app, None, False, "admin", None) if router.serving("app") == "app-r2" else None
    assert watch(world) == WatchStatus.ENDED
    assert "r2 no longer serves" in release(world, "r2").watch_detail


def test_the_first_release_is_not_watched(tmp_path):
    world = World(tmp_path)
    assert world.push().ok and world.watches == []
    assert ("watch     not watched: r1 replaced no release, so there is none to go back to"
            in world.output.getvalue())
    assert release(world, "r1").watch_status == ""


def test_a_release_with_no_routed_service_says_so(world):
    assert world.push(UNROUTED).ok and world.watches == []
    assert "r2 has no routed HTTP service: nothing to watch" in world.output.getvalue()


def test_without_metrics_the_push_says_the_watch_cannot_run_and_why(world):
    world.router.no_metrics = ("Traefik serves no metrics at http://127.0.0.1:1/metrics (HTTP "
                               "404: it runs without --metrics.prometheus=true)")
    assert world.push().ok and world.watches == []
    assert ("not watched: Traefik serves no metrics at http://127.0.0.1:1/metrics (HTTP 404: it "
            "runs without --metrics.prometheus=true); `otterstack doctor` says how to turn on "
            "Traefik's Prometheus metrics") in world.output.getvalue()


def test_a_push_with_no_watch_and_a_rollback_are_not_watched(world):
    assert world.push(no_watch=True).ok and world.watches == []
    assert "not watched: the push asked for no-watch" in world.output.getvalue()
    assert ("scrape_metrics",) not in world.router.calls  # nothing read for nothing


def test_the_result_line_tells_logs_that_the_watch_follows(world):
    import json
    world.push()
    events = [json.loads(line) for line in
              world.paths.log("app", "r2").read_text().splitlines()]
    assert [e.get("watch") for e in events if e["step"] == "result"] == [True]
    watch(world)
    events = [json.loads(line) for line in
              world.paths.log("app", "r2").read_text().splitlines()]
    assert events[-1]["step"] == "watch" and events[-1]["watch_end"] is True


def waiting_watch(world: World, name: str = "r2", on_poll=None) -> tuple[WatchStatus | None,
                                                                          float]:
    """`otterstack watch --wait app r2`, as the deploy starts it before its switch; its
    outcome and the seconds it waited on its clock. `on_poll(n)` runs at each of its sleeps."""
    now, polls = [time.time()], [0]
    start = now[0]

    def sleep(seconds: float) -> None:
        now[0] += seconds
        polls[0] += 1
        if on_poll:
            on_poll(polls[0])
    status = Watch(world.ports(), clock=lambda: now[0], sleep=sleep).run(
        world.app, name, wait=True)
    return status, now[0] - start


def test_a_watch_started_before_the_switch_waits_for_the_deploy_to_decide(world):
    assert world.push().ok and world.watches == [("app", "r2")]
    r2 = release(world, "r2")
    world.store.update_release(r2.id, watch_status="")  # as before the deploy decided
    world.router.traffic = lambda router: router.answer("app", 40, 30)

    def decide(poll: int) -> None:
        if poll == 3:
            world.store.update_release(r2.id, watch_status=WatchStatus.WATCHING)
    status, _ = waiting_watch(world, on_poll=decide)
    assert status == WatchStatus.FAILED  # it watched, once told to
    assert world.router.serving("app") == "app-r1"


def test_a_watch_started_early_ends_quietly_when_the_deploy_says_not_or_fails(world):
    assert world.push().ok
    r2 = release(world, "r2")
    world.store.update_release(r2.id, watch_status=WatchStatus.ENDED,
                               watch_detail="not watched: r1 is not kept")
    before = world.output.getvalue()
    assert waiting_watch(world)[0] is None
    assert world.output.getvalue() == before  # the deploy said why; no second line
    world.store.update_release(r2.id, watch_status="", status="failed")
    assert waiting_watch(world) == (None, 0.0)  # a failed deploy: no wait at all


def test_a_watch_started_early_waits_no_longer_than_its_bound(world):
    assert world.push().ok
    world.store.update_release(release(world, "r2").id, watch_status="")
    status, waited = waiting_watch(world)
    assert status is None and 900 <= waited <= 901


def test_a_watch_whose_process_died_is_ended_by_the_next_deploy(world):
    assert world.push().ok and release(world, "r2").watch_status == "watching"
    # no watch process runs here (the fake only records that one was started): r2's window,
    # drain_timeout and the margin pass, as after a reboot
    late = release(world, "r2").served_at - 3600
    world.store.update_release(release(world, "r2").id, served_at=late)
    assert world.push().ok
    r2 = release(world, "r2")
    assert (r2.watch_status, r2.watch_detail) == ("ended", (
        "watch ended without a verdict: its process stopped before its window did (the "
        "server restarted, or it was killed)"))
    assert "the watch of r2 stopped before its window ended" in world.output.getvalue()
    assert release(world, "r3").watch_status == "watching"  # the new one's, alive


def test_a_watch_within_its_time_is_left_to_its_process(world):
    assert world.push().ok
    assert world.push().ok  # r3: r2's watch may still be running, and ends itself
    assert release(world, "r2").watch_status == "watching"
