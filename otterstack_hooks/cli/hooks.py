"""The git hooks of every app's repo: pre-receive refuses a push that cannot deploy, before
the ref moves; post-receive deploys the pushed deploy branch and, with previews on, the
preview of every other branch pushed, or removes it when its branch was deleted (hooks/ calls
`otterstack hook`)."""

import argparse
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from otterstack_hooks.adapters.compose import policy_check
from otterstack_hooks.adapters.docker import engine
from otterstack_hooks.adapters.git import precheck
from otterstack_hooks.adapters.local import secrets
from otterstack_hooks.adapters.local.paths import data_paths
from otterstack_hooks.adapters.local.progress import (
    Progress,
    read_events,
    render_event,
    use_color,
)
from otterstack_hooks.adapters.local.state import State
from otterstack_hooks.adapters.traefik import discovery as traefik_discovery
from otterstack_hooks.cli import context
from otterstack_hooks.cli.context import open_state
from otterstack_hooks.cli.deploys import health_timeout
from otterstack_hooks.cli.environment import GIT_QUARANTINE, minimal_environment
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.names import printable, short, validate_app_name
from otterstack_hooks.core.records import App, Release
from otterstack_hooks.core.vocabulary import Step, WatchStatus
from otterstack_hooks.rules.preview.naming import preview_slug
from otterstack_hooks.rules.push import PreviewPush, RefUpdate, parse_ref_updates, plan_push
from otterstack_hooks.rules.traefik.rule_syntax import DefaultSyntax
from otterstack_hooks.rules.watch import last_line_by
from otterstack_hooks.usecases.deploy import Deploy, DeployRequest
from otterstack_hooks.usecases.preview_deploy import PreviewDeploy
from otterstack_hooks.usecases.preview_removal import RemovePreview
from otterstack_hooks.wiring import real_ports, traefik_provider

KNOWN_PUSH_OPTIONS = {"skip-deploy", "dry-run", "force", "health-timeout", "no-watch"}


def cmd_pre_receive(args: argparse.Namespace) -> int:
    """pre-receive: refuse, before the ref moves, a push of the deploy branch that cannot
    deploy (the app is pinned, the pushed commit is larger than the app takes, or its compose
    file is missing, invalid or refused); with -o skip-deploy, only one that is too large.
    A preview's branch is checked the same way (the pin holds production only)."""
    minimal_environment(keep=GIT_QUARANTINE)  # the pushed objects are still in quarantine
    progress = Progress(sys.stdout, use_color(sys.stdout, True), quiet_details=True)
    state = open_state()
    app = state.require_app(validate_app_name(args.app))
    values = secrets.load(data_paths().env_file(app.name))
    progress.redact = secrets.redactor(values)  # compose's complaints may quote a value
    plan = plan_push(parse_ref_updates(sys.stdin.read()), app.branch, app.previews)
    pushed = [(f"{app.name} ", plan.deploy.new)] if plan.deploy is not None else []
    pushed += [(f"preview of {printable(p.branch, 60)} of {app.name} ", p.update.new)
               for p in plan.previews if not p.removal]
    skip = any(o.split("=")[0] == "skip-deploy" for o in args.push_option)
    if plan.deploy is not None and app.pinned and not skip:
        progress.result(False, f"push refused: {app.name} is pinned ({app.pinned}); "
                        f"`otterstack unpin {app.name}` on the server, or push -o skip-deploy")
        return 1
    for what, sha in pushed:
        if not _check_commit(state, app, what, sha, values, skip, progress):
            return 1
    return 0


def _check_commit(state: State, app: App, what: str, sha: str, values: dict[str, str],
                  skip: bool, progress: Progress) -> bool:
    """Whether one pushed commit (`what`: whose) may deploy; says why not."""
    limits = precheck.TreeLimits(app.max_push_files, app.max_push_mib)
    if skip:
        # not checked, but bounded: `otterstack deploy` may check it out later
        problem = _problem(lambda: precheck.tree_problem(sha, app.name, limits))
        if problem:
            progress.result(False, f"push refused, {what}{short(sha)}: {problem}")
        return problem is None
    problem = _problem(lambda: _compose_problem(state, app, sha, values, limits, progress))
    if problem:
        progress.result(False, f"push refused, {what}{short(sha)} cannot deploy: {problem}")
        return False
    progress.step(Step.CHECK, f"{short(sha)}: compose file valid; accepting the push")
    return True


def _problem(check: Callable[[], str | None]) -> str | None:
    """What a check of the push found wrong; its OtterError is a problem too."""
    try:
        return check()
    except OtterError as exc:
        return str(exc)


