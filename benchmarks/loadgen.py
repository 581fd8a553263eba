"""Steady HTTP load through Traefik, recording which release answered each request.

Used by the benchmarks and by the zero-downtime tests. Traffic goes to 127.0.0.1 unless an
`address` is given (the test Swarm cluster's manager, 10.99.0.1, a private address of this
machine); every loop is bounded in time and count and stops by itself.
"""

import http.client
import socket
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

HEADER = "X-Otterstack-Release"


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


@dataclass
class LoadResult:
    sent: int = 0
    failed: int = 0
    by_release: Counter = field(default_factory=Counter)
    failures: Counter = field(default_factory=Counter)
    timeline: list[tuple[float, str]] = field(default_factory=list)  # (time, release) per 200

    def merge(self, other: "LoadResult") -> None:
        self.sent += other.sent
        self.failed += other.failed
        self.by_release.update(other.by_release)
        self.failures.update(other.failures)
        self.timeline.extend(other.timeline)


class Load:
    """N client threads sending GETs with a Host header to `address`:`port` until stopped
    (or a hard limit); over HTTPS with the Host as SNI when `tls`."""

    def __init__(self, port: int, host: str, path: str = "/", threads: int = 4,
                 max_seconds: float = 900, max_requests: int = 5_000_000, tls: bool = False,
                 timeout: float = 5, address: str = "127.0.0.1"):
        self.port, self.host, self.path, self.address = port, host, path, address
        self.tls, self.timeout = tls, timeout
        self.threads = threads
        self.max_seconds, self.max_requests = max_seconds, max_requests
        self._stop = threading.Event()
        self._results = [LoadResult() for _ in range(threads)]
        self._workers = [threading.Thread(target=self._work, args=(r,), daemon=True)
                         for r in self._results]

    def __enter__(self) -> "Load":
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> LoadResult:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=30)
        total = LoadResult()
        for result in self._results:
            total.merge(result)
        total.timeline.sort()
        return total

    def _work(self, result: LoadResult) -> None:
        deadline = time.monotonic() + self.max_seconds
        limit = self.max_requests // self.threads
        conn: http.client.HTTPConnection | None = None
        while not self._stop.is_set() and time.monotonic() < deadline and result.sent < limit:
            result.sent += 1
            try:
                if conn is None:
                    conn = connection(self.port, self.host, self.tls, self.timeout,
                                      self.address)
                conn.request("GET", self.path, headers={"Host": self.host})
                resp = conn.getresponse()
                resp.read()
                release = resp.getheader(HEADER) or "-"
                if resp.status == 200:
                    result.by_release[release] += 1
                    result.timeline.append((time.time(), release))
                else:
                    result.failed += 1
                    result.failures[f"HTTP {resp.status} from {release}"] += 1
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as exc:
                result.failed += 1
                result.failures[type(exc).__name__] += 1
                if conn is not None:
                    conn.close()
                conn = None
