"""`otterstack doctor`: check everything a deploy needs and say exactly how to fix what is not.

Every check runs on its own: one that fails, or crashes, never stops the others, so a single
run lists every problem at once. Nothing here changes anything; the only write is a probe file
in the data dir that is removed again. The Swarm checks, for apps with runtime swarm, are in
`doctor_swarm`; what both share (`Check`, the one Docker client) is in `doctor_check`.
"""

import os
import pwd
import re
import shlex
import shutil
import subprocess  # CompletedProcess only: process.run starts every command
from collections.abc import Callable, Sequence
from pathlib import Path

from otterstack_hooks.adapters.compose import compose_cli as compose
from otterstack_hooks.adapters.docker import engine
from otterstack_hooks.adapters.local import process
from otterstack_hooks.adapters.local.paths import Paths
from otterstack_hooks.adapters.local.progress import COLORS, RESET
from otterstack_hooks.adapters.local.state import State
from otterstack_hooks.adapters.traefik import api as traefik
from otterstack_hooks.cli.doctor.check import Check, DoctorEngine
from otterstack_hooks.cli.doctor.swarm import (
    _Swarm,
    check_ipvs,
    check_registry,
    check_swarm_network,
    check_swarm_nodes,
    check_swarm_role,
    check_swarm_traefik,
)
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.names import printable
from otterstack_hooks.core.records import App
from otterstack_hooks.rules import command_lines as commands

MIN_GIT = (2, 24)  # worktrees and --end-of-options
MIN_COMPOSE = (2, 24, 4)
DISK_WARN = 2 * 1024**3
DISK_FAIL = 500 * 1024**2
TIMEOUT = 15


def parse_version(text: str) -> tuple[int, ...] | None:
    """(major, minor, patch) of "2.26.1", "v2.27.0", "2.26.1-4" or "git version 2.39.5"."""
    match = re.search(r"(?<![\d.])v?(\d+)\.(\d+)(?:\.(\d+))?", text or "")
    if match is None:
        return None
    return tuple(int(part or 0) for part in match.groups())


def _git_env() -> dict[str, str]:
    """This process's environment without GIT_* (set inside hooks, they would redirect git)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}


def _run(args: Sequence[str], timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    """A check's command, bounded like every other (process.run: its whole group is killed
    past `timeout`), with the doctor's own wording of what went wrong."""
    try:
        return process.run(args, timeout, env=_git_env())
    except process.ProgramMissing as exc:
        raise OtterError(f"{args[0]} is not installed") from exc
    except process.StepTimeout as exc:
        raise OtterError(f"`{' '.join(args[:4])}` did not answer within {timeout:.0f} s") from exc


def git_version() -> str | None:
    """The output of `git --version`; None if git is not installed."""
    try:
        proc = _run(commands.git_version())
    except OtterError:
        if shutil.which("git") is None:
            return None
        raise
    return proc.stdout.strip() if proc.returncode == 0 else None


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def _size(free: int) -> str:
    if free >= 1024**3:
        return f"{free / 1024**3:.1f} GiB"
    return f"{free / 1024**2:.0f} MiB"


def _problems(name: str, found: list[str], fixes: list[str], ok_detail: str) -> Check:
    """One Check from a list of problems (and their fixes, deduplicated, in order)."""
    if not found:
        return Check(name, True, ok_detail)
    return Check(name, False, "; ".join(found), "; ".join(dict.fromkeys(fixes)))


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


# the checks


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


