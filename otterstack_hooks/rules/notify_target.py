"""What a notification target may be (pure): '' (off), an http(s) URL, or 'cmd:' and an
absolute program with its arguments, run without a shell. Checked when it is set
(`otterstack config APP notify`) and again before each delivery (adapters/local/notify.py)."""

import math
import posixpath
import shlex
import urllib.parse
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.names import printable, short

CMD_PREFIX = "cmd:"


def validate_target(target: str) -> str:
    """'' (off), an http(s) URL, or 'cmd:' + a command line run without a shell."""
    if not isinstance(target, str):
        raise OtterError("the notification target must be text: a URL, 'cmd:...' or ''")
    if target == "":
        return target
    if not target.isprintable():
        raise OtterError("the notification target contains control characters or newlines")
    if target.startswith(CMD_PREFIX):
        command_argv(target)
    else:
        _url(target)
    return target


def command_argv(target: str) -> list[str]:
    try:
        argv = shlex.split(target[len(CMD_PREFIX):])
    except ValueError as exc:
        raise OtterError(f"notification command cannot be parsed ({exc}): check its quotes"
                         ) from exc
    if not argv:
        raise OtterError("notification command is empty: give 'cmd:/absolute/program args...'")
    if not posixpath.isabs(argv[0]):
        raise OtterError(
            f"notification command {printable(argv[0], 80)!r} is not an absolute path: "
            "commands run without a shell and without PATH lookup, so give e.g. "
            "'cmd:/usr/local/bin/notify-deploy --channel ops'"
        )
    return argv


def _url(target: str) -> urllib.parse.SplitResult:
    hint = "give an http:// or https:// URL, 'cmd:/absolute/program args...' or '' for none"
    try:
        parts = urllib.parse.urlsplit(target)
        _ = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        raise OtterError(f"notification URL is malformed ({exc}): {hint}") from exc
    if parts.scheme not in ("http", "https"):
        scheme = printable(parts.scheme, 20) or "no scheme"
        raise OtterError(f"notification target has {scheme!r}, not http or https: {hint}")
    if not parts.hostname:
        raise OtterError(f"notification URL has no host name: {hint}")
    if any(ch.isspace() for ch in target):
        raise OtterError("notification URL contains spaces: percent-encode them as %20")
    return parts


# the deploy events a target is told about; `removed`: a preview went (docs/previews.md)
EVENTS = ("started", "succeeded", "failed", "rolled_back", "watch_failed", "removed")


def build_event(kind: str, app: str, release: str, sha: str, status: str, reason: str = "",
                duration: float | None = None, serving: str = "", *, when: float,
                pushed_by: str = "", preview: Mapping[str, str] | None = None
                ) -> dict[str, Any]:
    """The JSON document sent for one deploy event; `when` is its Unix time (the caller's
    clock: this module reads none). `preview`: the preview's branch, slug and url when the
    event is a preview's; None (null in the JSON) for production's."""
    if kind not in EVENTS:
        raise ValueError(f"unknown notification event {kind!r}; expected one of {EVENTS}")
    if duration is not None:
        duration = round(float(duration), 3) if math.isfinite(duration) else None
    stamp = datetime.fromtimestamp(when, tz=UTC)
    return {
        "event": kind,
        "app": app,
        "release": release,
        "sha": sha,
        "short_sha": short(sha),
        "status": status,
        "reason": reason,
        "duration": duration,
        "serving": serving,
        "pushed_by": pushed_by,  # the push key's name over SSH, else the user
        "time": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": "otterstack",
        "preview": dict(preview) if preview is not None else None,
    }
