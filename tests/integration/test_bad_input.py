"""Bad input, table-driven: each row gets a clear message, a non-zero result where there is
one, and loses nothing (the serving release keeps serving, the next push works).

The table is mirrored in docs/bad-input.md as the list of what is handled.
"""

import uuid
from dataclasses import dataclass, field

import pytest
from conftest import example_files, run

DOCKERFILE = example_files()["Dockerfile"]


@dataclass(frozen=True)
class Case:
    id: str
    files: dict[str, str | None]  # None deletes the file
    message: str
    options: tuple[str, ...] = ()
    deploys: bool = False
    extra: dict = field(default_factory=dict)


CASES = [
    Case("compose-missing", {"compose.yaml": None}, "no compose file in this commit"),
    Case("compose-empty", {"compose.yaml": ""}, "empty compose file"),
    Case("compose-not-yaml", {"compose.yaml": "services: [unclosed\n  - {\n"},
         "compose file is invalid"),
    Case("yaml-not-compose", {"compose.yaml": "- just\n- a list\n"},
         "Top-level object must be a mapping"),
    Case("missing-env-var", {"compose.yaml": "services:\n  web:\n    build: .\n    environment:"
                             "\n      P: ${DB_PASSWORD:?set DB_PASSWORD}\n"},
         "required variable DB_PASSWORD is missing"),
    Case("missing-build-context", {"compose.yaml": "services:\n  web:\n    build: ./nope\n"},
         "build failed"),
    Case("restarts-forever", {"compose.yaml": "services:\n  web:\n    image: busybox\n"
                              "    restart: always\n    command: [\"sh\", \"-c\", \"exit 1\"]\n"},
         "restart-looping"),
    Case("healthcheck-never-passes", {"Dockerfile": DOCKERFILE.replace(
        "--interval=1s", "--interval=60s --start-period=60s")},
        "not healthy after 6 s", options=("-o", "health-timeout=6")),
    Case("image-cannot-be-pulled", {"compose.yaml": "services:\n  web:\n"
                                    "    image: registry.invalid/nope/nope:1\n"},
         "pulling the image of web failed"),
    Case("dockerfile-fails", {"Dockerfile": DOCKERFILE + "RUN false\n"}, "build failed"),
    Case("enormous-build-output", {"Dockerfile": DOCKERFILE.replace(
        "COPY www /www", f"RUN echo {uuid.uuid4().hex}; i=0; while [ $i -lt 20000 ]; do "
        "echo line $i; i=$((i+1)); done\n"
        "COPY www /www")}, "the rest is in the release log", deploys=True),
    Case("unknown-push-option", {}, "push option 'frobnicate' is not known",
         options=("-o", "frobnicate"), deploys=True),
    Case("bad-health-timeout-option", {}, "push option health-timeout='soon'",
         options=("-o", "health-timeout=soon")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_commit_is_explained_and_loses_nothing(serving_app, case):
    app = serving_app
    before = app.active()["name"]
    page = app.answer(before)
    for path, content in case.files.items():
        if content is None:
            (app.src / path).unlink()
        else:
            app.write(path, content)
    app.commit(case.id)
    push = app.push(*case.options, "main")
    assert case.message in push.output, push.output
    assert "Traceback" not in push.output
    if case.deploys:
        assert "==> deployed" in push.result, push.output
    else:
        # refused by pre-receive (the ref does not move) or failed by the deploy
        assert push.result.startswith(("==> FAILED", "==> push refused")) \
            or "otterstack: error" in push.output, push.output
        assert app.answer(before) == page
        assert app.active()["name"] == before
    app.push_fixed()
    assert all(r["status"] != "deploying" for r in app.releases())


HOSTILE_REFS = ["$(touch${IFS}PWNED)", "a'quote", 'dq"uote', "ünïcödé-ブランチ",
                "semi;colon", "`touch${IFS}PWNED`", "x--y", "$HOME|&>PWNED"]


def test_hostile_branch_and_tag_names_are_inert(make_app, tmp_path):
    app = make_app()
    app.commit("first")
    assert "deployed" in app.push("main").result
    for ref in HOSTILE_REFS:
        app.git("branch", "--", ref)
        push = app.push(f"refs/heads/{ref}:refs/heads/{ref}")
        assert push.returncode == 0, push.output
        assert "accepted, not deployed" in push.output, push.output
        app.git("tag", "--", f"t-{ref}")
        push = app.push(f"refs/tags/t-{ref}")
        assert "accepted, not deployed" in push.output, push.output
    for where in (app.repo, app.src, app.data, tmp_path):
        assert not list(where.rglob("PWNED"))
    assert len(app.releases()) == 1
    for ref in ["-x", "a..b", "a b", "a:b"]:  # git itself refuses these names
        assert app.git("branch", "--", ref, check=False).returncode != 0


@pytest.mark.parametrize("args, message", [
    (["deploy", "../etc"], "invalid app name"),
    (["status", "A/B"], "invalid app name"),
    (["deploy", "nope"], "no app named 'nope'"),
    (["config", "x", "health_timeout", "soon"], "no app named 'x'"),
])
def test_cli_misuse_is_a_clear_error(make_app, args, message):
    app = make_app()
    proc = app.otter(*args)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_unwritable_data_dir_is_a_clear_error(make_app):
    app = make_app()
    env = dict(app.env, OTTERSTACK_DATA_DIR="/etc/hostname/otterstack")
    proc = run([str(app.home / "venv" / "bin" / "otterstack"), "status"], env=env)
    assert proc.returncode == 2
    assert "data dir /etc/hostname/otterstack is not usable" in proc.stderr, proc.stderr
    assert "OTTERSTACK_DATA_DIR" in proc.stderr


def test_bad_setting_values_are_refused(make_app):
    app = make_app()
    proc = app.otter("config", app.name, "health_timeout", "soon")
    assert proc.returncode == 2 and "whole number of at least 1" in proc.stderr
    proc = app.otter("config", app.name, "traefik_routing", "maybe")
    assert proc.returncode == 2 and "takes on or off" in proc.stderr
    proc = app.otter("config", app.name, "drain_timeout", "601")
    assert proc.returncode == 2 and "drain_timeout is at most 600 s" in proc.stderr
    proc = app.otter("config", app.name, "drain_timeout", "0")
    assert proc.returncode == 0 and proc.stdout == "drain_timeout = 0\n"
