"""What every command starts from: the state in the data dir, the progress printer, who runs
it, and how a time is shown."""

import os
import sys
from datetime import datetime

from otterstack_hooks.adapters.local.paths import data_paths
from otterstack_hooks.adapters.local.progress import Progress, use_color
from otterstack_hooks.adapters.local.state import State


def open_state() -> State:
    """The data dir's state, the dir created first if it is not there yet."""
    return State(data_paths().ensure().db)


def when(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def progress(forced_color: bool = False) -> Progress:
    return Progress(sys.stdout, use_color(sys.stdout, forced_color))


def who() -> str:
    """Who runs the command: over SSH (keys.cmd_ssh) the key's name, from a shell the user."""
    return os.environ.get("OTTERSTACK_PUSHER") or os.environ.get("USER", "")
