"""Health verdicts: ready, waiting, or failed at once."""

from otterstack_hooks.rules.health import ContainerSnapshot, evaluate, whole_and_healthy


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


def test_one_shot_job_that_finished_is_not_a_failure():
    job = ContainerSnapshot("id-m", "p-migrate-1", "migrate", "exited", None, 0, 0, 5.0)
    assert evaluate([snap(), job], {"web": 1, "migrate": 1}, 5).state == "ready"
    routed = ContainerSnapshot("id-w", "p-web-1", "web", "exited", None, 0, 0, 5.0, routed=True)
    assert evaluate([routed], {"web": 1}, 5).state == "failed"


def test_restarts_before_the_deploy_are_history():
    kept = snap("db", restarts=2)
    assert evaluate([kept], {"db": 1}, 5, {"id-db": 2}).state == "ready"
    assert evaluate([kept], {"db": 1}, 5, {"id-db": 1}).state == "failed"


def test_recovery_completes_only_whole_healthy_releases():
    two = [snap(), ContainerSnapshot("id-2", "p-web-2", "web", "running", "healthy", 0, 0, 9.0)]
    assert whole_and_healthy(two, "web=2")
    assert not whole_and_healthy(two[:1], "web=2")
    assert not whole_and_healthy([snap(health="starting")], "web=1")
    assert whole_and_healthy([snap()], "web")  # records from before replica counts