def _compose_problem(state: State, app: App, sha: str, values: dict[str, str],
                     limits: precheck.TreeLimits, progress: Progress) -> str | None:
    """The pushed commit's compose file, checked as a deploy would check it (the policy, the
    names, the routing against the Traefik it would use), in a bounded checkout."""
    allowed = policy_check.allowed_for(state, data_paths(), app,
                                       lambda text: progress.step(Step.POLICY, text))
    syntax, edge = _traefik_facts(state, app)
    with tempfile.TemporaryDirectory(prefix="otterstack-check-") as tmp:
        return precheck.compose_problem(
            sha, Path(tmp), app.compose_file, secrets.for_compose(values), app.name, allowed,
            app.reads_deploy_labels, syntax, lambda text: progress.warn(Step.CHECK, text), edge,
            hosts=app.hosts, limits=limits)


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
    return traefik_discovery.for_precheck(dc, state.setting("traefik_container"),
                                   traefik_provider(app))


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
    progress = context.progress(forced_color=True)
    validate_app_name(args.app)
    state = open_state()
    app = state.require_app(args.app)
    plan = plan_push(parse_ref_updates(sys.stdin.read()), app.branch, app.previews)
    for note in plan.notes:
        progress.step(Step.PUSH, note)
    options = dict(opt.split("=", 1) if "=" in opt else (opt, "") for opt in args.push_option)
    for unknown in sorted(set(options) - KNOWN_PUSH_OPTIONS):
        progress.warn(Step.PUSH, f"push option {unknown!r} is not known and was ignored "
                      f"(known: {', '.join(sorted(KNOWN_PUSH_OPTIONS))})")
    code = 0 if plan.deploy is None else _deploy(args, state, app, plan.deploy, options,
                                                 progress)
    for preview in plan.previews:  # production first: a preview never delays it
        code = max(code, _preview(args, state, app, preview, options, progress))
    return code


def _deploy(args: argparse.Namespace, state: State, app: App, update: RefUpdate,
            options: dict[str, str], progress: Progress) -> int:
    """The pushed deploy branch: deployed unless pinned, skipped, or already active."""
    if app.pinned:
        progress.result(True, f"{app.name} {short(update.new)} pushed, not deployed: the "
                        f"app is pinned ({app.pinned}); `otterstack unpin {app.name}` to undo")
        return 0
    if "skip-deploy" in options:
        progress.result(True, f"{app.name} {short(update.new)} pushed, not deployed "
                        "(push option skip-deploy)")
        return 0
    timeout = _health_timeout(options)
    active = state.active_release(app.name)
    if (active is not None and active.sha == update.new and "force" not in options
            and "dry-run" not in options):
        progress.result(True, f"{app.name} {short(update.new)} is already the active "
                        f"release ({active.name}): not redeployed (push -o force to redeploy)")
        return 0
    outcome = Deploy(real_ports(data_paths(), state, progress, app.name)).run(DeployRequest(
        app=app.name, ref=update.new, trigger="push", pushed_by=args.pusher,
        push_ref=update.ref, only_if_branch_head=True, health_timeout=timeout,
        dry_run="dry-run" in options, no_watch="no-watch" in options))
    if outcome.release is not None and outcome.release.watch_status == WatchStatus.WATCHING:
        _follow_watch(app, outcome.release, progress.color)
    return 0 if outcome.ok else 1


def _follow_watch(app: App, release: Release, color: bool) -> None:
    """The watch's lines after the deploy's result line (the watch process writes them to
    the release log), until its last one, or its window and a rollback's time have passed,
    or the pusher hangs up: the watch goes on without the push."""
    deadline = last_line_by(app, release.served_at or time.time())
    offset, after_result = 0, False
    while time.time() < deadline:
        events, offset = read_events(Path(release.log_path), offset)
        for event in events:
            shown = event.get("kind") != "detail" or event.get("terminal", True)
            if after_result and shown:
                try:
                    print(render_event(event, color), flush=True)
                except OSError:  # the pusher went away
                    return
            if after_result and event.get("watch_end"):
                return
            after_result = after_result or event.get("step") == Step.RESULT
        time.sleep(0.2)


def _health_timeout(options: dict[str, str]) -> int | None:
    try:
        return health_timeout(options.get("health-timeout"))
    except OtterError as exc:
        raise OtterError(f"push option health-timeout={options['health-timeout']!r}: give "
                         "whole seconds, 1-3600") from exc


def _preview(args: argparse.Namespace, state: State, app: App, push: PreviewPush,
             options: dict[str, str], progress: Progress) -> int:
    """A preview's branch pushed (its preview deployed, with the same push options) or
    deleted (its preview removed)."""
    ports = real_ports(data_paths(), state, progress, app.name)
    branch = printable(push.branch, 60)
    if push.removal:
        found = [p for p in state.previews(app.name) if p.branch == push.branch]
        if not found:
            progress.step(Step.PUSH, f"branch {branch} deleted: it had no preview")
            return 0
        RemovePreview(ports).run(app, found[0], f"branch {branch} deleted", args.pusher)
        progress.result(True, f"removed the preview of {branch} of {app.name}")
        return 0
    sha = push.update.new
    if "skip-deploy" in options:
        progress.result(True, f"preview of {branch} of {app.name} {short(sha)} pushed, not "
                        "deployed (push option skip-deploy)")
        return 0
    active = state.active_release(app.name, preview_slug(app.name, push.branch))
    if (active is not None and active.sha == sha and "force" not in options
            and "dry-run" not in options):
        progress.result(True, f"preview of {branch} of {app.name} {short(sha)} is already "
                        f"its active release ({active.name}): not redeployed (push -o force "
                        "to redeploy)")
        return 0
    outcome = PreviewDeploy(ports).run(DeployRequest(
        app=app.name, ref=sha, trigger="push", pushed_by=args.pusher,
        push_ref=push.update.ref, only_if_branch_head=True,
        health_timeout=_health_timeout(options), dry_run="dry-run" in options,
        preview_branch=push.branch))
    return 0 if outcome.ok else 1


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("hook", help="internal: run by the git post-receive hook")
    p.add_argument("hook_name", choices=["pre-receive", "post-receive"])
    p.add_argument("app")
    p.add_argument("--pusher", default="")
    p.add_argument("--push-option", action="append", default=[])
    p.set_defaults(func=cmd_hook)
