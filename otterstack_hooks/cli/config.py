"""`otterstack config` (an app's or the global settings, from the schema in core/settings.py) and
`otterstack apps add|remove` (register an app, as install.sh does, or stop and forget one)."""

import argparse
import json
import os
import textwrap
from typing import Any

from otterstack_hooks.adapters.local.paths import data_paths
from otterstack_hooks.cli.context import open_state, progress
from otterstack_hooks.cli.env import read_secret
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.names import (
    validate_app_name,
    validate_compose_file,
    validate_new_app_name,
)
from otterstack_hooks.core.records import ALLOW_NOT_RECORDED
from otterstack_hooks.core.settings import (
    APP_SETTINGS,
    GLOBAL_SETTINGS,
    Setting,
    app_setting,
    global_setting,
)
from otterstack_hooks.rules.preview.naming import check_domain_free
from otterstack_hooks.usecases.remove_app import RemoveApp
from otterstack_hooks.wiring import real_ports


def _parse_value(setting: Setting[Any], text: str) -> Any:
    """What the user typed as the setting's stored value; `-` for a setting that may hold a
    token reads it from stdin, so it is never in argv (`ps`) or shell history."""
    if setting.stdin_prompt and text == "-":
        text = read_secret(setting.stdin_prompt, None).strip()
    return setting.parse(text)


def cmd_config(args: argparse.Namespace) -> int:
    state = open_state()
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
        value = _parse_value(setting, args.value)
        if setting.name == "preview_domain":
            check_domain_free(app.name, value, {a.name: a.preview_domain for a in state.apps()})
        state.set_app_setting(app.name, setting.name, value)
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
    state = open_state()
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


def cmd_apps_remove(args: argparse.Namespace) -> int:
    state = open_state()
    app = state.require_app(validate_app_name(args.name))
    RemoveApp(real_ports(data_paths(), state, progress(), app.name)).run(app, args.volumes)
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


def add_parsers(sub: argparse._SubParsersAction) -> None:
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
