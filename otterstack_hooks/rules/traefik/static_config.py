"""A Traefik's static configuration as its container shows it: Traefik reads it from one
source only, the config file if there is one, else the command line if it has flags, else
the TRAEFIK_* environment. Reading a value from each source, and its default rule syntax."""

import tomllib
from typing import Any

import yaml

from otterstack_hooks.rules.traefik.rule_matchers import RuleSyntax
from otterstack_hooks.rules.traefik.rule_syntax import DefaultSyntax

_RULE_SYNTAX_KEY = "core.defaultrulesyntax"
# what reading a config file may raise: it is the user's text
CONFIG_ERRORS = (ValueError, yaml.YAMLError, tomllib.TOMLDecodeError)


def traefik_flags(args: list[str]) -> list[str]:
    """The arguments Traefik's flag parser reads: without the image's leading `traefik`,
    up to the first one that is not a flag (and the value after a flag without `=`)."""
    if args and args[0].rsplit("/", 1)[-1].lower() == "traefik":
        args = args[1:]
    flags: list[str] = []
    for arg in args:
        if arg in ("-", "--"):
            break
        is_flag = arg.startswith("-")
        value_of_previous = bool(flags) and flags[-1].startswith("-") and "=" not in flags[-1]
        if not is_flag and not value_of_previous:
            break
        flags.append(arg)
    return flags


def flag_value(args: list[str], key: str) -> str | None:
    """The value of flag `key` (lower case, without dashes) as Traefik's flag parser reads
    it: `-k=v`, `--k=v` or `--k v`, the key in any case; the last one wins."""
    flags = traefik_flags(args)
    found = None
    for i, arg in enumerate(flags):
        if not arg.startswith("-"):
            continue
        name, eq, value = arg.lstrip("-").partition("=")
        if name.lower() in (key, f"traefik.{key}"):
            if eq:
                found = value
            elif i + 1 < len(flags) and not flags[i + 1].startswith("-"):
                found = flags[i + 1]
    return found


def config_value(text: str, path: str, key: str) -> tuple[bool, Any]:
    """(found, value) of `key` (dotted, lower case) in a static config file's text, YAML or
    TOML by its extension; keys match in any case, as Traefik reads them. CONFIG_ERRORS if
    the text is not valid."""
    if path.endswith(".toml"):
        data: Any = tomllib.loads(text)
    else:
        data = yaml.safe_load(text)
    for part in key.split("."):
        if not isinstance(data, dict):
            return False, None
        match = [v for k, v in data.items() if str(k).lower() == part]
        if not match:
            return False, None
        data = match[0]
    return True, data


def config_file_candidates(args: list[str], env: list[str], workdir: str) -> list[str]:
    """Where Traefik looks for its static config file, in its order: `--configFile`, else
    traefik.{toml,yaml,yml} in /etc/traefik, $XDG_CONFIG_HOME, $HOME/.config and the working
    directory."""
    given = flag_value(args, "configfile")
    if given:
        return [given if given.startswith("/") else f"{workdir.rstrip('/')}/{given}"]
    variables = dict(item.split("=", 1) for item in env if "=" in item)
    bases = ["/etc/traefik", variables.get("XDG_CONFIG_HOME", ""),
             f"{variables.get('HOME', '/root').rstrip('/')}/.config", workdir or "/"]
    found: list[str] = []
    for base in bases:
        for ext in ("toml", "yaml", "yml"):
            path = f"{base.rstrip('/')}/traefik.{ext}"
            if path not in found:
                found.append(path)
    return found


def config_source(args: list[str], config: tuple[str, str | None] | None) -> tuple[str, str]:
    """Where a Traefik takes its static configuration from, so a fix names the right place:
    ("file", its path) if it has a config file, else ("flags", "") if its command line has
    flags, else ("env", ""): the TRAEFIK_* environment."""
    if config is not None:
        return "file", config[0]
    return ("flags", "") if traefik_flags(args) else ("env", "")


def configured_rule_syntax(args: list[str], env: list[str],
                           config: tuple[str, str | None] | None, container: str
                           ) -> DefaultSyntax:
    """Traefik's `core.defaultRuleSyntax` from what its container shows, from the one source
    Traefik reads its static configuration from, as for the throttle (configured_throttle):
    the config file if there is one, else the command line if it has flags, else the
    TRAEFIK_* environment. Unset, or not readable here: v3, Traefik's own default (a Traefik
    that read anything but v2 or v3 there would not have started)."""
    value, where = None, ""
    if config is not None:
        path, text = config
        try:
            found, value = config_value(text, path, _RULE_SYNTAX_KEY) if text is not None \
                else (False, None)
        except CONFIG_ERRORS:
            found = False
        where = f"static config file {path}" if found else ""
    elif traefik_flags(args):
        value = flag_value(args, _RULE_SYNTAX_KEY)
        where = "command line"
    else:
        value = next((item.partition("=")[2] for item in env
                      if item.partition("=")[0].upper() == "TRAEFIK_CORE_DEFAULTRULESYNTAX"),
                     None)
        where = "environment"
    if str(value) == RuleSyntax.V2:
        return DefaultSyntax(RuleSyntax.V2,
                             f"core.defaultRuleSyntax=v2 of Traefik {container} ({where})")
    if str(value) == RuleSyntax.V3:
        return DefaultSyntax(RuleSyntax.V3,
                             f"core.defaultRuleSyntax=v3 of Traefik {container} ({where})")
    return DefaultSyntax(RuleSyntax.V3, f"the default of Traefik {container}")