def check_traefik(state: State, apps: list[App], eng: DoctorEngine) -> Check | None:
    """The Traefik of the apps on one host (docker provider); a Swarm app's is checked by
    check_swarm_traefik."""
    routed = [a.name for a in apps if a.traefik_routing and a.runtime != "swarm"]
    if not routed:
        if any(a.traefik_routing for a in apps):
            return None
        return Check("traefik", True, "not needed (traefik_routing is off)")
    who = f"needed by {', '.join(routed)}"
    dc = eng.client()
    if dc is None:
        return Check("traefik", False, f"{who}, but the Docker Engine is not reachable",
                     "fix the docker engine check first")
    try:
        info = traefik.detect(dc, state.setting("traefik_container"),
                              state.setting("traefik_api_url"),
                              state.setting("traefik_network"))
    except OtterError as exc:
        return Check("traefik", False, f"{who}, but the running Traefik is not usable",
                     printable(str(exc), 500))
    if info is None:
        wanted = state.setting("traefik_container")
        found = f"no running Traefik container{f' matching {wanted!r}' if wanted else ''}"
        return Check("traefik", False, f"{who}: {found} (deploys go without zero-downtime "
                     "routing)", "otterstack traefik up")
    network = info.network
    with engine.engine_errors(f"looking for network {network}"):
        exists = any(n.name == network for n in dc.networks.list(names=[network]))
        attrs = dc.api.inspect_container(info.container) if exists else {}
    if not exists:
        return Check("traefik", False, f"container {info.container} runs, but its network "
                     f"{network} does not exist",
                     f"docker network create {network} && docker network connect {network} "
                     f"{info.container} (or `otterstack config --global traefik_network NAME`)")
    attached = ((attrs.get("NetworkSettings") or {}).get("Networks") or {})
    if network not in attached:
        return Check("traefik", False, f"container {info.container} is not on network "
                     f"{network}", f"docker network connect {network} {info.container}")
    entrypoints = ", ".join(f"{name} on port {port}"
                            for name, port in sorted(info.entrypoints.items()))
    return Check("traefik", True,
                 f"container {info.container}, API at {info.api_url}, network {network}, "
                 f"entrypoints {entrypoints or 'none published on this host'}")


def judge_switch_speed(container: str, ours: bool, throttle: traefik.Throttle) -> Check:
    """How soon Traefik serves a new release once it is healthy: its provider throttle
    (Traefik applies container changes at most that often, 2 s by default). Slower than
    `otterstack traefik up`'s default is a hint with the change that would speed it up, never
    a failure: deploys stay zero-downtime either way, they only take longer."""
    name = "traefik switch"
    fast = traefik.parse_duration(traefik.DEFAULT_THROTTLE)
    target = traefik.DEFAULT_THROTTLE
    seconds = throttle.seconds
    if seconds is None:
        return Check(name, True, f"container {container}: provider throttle unknown "
                     f"({throttle.where}); Traefik's default, 2s, serves a new release up to "
                     "2 s after it is healthy")
    shown = traefik.format_seconds(seconds)
    if seconds <= fast:
        return Check(name, True, f"container {container} applies container changes every "
                     f"{shown} ({throttle.where}): a new release is served within {shown} of "
                     "being healthy")
    if ours:
        how = (f"`docker rm -f {container}`, then `otterstack traefik up` with the options it "
               f"was started with (--throttle {target} is the default now)")
    elif throttle.source == "file":
        how = (f"set `providersThrottleDuration: {target}` under `providers:` in "
               f"{throttle.path} (in the TOML form if it is TOML) and restart {container}")
    elif throttle.source == "env":  # a flag would make Traefik ignore its environment
        how = (f"set TRAEFIK_PROVIDERS_PROVIDERSTHROTTLEDURATION={target} in its environment "
               f"and recreate {container}")
    else:
        how = f"add {traefik.THROTTLE_FLAG}={target} to its command and recreate {container}"
    return Check(name, True, f"container {container} applies container changes every {shown} "
                 f"({throttle.where}), so a new release is served up to {shown} after it is "
                 f"healthy; hint: {how}: then within {target} (docs/performance.md)")


def check_traefik_speed(state: State, apps: list[App], eng: DoctorEngine) -> Check | None:
    """The switch-speed hint for the Traefik deploys use; nothing when no app routes or no
    Traefik runs (the traefik check says what to do then)."""
    if not any(a.traefik_routing and a.runtime != "swarm" for a in apps):
        return None
    dc = eng.client()
    if dc is None:
        return None
    with engine.engine_errors("reading Traefik's configuration"):
        attrs = traefik.find_container(dc, state.setting("traefik_container"))
        if attrs is None:
            return None
        config = attrs.get("Config") or {}
        throttle = traefik.configured_throttle(attrs.get("Args") or [], config.get("Env") or [],
                                               traefik.static_config(dc, attrs))
    ours = "dev.otterstack.traefik" in (config.get("Labels") or {})
    return judge_switch_speed(attrs.get("Name", "?").lstrip("/"), ours, throttle)


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
    mode = _mode(root)
    if mode & 0o022:
        found.append(f"{root} has mode {mode:04o}: others may change state and secrets")
        fixes.append(f"chmod 700 {root}")
    if paths.db.exists():
        db_mode = _mode(paths.db)
        if db_mode & 0o077:
            found.append(f"{paths.db} has mode {db_mode:04o}")
            fixes.append(f"chmod 600 {paths.db}")
    return _problems("data dir", found, fixes, f"{root} (mode {mode:04o}, writable)")


