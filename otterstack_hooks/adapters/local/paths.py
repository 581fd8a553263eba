"""Where OtterStack keeps things on disk: everything lives under one data dir."""

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.names import validate_app_name, validate_release_name
from otterstack_hooks.rules.compose.model import COMPOSE_FILE_CANDIDATES, pick_compose_file
from otterstack_hooks.rules.preview.slug import is_slug


def project_env_files(project_dir: Path, checkout: Path) -> tuple[Path, ...]:
    """The project's own `.env` for Compose's ${VAR} interpolation, if the commit has one as
    a regular file inside the checkout: a committed link (`.env -> /other/app/env`) would
    feed Compose a file the pusher may not read."""
    env = project_dir / ".env"
    if env.is_symlink() or not env.is_file():
        return ()
    real, root = os.path.realpath(env), os.path.realpath(checkout)
    return (env,) if real.startswith(root.rstrip("/") + "/") else ()


@dataclass(frozen=True)
class ComposeLocation:
    """Where a checkout's compose file is, as Compose would use it: paths resolve from the
    compose file's own directory, and that directory's `.env` (a regular file only)."""

    compose_file: str  # relative to the checkout, e.g. "deploy/compose.yaml"
    project_dir: Path
    env_files: tuple[Path, ...]

    @property
    def subdir(self) -> PurePosixPath:
        return PurePosixPath(self.compose_file).parent

    @property
    def file_name(self) -> str:
        return PurePosixPath(self.compose_file).name


def locate_compose(checkout: Path, configured: str) -> ComposeLocation:
    """The compose file of a checkout: the app's `compose_file` setting, else the first of
    Compose's own names that the commit has; OtterError naming the fix if there is none."""
    present = {n for n in (*COMPOSE_FILE_CANDIDATES, configured)
               if n and (checkout / n).is_file()}
    compose_file = pick_compose_file(configured, present)
    project_dir = checkout / PurePosixPath(compose_file).parent
    return ComposeLocation(compose_file, project_dir, project_env_files(project_dir, checkout))


def default_data_dir() -> Path:
    """OTTERSTACK_DATA_DIR wins; root uses /var/lib/otterstack; others their XDG data dir."""
    env = os.environ.get("OTTERSTACK_DATA_DIR")
    if env:
        return Path(env).expanduser().absolute()
    if os.geteuid() == 0:
        return Path("/var/lib/otterstack")
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "otterstack"


@dataclass(frozen=True)
class Paths:
    root: Path

    @property
    def db(self) -> Path:
        return self.root / "state.db"

    def lock(self, app: str) -> Path:
        return self.root / "locks" / f"{validate_app_name(app)}.lock"

    def preview_lock(self, app: str, slug: str) -> Path:
        """One preview's deploy lock (`slug`), or (empty) the app's short previews lock:
        admission, the record, removal of stale ones. Never production's: a preview's build
        never holds a production deploy, nor the other way round."""
        return self.root / "locks" / f"{validate_app_name(app)}.preview.{_slug(slug)}lock"

    def preview_env_file(self, app: str) -> Path:
        """The variables every preview of the app gets (0600); production's are not theirs."""
        return self.app_dir(app) / "env.preview"

    def shared_file(self, app: str) -> Path:
        """The names of production's variables an admin shared with the previews."""
        return self.app_dir(app) / "env.shared"

    def env_lock(self, app: str) -> Path:
        """Serialises edits of the app's variables (not the deploy lock: an edit must not
        wait for a deploy)."""
        return self.root / "locks" / f"{validate_app_name(app)}.env.lock"

    def app_dir(self, app: str) -> Path:
        return self.root / "apps" / validate_app_name(app)

    def worktree(self, app: str, release: str) -> Path:
        return self.app_dir(app) / "releases" / validate_release_name(release)

    def generated(self, app: str, release: str) -> Path:
        """The release's generated compose files: outside its checkout, so a commit that
        holds a link under one of their names cannot make a deploy write through it."""
        return self.app_dir(app) / "generated" / validate_release_name(release)

    def env_file(self, app: str) -> Path:
        """The app's environment variables (secrets): 0600, outside any repo or worktree."""
        return self.app_dir(app) / "env"

    def current(self, app: str, preview: str = "") -> Path:
        """A stable path to the newest release's worktree: the project directory of the
        app's singletons, so their relative bind mounts do not change with every release;
        a preview's (`preview`: its slug) singletons have their own."""
        if preview:
            return self.app_dir(app) / "previews" / _slug(preview).rstrip(".") / "current"
        return self.app_dir(app) / "current"

    def point_current(self, app: str, worktree: Path, preview: str = "") -> None:
        link = self.current(app, preview)
        link.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = link.with_name(".current.tmp")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(worktree)
        tmp.replace(link)

    def log(self, app: str, release: str) -> Path:
        return self.app_dir(app) / "logs" / f"{validate_release_name(release)}.jsonl"

    def ensure(self) -> "Paths":
        """Create the data dir (0700: it holds state and, later, secrets) or say why not."""
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            (self.root / "locks").mkdir(exist_ok=True, mode=0o700)
            (self.root / "apps").mkdir(exist_ok=True, mode=0o700)
            probe = self.root / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise OtterError(
                f"data dir {self.root} is not usable ({exc.strerror or exc}): free space on "
                "it or make it writable for this user, or point OTTERSTACK_DATA_DIR at a "
                "writable directory"
            ) from exc
        return self


def _slug(slug: str) -> str:
    """A preview's slug as a path part (`<slug>.`), or "" for the app-wide previews lock;
    never a `/` or `..` (what is no slug is refused)."""
    if slug and not is_slug(slug):
        raise OtterError(f"{slug!r} is not a preview's name")
    return f"{slug}." if slug else ""


def write_private(path: Path, text: str) -> None:
    """Write a file of ours 0600 in a 0700 directory, never through a link."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def data_paths() -> Paths:
    return Paths(default_data_dir())
