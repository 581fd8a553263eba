"""Apps with state: a database on a named volume survives deploys, runs once, is reachable."""

import urllib.request

from conftest import example_files, run

DB_SH = """\
#!/bin/sh
# A toy database: one writer at a time on /data, served on :9000 for the web service.
if [ -e /data/lock ]; then
  echo "second writer $HOSTNAME while $(cat /data/lock) holds the lock" >> /data/conflicts
fi
echo "$HOSTNAME" > /data/lock
[ -e /data/value ] || echo precious > /data/value
n=$(cat /data/count 2>/dev/null || echo 0)
echo $((n + 1)) > /data/count
httpd -f -p 9000 -h /data &
pid=$!
trap 'rm -f /data/lock; kill "$pid"; exit 0' TERM INT
wait "$pid"
"""

COMPOSE = """\
services:
  web:
    build: .
  db:
    image: busybox
    command: ["sh", "/db.sh"]
    volumes:
      - data:/data
      - ./db.sh:/db.sh:ro
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:9000/value"]
      interval: 1s
volumes:
  data: {}
"""


def stateful_files() -> dict[str, str]:
    return example_files("web") | {"compose.yaml": COMPOSE, "db.sh": DB_SH}


def volume_file(app, path: str) -> str:
    proc = run(["docker", "run", "--rm", "-v", f"{app.name}_data:/data", "busybox",
                "cat", f"/data/{path}"])
    return proc.stdout.strip() if proc.returncode == 0 else ""


def from_web(app, release: str, url: str) -> str:
    ids = app.containers(release)
    proc = run(["docker", "exec", ids[0], "wget", "-q", "-O", "-", url])
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_database_survives_five_deploys_and_is_never_run_twice(make_app):
    app = make_app(stateful_files())
    app.commit("first")
    push = app.push("main")
    assert "deployed" in push.result, push.output
    assert "started db (runs once per app)" in push.output
    assert f"created volume {app.name}_data" in push.output
    for n in range(2, 7):
        app.write("www/index.html", f"v{n}\n")
        app.commit(f"v{n}")
        push = app.push("main")
        assert "deployed" in push.result, push.output
        assert "kept db running (unchanged)" in push.output, push.output
        release = f"r{n}"
        assert from_web(app, release, "http://db:9000/value") == "precious"
        assert app.answer(release).strip() == f"v{n}"
    assert volume_file(app, "count") == "1", "the database was restarted"
    assert volume_file(app, "conflicts") == ""
    assert app.projects() == sorted([f"{app.name}-r4", f"{app.name}-r5", f"{app.name}-r6",
                                     f"{app.name}-state"])
    status = app.otter("status", app.name)
    assert "kept across releases" in status.stdout and f"{app.name}-state-db-1" in status.stdout


def test_changed_database_definition_recreates_it_once_and_says_so(make_app):
    app = make_app(stateful_files())
    app.commit("first")
    assert "deployed" in app.push("main").result
    app.write("compose.yaml", COMPOSE.replace(
        "    command:", "    environment:\n      TUNING: \"2\"\n    command:"))
    app.commit("tune db")
    push = app.push("main")
    assert "deployed" in push.result, push.output
    assert "recreated db: its definition changed" in push.output, push.output
    assert volume_file(app, "count") == "2"
    assert volume_file(app, "conflicts") == ""
    assert volume_file(app, "value") == "precious"
    app.write("www/index.html", "again\n")
    app.commit("web only")
    push = app.push("main")
    assert "kept db running (unchanged)" in push.output, push.output
    assert volume_file(app, "count") == "2"


def test_failed_release_keeps_database_and_data(make_app):
    app = make_app(stateful_files())
    app.commit("first")
    assert "deployed" in app.push("main").result
    app.write("Dockerfile", example_files()["Dockerfile"].replace("/health", "/nope"))
    app.commit("bad web")
    push = app.push("main")
    assert "FAILED" in push.result and "still serving r1" in push.result
    assert from_web(app, "r1", "http://db:9000/value") == "precious"
    assert (app.data / "apps" / app.name / "current").resolve().name == "r1"


def test_host_ports_and_container_name_are_refused_before_anything_starts(make_app):
    files = example_files("ports")
    files["compose.yaml"] = ("services:\n  web:\n    build: .\n    ports:\n"
                             "      - \"127.0.0.1:18999:8000\"\n")
    app = make_app(files)
    app.commit("ports")
    push = app.push("main")
    assert "FAILED" in push.result and "publishes host port(s) 127.0.0.1:18999->8000" \
        in push.result, push.output
    assert "dev.otterstack.singleton" in push.output
    assert app.projects() == []
    app.write("compose.yaml", "services:\n  web:\n    build: .\n    container_name: fixed\n")
    app.commit("name")
    push = app.push("main")
    assert "FAILED" in push.result and "sets container_name: fixed" in push.result


def test_singleton_label_lets_a_service_with_host_port_be_replaced_in_place(make_app):
    files = example_files("inplace")
    files["compose.yaml"] = ("services:\n  web:\n    build: .\n    ports:\n"
                             "      - \"127.0.0.1:18998:8000\"\n"
                             "    labels:\n      dev.otterstack.singleton: \"true\"\n"
                             "  worker:\n    image: busybox\n"
                             "    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; "
                             "while true; do sleep 1; done\"]\n")
    app = make_app(files)
    app.commit("one")
    push = app.push("main")
    assert "deployed" in push.result, push.output
    assert get("http://127.0.0.1:18998/") == "inplace"
    app.write("www/index.html", "inplace2\n")
    app.commit("two")
    push = app.push("main")
    assert "recreated web" in push.output and "deployed" in push.result, push.output
    assert get("http://127.0.0.1:18998/") == "inplace2"


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback test URL
        return resp.read().decode().strip()
