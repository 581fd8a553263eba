"""Drain a release before it stops, so that no request it is still serving is cut.

Once Traefik sends new requests elsewhere (the switch is proven), the old release only finishes
what it already has. A server that exits at once on SIGTERM (busybox httpd behind `init: true`,
many others without a graceful shutdown) would cut those requests if it were stopped right
away, so we wait until none is left, bounded by the app's `drain_timeout`, and only then stop.

How in-flight requests are known: Traefik 3.7 has no per-service gauge of open connections
(its metrics have `traefik_open_connections` per entrypoint only, and per-service counters
that grow when a request *ends*), so we count, in each container's own network namespace,
the established TCP connections to a port the container listens on, read from
/proc/<container pid>/net/tcp and tcp6 (readable on the host, no exec into the container).
That works with any Traefik, ours or the user's. Where it cannot be read (a remote Docker
host, another PID namespace) we wait a fixed delay, the whole drain timeout, and say so.

The decisions (parsing /proc, what counts as in flight, when to stop waiting) are pure
functions; `drain` is the thin I/O around them (used by adapters/compose/runtime.py;
release_steps.drain_and_stop stops the release after it).
"""

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

import docker
import docker.errors

from otterstack_hooks.adapters.docker import engine
from otterstack_hooks.core.settings import (
    MAX_DRAIN_TIMEOUT as MAX_DRAIN_TIMEOUT,  # declared with drain_timeout
)

POLL_SECONDS = 0.25
ZERO_CONFIRMATIONS = 2  # in-flight must read 0 this many times in a row

TCP_ESTABLISHED = 0x01
TCP_LISTEN = 0x0A


class DrainMethod(StrEnum):
    """How the requests still in flight were known."""

    CONNECTIONS = "connections"  # established TCP connections in the containers' namespaces
    FIXED_DELAY = "fixed delay"  # could not count: waited the whole drain timeout


METHOD_TEXT = {
    DrainMethod.CONNECTIONS: "counted as established connections in its containers",
    DrainMethod.FIXED_DELAY: "cannot count its connections here, waiting the drain timeout",
}


class Action(StrEnum):
    WAIT = "wait"
    DRAINED = "drained"
    TIMED_OUT = "timed out"


@dataclass(frozen=True)
class TcpSocket:
    """One line of /proc/<pid>/net/tcp or tcp6."""

    local_port: int
    remote_address: str  # hex as the kernel writes it
    state: int


@dataclass(frozen=True)
class DrainReport:
    method: DrainMethod
    in_flight: int  # when the drain began (0 with a fixed delay: unknown)
    seconds: float
    cut: int  # still in flight when the drain timeout ended the wait


def parse_proc_net_tcp(text: str) -> list[TcpSocket]:
    """The sockets of a /proc/net/tcp{,6} table; malformed lines are skipped."""
    sockets = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 4:
            continue
        try:
            _local_ip, local_port = fields[1].rsplit(":", 1)
            remote_ip, _remote_port = fields[2].rsplit(":", 1)
            sockets.append(TcpSocket(int(local_port, 16), remote_ip.upper(), int(fields[3], 16)))
        except ValueError:
            continue
    return sockets


def is_loopback(hex_address: str) -> bool:
    """127.0.0.0/8, ::1 and ::ffff:127.x in the kernel's hex (IPv4 words little-endian)."""
    if len(hex_address) == 8:
        return hex_address.endswith("7F")
    if len(hex_address) == 32:
        if hex_address == "0" * 24 + "01000000":
            return True
        return hex_address.startswith("0000000000000000FFFF0000") and hex_address.endswith("7F")
    return False


def count_in_flight(sockets: Iterable[TcpSocket]) -> int:
    """Requests a server in this namespace still serves: established connections to a port it
    listens on, from outside the container (a health check over loopback is no request)."""
    sockets = list(sockets)
    listening = {s.local_port for s in sockets if s.state == TCP_LISTEN}
    return sum(1 for s in sockets if s.state == TCP_ESTABLISHED and s.local_port in listening
               and not is_loopback(s.remote_address))


