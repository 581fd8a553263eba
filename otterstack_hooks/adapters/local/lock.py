"""Per-app deploy lock: one deploy per app at a time, released by the kernel if we crash.

portalocker takes an flock on a file under the data dir; a killed process cannot leave the
lock held, so there is never a stale lock to clean by hand.
"""

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import portalocker

from otterstack_hooks.core.errors import OtterError


@contextmanager
def app_lock(
    path: Path, holder: str, timeout: float, on_wait: Callable[[str], None]
) -> Iterator[None]:
    """Hold the app's lock; tell `on_wait` once who holds it if we have to wait."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115 - held for the whole deploy
    try:
        deadline = time.monotonic() + timeout
        told = False
        while True:
            try:
                portalocker.lock(handle, portalocker.LOCK_EX | portalocker.LOCK_NB)
                break
            except portalocker.exceptions.LockException:
                if not told:
                    on_wait(_describe_holder(path))
                    told = True
                if time.monotonic() > deadline:
                    raise OtterError(
                        f"gave up after {timeout:.0f} s waiting for the deploy lock "
                        f"({_describe_holder(path)}); try again when it has finished"
                    ) from None
                time.sleep(0.5)
        _note(handle, f"{os.getpid()} {holder}\n")
        try:
            yield
        finally:
            _note(handle, "")
            portalocker.unlock(handle)
    finally:
        handle.close()


def _note(handle, text: str) -> None:
    """Who holds the lock, for people waiting; best effort (a full disk must not matter)."""
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(text)
        handle.flush()
    except OSError:
        pass


def _describe_holder(path: Path) -> str:
    try:
        text = path.read_text().strip()
    except OSError:
        text = ""
    return f"held by pid {text}" if text else "held by another deploy"
