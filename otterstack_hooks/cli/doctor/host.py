"""The doctor's checks of this host: git, the Docker Engine, Compose, the data dir, disk
space and who may push. Each returns one Check and changes nothing (the data dir check writes
a probe file and removes it again)."""

import os
import pwd
import re
import shutil
from pathlib import Path

from otterstack_hooks.adapters.compose import compose_cli as compose
from otterstack_hooks.adapters.docker import engine
from otterstack_hooks.adapters.local.paths import Paths
from otterstack_hooks.cli.doctor.check import Check, DoctorEngine, file_mode, from_problems, run
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.names import printable
from otterstack_hooks.rules import command_lines as commands

MIN_GIT = (2, 24)  # worktrees and --end-of-options
MIN_COMPOSE = (2, 24, 4)
DISK_WARN = 2 * 1024**3
DISK_FAIL = 500 * 1024**2


def parse_version(text: str) -> tuple[int, ...] | None:
    """(major, minor, patch) of "2.26.1", "v2.27.0", "2.26.1-4" or "git version 2.39.5"."""
    match = re.search(r"(?<![\d.])v?(\d+)\.(\d+)(?:\.(\d+))?", text or "")
    if match is None:
        return None
    return tuple(int(part or 0) for part in match.groups())


def git_version() -> str | None:
    """The output of `git --version`; None if git is not installed."""
    try:
        proc = run(commands.git_version())
    except OtterError:
        if shutil.which("git") is None:
            return None
        raise
    return proc.stdout.strip() if proc.returncode == 0 else None


def _size(free: int) -> str:
    if free >= 1024**3:
        return f"{free / 1024**3:.1f} GiB"
    return f"{free / 1024**2:.0f} MiB"


def _chain_text(exc: BaseException) -> tuple[str, bool]:
    """The exception's message and whether it (or any cause) is a socket permission error."""
    denied = False
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, PermissionError) or "permission denied" in str(current).lower():
            denied = True
        current = current.__cause__ or current.__context__
    return printable(str(exc), 300), denied


def check_git() -> Check:
    text = git_version()
    if text is None:
        return Check("git", False, "git is not installed", "apt-get install git")
    found = parse_version(text)
    shown = ".".join(map(str, found)) if found else printable(text, 80)
    if found is None or found[:2] < MIN_GIT:
        return Check("git", False, f"{shown}: git >= {'.'.join(map(str, MIN_GIT))} is needed",
                     "apt-get install git (from a newer release or backports)")
    return Check("git", True, shown)


def check_engine(eng: DoctorEngine) -> Check:
    dc = eng.client()
    if dc is None:
        text, denied = _chain_text(eng.error or OtterError("no client"))
        if denied:
            fix = ("add this user to the docker group: sudo usermod -aG docker "
                   f"{_user()}, then log in again (or run as root)")
        else:
            fix = "start dockerd: sudo systemctl start docker (then check `docker info`)"
            if os.environ.get("DOCKER_HOST"):
                fix += f", or fix DOCKER_HOST={printable(os.environ['DOCKER_HOST'], 100)}"
        return Check("docker engine", False, f"not reachable: {text}", fix)
    with engine.engine_errors("reading the engine version"):
        version = dc.version()
    return Check("docker engine", True,
                 f"Docker Engine {printable(str(version.get('Version', '?')), 40)} "
                 f"(API {printable(str(version.get('ApiVersion', '?')), 20)})")


def _user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return "$USER"


def check_compose() -> Check:
    needed = ".".join(map(str, MIN_COMPOSE))
    fix = (f"install the Compose v2 plugin >= {needed}: apt-get install docker-compose-plugin "
           "(or run scripts/setup-docker.sh)")
    try:
        text = compose.version()
    except OtterError as exc:
        return Check("compose", False, printable(str(exc), 300), fix)
    if not text:
        return Check("compose", False, "`docker compose version` failed: no Compose v2 plugin",
                     fix)
    found = parse_version(text)
    shown = printable(text, 60)
    if found is None:
        return Check("compose", False, f"unrecognised version {shown!r}", fix)
    if found < MIN_COMPOSE:
        return Check("compose", False, f"{shown}: Compose >= {needed} is needed", fix)
    return Check("compose", True, shown)


