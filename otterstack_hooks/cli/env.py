"""`otterstack env APP ...`: an app's environment variables (its secrets), kept in a private
file of the data dir and read by the next deploy. A value is never an argument: it comes from
stdin or a file. `--preview` edits the variables of the app's previews instead (their own
file: production's never reach a preview), and `share`/`unshare KEY` lets production's
variable KEY reach them too (rules/preview/variables.py)."""

import argparse
import getpass
import sys
from pathlib import Path

from otterstack_hooks.adapters.local import secrets
from otterstack_hooks.adapters.local.lock import app_lock
from otterstack_hooks.adapters.local.paths import data_paths
from otterstack_hooks.cli.context import open_state
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.names import validate_app_name
from otterstack_hooks.core.records import dumps
from otterstack_hooks.rules.preview.variables import check_shareable


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
    state = open_state()
    app = state.require_app(validate_app_name(args.app))
    paths = data_paths()
    path = paths.preview_env_file(app.name) if args.preview else paths.env_file(app.name)
    if args.action in ("share", "unshare"):
        return _share(app.name, args)
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
                  + (f"(now: otterstack deploy {app.name})" if not args.preview
                     else "of each preview (push its branch again)"))
            return 0
        missing = [k for k in map(secrets.validate_key, args.items) if k not in values]
        if missing:
            raise OtterError(f"{app.name} has no variable {', '.join(missing)}")
        for key in args.items:
            del values[key]
        secrets.save(path, values)
        print(f"unset {', '.join(args.items)}; takes effect at the next deploy")
    return 0


def _share(app: str, args: argparse.Namespace) -> int:
    """Mark production variables shared with the previews (or no longer); alone, list them."""
    paths = data_paths()
    if args.preview:
        raise OtterError("share and unshare name production's variables: leave out --preview")
    with app_lock(paths.env_lock(app), f"env {args.action}", 60,
                  lambda who: print(f"waiting for another env edit ({who})", file=sys.stderr)):
        shared = set(secrets.load_names(paths.shared_file(app)))
        keys = [secrets.validate_key(k) for k in args.items]
        if args.action == "share":
            check_shareable(keys, secrets.load(paths.env_file(app)), app)
            shared |= set(keys)
        else:
            shared -= set(keys)
        if keys:
            secrets.save_names(paths.shared_file(app), sorted(shared))
    if args.json:
        print(dumps(sorted(shared)))
    elif keys:
        print(f"{args.action}d {', '.join(keys)}; takes effect at the next deploy of each "
              "preview")
    else:
        print(f"shared with the previews of {app}: {', '.join(sorted(shared)) or 'none'}")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("env", help="the app's environment variables (secrets): "
                       "env APP set KEY (value on stdin) | set KEY --from-file PATH | "
                       "set KEY=VALUE... | unset KEY... | list [--show-values]; --preview: "
                       "its previews' own; share|unshare KEY...: production's KEY reaches "
                       "the previews too (share alone lists them)")
    p.add_argument("app")
    p.add_argument("action", choices=["set", "unset", "list", "share", "unshare"])
    p.add_argument("items", nargs="*", metavar="KEY[=VALUE]",
                   help="set KEY alone reads the value from stdin (or --from-file)")
    p.add_argument("--from-file", metavar="PATH", help="set: the value is this file's bytes")
    p.add_argument("--show-values", action="store_true", help="list: show the values")
    p.add_argument("--json", action="store_true")
    p.add_argument("--preview", action="store_true",
                   help="the variables every preview of the app gets, not production's")
    p.set_defaults(func=cmd_env)
