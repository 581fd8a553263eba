"""Every setting, declared once: its name, type, default, parser and a one-line doc.

The `apps` table, the `App` record, `otterstack config` (its listing, help and parsing) and the
settings table in docs/how-it-works.md all follow this schema, and unit tests hold them to it,
so a new setting cannot be half-added (a column whose default differs from the one the docs
state, a value `config` accepts that a deploy then chokes on). The SQL column defaults in old
migrations are history: a new app gets every default written from here (`State.upsert_app`).

Pure: parsing a value is text in, value or OtterError out; nothing here touches Docker, git,
the database or a process, so the schema can be read and tested anywhere.
"""

import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.names import validate_branch_name, validate_compose_file
from otterstack_hooks.rules.compose.access import parse_allow, render_allow
from otterstack_hooks.rules.notify_target import validate_target
from otterstack_hooks.rules.preview.naming import parse_preview_domain
from otterstack_hooks.rules.traefik.hosts import parse_hosts

MAX_DRAIN_TIMEOUT = 600  # the deploy lock is held while draining; queued pushes wait

TRUE = frozenset({"1", "true", "on", "yes"})
FALSE = frozenset({"0", "false", "off", "no"})

T = TypeVar("T", str, int, bool)


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One setting. `parse` turns what a user typed into the stored value, or raises an
    OtterError that names the setting (or what it holds: "branch name", "compose file") and
    says what to give instead."""

    name: str
    kind: type[T]  # the App attribute's and (as INTEGER or TEXT) the column's type
    default: T
    doc: str  # one line, for `otterstack config --help`
    parser: Callable[[str], T]
    stdin_prompt: str = ""  # set: `-` as the value reads it from stdin (it may hold a token)

    def parse(self, text: str) -> T:
        return self.parser(text)

    def show(self, value: T) -> str:
        """How `otterstack config` prints a value: on/off for switches, else as stored."""
        return ("on" if value else "off") if self.kind is bool else str(value)

    @property
    def shown_default(self) -> str:
        """The default as the docs' table states it: `on`, `300`, `main`, or empty."""
        return f"`{self.show(self.default)}`" if self.default != "" else "empty"


def _switch(name: str, default: bool, doc: str) -> Setting[bool]:
    def parse(text: str) -> bool:
        if text.lower() in TRUE:
            return True
        if text.lower() in FALSE:
            return False
        raise OtterError(f"{name} takes on or off, not {text!r}")
    return Setting(name, bool, default, doc, parse)


def _number(name: str, default: int, doc: str, least: int = 1, most: int | None = None,
            why_most: str = "") -> Setting[int]:
    def parse(text: str) -> int:
        if not text.isdigit() or int(text) < least:
            raise OtterError(f"{name} takes a whole number of at least {least}, not {text!r}")
        if most is not None and int(text) > most:
            raise OtterError(f"{name} is at most {most} s ({why_most}), not {text}")
        return int(text)
    return Setting(name, int, default, doc, parse)


def _percent(name: str, default: int, doc: str) -> Setting[int]:
    """A whole percentage, 1-100, written `5` or `5%`."""
    def parse(text: str) -> int:
        digits = text.strip().removesuffix("%").strip()
        if not digits.isdigit() or not 1 <= int(digits) <= 100:
            raise OtterError(f"{name} takes a whole percentage from 1 to 100 (`5` or `5%`), "
                             f"not {text!r}")
        return int(digits)
    return Setting(name, int, default, doc, parse)


def _text(name: str, default: str, doc: str, parse: Callable[[str], str] = str,
          stdin_prompt: str = "") -> Setting[str]:
    return Setting(name, str, default, doc, parse, stdin_prompt)


def split_command(text: str) -> list[str]:
    """A command line split as a shell would, without running one: quotes work."""
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise OtterError(f"cannot read the command {text!r}: {exc}") from exc


def _release_command(text: str) -> str:
    if text and len(split_command(text)) < 2:
        raise OtterError("release_command is `SERVICE COMMAND [ARGS...]`, e.g. "
                         "`web python manage.py migrate`; empty turns it off")
    return text


RUNTIMES = ("compose", "swarm")
_REGISTRY = re.compile(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9._-]+)*")


def _runtime(text: str) -> str:
    if text not in RUNTIMES:
        raise OtterError(f"runtime takes {' or '.join(RUNTIMES)}, not {text!r}")
    return text


def _registry(text: str) -> str:
    """`HOST[:PORT][/PATH]`: where built images are pushed for the Swarm's nodes."""
    if text and not _REGISTRY.fullmatch(text):
        raise OtterError(f"registry takes HOST[:PORT][/PATH] (e.g. `registry.lan:5000`), not "
                         f"{text!r}; empty: none (one node)")
    return text


def _notify_target(text: str) -> str:
    return validate_target(text)


