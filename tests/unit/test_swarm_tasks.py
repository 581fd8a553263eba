"""Swarm's tasks read as the snapshots the health gate judges (swarm_tasks.snapshots)."""

from otterstack_hooks.rules.health import evaluate
from otterstack_hooks.rules.swarm.tasks import parse_time, snapshots

NOW = 1_800_000_000.0
UPDATED = "2027-01-15T07:59:58.000000000Z"  # NOW - 2 s


def service(labels=None):
    labels = {"traefik.enable": "true"} if labels is None else labels
    return {"ID": "s1", "CreatedAt": UPDATED,
            "Spec": {"Name": "shop-r7_web", "Labels": labels}}


def task(tid, state, slot=1, desired="running", created=UPDATED, err="", exit_code=0,
         container=""):
    return {"ID": tid, "Slot": slot, "DesiredState": desired, "CreatedAt": created,
            "Status": {"State": state, "Timestamp": UPDATED, "Err": err,
                       "ContainerStatus": {"ExitCode": exit_code, "ContainerID": container}}}


def test_times_with_nanoseconds():
    assert parse_time(UPDATED) == NOW - 2
    assert parse_time("0001-01-01T00:00:00Z") is None


def test_starting_tasks_wait_and_running_ones_are_healthy():
    snaps = snapshots("shop-r7", service(), [task("a", "starting"), task("b", "running", 2)],
                      True, NOW)
    assert [(s.service, s.status, s.health, s.routed) for s in snaps] == [
        ("web", "running", "starting", True), ("web", "running", "healthy", True)]
    assert evaluate(snaps, {"web": 2}, 5).state == "waiting"
    snaps = snapshots("shop-r7", service(), [task("a", "running"), task("b", "running", 2)],
                      True, NOW)
    verdict = evaluate(snaps, {"web": 2}, 5)
    assert (verdict.state, verdict.detail) == ("ready", "web healthy, web healthy")
    assert snaps[0].healthy_since == NOW - 2


def test_all_replicas_must_run_before_the_release_is_ready():
    snaps = snapshots("shop-r7", service(), [task("a", "running")], True, NOW)
    assert evaluate(snaps, {"web": 3}, 5).detail == "web not created yet"


def test_a_failed_task_since_the_update_fails_the_gate_at_once():
    tasks = [task("old", "failed", desired="shutdown", err="task: non-zero exit (1)",
                  exit_code=1),
             task("new", "preparing")]
    verdict = evaluate(snapshots("shop-r7", service(), tasks, True, NOW), {"web": 1}, 5)
    assert verdict.state == "failed"
    assert "restart-looping (restarted 1x, last exit code 1)" in verdict.detail


def test_failures_from_before_the_service_changed_are_history():
    tasks = [task("old", "failed", desired="shutdown", created="2027-01-15T07:00:00Z"),
             task("new", "running")]
    assert evaluate(snapshots("shop-r7", service(), tasks, True, NOW), {"web": 1},
                    5).state == "ready"


def test_an_unhealthy_container_on_this_node_fails_before_swarm_notices():
    tasks = [task("a", "starting", container="c1")]
    snaps = snapshots("shop-r7", service(), tasks, True, NOW,
                      {"c1": ("unhealthy", "wget: server returned error: 404")})
    verdict = evaluate(snaps, {"web": 1}, 5)
    assert verdict.state == "failed"
    assert verdict.detail == "service web failed its healthcheck: wget: server returned " \
                             "error: 404"


def test_without_a_healthcheck_a_task_settles_like_a_container():
    snaps = snapshots("shop-r7", service({}), [task("a", "running")], False, NOW)
    assert (snaps[0].health, snaps[0].routed, snaps[0].running_for) == (None, False, 2.0)
    assert evaluate(snaps, {"web": 1}, 5).detail == "web settling"
