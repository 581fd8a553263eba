"""`otterstack status` (each app's active release and what runs it) and `otterstack releases`
(an app's history). What runs is read through the app's Runtime (wiring.runtime_for): a
Compose app's containers, a Swarm app's services with their tasks and nodes too."""

import argparse
import time
from typing import Any

from otterstack_hooks.adapters.local.state import State
from otterstack_hooks.cli.context import open_state, when
from otterstack_hooks.cli.previews import preview_rows
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.names import printable, short, validate_app_name
from otterstack_hooks.core.records import App, dumps
from otterstack_hooks.core.vocabulary import ReleaseStatus
from otterstack_hooks.rules.preview.naming import preview_slug
from otterstack_hooks.rules.release_plan import state_project
from otterstack_hooks.rules.swarm.stack_view import summary_lines
from otterstack_hooks.wiring import runtime_for


def _app_status(state: State, app: App) -> dict[str, Any]:
    runtime = runtime_for(app)
    active = state.active_release(app.name)
    data: dict[str, Any] = {"app": app.name, "repo": app.repo, "branch": app.branch,
                            "traefik_routing": app.traefik_routing, "pinned": app.pinned,
                            "active": None}
    if active is not None:
        data["active"] = {**active.as_dict(), "containers": runtime.container_rows(
            active.project)}
    data["singletons"] = runtime.container_rows(state_project(app.name))
    if runtime.spans_nodes:  # its services run as tasks, maybe on other nodes
        data["runtime"] = app.runtime
        try:
            if active is not None:
                data["active"]["swarm_services"] = runtime.service_rows(active.project)
            data["state_swarm_services"] = runtime.service_rows(state_project(app.name))
        except OtterError as exc:
            data["swarm_error"] = str(exc)
    data["previews"] = preview_rows(state, app, time.time())
    latest = state.releases(app.name, limit=1)
    if latest and latest[0].status == ReleaseStatus.DEPLOYING:
        data["deploying"] = latest[0].as_dict()
    return data


def cmd_status(args: argparse.Namespace) -> int:
    state = open_state()
    apps = [state.require_app(validate_app_name(args.app))] if args.app else state.apps()
    data = [_app_status(state, app) for app in apps]
    if args.json:
        print(dumps(data if not args.app else data[0]))
        return 0
    if not data:
        print("no apps registered yet: run install.sh APP")
    for item in data:
        _print_app(item)
    return 0


def _print_app(item: dict[str, Any]) -> None:
    active = item["active"]
    print(f"{item['app']}  (branch {item['branch']}, traefik routing "
          f"{'on' if item['traefik_routing'] else 'off'}"
          f"{', on Swarm' if 'runtime' in item else ''})")
    if item["pinned"]:
        print(f"  PINNED ({item['pinned']}): pushes are not deployed")
    if active is None:
        print("  no active release")
    else:
        print(f"  active: {active['name']} {short(active['sha'])} since "
              f"{when(active['finished_at'])} ({active['trigger']} of {active['ref']}"
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
    if item["previews"]:
        print("  previews:")
        for row in item["previews"]:
            print(f"    {printable(row['branch'], 30):<30} {row['release'] or '-':<8} "
                  f"{row['url'] or '-'}")


def cmd_releases(args: argparse.Namespace) -> int:
    state = open_state()
    app = state.require_app(validate_app_name(args.app))
    branches = {p.slug: p.branch for p in state.previews(app.name)}
    releases = state.releases(app.name, limit=args.limit, preview=None if args.preview is None
                              else preview_slug(app.name, args.preview))
    if args.json:
        print(dumps([r.as_dict() for r in releases]))
        return 0
    print(f"{'release':<8} {'commit':<8} {'status':<12} {'started':<20} {'took':>7}  reason")
    now = time.time()
    for r in releases:
        took = "-" if r.duration is None else f"{r.duration:.1f}s"
        note = r.note
        if r.preview:  # a preview's: its branch, as the previews list names it
            note = (f"preview of {printable(branches.get(r.preview, r.preview), 40)}"
                    + (f"; {note}" if note else ""))
        if r.retire_at is not None and r.retire_at > now:
            note = (f"kept for an instant rollback until {when(r.retire_at)[11:]}"
                    + (f"; {note}" if note else ""))
        print(f"{r.name:<8} {short(r.sha):<8} {r.status:<12} {when(r.started_at):<20} "
              f"{took:>7}  {note}")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="the active release of each app and its containers")
    p.add_argument("app", nargs="?")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("releases", help="the release history of an app")
    p.add_argument("app")
    p.add_argument("--json", action="store_true")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--preview", metavar="BRANCH",
                   help="only the releases of this branch's preview")
    p.set_defaults(func=cmd_releases)
