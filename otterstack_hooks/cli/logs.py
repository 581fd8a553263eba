"""`otterstack logs APP`: a release's deploy log (its JSON events, rendered, or followed
while it deploys and while it is watched), or with --app the running services' own logs,
which the app's Runtime names (wiring.runtime_for): Compose's, or `docker service logs` of a
Swarm app's services."""

import argparse
import json
import sys
import time
from pathlib import Path

from otterstack_hooks.adapters.local.process import StepTimeout, passthrough, passthrough_all
from otterstack_hooks.adapters.local.progress import (
    ends_log,
    read_events,
    render_event,
    use_color,
)
from otterstack_hooks.adapters.local.state import State
from otterstack_hooks.cli.context import open_state
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.names import validate_app_name
from otterstack_hooks.core.records import App, Release
from otterstack_hooks.core.vocabulary import ReleaseStatus, WatchStatus
from otterstack_hooks.rules.preview.naming import PreviewNames, preview_slug
from otterstack_hooks.rules.release_plan import state_project
from otterstack_hooks.rules.watch import last_line_by
from otterstack_hooks.wiring import runtime_for

LOGS_TIMEOUT = 120  # s, for the last lines of the logs without --follow


def cmd_logs(args: argparse.Namespace) -> int:
    state = open_state()
    app = state.require_app(validate_app_name(args.app))
    slug = preview_slug(app.name, args.preview) if args.preview else ""
    if args.containers is not None:
        return _container_logs(state, app, args.containers, args.follow, slug)
    # the latest of production or of the preview asked for; a release by name, anyone's
    releases = state.releases(app.name, limit=100000, preview=None if args.release else slug)
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
            events, offset = read_events(Path(release.log_path), offset)
        except FileNotFoundError as exc:
            raise OtterError(f"the log of {release.name} is gone ({release.log_path})") from exc
        for event in events:
            print(json.dumps(event, default=str) if args.json else render_event(event, color),
                  flush=True)
        if any(ends_log(event) for event in events) or not args.follow:
            return 0
        if not events and not _goes_on(app, state.release(release.id)):
            return 0
        time.sleep(0.3)


def _goes_on(app: App, release: Release) -> bool:
    """Whether more of the release's log may come: it deploys, or is watched (a watch whose
    last line is overdue died: nothing more comes)."""
    if release.status == ReleaseStatus.DEPLOYING:
        return True
    return (release.watch_status == WatchStatus.WATCHING
            and time.time() < last_line_by(app, release.served_at or release.started_at))


def _container_logs(state: State, app: App, service: str, follow: bool, slug: str = "") -> int:
    """The running services' own logs, the active release's or one kept across releases
    (production's, or the preview `slug`'s), straight to the terminal: with --follow all at
    once, until Ctrl-C; else one after the other within LOGS_TIMEOUT (one command alone has
    all of it)."""
    active = state.active_release(app.name, slug)
    kept = PreviewNames(app.name, slug).state_project if slug else state_project(app.name)
    runs = runtime_for(app).log_commands(app.name, active.project if active else None, kept,
                                         service, follow)
    if len(runs) == 1:
        return passthrough(runs[0], None if follow else LOGS_TIMEOUT)
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


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("logs", help="a release's deploy log, or with --app the containers' logs")
    p.add_argument("app")
    p.add_argument("--release", help="release name like r12 (default: the latest)")
    p.add_argument("-f", "--follow", action="store_true", help="keep following until it ends")
    p.add_argument("--app", dest="containers", nargs="?", const="", metavar="SERVICE",
                   help="show the running containers' logs instead (optionally one service)")
    p.add_argument("--json", action="store_true", help="the deploy log's raw JSON events")
    p.add_argument("--preview", metavar="BRANCH",
                   help="the preview of this branch instead of production")
    p.set_defaults(func=cmd_logs)
