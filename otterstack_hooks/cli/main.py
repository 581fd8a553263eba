"""The `otterstack` command: its parser, assembled from each command group's own, and the one
way every command ends (its exit code, or one line for an error)."""

import argparse
import os
import sys
import time
from collections.abc import Sequence

from otterstack_hooks.cli import (
    config,
    deploys,
    env,
    hooks,
    keys,
    logs,
    previews,
    status,
    traefik,
)
from otterstack_hooks.cli.doctor import command as doctor
from otterstack_hooks.core.errors import OtterError


def build_parser() -> argparse.ArgumentParser:
    """Every command, in the order `otterstack --help` lists them."""
    parser = argparse.ArgumentParser(
        prog="otterstack", description="Push-to-deploy for Docker Compose apps.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    deploys.add_parsers(sub)
    status.add_parsers(sub)
    previews.add_parsers(sub)
    env.add_parsers(sub)
    logs.add_parsers(sub)
    config.add_parsers(sub)
    doctor.add_parser(sub)
    traefik.add_parsers(sub)
    keys.add_parsers(sub)
    hooks.add_parsers(sub)
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
