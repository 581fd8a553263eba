"""An app that exits at once on SIGTERM, with slow endpoints, and clients that time them.

busybox httpd behind `init: true` (docker-init forwards SIGTERM, httpd has no handler, so it
dies at once, like many real servers without a graceful shutdown). /cgi-bin/slow answers after
2 s, /cgi-bin/slower after 20 s. Used by benchmarks/drain.py and tests/integration/test_draining.py.
Traffic goes only to 127.0.0.1; every loop is bounded and stops by itself.
"""

import http.client
import threading
import time
from dataclasses import dataclass

HOST = "slow.localhost"
HEADER = "X-Otterstack-Release"
SLOW, SLOWER = "/cgi-bin/slow", "/cgi-bin/slower"
SECONDS = {SLOW: 2, SLOWER: 20}

DOCKERFILE = """\
FROM busybox
COPY www /www
RUN chmod 755 /www/cgi-bin/slow /www/cgi-bin/slower
EXPOSE 8000
HEALTHCHECK --interval=1s --timeout=2s --retries=3 \\
  CMD wget -q -O /dev/null http://127.0.0.1:8000/health || exit 1
CMD ["httpd", "-f", "-p", "8000", "-h", "/www"]
"""

COMPOSE = f"""\
services:
  web:
    build: .
    init: true
    labels:
      traefik.enable: "true"
      traefik.http.routers.slow.rule: Host(`{HOST}`)
      traefik.http.routers.slow.entrypoints: web
      traefik.http.services.slow.loadbalancer.server.port: "8000"
"""


def cgi(seconds: int) -> str:
    return (f"#!/bin/sh\nsleep {seconds}\n"
            "printf 'Content-Type: text/plain\\r\\n\\r\\ndone\\n'\n")


def files(label: str = "v0") -> dict[str, str]:
    return {
        "Dockerfile": DOCKERFILE,
        "compose.yaml": COMPOSE,
        "www/index.html": f"{label}\n",
        "www/health": "ok\n",
        "www/cgi-bin/slow": cgi(SECONDS[SLOW]),
        "www/cgi-bin/slower": cgi(SECONDS[SLOWER]),
    }


@dataclass(frozen=True)
class Request:
    path: str
    started: float  # time.time()
    ended: float
    status: int  # 0: no HTTP answer (connection error, timeout)
    release: str  # the X-Otterstack-Release header, "-" without one
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 200


def get(port: int, path: str, timeout: float = 60) -> Request:
    """One GET through Traefik with a fresh connection, timed."""
    started = time.time()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": HOST})
        resp = conn.getresponse()
        resp.read()
        return Request(path, started, time.time(), resp.status, resp.getheader(HEADER) or "-")
    except (OSError, http.client.HTTPException) as exc:
        return Request(path, started, time.time(), 0, "-", type(exc).__name__)
    finally:
        conn.close()


class Clients:
    """One thread per path in `paths`, each sending its path again and again until stopped."""

    def __init__(self, port: int, paths: list[str], max_seconds: float = 1800):
        self.port, self.max_seconds = port, max_seconds
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._work, args=(p,), daemon=True)
                         for p in paths]

    def __enter__(self) -> "Clients":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> list[Request]:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=90)
        return sorted(self.requests, key=lambda r: r.started)

    def _work(self, path: str) -> None:
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            request = get(self.port, path)
            with self._lock:
                self.requests.append(request)


class Burst:
    """`count` requests to `path` sent at once (each on its own thread); `wait()` collects."""

    def __init__(self, port: int, path: str, count: int):
        self.results: list[Request] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._one, args=(port, path), daemon=True)
                         for _ in range(count)]
        for thread in self._threads:
            thread.start()

    def _one(self, port: int, path: str) -> None:
        request = get(port, path)
        with self._lock:
            self.results.append(request)

    def wait(self, timeout: float = 90) -> list[Request]:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(timeout=max(deadline - time.monotonic(), 0.1))
        return list(self.results)
