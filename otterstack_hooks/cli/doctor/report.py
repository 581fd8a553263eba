"""`otterstack doctor`'s report: every check, each on its own, and how they are shown.

Every check runs on its own: one that fails, or crashes, never stops the others, so a single
run lists every problem at once. Nothing here changes anything. The checks are those of this
host (`host`), of each app (`apps`, and `previews` where they are on), and those of the
runtimes the apps use, whichever set wiring.doctor_check_sets gives each app: one host's
Traefik (`traefik`), or the Swarm's (`swarm`).
"""

from collections.abc import Callable
from functools import partial

from otterstack_hooks.adapters.local.paths import Paths
from otterstack_hooks.adapters.local.progress import COLORS, RESET
from otterstack_hooks.adapters.local.state import State
from otterstack_hooks.cli.doctor.apps import check_env_file, check_hook, check_repo
from otterstack_hooks.cli.doctor.check import Check, DoctorEngine, Named, RuntimeChecks
from otterstack_hooks.cli.doctor.host import (
    check_compose,
    check_data_dir,
    check_disk,
    check_engine,
    check_git,
    check_push_access,
)
from otterstack_hooks.cli.doctor.previews import check_previews
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.names import printable
from otterstack_hooks.core.records import App
from otterstack_hooks.wiring import doctor_check_sets


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
    checks += _guarded("apps", lambda: _select(state, app, apps))
    runtimes: list[RuntimeChecks] = doctor_check_sets(state, eng, apps)
    for runtime in runtimes:
        checks += _run_all(runtime.together())
    checks += _guarded("data dir", lambda: check_data_dir(paths))
    for item in apps:
        checks += _guarded(f"repo of {item.name}", partial(check_repo, item))
        checks += _guarded(f"hooks of {item.name}", partial(check_hook, item, paths))
        checks += _guarded(f"env of {item.name}", partial(check_env_file, item, paths))
        checks += _guarded(f"previews of {item.name}", partial(check_previews, item, state,
                                                                paths))
        for runtime in runtimes:
            checks += _run_all(runtime.of_app(item) if item in runtime.apps else [])
    checks += _guarded("disk", lambda: check_disk(paths, eng))
    checks += _guarded("push access", check_push_access)
    return checks


def _select(state: State, app: str | None, apps: list[App]) -> Check | None:
    """Fill `apps` with every app, or with `app`; a Check if `app` is not registered."""
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


def _run_all(named: list[Named]) -> list[Check]:
    return [check for name, run in named for check in _guarded(name, run)]


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
