"""A Swarm app's stacks as `otterstack status` shows them and the services `otterstack logs
--app` reads: plain dicts in the Engine API's shape, no Docker."""

import pytest

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.rules.swarm.stack_view import (
    built_here,
    log_services,
    node_names,
    service_summary,
    summary_line,
    summary_lines,
)

NODES = node_names([{"ID": "n2", "Description": {"Hostname": "os-n2"}},
                    {"ID": "n3", "Description": {"Hostname": "os-n3"}},
                    {"ID": "abcdefabcdefabcdef", "Description": {}}])


def service(name, replicas=2, mode=None):
    return {"ID": "s1", "Spec": {"Name": name,
                                 "Mode": mode or {"Replicated": {"Replicas": replicas}}}}


def task(slot, node, state, desired="running", err=""):
    return {"Slot": slot, "NodeID": node, "DesiredState": desired,
            "Status": {"State": state, **({"Err": err} if err else {})}}


def test_node_names_fall_back_to_the_short_id():
    assert NODES == {"n2": "os-n2", "n3": "os-n3", "abcdefabcdefabcdef": "abcdefabcdef"}


def test_replicas_and_their_nodes():
    tasks = [task(2, "n3", "running"), task(1, "n2", "running"),
             task(1, "n2", "failed", desired="shutdown", err="non-zero exit (1)")]
    summary = service_summary("shop-r7", service("shop-r7_web"), tasks, NODES)
    assert summary == {
        "service": "web", "swarm_service": "shop-r7_web", "mode": "replicated", "desired": 2,
        "running": 2,
        "tasks": [{"slot": 1, "node": "os-n2", "state": "running", "error": ""},
                  {"slot": 2, "node": "os-n3", "state": "running", "error": ""}]}
    assert summary_line(summary) == "web  2/2 running: 1 on os-n2, 2 on os-n3"


def test_tasks_not_running_show_their_state_and_swarms_reason():
    tasks = [task(1, "n2", "running"), task(2, "n3", "starting"),
             task(3, "", "pending", desired="ready",
                  err="no suitable node (scheduling constraints not satisfied on 3 nodes)")]
    line = summary_line(service_summary("shop-r7", service("shop-r7_web", 3), tasks, NODES))
    assert line == ("web  1/3 running: 1 on os-n2; pending: 3 on no node yet (no suitable node "
                    "(scheduling constraints not satisfied on 3 nodes)); starting: 2 on os-n3")
    line = summary_line(service_summary("shop-r7", service("shop-r7_web", 1),
                                        [task(1, "n9", "preparing")], NODES))
    assert line == "web  0/1 running; preparing: 1 on n9"


def test_scaled_to_zero_and_waiting_for_tasks():
    assert summary_line(service_summary("a-r1", service("a-r1_worker", 0), [], NODES)) == \
        "worker  0/0 running (scaled to 0)"
    assert summary_line(service_summary("a-r1", service("a-r1_worker", 1), [], NODES)) == \
        "worker  0/1 running: no task yet"


def test_a_global_service_counts_a_task_per_node_and_has_no_slots():
    tasks = [{"NodeID": "n2", "DesiredState": "running", "Status": {"State": "running"}},
             {"NodeID": "n3", "DesiredState": "running", "Status": {"State": "running"}}]
    summary = service_summary("a-r1", service("a-r1_agent", mode={"Global": {}}), tasks, NODES)
    assert (summary["mode"], summary["desired"]) == ("global", 2)
    assert summary_line(summary) == "agent  2/2 running: os-n2, os-n3"


def test_lines_are_sorted_and_aligned():
    web = service_summary("a-r1", service("a-r1_web", 1), [task(1, "n2", "running")], NODES)
    worker = service_summary("a-r1", service("a-r1_worker", 1), [task(1, "n3", "running")],
                             NODES)
    assert summary_lines([worker, web]) == ["web     1/1 running: 1 on os-n2",
                                            "worker  1/1 running: 1 on os-n3"]
    assert summary_lines([]) == []


RELEASE = ["shop-r7_worker", "shop-r7_web"]
KEPT = ["shop-state_db"]


def test_logs_of_every_service_of_the_active_release():
    assert log_services("shop", "shop-r7", RELEASE, "shop-state", KEPT, "") == [
        "shop-r7_web", "shop-r7_worker"]


def test_logs_of_one_service_of_the_release_or_the_state_stack():
    assert log_services("shop", "shop-r7", RELEASE, "shop-state", KEPT, "web") == ["shop-r7_web"]
    assert log_services("shop", "shop-r7", RELEASE, "shop-state", KEPT, "db") == [
        "shop-state_db"]
    # a kept service needs no active release, as on one host
    assert log_services("shop", None, [], "shop-state", KEPT, "db") == ["shop-state_db"]


def test_logs_without_a_release_or_of_an_unknown_service():
    with pytest.raises(OtterError, match="shop has no active release"):
        log_services("shop", None, [], "shop-state", KEPT, "")
    with pytest.raises(OtterError, match="shop has no active release"):
        log_services("shop", None, [], "shop-state", KEPT, "web")
    with pytest.raises(OtterError, match=r"no service 'cron' .*its services: db, web, worker"):
        log_services("shop", "shop-r7", RELEASE, "shop-state", KEPT, "cron")
    with pytest.raises(OtterError, match="docker stack ps shop-r7"):
        log_services("shop", "shop-r7", [], "shop-state", KEPT, "")


@pytest.mark.parametrize("image, built", [
    ("shop-web:0123456789ab", True),
    ("registry.lan:5000/shop-web@sha256:" + "a" * 64, True),
    ("registry.lan:5000/team/shop-web:0123456789ab", True),
    ("busybox:latest", False),
    ("shop-worker:0123456789ab", False),  # another service's image
    ("nginx@sha256:" + "b" * 64, False),
])
def test_built_here(image, built):
    assert built_here("shop", "shop-r7_web", "shop-r7", image) is built