_APP: tuple[Setting[Any], ...] = (
    _text("branch", "main", "the branch whose pushes deploy", validate_branch_name),
    _text("compose_file", "", "compose file path relative to the repo root; empty: found "
          "automatically", lambda text: validate_compose_file(text) if text else ""),
    _number("health_timeout", 300, "seconds a release may take to become healthy"),
    _number("settle_seconds", 5, "seconds a container without HEALTHCHECK must run without "
            "restarting", least=0),
    _number("keep_releases", 3, "releases kept for rollback, the active one included"),
    _switch("traefik_routing", False, "rename Traefik labels per release and switch traffic "
            "after the health gate"),
    _switch("require_healthcheck", True, "refuse routed services without a HEALTHCHECK"),
    _text("release_command", "", "SERVICE COMMAND ARGS... run before the release starts "
          "(migrations); empty: off", _release_command),
    _text("notify", "", "http(s) URL or cmd:/absolute/program told about deploys; - reads it "
          "from stdin; empty: off", _notify_target, stdin_prompt="notify target: "),
    _switch("use_deploy_labels", False, "use Swarm's deploy.labels as container labels"),
    _number("drain_timeout", 30, "seconds a release that may have served drains before it "
            "stops", least=0, most=MAX_DRAIN_TIMEOUT,
            why_most="the deploy lock is held while draining"),
    _text("allow", "", "host access the compose file may use (comma-separated policy tokens)",
          lambda text: render_allow(parse_allow(text))),
    _text("hosts", "", "host names the app's routers may match, comma-separated, `*.` before "
          "a domain for every name under it; empty: any", parse_hosts),
    _number("build_timeout", 1800, "seconds a build may take"),
    _number("start_timeout", 600, "seconds `docker compose up` may take"),
    _number("release_command_timeout", 900, "seconds the release command may take"),
    _number("retire_after", 300, "seconds the replaced release's routed services keep running "
            "out of traffic, so `rollback` is instant; 0: stop them at once", least=0,
            most=86400, why_most="a day; longer is what `rollback` with a start is for"),
    _text("runtime", "compose", "compose (one host) or swarm (one stack per release on a "
          "Docker Swarm)", _runtime),
    _text("registry", "", "HOST[:PORT][/PATH] built images are pushed to for the Swarm's "
          "nodes; empty: none (one node)", _registry),
    _number("max_push_files", 20_000, "files a pushed commit may hold; more is refused "
            "before the ref moves"),
    _number("max_push_mib", 512, "MiB a pushed commit's files may hold in all; more is "
            "refused before the ref moves"),
    _number("watch_seconds", 60, "seconds a served release's answers through Traefik are "
            "watched; too many 5xx or a routed container failing rolls it back; 0: off",
            least=0, most=86400, why_most="a day; it can roll back only while the replaced "
            "release is kept (retire_after)"),
    _number("watch_min_requests", 20, "requests the watch needs before an error ratio counts"),
    _percent("watch_max_error_ratio", 5, "percent of 5xx answers a watched release may give "
             "(and 3 times the replaced release's) before it is rolled back"),
    _switch("previews", False, "a push to another branch deploys a preview of it at "
            "<slug>.<preview_domain>; deleting the branch removes it (docs/previews.md)"),
    _text("preview_domain", "", "DNS name a wildcard record points here for; previews "
          "answer at <slug>.<domain>; empty: none", parse_preview_domain),
    _number("preview_limit", 5, "previews that may live at once; a new branch's beyond is "
            "refused"),
    _number("preview_ttl", 7, "days a preview lives without a push to its branch"),
)

_GLOBAL: tuple[Setting[str], ...] = (
    _text("traefik_container", "", "name or image of the Traefik container; empty: found by "
          "label or image"),
    _text("traefik_api_url", "", "Traefik API base URL; empty: from the container's ports"),
    _text("traefik_network", "", "network Traefik reaches apps on; empty: Traefik's own"),
)

# per app (`otterstack config APP KEY VALUE`), in the order `config APP` lists them
APP_SETTINGS: Mapping[str, Setting[Any]] = {s.name: s for s in _APP}
# for the whole server (`otterstack config --global KEY VALUE`)
GLOBAL_SETTINGS: Mapping[str, Setting[str]] = {s.name: s for s in _GLOBAL}


def app_setting(name: str) -> Setting[Any]:
    """The per-app setting called `name`; an unknown name is an error listing the known."""
    if name not in APP_SETTINGS:
        raise OtterError(f"unknown setting {name!r}; known: {', '.join(APP_SETTINGS)}")
    return APP_SETTINGS[name]


def global_setting(name: str) -> Setting[str]:
    """The global setting called `name`; an unknown name is an error listing the known."""
    if name not in GLOBAL_SETTINGS:
        raise OtterError(f"unknown global setting {name!r}; known: {', '.join(GLOBAL_SETTINGS)}")
    return GLOBAL_SETTINGS[name]


def app_defaults() -> dict[str, Any]:
    """Every per-app setting's default: what a newly registered app starts with."""
    return {name: setting.default for name, setting in APP_SETTINGS.items()}
