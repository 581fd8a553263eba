"""Health verdicts: ready, waiting, or failed at once."""

from otterstack_hooks.health import ContainerSnapshot, evaluate


def snap(service="web", status="running", health="healthy", restarts=0, code=0, running_for=10.0,
         output=""):
    return ContainerSnapshot("id-" + service, f"p-{service}-1", service, status, health,
                             restarts, code, running_for, output)


def test_all_healthy_is_ready():
    assert evaluate([snap(), snap("db", health=None)], {"web": 1, "db": 1}, 5).state == "ready"


def test_starting_health_and_unsettled_services_wait():
    assert evaluate([snap(health="starting")], {"web": 1}, 5).state == "waiting"
    v = evaluate([snap(health=None, running_for=1)], {"web": 1}, 5)
    assert v.state == "waiting" and "settling" in v.detail


def test_missing_container_waits():
    v = evaluate([snap()], {"web": 1, "worker": 1}, 5)
    assert v.state == "waiting" and "worker not created yet" in v.detail


def test_exit_restart_and_unhealthy_fail_at_once():
    v = evaluate([snap(status="exited", code=3)], {"web": 1}, 5)
    assert v.state == "failed" and "exited with code 3" in v.detail
    v = evaluate([snap(restarts=1, code=1)], {"web": 1}, 5)
    assert v.state == "failed" and "restart-looping" in v.detail
    v = evaluate([snap(status="restarting")], {"web": 1}, 5)
    assert v.state == "failed"
    v = evaluate([snap(health="unhealthy", output="wget: 404")], {"web": 1}, 5)
    assert v.state == "failed" and "failed its healthcheck: wget: 404" in v.detail
    assert v.failed_container == "id-web"
