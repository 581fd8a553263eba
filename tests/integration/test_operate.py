"""Operating an app: dry run, force, pre-receive refusals, release command, prune."""

import json


def remote_head(app) -> str:
    return app.git("ls-remote", "production", "refs/heads/main").stdout.split()[0]


def test_dry_run_prints_the_plan_and_changes_nothing(make_app):
    app = make_app()
    sha = app.serve_and_stage_next()
    proc = app.otter("deploy", app.name, "--dry-run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "would become r2" in out and "would start: web" in out
    assert f"then would stop r1 ({sha[:7]})" in out
    assert "nothing was changed" in out
    assert len(app.releases()) == 1 and app.projects() == [app.project("r1")]
    assert not list((app.data / "apps" / app.name).glob(".dry-run-*"))
    app.write("www/index.html", "third\n")
    app.commit("third")
    push = app.push("-o", "dry-run", "main")
    assert "nothing was changed" in push.result, push.output
    assert len(app.releases()) == 1


def test_dry_run_of_a_broken_commit_says_it_would_fail(make_app):
    app = make_app()
    app.commit("first")
    app.push("main")
    app.write("compose.yaml", "services:\n  web:\n    build: .\n    container_name: fixed\n")
    app.commit("fixed name")
    app.push("-o", "skip-deploy", "main")
    proc = app.otter("deploy", app.name, "--dry-run")
    assert proc.returncode == 1 and "the deploy would FAIL" in proc.stdout
    assert "container_name: fixed" in proc.stdout


def test_pushing_the_active_commit_again_needs_force(make_app):
    app = make_app()
    sha = app.commit("first")
    assert "deployed" in app.push("main").result
    app.push("--delete", "main")
    push = app.push(f"{sha}:refs/heads/main")
    assert "already the active release (r1): not redeployed" in push.result, push.output
    app.push("--delete", "main")
    push = app.push("-o", "force", f"{sha}:refs/heads/main")
    assert f"deployed {app.name} {sha[:7]} (r2)" in push.result, push.output


def test_pre_receive_refuses_a_commit_that_cannot_deploy(make_app):
    app = make_app()
    good = app.commit("good")
    assert "deployed" in app.push("main").result
    app.write("compose.yaml", "services:\n  web:\n    image: [\n")
    app.commit("broken compose")
    push = app.push("main")
    assert push.returncode != 0, push.output
    assert "push refused" in push.output and "compose file is invalid" in push.output
    assert "pre-receive hook declined" in push.output
    assert remote_head(app) == good
    (app.src / "compose.yaml").unlink()
    app.commit("no compose")
    push = app.push("main")
    assert push.returncode != 0 and "no compose file in this commit" in push.output
    # links out of the repo (certs -> /etc/ssl/certs) do not trouble the check
    app.git("checkout", "-q", good, "--", "compose.yaml")
    (app.src / "certs").symlink_to("/etc/ssl/certs")
    app.commit("with a link out")
    push = app.push("main")
    assert "deployed" in push.result, push.output
    assert remote_head(app) != good
    # other branches are not checked
    assert app.push("HEAD:refs/heads/wip").returncode == 0
    assert app.active()["name"] == "r2" and len(app.releases()) == 2


def test_pinned_app_refuses_pushes_unless_skip_deploy(make_app):
    app = make_app()
    app.commit("first")
    app.push("main")
    assert app.otter("pin", app.name, "--reason", "incident 42").returncode == 0
    assert "PINNED (incident 42)" in app.otter("status", app.name).stdout
    app.commit("second")
    push = app.push("main")
    assert push.returncode != 0 and "is pinned (incident 42)" in push.output
    push = app.push("-o", "skip-deploy", "main")
    assert push.returncode == 0 and "pushed, not deployed: the app is pinned" in push.result
    app.otter("unpin", app.name)
    app.commit("third")
    assert "deployed" in app.push("main").result


def test_release_command_runs_before_the_release_and_its_failure_fails_it(make_app):
    app = make_app()
    app.commit("first")
    app.push("main")
    cmd = "web sh -c 'echo migrating schema to v2; touch /www/migrated'"
    assert app.otter("config", app.name, "release_command", cmd).returncode == 0
    app.write("www/index.html", "v2\n")
    app.commit("v2")
    push = app.push("main")
    assert "deployed" in push.result, push.output
    assert "migrating schema to v2" in push.output
    lines = push.lines()
    ran = next(i for i, line in enumerate(lines) if "migrating schema" in line)
    started = next(i for i, line in enumerate(lines) if "  start  " in line)
    assert ran < started
    app.otter("config", app.name, "release_command", "web sh -c 'echo migration broke; exit 7'")
    app.write("www/index.html", "v3\n")
    app.commit("v3")
    push = app.push("main")
    assert "FAILED" in push.result and "release command failed (exit 7)" in push.result
    assert "migration broke" in push.output
    assert app.answer("r2").strip() == "v2"
    proc = app.otter("config", app.name, "release_command", "justoneword")
    assert proc.returncode == 2 and "SERVICE COMMAND" in proc.stderr
    proc = app.otter("config", app.name, "release_command", "web sh -c 'unclosed")
    assert proc.returncode == 2 and "cannot read the command" in proc.stderr


def test_prune_command(make_app):
    app = make_app()
    for n in range(1, 4):
        app.write("www/index.html", f"v{n}\n")
        app.commit(f"v{n}")
        assert "deployed" in app.push("main").result
    proc = app.otter("prune", app.name, "--keep", "1", "--dry-run")
    # r2 stays whatever --keep says: it is what `rollback` goes back to
    assert "would remove 1 release(s): r1" in proc.stdout, proc.stdout
    assert len(app.projects()) == 3
    proc = app.otter("prune", app.name, "--keep", "1")
    assert "removed 1 release(s)" in proc.stdout
    assert app.projects() == [app.project("r2"), app.project("r3")]
    worktrees = [r["worktree"] for r in json.loads(
        app.otter("releases", app.name, "--json").stdout)]
    assert sum(bool(w) for w in worktrees) == 2
    proc = app.otter("rollback", app.name)
    assert proc.returncode == 0 and "reusing the images of" in proc.stdout
    assert app.otter("prune", app.name, "--keep", "0").returncode == 2


def test_notifications_tell_started_succeeded_and_failed(make_app, tmp_path):
    import sys
    app = make_app()
    events = tmp_path / "events.jsonl"
    script = tmp_path / "record.py"
    script.write_text(f"import sys\nopen({str(events)!r}, 'a').write(sys.stdin.read() + '\\n')\n")
    proc = app.otter("config", app.name, "notify", f"cmd:{sys.executable} {script}")
    assert proc.returncode == 0, proc.stderr
    app.otter("env", app.name, "set", "SECRET_TOKEN=very-secret-value")
    app.commit("first")
    assert "deployed" in app.push("main").result
    app.write("Dockerfile", "FROM busybox\nRUN false\n")
    app.commit("broken")
    assert "FAILED" in app.push("main").result
    got = [json.loads(line) for line in events.read_text().splitlines() if line]
    assert [(e["event"], e["release"]) for e in got] == [
        ("started", "r1"), ("succeeded", "r1"), ("started", "r2"), ("failed", "r2")]
    assert got[-1]["serving"].startswith("still serving r1") and "build failed" in \
        got[-1]["reason"]
    assert "very-secret-value" not in events.read_text()
    bad = app.otter("config", app.name, "notify", "ftp://example.invalid/x")
    assert bad.returncode == 2


def test_doctor_finds_a_broken_hook_and_says_how_to_fix_it(make_app):
    app = make_app(install_sh=True)
    proc = app.otter("doctor", app.name)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "docker engine" in proc.stdout and "compose" in proc.stdout
    (app.repo / "hooks" / "post-receive").chmod(0o644)
    proc = app.otter("doctor", app.name)
    assert proc.returncode == 1
    assert f"./install.sh {app.name}" in proc.stdout
    app.install()
    assert app.otter("doctor", app.name).returncode == 0


def test_logs_of_a_release_and_of_the_running_containers(make_app):
    app = make_app()
    app.commit("first")
    app.push("main")
    proc = app.otter("logs", app.name)
    assert proc.returncode == 0 and f"==> deployed {app.name}" in proc.stdout
    assert "healthy" in proc.stdout
    events = [json.loads(line) for line in
              app.otter("logs", app.name, "--json").stdout.splitlines()]
    assert events[-1]["step"] == "result" and events[-1]["kind"] == "ok"
    proc = app.otter("logs", app.name, "--release", "r9")
    assert proc.returncode == 2 and "has no release 'r9'" in proc.stderr
    app.answer("r1", "/index.html")  # something for httpd to log? busybox httpd logs nothing
    proc = app.otter("logs", app.name, "--app", "web")
    assert proc.returncode == 0, proc.stderr


def test_removing_an_app_keeps_its_volumes_unless_asked(make_app):
    from test_stateful import stateful_files, volume_file
    app = make_app(stateful_files())
    app.commit("first")
    assert "deployed" in app.push("main").result
    proc = app.otter("apps", "remove", app.name)
    assert proc.returncode == 0, proc.stderr
    assert "kept volume" in proc.stdout and f"{app.name}_data" in proc.stdout
    assert app.projects() == []
    assert volume_file(app, "value") == "precious"
    assert app.repo.exists(), "the bare repo (your code) is never deleted"
    assert "no app named" in app.otter("status", app.name).stderr
    app.install()
    app.commit("again")
    assert "deployed" in app.push("main").result
    proc = app.otter("apps", "remove", app.name, "--volumes")
    assert proc.returncode == 0 and f"removed volume {app.name}_data" in proc.stdout
    assert volume_file(app, "value") == ""
