"""The `otterstack` command: deploy, status, releases, config, traefik up, and the git hook."""

import argparse
import getpass
import json
import os
import signal
import sys
import tempfile
import textwrap
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from otterstack_hooks.adapters.compose import policy_check
from otterstack_hooks.adapters.docker import engine
from otterstack_hooks.adapters.git import precheck
from otterstack_hooks.adapters.local import secrets
from otterstack_hooks.adapters.local.lock import app_lock
from otterstack_hooks.adapters.local.paths import data_paths
from otterstack_hooks.adapters.local.process import StepTimeout, passthrough, passthrough_all
from otterstack_hooks.adapters.local.progress import Progress, render_event, use_color
from otterstack_hooks.adapters.local.state import State
from otterstack_hooks.adapters.swarm import traefik_up as swarm_traefik
from otterstack_hooks.adapters.traefik import api as traefik_io
from otterstack_hooks.adapters.traefik import up as traefik_up
from otterstack_hooks.cli import keys as ssh_commands
from otterstack_hooks.cli.doctor import report as doctor
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.names import (
    short,
    validate_app_name,
    validate_compose_file,
    validate_new_app_name,
)
from otterstack_hooks.core.records import ALLOW_NOT_RECORDED, App, dumps
from otterstack_hooks.core.settings import (
    APP_SETTINGS,
    GLOBAL_SETTINGS,
    Setting,
    app_setting,
    global_setting,
)
from otterstack_hooks.core.vocabulary import ReleaseStatus, Step
from otterstack_hooks.rules.command_lines import compose_logs, service_logs
from otterstack_hooks.rules.push import parse_ref_updates, plan_push
from otterstack_hooks.rules.release_plan import state_project
from otterstack_hooks.rules.swarm.stack_view import (
    log_services,
    node_names,
    service_summary,
    summary_lines,
)
from otterstack_hooks.rules.traefik.rule_syntax import DefaultSyntax
from otterstack_hooks.usecases.deploy import Deploy, DeployRequest
from otterstack_hooks.usecases.prune import Prune
from otterstack_hooks.usecases.remove_app import RemoveApp
from otterstack_hooks.usecases.retire import Retire
from otterstack_hooks.usecases.rollback import Rollback
from otterstack_hooks.wiring import real_ports


def _state() -> State:
    paths = data_paths().ensure()
    return State(paths.db)


