"""Per-app deploy notifications: a JSON event POSTed to a URL or fed to a command on stdin.

A notification is a courtesy, never part of the deploy: every delivery has a short timeout,
and every failure comes back as one line of text for a warning, never as an exception. Known
secret values are redacted from the event before it leaves the host, and from the error text.
"""

import http.client
import json
import os
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from otterstack_hooks.adapters.local import process
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.core.names import printable
from otterstack_hooks.rules.notify_target import CMD_PREFIX, command_argv, validate_target

USER_AGENT = "otterstack"
ENV_KEEP = ("PATH", "HOME", "LANG")
_LINE = 200  # longest piece of outside text (stderr, HTTP reason) quoted in an error


def send(target: str, event: dict[str, Any], timeout: float = 5.0,
         redact: Callable[[str], str] = lambda s: s) -> str | None:
    """Deliver `event`; None on success (or with no target), else a one-line error text.

    Never raises, and returns within about `timeout` seconds even when DNS or a server stalls:
    a notification must not fail or hold up the deploy that sends it.
    """
    try:
        if not target:
            return None
        validate_target(target)
        payload = encode(event, redact)
        if target.startswith(CMD_PREFIX):
            error = _run(command_argv(target), payload, event, timeout)
        else:
            error = _bounded(lambda: _post(target, payload, timeout), timeout + 0.5,
                             f"notification to {_where(target)} timed out after {timeout:g} s")
    except OtterError as exc:
        error = str(exc)
    except Exception as exc:  # a bug here must still not break the deploy
        error = f"notification failed unexpectedly: {type(exc).__name__}: {exc}"
    if error is None:
        return None
    try:
        return printable(redact(error), 400)
    except Exception:  # the redactor itself failed: say nothing that might hold a secret
        return "notification failed (details withheld: redaction failed)"


def encode(event: dict[str, Any], redact: Callable[[str], str] = lambda s: s) -> bytes:
    """The event as UTF-8 JSON, with secrets redacted.

    Each text value is redacted before encoding (a secret holding a quote or a backslash looks
    different once JSON-escaped), then the JSON text as a whole, in case a secret spans values.
    """
    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return redact(value)
        if isinstance(value, dict):
            return {clean(k): clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    text = json.dumps(clean(event), ensure_ascii=False, allow_nan=False, default=str)
    return redact(text).encode("utf-8")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is reported, not followed: following it would turn the POST into a GET
    without the event, possibly to another scheme or host."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def _where(url: str) -> str:
    """scheme://host[:port] only: webhook paths and query strings often carry tokens."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def _bounded(call: Callable[[], str | None], limit: float, late: str) -> str | None:
    """Run `call` in a daemon thread and give up waiting after `limit` seconds.

    Socket timeouts bound each read and connect, but not name resolution nor a host with many
    addresses; this bounds the whole delivery. A stalled thread is left to finish on its own.
    """
    result: list[str | None] = []

    def target() -> None:
        try:
            result.append(call())
        except Exception as exc:
            result.append(f"notification failed unexpectedly: {type(exc).__name__}: {exc}")

    worker = threading.Thread(target=target, name="otterstack-notify", daemon=True)
    worker.start()
    worker.join(limit)
    return result[0] if result else late


def _post(url: str, payload: bytes, timeout: float) -> str | None:
    where = _where(url)
    request = urllib.request.Request(
        url, data=payload, method="POST",
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
    )
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as resp:
            status = resp.status
    except urllib.error.HTTPError as exc:
        hint = " (redirects are not followed)" if 300 <= exc.code < 400 else ""
        reason = printable(str(exc.reason or ""), _LINE)
        exc.close()
        return f"notification to {where} failed: HTTP {exc.code} {reason}".rstrip() + hint
    except urllib.error.URLError as exc:
        return f"notification to {where} failed: {_reason(exc.reason)}"
    except (OSError, ValueError, http.client.HTTPException) as exc:  # resets, bad replies
        return f"notification to {where} failed: {_reason(exc)}"
    if not 200 <= status < 300:
        return f"notification to {where} failed: HTTP {status}"
    return None


def _reason(reason: object) -> str:
    if isinstance(reason, TimeoutError):
        return "timed out"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return printable(str(reason), _LINE) or type(reason).__name__


def _env(event: dict[str, Any]) -> dict[str, str]:
    env = {key: os.environ[key] for key in ENV_KEEP if key in os.environ}
    env["OTTERSTACK_EVENT"] = str(event.get("event", "")).replace("\x00", "")
    env["OTTERSTACK_APP"] = str(event.get("app", "")).replace("\x00", "")
    return env


def _run(argv: list[str], payload: bytes, event: dict[str, Any], timeout: float) -> str | None:
    """Feed the event to the command on stdin, with only a few variables of our environment.
    process.run_checked starts it in its own session, so a timeout kills whatever the command
    started in the background too, and a Ctrl-C of the deploy does not reach it."""
    name = printable(os.path.basename(argv[0]), 60)
    try:
        proc = process.run_checked(argv, timeout, env=_env(event), input=payload, text=False,
                                   check=False)
    except process.ProgramMissing as exc:
        return f"notification command {name} could not start: {_reason(exc.error)}"
    except (OSError, ValueError) as exc:
        return f"notification command {name} could not start: {_reason(exc)}"
    except process.CommandTimeout:
        return f"notification command {name} timed out after {timeout:g} s"
    if proc.returncode == 0:
        return None
    if proc.returncode < 0:
        status = f"was killed by signal {-proc.returncode}"
    else:
        status = f"exited with status {proc.returncode}"
    first = next((ln for ln in proc.stderr.decode("utf-8", "replace").splitlines()
                  if ln.strip()), "")
    detail = f": {printable(first.strip(), _LINE)}" if first else ""
    return f"notification command {name} {status}{detail}"


class TargetNotifier:
    """The Notifier port (core/ports.py) over `send`: a URL or a command, bounded, redacted."""

    def send(self, target: str, event: dict[str, Any],
             redact: Callable[[str], str]) -> str | None:
        return send(target, event, redact=redact)