def check_repo(app: App) -> Check:
    name = f"repo of {app.name}"
    repo = Path(app.repo)
    reinstall = f"re-run ./install.sh {app.name}"
    if not repo.is_dir():
        return Check(name, False, f"{repo} does not exist", reinstall)
    proc = _run(commands.git_is_bare(repo))
    if proc.returncode != 0 or proc.stdout.strip() != "true":
        return Check(name, False, f"{repo} is not a bare git repository",
                     f"{reinstall} --repo PATH with a bare repo (git init --bare)")
    proc = _run(commands.git_config_bool(repo, "receive.advertisePushOptions"))
    if proc.stdout.strip() != "true":
        return Check(name, False, f"{repo}: receive.advertisePushOptions is not true, so "
                     "`git push -o ...` options are refused",
                     f"git -C {repo} config receive.advertisePushOptions true (or {reinstall})")
    proc = _run(commands.git_config_bool(repo, "receive.fsckObjects"))
    if proc.stdout.strip() != "true":
        return Check(name, False, f"{repo}: receive.fsckObjects is not true, so pushed objects "
                     "are stored unchecked (malformed trees, hostile path names)",
                     f"git -C {repo} config receive.fsckObjects true (or {reinstall})",
                     warning=True)
    return Check(name, True, f"{repo} (bare, push options on, pushed objects checked)")


def _hook_setting(text: str, key: str) -> str | None:
    """A VAR=value line install.sh wrote (with printf %q quoting); None if absent or odd."""
    match = re.search(rf"^{key}=(.*)$", text, re.M)
    if match is None:
        return None
    try:
        words = shlex.split(match.group(1))
    except ValueError:
        return None
    return words[0] if len(words) == 1 else None


def check_hook(app: App, paths: Paths) -> Check:
    """Both hooks install.sh writes: pre-receive (refuses what cannot deploy) and
    post-receive (deploys)."""
    name = f"hooks of {app.name}"
    reinstall = f"re-run ./install.sh {app.name}"
    if not Path(app.repo).is_dir():
        return Check(name, False, f"no repo at {app.repo}, so no hook", reinstall)
    found: list[str] = []
    fixes: list[str] = []
    for hook_name in ("pre-receive", "post-receive"):
        hook = Path(app.repo) / "hooks" / hook_name
        if not hook.is_file():
            found.append(f"{hook} is missing" + (": pushes do not deploy"
                                                 if hook_name == "post-receive" else ""))
            fixes.append(reinstall)
            continue
        _check_one_hook(app, paths, hook, reinstall, found, fixes)
    return _problems(name, found, list(dict.fromkeys(fixes)),
                     f"{Path(app.repo) / 'hooks'}/pre-receive, post-receive")


def _check_one_hook(app: App, paths: Paths, hook: Path, reinstall: str, found: list[str],
                    fixes: list[str]) -> None:
    if not os.access(hook, os.X_OK):
        found.append(f"{hook} is not executable: git skips it")
        fixes.append(f"chmod 755 {hook} (or {reinstall})")
    if _mode(hook) & 0o022:
        found.append(f"{hook} has mode {_mode(hook):04o}: others may change what pushes run")
        fixes.append(f"chmod go-w {hook}")
    text = hook.read_text(errors="replace")
    if not re.search(rf"^OTTERSTACK_APP=(['\"]?){re.escape(app.name)}\1\s*$", text, re.M):
        found.append(f"{hook} is not OtterStack's hook for {app.name} (no "
                     f"OTTERSTACK_APP={app.name})")
        fixes.append(reinstall)
    else:
        data_dir = _hook_setting(text, "OTTERSTACK_DATA_DIR")
        if data_dir and Path(data_dir).resolve() != paths.root.resolve():
            found.append(f"{hook} deploys with data dir {printable(data_dir, 200)}, "
                         f"not {paths.root}")
            fixes.append(f"OTTERSTACK_DATA_DIR={paths.root} ./install.sh {app.name}")