def check_data_dir(paths: Paths) -> Check:
    root = paths.root
    fix_dir = ("run ./install.sh APP to create it, or point OTTERSTACK_DATA_DIR at the "
               "right directory")
    if not root.is_dir():
        return Check("data dir", False, f"{root} does not exist", fix_dir)
    found: list[str] = []
    fixes: list[str] = []
    probe = root / f".doctor-probe-{os.getpid()}"
    try:
        try:
            probe.write_text("ok")
        finally:
            probe.unlink(missing_ok=True)
    except OSError as exc:
        found.append(f"{root} is not writable ({exc.strerror or exc})")
        fixes.append(f"make {root} writable for {_user()} (chown {_user()} {root}), or free "
                     "disk space")
    mode = file_mode(root)
    if mode & 0o022:
        found.append(f"{root} has mode {mode:04o}: others may change state and secrets")
        fixes.append(f"chmod 700 {root}")
    if paths.db.exists():
        db_mode = file_mode(paths.db)
        if db_mode & 0o077:
            found.append(f"{paths.db} has mode {db_mode:04o}")
            fixes.append(f"chmod 600 {paths.db}")
    return from_problems("data dir", found, fixes, f"{root} (mode {mode:04o}, writable)")


def check_disk(paths: Paths, eng: DoctorEngine) -> Check:
    data = paths.root
    while not data.exists() and data != data.parent:  # not created yet: where it will be
        data = data.parent
    places: list[tuple[str, Path]] = [("data dir", data)]
    dc = eng.client()
    if dc is not None:
        with engine.engine_errors("reading Docker's root dir"):
            root = (dc.info() or {}).get("DockerRootDir")
        # a remote or rootless engine's dir may not be on this host: then it is not checked
        if root and Path(root).is_dir():
            places.append(("docker", Path(root)))
    found: list[str] = []
    worst = 0  # 0 ok, 1 warning, 2 failure
    fixes: list[str] = []
    devices: set[int] = set()
    for label, path in places:
        device = path.stat().st_dev
        if device in devices:
            found[-1] += f" (also {label}: {path})"
            continue
        devices.add(device)
        free = shutil.disk_usage(path).free
        found.append(f"{label} {path}: {_size(free)} free")
        if free < DISK_WARN:
            worst = max(worst, 2 if free < DISK_FAIL else 1)
            fixes.append(f"free space on the filesystem of {path} (`docker system prune` "
                         "removes stopped containers, unused networks and dangling images)")
    if worst == 0:
        return Check("disk", True, "; ".join(found))
    return Check("disk", False, "; ".join(found), "; ".join(fixes), warning=worst == 1)


def judge_push_access(user: str, is_root: bool, unrestricted: list[str], keys_file: str
                      ) -> Check:
    """Pushes as root make every pusher root; a key outside OtterStack's restricted block
    gives a shell, and with it every app's secrets and the Docker socket (docs/security.md)."""
    found, fixes = [], []
    if is_root:
        found.append("OtterStack runs as root, so pushes come in as root: whoever may push is "
                     "root on this server")
        fixes.append("install OtterStack as a dedicated user in the docker group (e.g. "
                     "`adduser --disabled-password deploy && adduser deploy docker`, then "
                     "install.sh as deploy) and give pushers keys with `otterstack keys add`")
    if unrestricted:
        shown = ", ".join(unrestricted[:5]) + (" ..." if len(unrestricted) > 5 else "")
        found.append(f"{keys_file} has {len(unrestricted)} key(s) with a shell for {user}: "
                     f"{shown}")
        fixes.append("move pushers to `otterstack keys add NAME --apps APP` (restricted, no "
                     "shell) and remove their lines; keep only admins' keys unrestricted")
    if not found:
        return Check("push access", True, f"pushes as {user}; every key in {keys_file} is "
                     "restricted")
    return Check("push access", False, "; ".join(found), "; ".join(fixes), warning=True)


def check_push_access() -> Check:
    from otterstack_hooks.adapters.local.keys import authorized_keys_path, unrestricted_keys
    path = authorized_keys_path()
    try:
        text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    except OSError:
        text = ""
    return judge_push_access(_user(), os.geteuid() == 0, unrestricted_keys(text), str(path))
