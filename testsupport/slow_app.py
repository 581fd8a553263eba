"""An app that exits at once on SIGTERM, with slow endpoints, and the load that times them.

busybox httpd behind `init: true` (docker-init forwards SIGTERM, httpd has no handler, so it
dies at once, like many real servers without a graceful shutdown). /cgi-bin/slow answers after
2 s, /cgi-bin/slower after 12 s (in flight in the old release when a deploy begun as it is sent
switches, even under load; short enough to be waited out often). Used by benchmarks/drain.py
and tests/integration/test_draining.py.
Traffic goes only to 127.0.0.1; the load is bounded and stops by itself.
"""

from testsupport.load import Endpoint, Load

HOST = "slow.localhost"
SLOW, SLOWER = "/cgi-bin/slow", "/cgi-bin/slower"
SECONDS = {SLOW: 2, SLOWER: 12}

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


def load(port: int, paths: list[str], max_requests: int = 5_000_000) -> Load:
    """One client thread per path in `paths` (started by `with` or `.start()`), each
    sending its path again and again through Traefik on `port` (or `max_requests` in all:
    a burst), a fresh connection per request so a cut one fails by itself; 60 s allowed per
    request, the longest endpoint's 12 s with room to spare."""
    return Load([Endpoint(port, HOST, path) for path in paths], threads=len(paths),
                keep_alive=False, timeout=60, max_seconds=1800, max_requests=max_requests)
