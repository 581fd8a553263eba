"""Nothing destroyed by accident: no nameless release record, no action on an empty name."""

import io
from pathlib import Path

import pytest

from otterstack_hooks.adapters.compose import compose_cli as compose
from otterstack_hooks.adapters.local.paths import Paths, write_private
from otterstack_hooks.adapters.local.progress import Progress
from otterstack_hooks.adapters.local.state import State
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.vocabulary import ReleaseStatus
from otterstack_hooks.usecases.recover import Recover
from otterstack_hooks.wiring import real_ports


def test_a_failure_while_naming_a_release_leaves_no_nameless_row(tmp_path):
    state = State(tmp_path / "state.db")
    state.upsert_app("a", "/r")
    state.db.execute("CREATE TRIGGER fail_naming BEFORE UPDATE OF name ON releases "
                     "BEGIN SELECT RAISE(ABORT, 'disk gone'); END")
    with pytest.raises(OtterError, match="disk gone"):
        state.new_release("a", "1" * 40, "refs/heads/main", "push", "dev", 1)
    assert state.releases("a") == []
    state.db.execute("DROP TRIGGER fail_naming")
    assert state.new_release("a", "1" * 40, "main", "push", "dev", 1).name == "r1"


@pytest.mark.parametrize("project", ["", "-p", "../x", "A"])
def test_no_compose_call_takes_an_empty_or_odd_project(project):
    with pytest.raises(OtterError, match="refusing to act on compose project"):
        compose.down(project)
    with pytest.raises(OtterError, match="refusing to act on compose project"):
        compose.stop(project)
    with pytest.raises(OtterError, match="refusing to act on compose project"):
        compose.ComposeTarget(project, Path("/tmp"), ("compose.yaml",))


@pytest.mark.parametrize("release", ["", ".", "..", "r1/..", "x"])
def test_no_path_helper_takes_an_empty_or_odd_release_name(tmp_path, release):
    paths = Paths(tmp_path)
    for helper in (paths.worktree, paths.generated, paths.log):
        with pytest.raises(OtterError, match="refusing to use release name"):
            helper("app", release)


def test_recovery_marks_a_nameless_row_interrupted_and_removes_nothing(tmp_path):
    paths = Paths(tmp_path / "data").ensure()
    state = State(paths.db)
    app = state.upsert_app("a", str(tmp_path / "repo.git"))
    keep = paths.app_dir("a") / "releases" / "r0-other"
    keep.mkdir(parents=True)
    state.db.execute("INSERT INTO releases (app, sha, trigger, status, started_at) "
                     "VALUES ('a', ?, 'push', 'deploying', 0)", ("1" * 40,))
    Recover(real_ports(paths, state, Progress(io.StringIO(), False))).run(app, repo=None)
    [row] = state.releases("a")
    assert (row.status, row.reason) == (ReleaseStatus.INTERRUPTED, "record left half-written")
    assert keep.is_dir()


def test_generated_files_are_never_written_through_a_link(tmp_path):
    victim = tmp_path / "secrets"
    victim.write_text("TOKEN=1\n")
    link = tmp_path / "gen" / "docker-compose.otterstack.yml"
    link.parent.mkdir()
    link.symlink_to(victim)
    with pytest.raises(OSError):
        write_private(link, "services: {}\n")
    assert victim.read_text() == "TOKEN=1\n"
    fresh = tmp_path / "gen" / "docker-compose.traefik.yml"
    write_private(fresh, "x\n")
    assert fresh.stat().st_mode & 0o777 == 0o600


def test_a_committed_env_link_is_never_given_to_compose(tmp_path) -> None:
    from otterstack_hooks.adapters.local.paths import project_env_files

    checkout = tmp_path / "checkout"
    checkout.mkdir()
    secret = tmp_path / "other-app-env"
    secret.write_text("TOKEN=x\n")
    (checkout / ".env").symlink_to(secret)
    assert project_env_files(checkout, checkout) == ()
    (checkout / ".env").unlink()
    (checkout / ".env").write_text("A=1\n")
    assert project_env_files(checkout, checkout) == (checkout / ".env",)
    assert project_env_files(tmp_path / "missing", checkout) == ()


def test_removing_a_releases_images_leaves_another_apps_that_start_the_same():
    """Project shop-r1 (app shop) and app shop-r1's images (`shop-r1-r1-web`): only the
    exact `<project>-<service>` tag of the service the image was built for goes."""
    from types import SimpleNamespace

    from otterstack_hooks.adapters.docker import engine

    images = [
        SimpleNamespace(tags=["shop-r1-web:latest"], labels={
            "com.docker.compose.project": "shop-r1", "com.docker.compose.service": "web"}),
        SimpleNamespace(tags=["shop-r1-r1-web:latest"], labels={
            "com.docker.compose.project": "shop-r1-r1", "com.docker.compose.service": "web"}),
        SimpleNamespace(tags=["shop-r1-web2:latest", "shop-r1-x:latest"], labels={
            "com.docker.compose.project": "shop-r0", "com.docker.compose.service": "web2"}),
    ]
    removed: list[str] = []
    dc = SimpleNamespace(images=SimpleNamespace(
        list=lambda filters: images, remove=lambda tag, noprune: removed.append(tag)))
    engine.remove_project_images(dc, "shop-r1")
    assert removed == ["shop-r1-web:latest", "shop-r1-web2:latest"]
