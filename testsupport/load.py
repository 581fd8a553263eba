"""HTTP load through Traefik: the one load generator of the tests and the benchmarks.

A zero-downtime claim is only as good as the traffic that checks it, so every test and
benchmark sends the same kind of requests and reads them the same way: N client threads, each
sending GETs with a Host header to its endpoints until stopped, on keep-alive connections or a
fresh one per request; every request is kept (when it started and ended, its status, the
release that answered, why it failed), so a caller can tell which release served, and when
the failures happened relative to a deploy. Long requests (a 20 s endpoint) and a burst of
single requests in flight are the same load with other options.

Traffic goes to 127.0.0.1 unless an endpoint names another `address` (the test Swarm cluster's
manager, a private address of this machine); every loop is bounded in time and count and
stops by itself. Nothing here imports pytest.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

HEADER = "X-Otterstack-Release"
# Seconds each client waits after a request: the tests' pace. Any gap in service a switch can
# cause (Traefik applying a configuration, a container stopping) lasts far longer than a
# client's turn at this pace (about 15 ms with the request), so every client still sees it;
# at full speed four clients take more than one of the suite's two cores (measured: 1,290
# requests/s used 1.34 cores, this pace 261/s and 0.29 cores), which the other tests then wait
# for. The benchmarks count failures at FULL_SPEED.
PACED = 0.01
FULL_SPEED = 0.0


def _insecure_context() -> ssl.SSLContext:
    """The load tests routing, not trust: Traefik's default certificate is self-signed."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class SNIConnection(http.client.HTTPSConnection):
    """HTTPS to `address` (127.0.0.1) with `sni` as the TLS server name, as a browser for
    that host would send it; certificates are not verified."""

    def __init__(self, port: int, sni: str, timeout: float = 5, address: str = "127.0.0.1"):
        super().__init__(address, port, timeout=timeout, context=_insecure_context())
        self.sni = sni

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.sni)


def connection(port: int, host: str, tls: bool = False, timeout: float = 5,
               address: str = "127.0.0.1") -> http.client.HTTPConnection:
    """A plain HTTP connection to `address`, or HTTPS with `host` as SNI when `tls`."""
    if tls:
        return SNIConnection(port, host, timeout, address)
    return http.client.HTTPConnection(address, port, timeout=timeout)


@dataclass(frozen=True)
class Endpoint:
    """Where requests go: `address`:`port` with `host` as the Host header (and as SNI)."""

    port: int
    host: str
    path: str = "/"
    tls: bool = False
    address: str = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Request:
    """One request as the client saw it. `status` 0: no HTTP answer (`error` says why)."""

    host: str
    path: str
    started: float  # time.time()
    ended: float
    status: int
    release: str  # the release header (or the body, see Load), "-" without one
    ok: bool
    error: str = ""

    @property
    def reason(self) -> str:
        """Why it failed, as the failure counters name it; "" when it was served."""
        if self.ok:
            return ""
        if self.error:
            return self.error
        return f"HTTP {self.status}" + (f" from {self.release}" if self.release != "-" else "")


def only_200(status: int) -> bool:
    return status == 200


@dataclass(repr=False)
class LoadResult:
    """Every request of a load, in the order they ended, and what they add up to."""

    requests: list[Request]

    def __repr__(self) -> str:  # what an assertion message shows: the sums, not every request
        return (f"LoadResult(sent={self.sent}, failed={self.failed}, "
                f"by_release={dict(self.by_release)}, failures={dict(self.failures)})")

    @property
    def sent(self) -> int:
        return len(self.requests)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.requests if not r.ok)

    @cached_property
    def by_release(self) -> Counter:
        """release -> requests it served."""
        return Counter(r.release for r in self.requests if r.ok)

    @cached_property
    def failures(self) -> Counter:
        """reason -> failed requests ("HTTP 502 from X", "ConnectionResetError", ...)."""
        return Counter(r.reason for r in self.requests if not r.ok)

    @property
    def timeline(self) -> list[tuple[float, str]]:
        """(when it ended, release) of every served request."""
        return [(r.ended, r.release) for r in self.requests if r.ok]

    @property
    def failure_timeline(self) -> list[tuple[float, str]]:
        """(when it ended, status or error) of every failed request: when a deploy hurt."""
        return [(r.ended, r.reason) for r in self.requests if not r.ok]

    def first(self, release: str, after: float = 0.0, host: str | None = None
              ) -> float | None:
        """When `release` first served (on `host`, if given) at or after `after`."""
        return next((r.ended for r in self.requests if r.ok and r.release == release
                     and r.ended >= after and (host is None or r.host == host)), None)

    def of_hosts(self, hosts: Sequence[str]) -> LoadResult:
        wanted = set(hosts)
        return LoadResult([r for r in self.requests if r.host in wanted])

    def between(self, start: float, end: float) -> LoadResult:
        """The requests that ended in [start, end)."""
        return LoadResult([r for r in self.requests if start <= r.ended < end])