def _when(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _progress(forced_color: bool = False) -> Progress:
    return Progress(sys.stdout, use_color(sys.stdout, forced_color))


# deploy
# exactly what the hook passes (hooks/post-receive), so push and redeploy see the same
ENV_KEPT = ("PATH", "HOME", "NO_COLOR", "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CONTEXT",
            "OTTERSTACK_DATA_DIR", "OTTERSTACK_DEBUG")


GIT_QUARANTINE = ("GIT_DIR", "GIT_QUARANTINE_PATH", "GIT_OBJECT_DIRECTORY",
                  "GIT_ALTERNATE_OBJECT_DIRECTORIES")


def minimal_environment(keep: tuple[str, ...] = ()) -> None:
    """Deploy with the same small, explicit environment from the hook and from a shell, so
    `${VAR}` in a compose file cannot mean one thing on push and another on redeploy."""
    data_dir = str(data_paths().root)  # resolved first: it may come from XDG_DATA_HOME
    for key in [k for k in os.environ if k not in ENV_KEPT and k not in keep]:
        del os.environ[key]
    os.environ.update(LANG="C.UTF-8", OTTERSTACK_DATA_DIR=data_dir)


def health_timeout(value: str | int | None) -> int | None:
    if value is None:
        return None
    text = str(value)
    if not text.isdigit() or not 1 <= int(text) <= 3600:
        raise OtterError(f"health timeout {text!r}: give whole seconds, 1-3600")
    return int(text)


def _manual_deploy_setup(args: argparse.Namespace) -> tuple[State, App, int | None, str]:
    """What `deploy` and `rollback` from a shell share: checked arguments, who asked, and the
    hook's environment."""
    validate_app_name(args.app)
    timeout = health_timeout(args.health_timeout)
    # over SSH (ssh_commands.cmd_ssh) the key's name, from a shell the user
    who = os.environ.get("OTTERSTACK_PUSHER") or os.environ.get("USER", "")
    minimal_environment()
    state = _state()
    return state, state.require_app(args.app), timeout, who


def cmd_deploy(args: argparse.Namespace) -> int:
    state, app, timeout, who = _manual_deploy_setup(args)
    outcome = Deploy(real_ports(data_paths(), state, _progress(), app.name)).run(DeployRequest(
        app=app.name, ref=args.ref or f"refs/heads/{app.branch}", trigger="manual",
        pushed_by=who, health_timeout=timeout, dry_run=args.dry_run))
    return 0 if outcome.ok else 1


def cmd_rollback(args: argparse.Namespace) -> int:
    """Back to a retained release through the same health gate and switch, without a build."""
    state, app, timeout, who = _manual_deploy_setup(args)
    outcome = Rollback(real_ports(data_paths(), state, _progress(), app.name)).run(
        app, args.to, args.pin, who, timeout)
    if outcome.ok and args.pin:
        print(f"{app.name} is pinned: pushes of {app.branch} are refused until "
              f"`otterstack unpin {app.name}` (or pushed with -o skip-deploy)")
    return 0 if outcome.ok else 1


def cmd_retire(args: argparse.Namespace) -> int:
    """The end of a release's rollback window (run by the deploy that kept it)."""
    state = _state()
    app = state.require_app(validate_app_name(args.app))
    Retire(real_ports(data_paths(), state, _progress(), app.name)).run(app, args.release)
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    state = _state()
    app = state.require_app(validate_app_name(args.app))
    if args.keep is not None and args.keep < 1:
        raise OtterError("--keep must be at least 1 (the active release is always kept)")
    pruned = Prune(real_ports(data_paths(), state, _progress(), app.name)).run(app, args.keep,
                                                                     args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    print(f"{verb} {len(pruned)} release(s){': ' + ', '.join(pruned) if pruned else ''}; "
          "named volumes are never removed")
    return 0


def cmd_pin(args: argparse.Namespace) -> int:
    state = _state()
    app = state.require_app(validate_app_name(args.app))
    if args.command == "pin":
        state.pin(app.name, args.reason or "pinned by hand")
        print(f"{app.name} pinned: pushes of {app.branch} are refused "
              f"(`otterstack unpin {app.name}` to undo, or push with -o skip-deploy)")
    else:
        state.pin(app.name, "")
        print(f"{app.name} unpinned: pushes deploy again")
    return 0


# the post-receive hook
KNOWN_PUSH_OPTIONS = {"skip-deploy", "dry-run", "force", "health-timeout"}


def cmd_pre_receive(args: argparse.Namespace) -> int:
    """pre-receive: refuse, before the ref moves, a push of the deploy branch that cannot
    deploy (the app is pinned, the pushed commit is larger than the app takes, or its compose
    file is missing, invalid or refused); with -o skip-deploy, only one that is too large."""
    minimal_environment(keep=GIT_QUARANTINE)  # the pushed objects are still in quarantine
    progress = Progress(sys.stdout, use_color(sys.stdout, True), quiet_details=True)
    state = _state()
    app = state.require_app(validate_app_name(args.app))
    values = secrets.load(data_paths().env_file(app.name))
    progress.redact = secrets.redactor(values)  # compose's complaints may quote a value
    plan = plan_push(parse_ref_updates(sys.stdin.read()), app.branch)
    if plan.deploy is None:
        return 0
    limits = precheck.TreeLimits(app.max_push_files, app.max_push_mib)
    if any(o.split("=")[0] == "skip-deploy" for o in args.push_option):
        # not checked, but bounded: `otterstack deploy` may check it out later
        try:
            problem = precheck.tree_problem(plan.deploy.new, app.name, limits)
        except OtterError as exc:
            problem = str(exc)
        if problem:
            progress.result(False, f"push refused, {app.name} {short(plan.deploy.new)}: "
                            f"{problem}")
            return 1
        return 0
    if app.pinned:
        progress.result(False, f"push refused: {app.name} is pinned ({app.pinned}); "
                        f"`otterstack unpin {app.name}` on the server, or push -o skip-deploy")
        return 1
    try:
        allowed = policy_check.allowed_for(state, data_paths(), app,
                                           lambda text: progress.step(Step.POLICY, text))
        syntax, edge = _traefik_facts(state, app)
        with tempfile.TemporaryDirectory(prefix="otterstack-check-") as tmp:
            problem = precheck.compose_problem(
                plan.deploy.new, Path(tmp), app.compose_file, secrets.for_compose(values),
                app.name, allowed, app.reads_deploy_labels, syntax,
                lambda text: progress.warn(Step.CHECK, text), edge, hosts=app.hosts,
                limits=limits)
    except OtterError as exc:
        problem = str(exc)
    if problem:
        progress.result(False, f"push refused, {app.name} {short(plan.deploy.new)} cannot "
                        f"deploy: {problem}")
        return 1
    progress.step(Step.CHECK, f"{short(plan.deploy.new)}: compose file valid; accepting the push")
    return 0


def _traefik_facts(state: State, app: App) -> tuple[DefaultSyntax | None, frozenset[str]]:
    """What pre-receive checks routing against, from the Traefik a deploy would use: its
    default rule syntax (v3 if none is found or it cannot be read; the deploy checks again
    against the one it finds) and its networks, which the compose file may name
    (compose_names). Without Traefik routing: no syntax (labels stay as written, none is
    checked) and no network."""
    if not app.traefik_routing:
        return None, frozenset()
    try:
        dc = engine.client()
    except OtterError:
        return DefaultSyntax(), frozenset()
    provider = "swarm" if app.runtime == "swarm" else "docker"
    return traefik_io.for_precheck(dc, state.setting("traefik_container"), provider)


def cmd_hook(args: argparse.Namespace) -> int:
    """post-receive: read `old new ref` lines, deploy the app's branch, explain the rest."""
    if args.hook_name == "pre-receive":
        return cmd_pre_receive(args)
    minimal_environment()  # drops the GIT_* variables of the push too
    # The deploy outlives the pusher: Ctrl-C or a dropped connection must not half-switch the
    # app. Leave the pusher's process group (so its SIGINT reaches neither us nor compose)
    # and ignore hangups; the progress stays in the release log (`otterstack logs APP -f`).
    try:
        os.setsid()
    except OSError:
        pass
    for sig in (signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    progress = _progress(forced_color=True)
    validate_app_name(args.app)
    state = _state()
    app = state.require_app(args.app)
    plan = plan_push(parse_ref_updates(sys.stdin.read()), app.branch)
    for note in plan.notes:
        progress.step(Step.PUSH, note)
    options = dict(opt.split("=", 1) if "=" in opt else (opt, "") for opt in args.push_option)
    for unknown in sorted(set(options) - KNOWN_PUSH_OPTIONS):
        progress.warn(Step.PUSH, f"push option {unknown!r} is not known and was ignored "
                      f"(known: {', '.join(sorted(KNOWN_PUSH_OPTIONS))})")
    if plan.deploy is None:
        return 0
    if app.pinned:
        progress.result(True, f"{app.name} {short(plan.deploy.new)} pushed, not deployed: the "
                        f"app is pinned ({app.pinned}); `otterstack unpin {app.name}` to undo")
        return 0
    if "skip-deploy" in options:
        progress.result(True, f"{app.name} {short(plan.deploy.new)} pushed, not deployed "
                        "(push option skip-deploy)")
        return 0
    try:
        timeout = health_timeout(options.get("health-timeout"))
    except OtterError as exc:
        raise OtterError(f"push option health-timeout={options['health-timeout']!r}: give "
                         "whole seconds, 1-3600") from exc
    active = state.active_release(app.name)
    if (active is not None and active.sha == plan.deploy.new and "force" not in options
            and "dry-run" not in options):
        progress.result(True, f"{app.name} {short(plan.deploy.new)} is already the active "
                        f"release ({active.name}): not redeployed (push -o force to redeploy)")
        return 0
    outcome = Deploy(real_ports(data_paths(), state, progress, app.name)).run(DeployRequest(
        app=app.name, ref=plan.deploy.new, trigger="push", pushed_by=args.pusher,
        push_ref=plan.deploy.ref, only_if_branch_head=True, health_timeout=timeout,
        dry_run="dry-run" in options))
    return 0 if outcome.ok else 1


# status and history
def _containers(project: str) -> list[dict[str, Any]]:
    dc = engine.client()
    result = []
    for attrs in engine.project_containers(dc, project):
        snap = engine.snapshot(attrs)
        result.append({"name": snap.name, "service": snap.service, "status": snap.status,
                       "health": snap.health or "no healthcheck"})
    return sorted(result, key=lambda c: c["name"])


def _stack_services(stack: str) -> list[dict[str, Any]]:
    """A Swarm stack's services, each with its tasks and their nodes (stack_view)."""
    dc = engine.client()
    services = engine.stack_services(dc, stack)
    with engine.engine_errors(f"reading the stack {stack}"):
        if not services:
            return []
        names = node_names(dc.api.nodes())
        return [service_summary(stack, s, dc.api.tasks(filters={"service": s["ID"]}), names)
                for s in services]


def _app_status(state: State, app: App) -> dict[str, Any]:
    active = state.active_release(app.name)
    data: dict[str, Any] = {"app": app.name, "repo": app.repo, "branch": app.branch,
                            "traefik_routing": app.traefik_routing, "pinned": app.pinned,
                            "active": None}
    if active is not None:
        data["active"] = {**active.as_dict(), "containers": _containers(active.project)}
    data["singletons"] = _containers(state_project(app.name))
    if app.runtime == "swarm":  # its services run as Swarm tasks, maybe on other nodes
        data["runtime"] = "swarm"
        try:
            if data["active"] is not None:
                data["active"]["swarm_services"] = _stack_services(active.project)
            data["state_swarm_services"] = _stack_services(state_project(app.name))
        except OtterError as exc:
            data["swarm_error"] = str(exc)
    latest = state.releases(app.name, limit=1)
    if latest and latest[0].status == ReleaseStatus.DEPLOYING:
        data["deploying"] = latest[0].as_dict()
    return data


def cmd_status(args: argparse.Namespace) -> int:
    state = _state()
    apps = [state.require_app(validate_app_name(args.app))] if args.app else state.apps()
    data = [_app_status(state, app) for app in apps]
    if args.json:
        print(dumps(data if not args.app else data[0]))
        return 0
    if not data:
        print("no apps registered yet: run install.sh APP")
    for item in data:
        active = item["active"]
        swarm = item.get("runtime") == "swarm"
        print(f"{item['app']}  (branch {item['branch']}, traefik routing "
              f"{'on' if item['traefik_routing'] else 'off'}{', on Swarm' if swarm else ''})")
        if item["pinned"]:
            print(f"  PINNED ({item['pinned']}): pushes are not deployed")
        if active is None:
            print("  no active release")
        else:
            print(f"  active: {active['name']} {short(active['sha'])} since "
                  f"{_when(active['finished_at'])} ({active['trigger']} of {active['ref']}"
                  f"{' by ' + active['pushed_by'] if active['pushed_by'] else ''})")
            for line in summary_lines(active.get("swarm_services", [])):
                print(f"    {line}")
            for c in active["containers"]:
                print(f"    {c['name']:<40} {c['status']:<10} {c['health']}")
        if item.get("state_swarm_services"):
            print(f"  kept across releases (stack {state_project(item['app'])}):")
            for line in summary_lines(item["state_swarm_services"]):
                print(f"    {line}")
        if "swarm_error" in item:
            print(f"  the Swarm's services are not readable: {item['swarm_error']}")
        if item["singletons"]:
            print("  kept across releases:")
            for c in item["singletons"]:
                print(f"    {c['name']:<40} {c['status']:<10} {c['health']}")
        if "deploying" in item:
            print(f"  deploying now: {item['deploying']['name']} "
                  f"{short(item['deploying']['sha'])}")
    return 0


def cmd_releases(args: argparse.Namespace) -> int:
    state = _state()
    app = state.require_app(validate_app_name(args.app))
    releases = state.releases(app.name, limit=args.limit)
    if args.json:
        print(dumps([r.as_dict() for r in releases]))
        return 0
    print(f"{'release':<8} {'commit':<8} {'status':<12} {'started':<20} {'took':>7}  reason")
    now = time.time()
    for r in releases:
        took = "-" if r.duration is None else f"{r.duration:.1f}s"
        note = r.reason.splitlines()[0] if r.reason else ""
        if r.retire_at is not None and r.retire_at > now:
            note = (f"kept for an instant rollback until {_when(r.retire_at)[11:]}"
                    + (f"; {note}" if note else ""))
        print(f"{r.name:<8} {short(r.sha):<8} {r.status:<12} {_when(r.started_at):<20} "
              f"{took:>7}  {note}")
    return 0


# environment variables (secrets)
def read_secret(prompt: str, from_file: str | None) -> str:
    """A value that never is an argument (argv shows in `ps` and in shell history): the file
    `from_file` byte for byte, else stdin (a terminal: asked without echo; a pipe: all of it,
    less one trailing newline, so `echo "$V" |` and `printf %s "$V" |` give the same)."""
    if from_file is not None:
        try:
            data = Path(from_file).read_bytes()
        except OSError as exc:
            raise OtterError(f"cannot read {from_file}: {exc.strerror or exc}") from exc
    elif sys.stdin.isatty():
        return getpass.getpass(prompt)
    else:
        data = sys.stdin.buffer.read()
        if not data:
            raise OtterError("no value on stdin: pipe it in (`printf %s \"$VALUE\" | otterstack "
                             "env APP set KEY`), use --from-file PATH, or KEY= for an empty one")
        data = data[:-1] if data.endswith(b"\n") else data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise OtterError(f"the value {'in ' + from_file if from_file else 'on stdin'} is not "
                         "UTF-8 text") from exc


def _env_assignments(args: argparse.Namespace) -> dict[str, str]:
    """`KEY=VALUE...` (as before), or one `KEY` whose value comes from stdin or --from-file."""
    if not args.items:
        raise OtterError("give KEY (the value is read from stdin, or --from-file PATH) or "
                         "KEY=VALUE")
    if len(args.items) == 1 and "=" not in args.items[0]:
        key = secrets.validate_key(args.items[0])
        return {key: secrets.validate_value(key, read_secret(f"value of {key}: ",
                                                             args.from_file))}
    if args.from_file is not None:
        raise OtterError("--from-file sets one variable: `env APP set KEY --from-file PATH`")
    return dict(secrets.parse_assignment(item) for item in args.items)


def cmd_env(args: argparse.Namespace) -> int:
    state = _state()
    app = state.require_app(validate_app_name(args.app))
    paths = data_paths()
    path = paths.env_file(app.name)
    if args.action == "list":
        values = secrets.load(path)
        shown = {k: (v if args.show_values else secrets.REDACTED) for k, v in values.items()}
        if args.json:
            print(dumps(shown))
        else:
            for key, value in sorted(shown.items()):
                print(f"{key}={value}")
        return 0
    changes = _env_assignments(args) if args.action == "set" else {}
    if args.action == "unset" and not args.items:
        raise OtterError("give at least one KEY")
    # read-modify-write under the app's env lock: two edits at once must not lose one
    with app_lock(paths.env_lock(app.name), f"env {args.action}", 60,
                  lambda who: print(f"waiting for another env edit ({who})", file=sys.stderr)):
        values = secrets.load(path)
        if args.action == "set":
            values.update(changes)
            secrets.save(path, values)
            print(f"set {', '.join(sorted(changes))}; takes effect at the next deploy "
                  f"(now: otterstack deploy {app.name})")
            return 0
        missing = [k for k in map(secrets.validate_key, args.items) if k not in values]
        if missing:
            raise OtterError(f"{app.name} has no variable {', '.join(missing)}")
        for key in args.items:
            del values[key]
        secrets.save(path, values)
        print(f"unset {', '.join(args.items)}; takes effect at the next deploy")
    return 0


# logs
def cmd_logs(args: argparse.Namespace) -> int:
    state = _state()
    app = state.require_app(validate_app_name(args.app))
    if args.containers is not None:
        return _container_logs(state, app, args.containers, args.follow)
    releases = state.releases(app.name, limit=100000)
    if args.release:
        releases = [r for r in releases if r.name == args.release]
        if not releases:
            raise OtterError(f"{app.name} has no release {args.release!r}; see "
                             f"`otterstack releases {app.name}`")
    if not releases or not releases[0].log_path:
        raise OtterError(f"{app.name} has no deploy log yet")
    release = releases[0]
    color = use_color(sys.stdout)
    offset = 0
    while True:
        try:
            with open(release.log_path, encoding="utf-8") as handle:
                handle.seek(offset)
                chunk = handle.read()
        except FileNotFoundError as exc:
            raise OtterError(f"the log of {release.name} is gone ({release.log_path})") from exc
        complete = chunk[: chunk.rfind("\n") + 1]
        offset += len(complete.encode("utf-8"))
        finished = False
        for line in complete.splitlines():
            event = json.loads(line)
            print(line if args.json else render_event(event, color), flush=True)
            finished = finished or event.get("step") == Step.RESULT
        if finished or not args.follow:
            return 0
        if state.release(release.id).status != ReleaseStatus.DEPLOYING and not chunk:
            return 0
        time.sleep(0.3)


LOGS_TIMEOUT = 120  # s, for the last lines of the logs without --follow


def _container_logs(state: State, app: App, service: str, follow: bool) -> int:
    """The running containers' own logs: the active release's, or a singleton's."""
    if app.runtime == "swarm":
        return _service_logs(state, app, service, follow)
    active = state.active_release(app.name)
    project = active.project if active else ""
    if service and service in {c["service"] for c in _containers(state_project(app.name))}:
        project = state_project(app.name)
    if not project:
        raise OtterError(f"{app.name} has no active release")
    # straight to the terminal; --follow runs until Ctrl-C, the last lines alone are bounded
    return passthrough(compose_logs(project, service, follow), None if follow else LOGS_TIMEOUT)


def _stack_service_names(stack: str) -> list[str]:
    return [str(s["Spec"]["Name"]) for s in engine.stack_services(engine.client(), stack)]


def _service_logs(state: State, app: App, service: str, follow: bool) -> int:
    """A Swarm app's: `docker service logs` of each service (the tasks on every node), one
    service after the other within LOGS_TIMEOUT; with --follow all at once, until Ctrl-C."""
    active = state.active_release(app.name)
    release = active.project if active else None
    kept = state_project(app.name)
    chosen = log_services(app.name, release, _stack_service_names(release) if release else [],
                          kept, _stack_service_names(kept), service)
    runs = [service_logs(name, 200, follow) for name in chosen]
    if follow:
        return passthrough_all(runs, None)
    deadline = time.monotonic() + LOGS_TIMEOUT
    code = 0
    for args in runs:
        left = deadline - time.monotonic()
        if left <= 0:
            raise StepTimeout(args, LOGS_TIMEOUT)
        code = passthrough(args, left) or code
    return code


# configuration
def _parse_value(setting: Setting[Any], text: str) -> Any:
    """What the user typed as the setting's stored value; `-` for a setting that may hold a
    token reads it from stdin, so it is never in argv (`ps`) or shell history."""
    if setting.stdin_prompt and text == "-":
        text = read_secret(setting.stdin_prompt, None).strip()
    return setting.parse(text)


def cmd_config(args: argparse.Namespace) -> int:
    state = _state()
    if args.glob:  # `config --global [KEY [VALUE]]`: the positionals shift by one
        key, value = args.app, args.key
        if key is None:
            for name in GLOBAL_SETTINGS:
                print(f"{name} = {state.setting(name)}")
            return 0
        setting = global_setting(key)
        if value is not None:
            state.set_setting(key, _parse_value(setting, value))
        print(f"{key} = {state.setting(key)}")
        return 0
    if not args.app:
        raise OtterError("name an app (`otterstack config APP [KEY [VALUE]]`) or use --global")
    app = state.require_app(validate_app_name(args.app))
    if args.key is None:
        for setting in APP_SETTINGS.values():
            print(f"{setting.name} = {_show(setting, getattr(app, setting.name))}")
        return 0
    setting = app_setting(args.key)
    if args.value is not None:
        state.set_app_setting(app.name, setting.name, _parse_value(setting, args.value))
        app = state.require_app(app.name)
    print(f"{setting.name} = {_show(setting, getattr(app, setting.name))}")
    return 0


def _show(setting: Setting[Any], value: Any) -> str:
    if value == ALLOW_NOT_RECORDED:
        return "(not recorded yet: the next push or deploy records what the active release uses)"
    return setting.show(value)


def cmd_apps_add(args: argparse.Namespace) -> int:
    """Register (or update) an app; used by install.sh."""
    name = validate_app_name(args.name)
    state = _state()
    if not any(app.name == name for app in state.apps()):
        validate_new_app_name(name)
    settings: dict[str, Any] = {}
    if args.branch is not None:
        settings["branch"] = APP_SETTINGS["branch"].parse(args.branch)
    if args.compose_file is not None:  # given, it names a file: "" is refused, not "auto"
        settings["compose_file"] = APP_SETTINGS["compose_file"].parse(
            validate_compose_file(args.compose_file))
    if args.traefik_routing is not None:
        settings["traefik_routing"] = APP_SETTINGS["traefik_routing"].parse(
            args.traefik_routing)
    if args.runtime is not None:
        settings["runtime"] = APP_SETTINGS["runtime"].parse(args.runtime)
    app = state.upsert_app(name, os.path.abspath(args.repo), **settings)
    print(json.dumps({"app": app.name, "repo": app.repo, "branch": app.branch}))
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    paths = data_paths()
    try:
        state = State(paths.ensure().db)
    except OtterError as exc:  # everything else depends on it: report it like a check
        print(doctor.render([doctor.Check("data dir", False, str(paths.root), str(exc))],
                            use_color(sys.stdout)))
        return 1
    if args.app:
        validate_app_name(args.app)
    checks = doctor.run_checks(paths, state, args.app)
    if args.json:
        print(dumps([vars(c) for c in checks]))
    else:
        print(doctor.render(checks, use_color(sys.stdout)))
    return doctor.exit_code(checks)


def cmd_apps_remove(args: argparse.Namespace) -> int:
    state = _state()
    app = state.require_app(validate_app_name(args.name))
    RemoveApp(real_ports(data_paths(), state, _progress(), app.name)).run(app, args.volumes)
    return 0


def cmd_traefik_up(args: argparse.Namespace) -> int:
    if args.swarm:
        print(swarm_traefik.up(engine.client(), args.image, args.name,
                               args.network or swarm_traefik.NETWORK, args.http_port,
                               args.throttle, args.refresh, args.constraints))
        return 0
    print(traefik_up.up(engine.client(), args.image, args.name,
                        args.network or traefik_io.DEFAULT_NETWORK, args.http_port,
                        args.bind, args.api_port, args.constraints, args.throttle))
    return 0


def _settings_help() -> str:
    """Every setting with its default and what it does, from the schema (core/settings.py)."""
    width = max(len(name) for name in [*APP_SETTINGS, *GLOBAL_SETTINGS]) + 2
    blocks = []
    for title, group in (("settings (config APP KEY VALUE) [default]", APP_SETTINGS),
                         ("global settings (config --global KEY VALUE) [default]",
                          GLOBAL_SETTINGS)):
        lines = [f"{title}:"]
        for setting in group.values():
            text = f"[{setting.show(setting.default) or 'empty'}] {setting.doc}"
            lines += textwrap.wrap(text, 78, initial_indent=f"  {setting.name:<{width}}",
                                   subsequent_indent=" " * (width + 4))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _throttle(text: str) -> str:
    try:
        traefik_io.parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return text.strip()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otterstack", description="Push-to-deploy for Docker Compose apps.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("deploy", help="deploy a commit by hand (redeploy); exit 1 on failure")
    p.add_argument("app")
    p.add_argument("ref", nargs="?", help="commit, branch or tag (default: the app's branch)")
    p.add_argument("--health-timeout", metavar="SECONDS")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan (services, override files, routers); change nothing")
    p.set_defaults(func=cmd_deploy)

    p = sub.add_parser("rollback", help="back to the previous (or a named) retained release, "
                       "without a build, through the same health gate and switch")
    p.add_argument("app")
    p.add_argument("--to", metavar="RELEASE", help="release name like r12 (default: previous)")
    p.add_argument("--pin", action="store_true", help="then pin the app (pushes not deployed)")
    p.add_argument("--health-timeout", metavar="SECONDS")
    p.set_defaults(func=cmd_rollback)

    p = sub.add_parser("prune", help="remove retained releases beyond the newest N "
                       "(never the active one, never named volumes)")
    p.add_argument("app")
    p.add_argument("--keep", type=int, help="releases to keep (default: keep_releases)")
    p.add_argument("--dry-run", action="store_true")
    p.set_defaults(func=cmd_prune)

    p = sub.add_parser("retire", help="stop a replaced release kept for an instant rollback "
                       "once its window (retire_after) has passed; deploys schedule this")
    p.add_argument("app")
    p.add_argument("release")
    p.set_defaults(func=cmd_retire)

    for name, text in (("pin", "pushes of the deploy branch are refused (or, without the "
                        "pre-receive hook, accepted but not deployed)"),
                       ("unpin", "pushes deploy again")):
        p = sub.add_parser(name, help=text)
        p.add_argument("app")
        if name == "pin":
            p.add_argument("--reason", default="")
        p.set_defaults(func=cmd_pin)

    p = sub.add_parser("status", help="the active release of each app and its containers")
    p.add_argument("app", nargs="?")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("releases", help="the release history of an app")
    p.add_argument("app")
    p.add_argument("--json", action="store_true")
    p.add_argument("--limit", type=int, default=20)
    p.set_defaults(func=cmd_releases)

    p = sub.add_parser("env", help="the app's environment variables (secrets): "
                       "env APP set KEY (value on stdin) | set KEY --from-file PATH | "
                       "set KEY=VALUE... | unset KEY... | list [--show-values]")
    p.add_argument("app")
    p.add_argument("action", choices=["set", "unset", "list"])
    p.add_argument("items", nargs="*", metavar="KEY[=VALUE]",
                   help="set KEY alone reads the value from stdin (or --from-file)")
    p.add_argument("--from-file", metavar="PATH", help="set: the value is this file's bytes")
    p.add_argument("--show-values", action="store_true", help="list: show the values")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_env)

    p = sub.add_parser("logs", help="a release's deploy log, or with --app the containers' logs")
    p.add_argument("app")
    p.add_argument("--release", help="release name like r12 (default: the latest)")
    p.add_argument("-f", "--follow", action="store_true", help="keep following until it ends")
    p.add_argument("--app", dest="containers", nargs="?", const="", metavar="SERVICE",
                   help="show the running containers' logs instead (optionally one service)")
    p.add_argument("--json", action="store_true", help="the deploy log's raw JSON events")
    p.set_defaults(func=cmd_logs)

    p = sub.add_parser("config", help="show or change settings: config APP [KEY [VALUE]]",
                       epilog=_settings_help(), formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--global", dest="glob", action="store_true",
                   help=f"global settings: {', '.join(GLOBAL_SETTINGS)}")
    p.add_argument("app", nargs="?")
    p.add_argument("key", nargs="?")
    p.add_argument("value", nargs="?")
    p.set_defaults(func=cmd_config)

    apps = sub.add_parser("apps", help="register (install.sh does this) or remove apps")
    apps_sub = apps.add_subparsers(dest="apps_command", required=True, metavar="ACTION")
    p = apps_sub.add_parser("add", help="register or update an app")
    p.add_argument("name")
    p.add_argument("--repo", required=True)
    p.add_argument("--branch")
    p.add_argument("--compose-file")
    p.add_argument("--traefik-routing", choices=["on", "off"])
    p.add_argument("--runtime", choices=["compose", "swarm"])
    p.set_defaults(func=cmd_apps_add)
    p = apps_sub.add_parser("remove", help="stop and forget an app (its repo and named "
                            "volumes are kept unless --volumes)")
    p.add_argument("name")
    p.add_argument("--volumes", action="store_true",
                   help="also delete its named volumes: its data")
    p.set_defaults(func=cmd_apps_remove)

    p = sub.add_parser("doctor", help="check git, Docker, Compose, Traefik, the data dir, each "
                       "app's repo and hooks, and disk space; say how to fix each problem")
    p.add_argument("app", nargs="?")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)

    tr = sub.add_parser("traefik", help="run a Traefik configured for OtterStack")
    tr_sub = tr.add_subparsers(dest="traefik_command", required=True, metavar="ACTION")
    p = tr_sub.add_parser("up", help="start Traefik (docker provider, API on 127.0.0.1 only)")
    p.add_argument("--image", default=traefik_io.DEFAULT_IMAGE)
    p.add_argument("--name", default=traefik_io.DEFAULT_CONTAINER)
    p.add_argument("--network", help=f"default: {traefik_io.DEFAULT_NETWORK}, with --swarm "
                   f"{swarm_traefik.NETWORK} (an attachable overlay)")
    p.add_argument("--swarm", action="store_true",
                   help="run it as a Swarm service on this manager with the swarm provider "
                   "(for apps with runtime swarm; docs/swarm.md)")
    p.add_argument("--refresh", type=_throttle, default=swarm_traefik.DEFAULT_REFRESH,
                   help="with --swarm: how often Traefik polls the Swarm (Traefik's default: "
                   "15s)")
    p.add_argument("--http-port", type=int, default=80)
    p.add_argument("--bind", default="0.0.0.0", help="address the http entrypoint listens on")
    p.add_argument("--api-port", type=int, default=8080, help="API port on 127.0.0.1")
    p.add_argument("--constraints", default="",
                   help="only route containers matching this Traefik constraint expression "
                   "(e.g. \"LabelRegex(`com.docker.compose.project`, `shop-.+`)\"), for "
                   "several Traefiks on one Docker host")
    p.add_argument("--throttle", type=_throttle, default=traefik_io.DEFAULT_THROTTLE,
                   metavar="DURATION",
                   help="Traefik's providers.providersThrottleDuration: how long it waits "
                   "after applying container changes before applying the next ones (default "
                   f"{traefik_io.DEFAULT_THROTTLE}; Traefik's own is 2s; 0 applies every "
                   "change at once). A new release is served at most this long after it is "
                   "healthy; see docs/performance.md")
    p.set_defaults(func=cmd_traefik_up)

    ssh_commands.add_parsers(sub)

    p = sub.add_parser("hook", help="internal: run by the git post-receive hook")
    p.add_argument("hook_name", choices=["pre-receive", "post-receive"])
    p.add_argument("app")
    p.add_argument("--pusher", default="")
    p.add_argument("--push-option", action="append", default=[])
    p.set_defaults(func=cmd_hook)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.monotonic()
    try:
        return args.func(args)
    except OtterError as exc:
        print(f"otterstack: error: {exc}", file=sys.stderr, flush=True)
        return 2
    except Exception as exc:  # a bug: one line, the traceback only on request
        if os.environ.get("OTTERSTACK_DEBUG"):
            raise
        print(f"otterstack: internal error: {type(exc).__name__}: {exc} (set OTTERSTACK_DEBUG=1 "
              "for the traceback and please report it)", file=sys.stderr, flush=True)
        return 3
    except KeyboardInterrupt:
        print(f"otterstack: interrupted after {time.monotonic() - started:.1f} s",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
