"""Per-app secrets: stored 0600 outside the repo, reach containers and ${VAR}, never shown."""

import fcntl
import json
import stat
import subprocess
import time

from conftest import example_files, run

TOKEN = "tok-3f9a2c7e1b"

COMPOSE = """\
services:
  web:
    build: .
    environment:
      GREETING: "hello ${WHO}"
"""


def test_env_reaches_containers_and_interpolation_but_is_never_shown(make_app):
    app = make_app(example_files("env") | {"compose.yaml": COMPOSE})
    proc = app.otter("env", app.name, "set", f"API_TOKEN={TOKEN}", "WHO=world")
    assert proc.returncode == 0 and TOKEN not in proc.stdout
    env_file = app.data / "apps" / app.name / "env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    app.commit("env")
    push = app.push("main")
    assert "deployed" in push.result, push.output
    container = app.containers("r1")[0]
    env = run(["docker", "exec", container, "env"]).stdout
    assert f"API_TOKEN={TOKEN}" in env and "GREETING=hello world" in env
    listed = app.otter("env", app.name, "list")
    assert "API_TOKEN=***" in listed.stdout and TOKEN not in listed.stdout
    assert json.loads(app.otter("env", app.name, "list", "--json").stdout)["API_TOKEN"] == "***"
    shown = app.otter("env", app.name, "list", "--show-values")
    assert f"API_TOKEN={TOKEN}" in shown.stdout
    # a failing release that prints the secret: the pusher and the records see *** only
    app.write("compose.yaml", COMPOSE + '    command: ["sh", "-c", "echo token is $$API_TOKEN;'
              ' exit 4"]\n')
    app.commit("leaky")
    push = app.push("main")
    assert "FAILED" in push.result and "exited with code 4" in push.result, push.output
    assert "token is ***" in push.output, push.output
    assert TOKEN not in push.output
    for log in (app.data / "apps" / app.name / "logs").iterdir():
        assert TOKEN not in log.read_text()
    assert TOKEN not in app.otter("releases", app.name, "--json").stdout
    # unset takes effect at the next deploy
    assert app.otter("env", app.name, "unset", "API_TOKEN").returncode == 0
    app.write("compose.yaml", COMPOSE)
    app.commit("no token")
    assert "deployed" in app.push("main").result
    env = run(["docker", "exec", app.containers("r3")[0], "env"]).stdout
    assert "API_TOKEN" not in env


def test_env_misuse_is_a_clear_error(make_app):
    app = make_app()
    for args, message in [(["set", "1BAD=x"], "invalid variable name"),
                          (["set", "NOVALUE"], "no value on stdin"),
                          (["set", "A=1", "B"], "is not KEY=VALUE"),
                          (["set", "COMPOSE_FILE=/etc/x.yml"], "is reserved"),
                          (["unset", "MISSING"], "has no variable MISSING")]:
        proc = app.otter_in("", "env", app.name, *args)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr


# Values Compose's dotenv parser mangled (a trailing backslash ate the next variable), and
# everything else an environment variable can hold.
NASTY = {
    "S1": "p@ss\\",
    "S2": "http://db:5432/x",
    "S3": "it's \"quoted\" $HOME ${X} $$ #not-a-comment",
    "S4": "  spaces at both ends  ",
    "S5": "line one\nline 'two'\n\\n tail$",
    "S6": "ünïcødé ✓ \t tab",
    "S7": "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END KEY-----\n",
}


def test_every_value_reaches_the_container_byte_for_byte_and_never_via_argv(make_app, tmp_path):
    compose = COMPOSE.replace('"hello ${WHO}"', '"${S1}|${S3}"')
    app = make_app(example_files("env") | {"compose.yaml": compose})
    for key, value in NASTY.items():
        if key == "S7":  # a file, byte for byte (its trailing newline too)
            pem = tmp_path / "key.pem"
            pem.write_text(value)
            proc = app.otter("env", app.name, "set", key, "--from-file", str(pem))
        else:  # stdin: one trailing newline is dropped, as `$(...)` would
            proc = app.otter_in(value + "\n", "env", app.name, "set", key)
        assert proc.returncode == 0, proc.stderr
    app.commit("env")
    push = app.push("main")
    assert "deployed" in push.result, push.output
    container = app.containers("r1")[0]
    for key, value in NASTY.items():
        got = run(["docker", "exec", container, "sh", "-c", f'printf %s "${key}"'])
        assert got.stdout == value, (key, got.stdout)
    got = run(["docker", "exec", container, "sh", "-c", 'printf %s "$GREETING"']).stdout
    assert got == NASTY["S1"] + "|" + NASTY["S3"]  # ${VAR} interpolation: exact as well
    assert "S1" not in run(["docker", "inspect", "-f", "{{json .Args}}", container]).stdout
    stored = json.loads((app.data / "apps" / app.name / "env").read_text())
    assert stored == NASTY


def test_env_edits_wait_for_each_other(make_app):
    app = make_app()
    lock = app.data / "locks" / f"{app.name}.env.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        edit = subprocess.Popen([str(app.home / "venv" / "bin" / "otterstack"), "env",
                                 app.name, "set", "A=1"], env=app.env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(3)
        assert edit.poll() is None, edit.communicate()  # it waits for the other edit
        fcntl.flock(held, fcntl.LOCK_UN)
    assert edit.wait(timeout=60) == 0, edit.communicate()
    assert "A=1" in app.otter("env", app.name, "list", "--show-values").stdout


def test_pre_receive_refusal_does_not_show_a_secret(make_app):
    app = make_app()
    assert app.otter("env", app.name, "set", f"API_TOKEN={TOKEN}").returncode == 0
    app.write("compose.yaml", "services:\n  web:\n    build: .\n"
              "    ports: [\"${API_TOKEN}\"]\n")
    app.commit("leaks through compose's complaint")
    push = app.push("main")
    assert push.returncode != 0 and "push refused" in push.output, push.output
    assert "Invalid containerPort: ***" in push.output and TOKEN not in push.output


def test_a_notify_url_with_a_token_can_come_from_stdin(make_app):
    app = make_app()
    url = "https://hooks.example.com/deploys/T0KEN-8d2e"
    proc = app.otter_in(url + "\n", "config", app.name, "notify", "-")
    assert proc.returncode == 0, proc.stderr
    assert app.otter("config", app.name, "notify").stdout.strip() == f"notify = {url}"
