"""`otterstack doctor [APP] [--json]`: run every check (report.run_checks) and print them, one
line each or as JSON; exit 1 if one failed."""

import argparse
import sys

from otterstack_hooks.adapters.local.paths import data_paths
from otterstack_hooks.adapters.local.progress import use_color
from otterstack_hooks.adapters.local.state import State
from otterstack_hooks.cli.doctor.check import Check
from otterstack_hooks.cli.doctor.report import exit_code, render, run_checks
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.names import validate_app_name
from otterstack_hooks.core.records import dumps


def cmd_doctor(args: argparse.Namespace) -> int:
    paths = data_paths()
    try:
        state = State(paths.ensure().db)
    except OtterError as exc:  # everything else depends on it: report it like a check
        print(render([Check("data dir", False, str(paths.root), str(exc))],
                     use_color(sys.stdout)))
        return 1
    if args.app:
        validate_app_name(args.app)
    checks = run_checks(paths, state, args.app)
    if args.json:
        print(dumps([vars(c) for c in checks]))
    else:
        print(render(checks, use_color(sys.stdout)))
    return exit_code(checks)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check git, Docker, Compose, Traefik, the data dir, each "
                       "app's repo and hooks, and disk space; say how to fix each problem")
    p.add_argument("app", nargs="?")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)
