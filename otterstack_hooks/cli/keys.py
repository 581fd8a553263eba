"""`otterstack keys ...` (manage push keys) and `otterstack ssh NAME` (the forced command of
every push key). The decisions live in adapters/local/keys.py and rules/ssh_gate.py; this
module only acts."""

import argparse
import os
import pwd
import sys
import time
from pathlib import Path

from otterstack_hooks.adapters.local import keys
from otterstack_hooks.adapters.local.paths import data_paths
from otterstack_hooks.adapters.local.state import State
from otterstack_hooks.cli.context import open_state
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.names import validate_app_name
from otterstack_hooks.rules import command_lines as commands
from otterstack_hooks.rules import ssh_gate
from otterstack_hooks.rules.ssh_gate import SshKey


def _otterstack_program() -> str:
    """The installed `otterstack` (the virtualenv's, not the link in ~/.local/bin that a
    re-install may move)."""
    beside = Path(sys.executable).parent / "otterstack"
    return str(beside if beside.exists() else Path(sys.argv[0]).absolute())


def sync_authorized_keys(state: State) -> Path:
    """Rewrite OtterStack's block of authorized_keys from the keys in the state."""
    path = keys.authorized_keys_path()
    block = keys.render_block(state.ssh_keys(), _otterstack_program(), str(data_paths().root))
    try:
        existing = path.read_text(encoding="utf-8") if path.exists() else ""
    except OSError as exc:
        raise OtterError(f"cannot read {path}: {exc.strerror or exc}") from exc
    keys.write_authorized_keys(path, keys.splice(existing, block))
    return path


def cmd_keys(args: argparse.Namespace) -> int:
    state = open_state()
    if args.keys_command == "list":
        for key in state.ssh_keys():
            role = "admin" if key.admin else f"apps: {key.apps or '-'}"
            print(f"{key.name:<20} {role:<30} {key.public_key.split()[0]}")
        return 0
    name = keys.validate_key_name(args.name)
    if args.keys_command == "remove":
        if not state.remove_ssh_key(name):
            raise OtterError(f"no key named {name!r}; `otterstack keys list` shows them")
        path = sync_authorized_keys(state)
        print(f"removed key {name} (from {path} too)")
        return 0
    if args.apps is None and not args.all_apps and not args.admin:
        raise OtterError("say what the key may push: --apps a,b, --all-apps, or --admin")
    text = Path(args.file).read_text(encoding="utf-8") if args.file else sys.stdin.read()
    apps = "*" if args.all_apps else ",".join(
        validate_app_name(a.strip()) for a in (args.apps or "").split(",") if a.strip())
    known = {a.name for a in state.apps()}
    unknown = [a for a in apps.split(",") if a and a != "*" and a not in known]
    state.put_ssh_key(SshKey(name, keys.parse_public_key(text), apps, args.admin,
                             time.time()))
    path = sync_authorized_keys(state)
    role = "admin (every app and command)" if args.admin else f"may push {apps or 'no app'}"
    print(f"key {name}: {role}; written to {path} as a restricted key (no shell)")
    if unknown:
        print(f"note: no app named {', '.join(unknown)} is registered yet")
    return 0


def cmd_ssh(args: argparse.Namespace) -> int:
    """The forced command: run exactly what key NAME may run, or refuse with exit 1."""
    try:
        return _serve(args.name)
    except ssh_gate.Refused as exc:
        print(f"otterstack: refused: {exc}", file=sys.stderr, flush=True)
        return 1


def _serve(name: str) -> int:
    state = open_state()
    key = state.ssh_key(keys.validate_key_name(name))
    if key is None:
        raise ssh_gate.Refused(f"key {name!r} is no longer registered")
    request = ssh_gate.parse_command(os.environ.get("SSH_ORIGINAL_COMMAND"))
    os.environ["OTTERSTACK_PUSHER"] = key.name  # release records name the key
    if isinstance(request, ssh_gate.GitRequest):
        home = pwd.getpwuid(os.geteuid()).pw_dir
        app = ssh_gate.repo_app(request.path, home, {a.name: a.repo for a in state.apps()})
        ssh_gate.authorize_git(key, app)
        repo = state.require_app(app).repo  # ours, not the client's spelling of it
        verb = request.verb.value.removeprefix("git-")
        state.close()
        os.execvp("git", commands.git_serve(verb, repo))
    from otterstack_hooks.cli.main import (
        build_parser,  # the same commands and arguments as on the server
    )
    parsed = build_parser().parse_args(list(request.argv))
    target: str | None = getattr(parsed, "app", None)
    if parsed.command == "config" and parsed.glob:
        target = None
    ssh_gate.authorize(key, parsed.command, target)
    return parsed.func(parsed)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("keys", help="SSH keys that may push: keys add NAME [--apps a,b | "
                       "--all-apps] [--admin] (public key on stdin or --file) | list | "
                       "remove NAME")
    keys_sub = p.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    add = keys_sub.add_parser("add", help="add or change a key (restricted: no shell)")
    add.add_argument("name")
    scope = add.add_mutually_exclusive_group()
    scope.add_argument("--apps", help="comma-separated apps the key may push")
    scope.add_argument("--all-apps", action="store_true", help="every app, now and later")
    add.add_argument("--admin", action="store_true",
                     help="every app, plus env, keys and config over SSH")
    add.add_argument("--file", help="the public key file (default: read stdin)")
    add.set_defaults(func=cmd_keys)
    keys_sub.add_parser("list", help="the keys and what each may push").set_defaults(
        func=cmd_keys)
    rm = keys_sub.add_parser("remove", help="remove a key")
    rm.add_argument("name")
    rm.set_defaults(func=cmd_keys)

    p = sub.add_parser("ssh", help="internal: the forced command of a push key in "
                       "authorized_keys; runs what SSH_ORIGINAL_COMMAND asks if allowed")
    p.add_argument("name")
    p.set_defaults(func=cmd_ssh)
