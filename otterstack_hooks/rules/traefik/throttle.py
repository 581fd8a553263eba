"""Traefik's provider throttle (`providers.providersThrottleDuration`): how often Traefik
applies what its providers saw. The first change after a quiet spell is applied at once,
later ones wait until this much time has passed since the last applied one. Traefik's
default, 2 s, is most of the time between "new release healthy" and "new release served"
(docs/performance.md)."""

from dataclasses import dataclass
from typing import Any

from otterstack_hooks.core.names import printable
from otterstack_hooks.rules.traefik.duration import parse_duration
from otterstack_hooks.rules.traefik.static_config import (
    CONFIG_ERRORS,
    config_value,
    flag_value,
    traefik_flags,
)

THROTTLE_FLAG = "--providers.providersThrottleDuration"
TRAEFIK_DEFAULT_THROTTLE = 2.0  # seconds: Traefik's own default
DEFAULT_THROTTLE = "200ms"  # `otterstack traefik up`'s: measured in docs/performance.md
MAX_THROTTLE = 60.0
_THROTTLE_KEY = "providers.providersthrottleduration"


def throttle_seconds(text: str | int | float) -> float:
    """Seconds of a throttle (or a Swarm refresh) OtterStack passes to Traefik or reads from
    one: a duration (parse_duration) of at most MAX_THROTTLE. ValueError otherwise."""
    seconds = parse_duration(text)
    if not 0 <= seconds <= MAX_THROTTLE:
        raise ValueError(f"{text!r} is out of range (0 to {MAX_THROTTLE:.0f}s)")
    return seconds


@dataclass(frozen=True)
class Throttle:
    """A Traefik's provider throttle as its container shows it."""
    seconds: float | None  # None: set in a form Traefik itself would refuse, or unreadable
    source: str  # where Traefik takes its static configuration from: "file", "flags", "env"
    where: str  # for people: "command line", "static config file /etc/traefik/traefik.yml"
    path: str = ""  # the static config file, when source is "file"

    @property
    def is_default(self) -> bool:
        return "default" in self.where


def _read(value: Any, source: str, where: str, path: str = "") -> Throttle:
    try:
        return Throttle(throttle_seconds(value), source, where, path)
    except (ValueError, TypeError):
        return Throttle(None, source, f"{where}: {printable(str(value), 40)!r} is not a "
                        "duration", path)


def configured_throttle(args: list[str], env: list[str],
                        config: tuple[str, str | None] | None) -> Throttle:
    """A Traefik's provider throttle from what its container shows: Traefik takes its static
    configuration from one source only, the config file if there is one (`config`: path and
    text), else the command line if it has flags, else the TRAEFIK_* environment; a source
    that does not set it leaves Traefik's default (2 s)."""
    if config is not None:
        path, text = config
        if text is None:
            return Throttle(None, "file", f"static config file {path}: not readable here", path)
        try:
            found, value = config_value(text, path, _THROTTLE_KEY)
        except CONFIG_ERRORS:
            return Throttle(None, "file", f"static config file {path}: not valid", path)
        if found:
            return _read(value, "file", f"static config file {path}", path)
        return Throttle(TRAEFIK_DEFAULT_THROTTLE, "file",
                        f"Traefik's default: not set in {path}", path)
    if traefik_flags(args):
        value = flag_value(args, _THROTTLE_KEY)
        if value is not None:
            return _read(value, "flags", "command line")
        return Throttle(TRAEFIK_DEFAULT_THROTTLE, "flags",
                        "Traefik's default: not on its command line")
    for item in env:
        name, _, value = item.partition("=")
        if name.upper() == "TRAEFIK_PROVIDERS_PROVIDERSTHROTTLEDURATION":
            return _read(value, "env", f"environment {name}")
    return Throttle(TRAEFIK_DEFAULT_THROTTLE, "env", "Traefik's default: not configured")
