"""Deploy progress: one readable line per step for the pusher, the same events as JSON lines.

Built on structlog: each event gets its elapsed time, goes as JSON to the release's log file
and is rendered as text on the terminal (as `remote:` lines inside a hook), flushed per line.
A vanished terminal (the pusher hit Ctrl-C or lost the connection) never stops the deploy.
"""

import json
import os
import time
from collections.abc import Callable, Mapping, MutableMapping
from pathlib import Path
from typing import Any, TextIO

import structlog

from otterstack_hooks.core.vocabulary import Step

COLORS = {"ok": "\033[1;32m", "error": "\033[1;31m", "warning": "\033[33m",
          "detail": "\033[2m", "info": ""}
RESET = "\033[0m"

Event = MutableMapping[str, Any]  # one structlog event, as its processors get it


def use_color(stream: TextIO, forced: bool = False) -> bool:
    """Color for terminals (and the pusher's terminal through a hook) unless NO_COLOR is set."""
    if os.environ.get("NO_COLOR"):
        return False
    return forced or (hasattr(stream, "isatty") and stream.isatty())


class _Terminal:
    """structlog's final logger: write a line, flush it, survive a closed terminal."""

    def __init__(self, stream: TextIO):
        self.stream: TextIO | None = stream

    def msg(self, message: str) -> None:
        if self.stream is None:
            return
        try:
            self.stream.write(message + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            self.stream = None  # the pusher went away: keep deploying, keep logging to file

    info = warning = error = msg


class Progress:
    """Progress of one command run; attach a JSON log file once the release is known."""

    def __init__(self, stream: TextIO, color: bool, quiet_details: bool = False):
        self.start = time.monotonic()
        self.color = color
        self.quiet_details = quiet_details
        self.log_path: Path | None = None
        self.redact: Callable[[str], str] = lambda text: text
        self._pending: list[dict[str, Any]] = []
        self.terminal = _Terminal(stream)
        self.log = structlog.wrap_logger(
            self.terminal,
            processors=[self._add_fields, self._write_json, self._render],
            context_class=dict,
        )

    def count_from(self, wall: float) -> None:
        """Elapsed times from Unix time `wall`: a process that goes on with a release's log
        (the watch) keeps the deploy's clock."""
        self.start = time.monotonic() - max(0.0, time.time() - wall)

    def attach_log(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.log_path = path
        pending, self._pending = self._pending, []
        for event in pending:
            self._append(event)

    # structlog processors
    def _add_fields(self, _logger: Any, method: str, event: Event) -> Event:
        for key, value in event.items():  # secrets never reach a terminal or a log file
            if isinstance(value, str):
                event[key] = self.redact(value)
        event["elapsed"] = round(time.monotonic() - self.start, 2)
        event["ts"] = time.time()
        event.setdefault("kind", "warning" if method == "warning" else
                         "error" if method == "error" else "info")
        return event

    def _write_json(self, _logger: Any, _method: str, event: Event) -> Event:
        if self.log_path is None:
            self._pending.append(dict(event))
        else:
            self._append(event)
        return event

    def _append(self, event: Mapping[str, Any]) -> None:
        try:
            with open(self.log_path, "a", encoding="utf-8") as handle:  # type: ignore[arg-type]
                handle.write(json.dumps(event, default=str) + "\n")
        except OSError:
            pass  # a full disk must not turn a good deploy into a failed one

    def _render(self, _logger: Any, _method: str, event: Event) -> str:
        if event["kind"] == "detail" and (self.quiet_details or not event.get("terminal", True)):
            raise structlog.DropEvent
        return render_event(event, self.color)

    # the API the pipeline uses; steps are Step members (a plain string still works at
    # runtime, as a StrEnum equals its value, but the type checker flags an unknown word)
    def step(self, step: Step, message: str, **fields: Any) -> None:
        self.log.info(message, step=step, **fields)

    def detail(self, step: Step, line: str, terminal: bool = True) -> None:
        self.log.info(line, step=step, kind="detail", terminal=terminal)

    def warn(self, step: Step, message: str, **fields: Any) -> None:
        self.log.warning(message, step=step, **fields)

    def result(self, ok: bool, message: str, **fields: Any) -> None:
        self.log.info(message, step=Step.RESULT, kind="ok" if ok else "error", **fields)


def render_event(event: Mapping[str, Any], color: bool) -> str:
    """One event as the terminal line people read (also used to replay a release log)."""
    kind = event.get("kind", "info")
    step = event.get("step", "")
    text = str(event.get("event", ""))
    if kind == "detail":
        line = f"{'':>8}  {'':<9} | {text}"
    elif kind in ("ok", "error") and step == Step.RESULT:
        line = f"==> {text}"
    else:
        line = f"{float(event.get('elapsed', 0)):>7.1f}s  {step:<9} {text}"
    if color and COLORS.get(kind):
        line = f"{COLORS[kind]}{line}{RESET}"
    return line


def ends_log(event: Mapping[str, Any]) -> bool:
    """A release log's last event: the result line, unless the watch follows it (`watch`),
    then the watch's last line (`watch_end`)."""
    if event.get("step") == Step.RESULT:
        return not event.get("watch")
    return bool(event.get("watch_end"))


def read_events(path: Path, offset: int) -> tuple[list[dict[str, Any]], int]:
    """The complete events of a release log from byte `offset` on (a line still being
    written waits for the next read), and the offset after them."""
    with open(path, "rb") as handle:
        handle.seek(offset)
        chunk = handle.read()
    complete = chunk[: chunk.rfind(b"\n") + 1]
    return ([json.loads(line) for line in complete.decode("utf-8").splitlines()],
            offset + len(complete))