def check_env_file(app: App, paths: Paths) -> Check | None:
    env_file = paths.env_file(app.name)
    if not env_file.exists():
        return None
    mode = _mode(env_file)
    if mode & 0o077:
        return Check(f"env of {app.name}", False,
                     f"{env_file} has mode {mode:04o}: other users can read its secrets",
                     f"chmod 600 {env_file}")
    return Check(f"env of {app.name}", True, f"{env_file} (mode {mode:04o})")


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


def _guarded(name: str, check: Callable[[], Check | list[Check] | None]) -> list[Check]:
    """Run one check; any exception becomes a failed Check so the others still run."""
    try:
        result = check()
    except OtterError as exc:
        return [Check(name, False, printable(str(exc), 500),
                      "fix what the message says, then run the doctor again")]
    except Exception as exc:  # a crash of one check must not hide the others
        return [Check(name, False,
                      f"the check crashed: {type(exc).__name__}: {printable(str(exc), 300)}",
                      "report this as a bug in `otterstack doctor`, with this line")]
    if result is None:
        return []
    return [result] if isinstance(result, Check) else list(result)


def run_checks(paths: Paths, state: State, app: str | None = None) -> list[Check]:
    """Every check, in order; all apps, or only `app` (whose absence is itself a failure)."""
    checks: list[Check] = []
    eng = DoctorEngine()
    checks += _guarded("git", check_git)
    checks += _guarded("docker engine", lambda: check_engine(eng))
    checks += _guarded("compose", check_compose)

    apps: list[App] = []

    def select() -> Check | None:
        if app is None:
            apps.extend(state.apps())
            return None
        found = state.get_app(app)
        if found is None:
            return Check(f"app {printable(app, 60)}", False, "not registered here",
                         f"./install.sh {printable(app, 60)} registers it "
                         "(`otterstack status` lists the apps)")
        apps.append(found)
        return None

    checks += _guarded("apps", select)
    checks += _guarded("traefik", lambda: check_traefik(state, apps, eng))
    checks += _guarded("traefik switch", lambda: check_traefik_speed(state, apps, eng))
    swarm = _Swarm(eng)
    checks += _guarded("swarm", lambda: check_swarm_role(apps, eng, swarm))
    checks += _guarded("swarm nodes", lambda: check_swarm_nodes(apps, swarm))
    checks += _guarded("swarm network", lambda: check_swarm_network(state, apps, swarm))
    checks += _guarded("traefik (swarm)", lambda: check_swarm_traefik(state, apps, swarm))
    checks += _guarded("ipvs", lambda: check_ipvs(apps))
    checks += _guarded("data dir", lambda: check_data_dir(paths))
    for item in apps:
        checks += _guarded(f"repo of {item.name}", lambda a=item: check_repo(a))
        checks += _guarded(f"hooks of {item.name}", lambda a=item: check_hook(a, paths))
        checks += _guarded(f"env of {item.name}", lambda a=item: check_env_file(a, paths))
        checks += _guarded(f"registry of {item.name}",
                           lambda a=item: check_registry(a, state, swarm))
    checks += _guarded("disk", lambda: check_disk(paths, eng))
    checks += _guarded("push access", check_push_access)
    return checks


def _status(check: Check) -> tuple[str, str]:
    if check.ok:
        return "ok", "ok"
    return ("warn", "warning") if check.warning else ("FAIL", "error")


def render(checks: list[Check], color: bool) -> str:
    """One line per check: status, name, what was found and, when not ok, the fix."""
    width = max([12, *(len(c.name) for c in checks)])
    lines = []
    for check in checks:
        word, kind = _status(check)
        status = f"{word:<6}"
        if color:
            status = f"{COLORS[kind]}{word}{RESET}{' ' * (6 - len(word))}"
        line = f"{status}{check.name:<{width}} {check.detail}"
        if not check.ok and check.fix:
            line += f" -> fix: {check.fix}"
        lines.append(line.rstrip())
    return "\n".join(lines)


def exit_code(checks: list[Check]) -> int:
    """0 if everything is ok or only warned about, 1 if any check failed."""
    return 1 if any(not c.ok and not c.warning for c in checks) else 0