class Load:
    """`threads` client threads sending GETs to `endpoints` until stopped, or until
    `max_seconds` or `max_requests` (all threads together).

    Thread i sends to endpoints i, i+threads, i+2*threads, ... (modulo their number): with as
    many threads as endpoints each thread keeps to its own (a slow path and a fast one each
    get their steady client); with fewer, every endpoint still gets requests. Options:
    `keep_alive` False opens a connection per request (a cut request then fails alone, as
    a browser's would); `timeout` bounds each request (raise it for long ones); `release_in_body`
    reads the release from the body instead of the X-Otterstack-Release header; `served`
    says which statuses count as served (default: 200 only); `pause` is how long each client
    waits between its requests (PACED, or FULL_SPEED for the benchmarks)."""

    def __init__(self, endpoints: Endpoint | Sequence[Endpoint], *, threads: int = 4,
                 keep_alive: bool = True, timeout: float = 5, max_seconds: float = 900,
                 max_requests: int = 5_000_000, release_in_body: bool = False,
                 served: Callable[[int], bool] = only_200, pause: float = PACED):
        self.endpoints = [endpoints] if isinstance(endpoints, Endpoint) else list(endpoints)
        self.threads, self.keep_alive, self.timeout = threads, keep_alive, timeout
        self.release_in_body, self.served, self.pause = release_in_body, served, pause
        self.latest: dict[tuple[str, str], float] = {}  # (host, release) -> last served, live
        self.max_seconds = max_seconds
        self._deadline = 0.0  # set by start()
        self._limit = max(max_requests // threads, 1)
        self._stop = threading.Event()
        self._done: list[list[Request]] = [[] for _ in range(threads)]
        self._workers = [threading.Thread(target=self._work, args=(i,), daemon=True)
                         for i in range(threads)]

    def start(self) -> Load:
        self._deadline = time.monotonic() + self.max_seconds
        for worker in self._workers:
            worker.start()
        return self

    def __enter__(self) -> Load:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> LoadResult:
        """Stop the clients (a request in flight finishes or times out) and add it up."""
        self._stop.set()
        return self.wait(self.timeout + 30)

    def wait(self, timeout: float) -> LoadResult:
        """Until the clients stop by themselves (a burst: `max_requests` reached), bounded."""
        deadline = time.monotonic() + timeout
        for worker in self._workers:
            worker.join(timeout=max(deadline - time.monotonic(), 0.1))
        done = [r for requests in self._done for r in requests]
        return LoadResult(sorted(done, key=lambda r: r.ended))

    def wait_served(self, release: str, since: float, timeout: float = 30) -> bool:
        """Until every endpoint's host was served by `release` after `since` (bounded): a
        deploy counts as done for the next one only once the load has seen it."""
        hosts = {t.host for t in self.endpoints}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.latest.get((h, release), 0) >= since for h in hosts):
                return True
            time.sleep(0.1)
        return False

    def _work(self, index: int) -> None:
        done = self._done[index]
        conn: http.client.HTTPConnection | None = None
        opened_for: tuple | None = None  # what `conn` was opened to
        turn = index
        while (not self._stop.is_set() and time.monotonic() < self._deadline
               and len(done) < self._limit):
            endpoint = self.endpoints[turn % len(self.endpoints)]
            turn += self.threads
            to = (endpoint.address, endpoint.port, endpoint.tls, endpoint.tls and endpoint.host)
            if conn is not None and opened_for != to:
                conn.close()
                conn = None
            if conn is None:
                conn = connection(endpoint.port, endpoint.host, endpoint.tls, self.timeout,
                                  endpoint.address)
                opened_for = to
            request, keep = self._one(conn, endpoint)
            done.append(request)
            if request.ok:
                self.latest[(endpoint.host, request.release)] = request.ended
            if not (keep and self.keep_alive):
                conn.close()
                conn = None
            if self.pause:
                self._stop.wait(self.pause)
        if conn is not None:
            conn.close()

    def _one(self, conn: http.client.HTTPConnection, endpoint: Endpoint
             ) -> tuple[Request, bool]:
        """One GET on `conn`: the request, and whether the connection may be used again."""
        started = time.time()
        try:
            conn.request("GET", endpoint.path, headers={"Host": endpoint.host})
            resp = conn.getresponse()
            body = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            return Request(endpoint.host, endpoint.path, started, time.time(), 0, "-", False,
                           type(exc).__name__), False
        served = self.served(resp.status)
        if not self.release_in_body:
            release = resp.getheader(HEADER) or "-"
        else:  # a proxy's error page is no release
            release = body.decode(errors="replace").strip() if served else "-"
        keep = resp.getheader("Connection", "").lower() != "close"
        return Request(endpoint.host, endpoint.path, started, time.time(), resp.status,
                       sys.intern(release), served), keep
