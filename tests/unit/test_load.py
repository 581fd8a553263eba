"""testsupport/load.py against a small HTTP server on 127.0.0.1: the load generator every
zero-downtime test and benchmark trusts must count what the server did, no more, no less."""

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from testsupport.load import FULL_SPEED, HEADER, Endpoint, Load


class Handler(BaseHTTPRequestHandler):
    """/ answers with the server's `release` (header and body, or `status` if set);
    /slow the same after 0.3 s. Counts connections, to see keep-alive."""

    protocol_version = "HTTP/1.1"
    server: "Server"

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        if self.path == "/slow":
            time.sleep(0.3)
        body = f"{self.server.release} via {self.headers['Host']}\n".encode()
        self.send_response(self.server.status)
        self.send_header(HEADER, self.server.release)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    release, status, connections = "r1", 200, 0
    lock = threading.Lock()


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_keep_alive_reuses_connections_and_every_target_gets_requests(server):
    port = server.server_address[1]
    targets = [Endpoint(port, "a.localhost"), Endpoint(port, "b.localhost"),
               Endpoint(port, "c.localhost")]
    result = Load(targets, threads=2, max_requests=60).start().wait(10)
    assert result.sent == 60 and result.failed == 0
    assert result.by_release == {"r1": 60}
    assert {r.host for r in result.requests} == {"a.localhost", "b.localhost", "c.localhost"}
    assert server.connections == 2


def test_without_keep_alive_each_request_has_its_own_connection(server):
    result = Load(Endpoint(server.server_address[1], "a.localhost"), threads=2,
                  keep_alive=False, max_requests=10).start().wait(10)
    assert result.sent == 10 and server.connections == 10


def test_failures_are_kept_with_their_time_and_the_release_from_the_body(server):
    target = Endpoint(server.server_address[1], "a.localhost")
    with Load(target, threads=2, release_in_body=True) as load:
        time.sleep(0.2)
        server.status = 502
        broke = time.time()
        time.sleep(0.2)
        server.status, server.release = 200, "r2"
        mended = time.time()
        assert load.wait_served("r2 via a.localhost", mended, timeout=5)
        result = load.stop()
    assert result.failed > 0
    assert set(result.failures) == {"HTTP 502"}  # a proxy error page is no release
    assert all(broke <= when <= mended + 0.1 for when, _ in result.failure_timeline)
    assert set(result.by_release) == {"r1 via a.localhost", "r2 via a.localhost"}
    first = result.first("r2 via a.localhost")
    assert first is not None and first >= mended - 0.1
    assert result.between(broke, mended + 0.1).failed == result.failed


def test_a_burst_sends_one_long_request_per_thread_at_once(server):
    burst = Load(Endpoint(server.server_address[1], "a.localhost", "/slow"), threads=3,
                 keep_alive=False, timeout=10, max_requests=3).start()
    result = burst.wait(10)
    assert [r.ok for r in result.requests] == [True, True, True]
    assert all(r.ended - r.started >= 0.3 for r in result.requests)
    assert max(r.started for r in result.requests) - min(r.started for r in result.requests) < 0.25


def test_a_refused_connection_is_a_failed_request_not_a_crash():
    with Load(Endpoint(free_closed_port(), "a.localhost"), threads=1, max_requests=3) as load:
        result = load.wait(5)
    assert result.sent == 3 and result.failed == 3
    assert set(result.failures) == {"ConnectionRefusedError"}


def free_closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_each_client_waits_its_pause_between_requests_and_a_stop_ends_the_wait(server):
    target = Endpoint(server.server_address[1], "a.localhost")
    with Load(target, threads=2, pause=0.2) as load:
        time.sleep(1)
    paced = load.stop()
    assert 2 <= paced.sent <= 2 * 6, paced  # 1 s at 0.2 s apart, per client
    full = Load(target, threads=2, pause=FULL_SPEED, max_seconds=1).start().wait(5)
    assert full.sent > 4 * paced.sent, (full, paced)
    waiting = Load(target, threads=1, pause=30).start()
    time.sleep(0.5)  # its first request is done: it waits out its pause
    stopping = time.monotonic()
    waiting.stop()
    assert time.monotonic() - stopping < 10  # not the 30 s pause
