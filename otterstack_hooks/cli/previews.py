"""`otterstack previews APP [--json]`: the app's live previews (branch, commit, age, URL);
`otterstack previews APP remove BRANCH`: remove one, as deleting its branch does. A key that
may push the app may run both (rules/ssh_gate.py): it could delete the branch anyway."""

import argparse
import time
from typing import Any

from otterstack_hooks.adapters.local.paths import data_paths
from otterstack_hooks.adapters.local.state import State
from otterstack_hooks.cli import context
from otterstack_hooks.cli.context import open_state, when
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.names import printable, short, validate_app_name
from otterstack_hooks.core.records import App, dumps
from otterstack_hooks.rules.preview.lifecycle import age
from otterstack_hooks.usecases.preview_removal import RemovePreview, preview_of
from otterstack_hooks.wiring import real_ports


def preview_rows(state: State, app: App, now: float) -> list[dict[str, Any]]:
    """What `previews`, `status` and their --json show of each live preview, newest first."""
    rows = []
    for preview in state.previews(app.name):
        active = state.active_release(app.name, preview.slug)
        rows.append({"branch": preview.branch, "slug": preview.slug, "commit": preview.sha,
                     "url": preview.url, "urls": list(preview.urls),
                     "created_at": preview.created_at, "pushed_at": preview.pushed_at,
                     "age": age(now - preview.pushed_at),
                     "release": active.name if active else None})
    return rows


def cmd_previews(args: argparse.Namespace) -> int:
    state = open_state()
    app = state.require_app(validate_app_name(args.app))
    if args.action == "remove":
        if not args.branch:
            raise OtterError(f"name the branch: `otterstack previews {app.name} remove BRANCH`")
        progress = context.progress()
        ports = real_ports(data_paths(), state, progress, app.name)
        RemovePreview(ports).run(app, preview_of(ports, app.name, args.branch),
                                 "`otterstack previews remove`", context.who())
        progress.result(True, f"removed the preview of {printable(args.branch, 60)} of "
                        f"{app.name}")
        return 0
    if args.branch:
        raise OtterError("a branch goes with `remove` only: `otterstack previews APP remove "
                         "BRANCH`")
    rows = preview_rows(state, app, time.time())
    if args.json:
        print(dumps(rows))
        return 0
    if not rows:
        print(f"{app.name} has no previews (previews {'on' if app.previews else 'off'})")
        return 0
    print(f"{'branch':<30} {'commit':<8} {'release':<8} {'pushed':<20} {'age':>7}  url")
    for row in rows:
        print(f"{printable(row['branch'], 30):<30} {short(row['commit']):<8} "
              f"{row['release'] or '-':<8} {when(row['pushed_at']):<20} {row['age']:>7}  "
              f"{row['url'] or '-'}")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("previews", help="an app's previews of other branches: previews APP "
                       "[--json] | previews APP remove BRANCH")
    p.add_argument("app")
    p.add_argument("action", nargs="?", choices=["list", "remove"], default="list")
    p.add_argument("branch", nargs="?", help="remove: the branch whose preview goes")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_previews)
