"""Per-app secrets: stored 0600 outside the repo, reach containers and ${VAR}, never shown."""

import json
import stat

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
                          (["set", "NOVALUE"], "is not KEY=VALUE"),
                          (["unset", "MISSING"], "has no variable MISSING")]:
        proc = app.otter("env", app.name, *args)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
