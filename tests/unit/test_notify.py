"""Deploy notifications: real HTTP to a local server and real commands, no mocks.

Only 127.0.0.1 is ever contacted; proxy variables are cleared so requests cannot leave the host.
"""

import calendar
import json
import os
import shlex
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from otterstack_hooks.adapters.local import notify
from otterstack_hooks.adapters.local.secrets import redactor
from otterstack_hooks.core.errors import OtterError
from otterstack_hooks.rules.notify_target import EVENTS, build_event

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch):
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


class Recorder(BaseHTTPRequestHandler):
    """Records each request on the server; answers with `server.status` (and `server.location`)."""

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.requests.append((self.command, self.path, dict(self.headers.items()), body))
        if self.server.stall.is_set():
            self.server.release.wait(10)
        self.send_response(self.server.status)
        if self.server.location:
            self.send_header("Location", self.server.location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_GET = _handle

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    srv.daemon_threads = True
    srv.requests, srv.status, srv.location = [], 200, ""
    srv.stall, srv.release = threading.Event(), threading.Event()
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/hooks/deploy?token=abc"
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def event(kind="succeeded", **extra):
    fields = {"app": "myapp", "release": "r42", "sha": SHA, "status": "ok", "when": 0.0}
    fields.update(extra)
    return build_event(kind, **fields)


def cmd(*args) -> str:
    return "cmd:" + shlex.join([sys.executable, *map(str, args)])


# --- validate_target ---------------------------------------------------------------------------

@pytest.mark.parametrize("target", [
    "", "https://hooks.example/x", "http://127.0.0.1:8080/x?token=a%20b",
    f"cmd:{sys.executable} /x.py", "cmd:/usr/local/bin/notify --channel 'ops team'",
])
def test_accepts_targets(target):
    assert notify.validate_target(target) == target


@pytest.mark.parametrize("target", [
    "ftp://x", "cmd:relative", "cmd:", "cmd:   ", "cmd:./notify.sh", "cmd:/bin/x 'unclosed",
    "hooks.example/x", "http://", "https:///path", "http://host:99999/", "http://[::1/",
    "https://hooks.example/a b", "https://hooks.example/x\n", "cmd:/bin/x\x00", "file:///etc/passwd",
])
def test_rejects_targets(target):
    with pytest.raises(OtterError):
        notify.validate_target(target)


def test_relative_command_message_says_what_to_do():
    with pytest.raises(OtterError, match="absolute path"):
        notify.validate_target("cmd:relative --flag")


# --- build_event -------------------------------------------------------------------------------

def test_event_document():
    doc = build_event("failed", "myapp", "r42", SHA, "error", reason="health check failed",
                      duration=12.34567, serving="r41", when=86400 + 3661.9, pushed_by="alice")
    assert doc == {
        "event": "failed", "app": "myapp", "release": "r42", "sha": SHA, "short_sha": "0123456",
        "status": "error", "reason": "health check failed", "duration": 12.346,
        "serving": "r41", "pushed_by": "alice", "time": "1970-01-02T01:01:01Z",
        "source": "otterstack", "preview": None,
    }
    assert json.loads(json.dumps(doc)) == doc


def test_a_previews_event_names_it_and_removed_is_an_event():
    preview = {"branch": "feature/X", "slug": "feature-x-1a2b3c4d",
               "url": "https://feature-x-1a2b3c4d.preview.example.com/"}
    doc = build_event("removed", "myapp", "r7", SHA, "removed", "branch feature/X deleted",
                      when=0.0, preview=preview)
    assert doc["preview"] == preview and doc["event"] == "removed"
    assert json.loads(json.dumps(doc))["preview"] == preview


def test_event_defaults_and_unknown_kind():
    doc = build_event("started", "myapp", "r1", SHA, "running", when=1_000_000_000.7)
    assert doc["duration"] is None and doc["reason"] == "" and doc["serving"] == ""
    stamp = time.strptime(doc["time"], "%Y-%m-%dT%H:%M:%SZ")
    assert calendar.timegm(stamp) == 1_000_000_000
    assert set(EVENTS) == {"started", "succeeded", "failed", "rolled_back", "watch_failed",
                           "removed"}
    with pytest.raises(ValueError):
        build_event("exploded", "myapp", "r1", SHA, "x", when=0.0)


# --- HTTP ----------------------------------------------------------------------------------------

def test_http_post_delivers_json(server):
    doc = event("rolled_back", reason="new release unhealthy", duration=3.5, serving="r41")
    assert notify.send(server.url, doc) is None
    [(method, path, headers, body)] = server.requests
    assert method == "POST" and path == "/hooks/deploy?token=abc"
    headers = {k.lower(): v for k, v in headers.items()}
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == "otterstack"
    sent = json.loads(body.decode("utf-8"))
    assert sent == doc
    assert sent["event"] == "rolled_back" and sent["short_sha"] == "0123456"
    assert sent["source"] == "otterstack" and sent["serving"] == "r41"


def test_any_2xx_is_success(server):
    server.status = 204
    assert notify.send(server.url, event()) is None


def test_http_500_is_reported_not_raised(server):
    server.status = 500
    error = notify.send(server.url, event("failed"))
    assert error is not None and "500" in error
    assert "\n" not in error
    assert "token=abc" not in error  # webhook paths and queries often hold tokens
    assert len(server.requests) == 1


def test_redirect_is_not_followed(server):
    server.status, server.location = 302, "http://127.0.0.1:1/elsewhere"
    error = notify.send(server.url, event())
    assert error is not None and "302" in error
    assert [r[0] for r in server.requests] == ["POST"]


def test_closed_port_is_reported():
    with socket.socket() as sock:  # bound but never listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        error = notify.send(f"http://127.0.0.1:{port}/x", event(), timeout=2)
    assert error is not None and f"127.0.0.1:{port}" in error
    assert "refused" in error.lower()


def test_stalled_server_times_out_quickly(server):
    server.stall.set()
    start = time.monotonic()
    error = notify.send(server.url, event(), timeout=0.5)
    assert time.monotonic() - start < 3
    assert error is not None and "timed out" in error


def test_secret_is_redacted_from_http_body(server):
    secret = 's3cr3t-"tok\\en'  # quote and backslash change under JSON escaping
    doc = event("failed", reason=f"login with {secret} failed; plain s3cr3t-x stays")
    redact = redactor({"TOKEN": secret, "OTHER": "hunter2-pass"})
    doc["serving"] = "hunter2-pass"
    assert notify.send(server.url, doc, redact=redact) is None
    body = server.requests[0][3].decode("utf-8")
    assert secret not in body and "hunter2-pass" not in body
    assert json.dumps(secret)[1:-1] not in body
    sent = json.loads(body)
    assert sent["reason"] == "login with *** failed; plain s3cr3t-x stays"
    assert sent["serving"] == "***"


def test_invalid_target_is_reported_not_raised():
    error = notify.send("ftp://127.0.0.1/x", event())
    assert error is not None and "http" in error
    assert notify.send("", event()) is None


# --- commands ------------------------------------------------------------------------------------

RECORD = """\
import json, os, sys
data = sys.stdin.read()
with open(sys.argv[1], "w") as out:
    out.write(data)
with open(sys.argv[1] + ".env", "w") as out:
    json.dump(dict(os.environ), out)
"""


def test_command_gets_event_on_stdin_and_env(tmp_path, monkeypatch):
    script = tmp_path / "record.py"
    script.write_text(RECORD)
    out = tmp_path / "out with space.json"
    monkeypatch.setenv("OTTERSTACK_TEST_LEAK", "do-not-pass")
    doc = event("started", status="running")
    assert notify.send(cmd(script, out), doc) is None
    assert json.loads(out.read_text()) == doc
    env = json.loads((tmp_path / "out with space.json.env").read_text())
    assert env["OTTERSTACK_EVENT"] == "started"
    assert env["OTTERSTACK_APP"] == "myapp"
    assert "OTTERSTACK_TEST_LEAK" not in env
    assert env.get("PATH") == os.environ.get("PATH")


def test_command_input_is_redacted(tmp_path):
    script = tmp_path / "record.py"
    script.write_text(RECORD)
    out = tmp_path / "out.json"
    doc = event("failed", reason="token=Zq9-secret-Zq9")
    assert notify.send(cmd(script, out), doc, redact=redactor({"T": "Zq9-secret-Zq9"})) is None
    assert "Zq9-secret-Zq9" not in out.read_text()
    assert json.loads(out.read_text())["reason"] == "token=***"


def test_command_exit_code_and_first_stderr_line(tmp_path):
    script = tmp_path / "fail.py"
    script.write_text("import sys\nsys.stdin.read()\n"
                      "sys.stderr.write('\\nslack said no: key Zq9-secret-Zq9\\nsecond line\\n')\n"
                      "sys.exit(3)\n")
    error = notify.send(cmd(script), event(), redact=redactor({"T": "Zq9-secret-Zq9"}))
    assert error is not None and "3" in error
    assert "exited with status 3" in error
    assert "slack said no" in error and "second line" not in error
    assert "Zq9-secret-Zq9" not in error and "***" in error


def test_command_that_does_not_read_stdin_still_succeeds(tmp_path):
    script = tmp_path / "quiet.py"
    script.write_text("pass\n")
    assert notify.send(cmd(script), event()) is None


def test_missing_command_is_reported(tmp_path):
    error = notify.send(f"cmd:{tmp_path}/does-not-exist --x", event())
    assert error is not None and "does-not-exist" in error and "could not start" in error


def test_slow_command_is_killed(tmp_path):
    script = tmp_path / "slow.py"
    script.write_text("import time\ntime.sleep(30)\n")
    start = time.monotonic()
    error = notify.send(cmd(script), event(), timeout=0.5)
    assert time.monotonic() - start < 5
    assert error is not None and "timed out" in error


def test_background_child_holding_output_does_not_hang(tmp_path):
    script = tmp_path / "spawn.py"
    script.write_text("import subprocess, sys\n"
                      "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])\n")
    start = time.monotonic()
    notify.send(cmd(script), event(), timeout=0.5)
    assert time.monotonic() - start < 5


def test_whole_json_text_is_redacted(server):
    doc = event()
    doc["extra"] = {"pin": 48213377}  # not a string value: only the text-level pass sees it
    assert notify.send(server.url, doc, redact=redactor({"PIN": "48213377"})) is None
    body = server.requests[0][3].decode("utf-8")
    assert "48213377" not in body and "***" in body
