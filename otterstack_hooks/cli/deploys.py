"""`otterstack deploy`, `rollback`, `retire`, `watch`, `prune`, `pin` and `unpin`: the
releases of an app, changed by hand through the same use cases a push runs."""

import argparse

from otterstack_hooks.adapters.local.paths import data_paths
from otterstack_hooks.adapters.local.state import State
from otterstack_hooks.cli import context
from otterstack_hooks.cli.context import open_state, progress
from otterstack_hooks.cli.environment import minimal_environment
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.names import validate_app_name
from otterstack_hooks.core.records import App
from otterstack_hooks.core.vocabulary import WatchStatus
from otterstack_hooks.usecases.deploy import Deploy, DeployRequest
from otterstack_hooks.usecases.prune import Prune
from otterstack_hooks.usecases.retire import Retire
from otterstack_hooks.usecases.rollback import Rollback
from otterstack_hooks.usecases.watch import Watch
from otterstack_hooks.wiring import real_ports


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
    by = context.who()  # before the environment is cleared
    minimal_environment()
    state = open_state()
    return state, state.require_app(args.app), timeout, by


def cmd_deploy(args: argparse.Namespace) -> int:
    state, app, timeout, who = _manual_deploy_setup(args)
    outcome = Deploy(real_ports(data_paths(), state, progress(), app.name)).run(DeployRequest(
        app=app.name, ref=args.ref or f"refs/heads/{app.branch}", trigger="manual",
        pushed_by=who, health_timeout=timeout, dry_run=args.dry_run))
    return 0 if outcome.ok else 1


def cmd_rollback(args: argparse.Namespace) -> int:
    """Back to a retained release through the same health gate and switch, without a build."""
    state, app, timeout, who = _manual_deploy_setup(args)
    outcome = Rollback(real_ports(data_paths(), state, progress(), app.name)).run(
        app, args.to, args.pin, who, timeout)
    if outcome.ok and args.pin:
        print(f"{app.name} is pinned: pushes of {app.branch} are refused until "
              f"`otterstack unpin {app.name}` (or pushed with -o skip-deploy)")
    return 0 if outcome.ok else 1


def cmd_retire(args: argparse.Namespace) -> int:
    """The end of a release's rollback window (run by the deploy that kept it)."""
    state = open_state()
    app = state.require_app(validate_app_name(args.app))
    Retire(real_ports(data_paths(), state, progress(), app.name)).run(app, args.release)
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    """The watch after a switch (started by the deploy that served the release); exit 1 if
    the release failed it."""
    state = open_state()
    app = state.require_app(validate_app_name(args.app))
    status = Watch(real_ports(data_paths(), state, progress(), app.name)).run(
        app, args.release, wait=args.wait)
    return 1 if status == WatchStatus.FAILED else 0


def cmd_prune(args: argparse.Namespace) -> int:
    state = open_state()
    app = state.require_app(validate_app_name(args.app))
    if args.keep is not None and args.keep < 1:
        raise OtterError("--keep must be at least 1 (the active release is always kept)")
    pruned = Prune(real_ports(data_paths(), state, progress(), app.name)).run(app, args.keep,
                                                                    args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    print(f"{verb} {len(pruned)} release(s){': ' + ', '.join(pruned) if pruned else ''}; "
          "named volumes are never removed")
    return 0


def cmd_pin(args: argparse.Namespace) -> int:
    state = open_state()
    app = state.require_app(validate_app_name(args.app))
    if args.command == "pin":
        state.pin(app.name, args.reason or "pinned by hand")
        print(f"{app.name} pinned: pushes of {app.branch} are refused "
              f"(`otterstack unpin {app.name}` to undo, or push with -o skip-deploy)")
    else:
        state.pin(app.name, "")
        print(f"{app.name} unpinned: pushes deploy again")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
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

    p = sub.add_parser("watch", help="follow a release just served under real traffic and "
                       "roll it back at once if it fails (deploys start this)")
    p.add_argument("--wait", action="store_true", help="wait for the deploy of RELEASE to "
                   "decide whether it is watched (the deploy starts the watch before its "
                   "switch with this)")
    p.add_argument("app")
    p.add_argument("release")
    p.set_defaults(func=cmd_watch)

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
