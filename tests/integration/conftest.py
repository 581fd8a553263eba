"""Real-world fixtures: a real Docker Engine, real bare repos, real `git push` over a path.

Every test gets its own app name, data dir and bare repo; OtterStack itself is installed once
per session by the real install.sh into a temporary virtualenv. The app, push and Traefik
helpers live in testsupport/otterapp.py (shared with the benchmarks); the tests import them
from here as before.
"""

import itertools
import os
import shutil
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from swarm_apps import quick_swarm_traefik, swarm_app, swarm_traefik  # noqa: F401 - fixtures
from users_traefik import users_app, users_traefik  # noqa: F401 - fixtures, registered here

from testsupport.otterapp import (  # noqa: F401 - tests import them from here
    INSTALL_SH,
    ROOT,
    App,
    Push,
    Traefik,
    app_env,
    clean_env,
    compose_with,
    example_files,
    free_port,
    run,
    wait_for,
)

sys.path.insert(0, str(ROOT / "benchmarks"))
_counter = itertools.count(1)
RUN_ID = uuid.uuid4().hex[:4]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this directory needs a real Docker Engine, so each carries the `docker`
    marker, added here (before `-m` selects) so that no test module has to remember it.
    `pytest -m "not docker"` then runs the fast suite on any machine: deselected tests run no
    fixture, so `docker_ready` and the session installs below never start."""
    here = Path(__file__).resolve().parent
    for item in items:
        if here in item.path.resolve().parents:
            item.add_marker(pytest.mark.docker)


@pytest.fixture(scope="session", autouse=True)
def docker_ready() -> None:
    """The suite needs the real thing; scripts/test.sh sets it up. Never skip silently."""
    info = run(["docker", "info", "--format", "{{.ServerVersion}}"])
    assert info.returncode == 0, "no Docker Engine: run scripts/setup-docker.sh first"
    assert run(["docker", "image", "inspect", "busybox:latest"]).returncode == 0


@pytest.fixture(scope="session")
def install_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("otterstack-home")


@pytest.fixture(scope="session")
def bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the session's first app lives: its bare repo is never pushed to."""
    return tmp_path_factory.mktemp("bootstrap")


@pytest.fixture(scope="session")
def otterstack_bin(install_home: Path, bootstrap: Path) -> Path:
    """OtterStack installed once per session by the real install.sh (for a first app)."""
    env = clean_env()
    env.update(OTTERSTACK_HOME=str(install_home), OTTERSTACK_BIN_DIR=str(install_home / "bin"),
               OTTERSTACK_DATA_DIR=str(bootstrap / "data"))
    proc = run([str(INSTALL_SH), f"t{RUN_ID}-0", "--repo", str(bootstrap / "r.git")], env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (install_home / "bin" / "otterstack").resolve().exists()
    return install_home / "venv" / "bin" / "otterstack"


def _apps(where: Path, install_home: Path, template: Path) -> Iterator:
    """An app factory whose apps live under `where` and are removed (containers, volumes,
    images) when the factory's scope ends. An app is registered as install.sh registers one
    (`App.register`, from the bare repo install.sh made for the session's first app), or by
    install.sh itself where that is what a test checks (`install_sh=True`). Its releases are
    not watched after their switches (`watch_seconds 0`: a watched push waits out the watch's
    window, 60 s) unless a test asks for the watch (`watch=True`)."""
    apps: list[App] = []

    def factory(files: dict[str, str] | None = None, install_args: tuple[str, ...] = (),
                init: bool = True, install_sh: bool = False, watch: bool = False) -> App:
        name = f"t{RUN_ID}-{next(_counter)}"
        base = where / name
        base.mkdir()
        env = app_env(install_home, base / "data")
        app = App(name, base, install_home, env, list(install_args))
        apps.append(app)
        if init:
            if install_sh:
                app.install()
            else:
                app.register(template)
            if not watch:
                proc = app.otter("config", app.name, "watch_seconds", "0")
                assert proc.returncode == 0, proc.stdout + proc.stderr
            app.init_source(files if files is not None else example_files())
        return app

    yield factory
    for app in apps:
        app.cleanup()
        shutil.rmtree(app.base, ignore_errors=True)


@pytest.fixture
def make_app(tmp_path: Path, install_home: Path, otterstack_bin: Path, bootstrap: Path
             ) -> Iterator:
    yield from _apps(tmp_path, install_home, bootstrap / "r.git")


@pytest.fixture(scope="module")
def make_app_module(tmp_path_factory: pytest.TempPathFactory, install_home: Path,
                    otterstack_bin: Path, bootstrap: Path) -> Iterator:
    """make_app for apps a whole test module shares (deployed once, attacked many times)."""
    yield from _apps(tmp_path_factory.mktemp("shared-apps"), install_home, bootstrap / "r.git")


@pytest.fixture(scope="module")
def _serving_app(make_app_module) -> App:
    """One app of the module, deployed once, that bad commits are pushed to: each test that
    uses it ends with a push that deploys (`App.push_fixed`), so it serves for the next."""
    app = make_app_module()
    app.commit("good")
    assert "deployed" in app.push("main").result
    return app


@pytest.fixture
def serving_app(_serving_app: App) -> App:
    """The module's serving app with its clone back at the commit it serves, whatever the
    test before did (even one that failed half-way)."""
    _serving_app.git("reset", "-q", "--hard", _serving_app.active()["sha"])
    _serving_app.git("clean", "-qfdx")
    return _serving_app


@pytest.fixture(scope="session")
def traefik(otterstack_bin: Path, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Traefik]:
    """A real Traefik started by `otterstack traefik up`, on loopback ports of its own."""
    info = Traefik(f"otterstack-test-traefik-{RUN_ID}", f"otterstack-test-{RUN_ID}",
                   free_port(), free_port())
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTTERSTACK_")}
    env["OTTERSTACK_DATA_DIR"] = str(tmp_path_factory.mktemp("traefik-data"))
    # other test runs on this engine (a developer's, beside CI) stay out of it; this run's
    # apps are t<run>-<n>, test_ssh's s<run>a and s<run>b
    ours = f"(t{RUN_ID}-|s{RUN_ID}).+"
    info.start(otterstack_bin, env,
               constraints=f"LabelRegex(`com.docker.compose.project`, `{ours}`) || "
               f"LabelRegex(`dev.otterstack.app`, `{ours}`)")
    yield info
    info.stop()


def _routed(make: Callable[..., App], traefik: Traefik) -> Callable[..., App]:
    """`make` (an app factory) for apps with Traefik routing on, pointed at the test Traefik."""

    def factory(files: dict[str, str] | None = None, watch: bool = False) -> App:
        app = make(files, install_args=("--traefik-routing",), watch=watch)
        proc = app.otter("config", "--global", "traefik_container", traefik.name)
        assert proc.returncode == 0, proc.stderr
        return app

    return factory


@pytest.fixture
def routed_app(make_app, traefik: Traefik) -> Callable[..., App]:
    """make_app for apps with Traefik routing on, pointed at the test Traefik."""
    return _routed(make_app, traefik)


@pytest.fixture(scope="module")
def routed_app_module(make_app_module, traefik: Traefik) -> Callable[..., App]:
    """make_app_module for apps with Traefik routing on, pointed at the test Traefik: give
    them a Host of their own, the module's other routed apps serve hello.localhost."""
    return _routed(make_app_module, traefik)