def next_action(in_flight: int | None, zeros_in_a_row: int, elapsed: float,
                timeout: float) -> Action:
    """Wait, or stop because the release drained or because the drain timeout is over.
    `in_flight` None: not countable (fixed delay), so only the timeout ends the wait."""
    if in_flight == 0 and zeros_in_a_row >= ZERO_CONFIRMATIONS:
        return Action.DRAINED
    if elapsed >= timeout:
        return Action.DRAINED if in_flight == 0 else Action.TIMED_OUT
    return Action.WAIT


def verdict_text(report: DrainReport) -> str:
    """The line the pusher reads once the wait is over."""
    if report.cut:
        return f"drain timeout: {report.cut} cut (after {report.seconds:.1f} s)"
    if report.method is DrainMethod.FIXED_DELAY:
        return f"waited {report.seconds:.1f} s (fixed delay)"
    return f"drained in {report.seconds:.1f} s"


# I/O
def _read(path: str) -> str:
    with open(path, encoding="ascii", errors="replace") as handle:
        return handle.read()


def _namespace_in_flight(pid: int, container_id: str) -> tuple[str, int] | None:
    """(namespace key, in-flight count) of one container's network namespace, or None when
    its process is not visible here as that container's (remote engine, other PID space)."""
    if pid <= 0:
        return None
    try:
        if container_id not in _read(f"/proc/{pid}/cgroup"):
            return None
        sockets = [*parse_proc_net_tcp(_read(f"/proc/{pid}/net/tcp")),
                   *parse_proc_net_tcp(_read(f"/proc/{pid}/net/tcp6"))]
    except OSError:
        return None
    try:
        key = os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        key = f"pid:{pid}"
    return key, count_in_flight(sockets)


def project_in_flight(dc: docker.DockerClient, project: str) -> int | None:
    """In-flight requests of a compose project's running containers; None if any running
    container cannot be counted here."""
    return _in_flight(engine.project_containers(dc, project))


def containers_in_flight(dc: docker.DockerClient, ids: list[str]) -> int | None:
    """The same for containers named by id (a Swarm stack's tasks on this node)."""
    found = []
    for cid in ids:
        try:
            found.append(dc.api.inspect_container(cid))
        except docker.errors.NotFound:
            continue
    return _in_flight(found)


def _in_flight(containers: list[dict]) -> int | None:
    """A paused container counts: the requests it holds resume once it is unpaused (and a
    stop while it is held out of Traefik would cut them)."""
    total, seen = 0, set()
    for attrs in containers:
        state = attrs.get("State") or {}
        if state.get("Status") not in ("running", "paused"):
            continue
        found = _namespace_in_flight(int(state.get("Pid") or 0), attrs.get("Id", ""))
        if found is None:
            return None
        key, count = found
        if key not in seen:  # `network_mode: service:x` shares one namespace
            seen.add(key)
            total += count
    return total


def drain(dc: docker.DockerClient, project: str, label: str, timeout: float,
          say: Callable[[str], None],
          counter: Callable[[], int | None] | None = None) -> DrainReport:
    """Wait until `project` serves no request, at most `timeout` s; tell `say` how it goes."""
    count = counter or (lambda: project_in_flight(dc, project))
    started = time.monotonic()
    first = count()
    method = DrainMethod.FIXED_DELAY if first is None else DrainMethod.CONNECTIONS
    shown = "unknown" if first is None else str(first)
    say(f"draining {label}: {shown} request{'' if first == 1 else 's'} in flight "
        f"({METHOD_TEXT[method]}; at most {timeout:g} s)")
    current, zeros, last_said = first, 1 if first == 0 else 0, first
    while True:
        elapsed = time.monotonic() - started
        action = next_action(current, zeros, elapsed, timeout)
        if action is not Action.WAIT:
            cut = current if action is Action.TIMED_OUT and current else 0
            return DrainReport(method, first or 0, elapsed, cut)
        time.sleep(min(POLL_SECONDS, max(timeout - elapsed, 0.01)))
        if method is DrainMethod.CONNECTIONS:
            counted = count()
            if counted is None:  # a container went away mid-read: keep the last count
                continue
            current = counted
            zeros = zeros + 1 if current == 0 else 0
            if current and current != last_said:
                say(f"{label}: {current} request{'' if current == 1 else 's'} in flight")
                last_said = current
