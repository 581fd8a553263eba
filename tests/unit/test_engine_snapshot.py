"""Reading Docker's inspect data: health snapshot and when a container turned healthy."""

from otterstack_hooks.adapters.docker.engine import healthy_since, snapshot


def attrs(log, status="running", restarts=0):
    return {"Id": "c1", "Name": "/app-r1-web-1", "RestartCount": restarts,
            "Config": {"Labels": {"com.docker.compose.service": "web",
                                  "traefik.enable": "true"}},
            "HostConfig": {"RestartPolicy": {"Name": "unless-stopped"}},
            "State": {"Status": status, "ExitCode": 0, "StartedAt": "2026-11-26T06:00:00.5Z",
                      "Health": {"Status": "healthy", "Log": log}}}


def entry(code, end):
    return {"ExitCode": code, "End": f"2026-11-26T06:00:{end:02d}.123456789Z",
            "Output": "wget: server returned error: 404\n" if code else ""}


def test_healthy_since_is_the_first_pass_after_the_last_failure():
    log = [entry(0, 1), entry(1, 2), entry(0, 3), entry(0, 4)]
    assert healthy_since(attrs(log)) == healthy_since(attrs([entry(0, 3)]))
    assert healthy_since(attrs([entry(1, 2)])) is None
    assert healthy_since({"State": {}}) is None


def test_snapshot_reads_what_health_decisions_need():
    snap = snapshot(attrs([entry(1, 2)], restarts=2))
    assert (snap.service, snap.status, snap.health, snap.restart_count) == (
        "web", "running", "healthy", 2)
    assert snap.routed and snap.restart_policy == "unless-stopped"
    assert snap.health_output == "wget: server returned error: 404"
    assert snap.running_for > 0
