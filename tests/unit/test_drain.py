"""Draining: what counts as a request in flight, and when the wait ends."""

from hypothesis import given
from hypothesis import strategies as st

from otterstack_hooks.adapters.docker import drain
from otterstack_hooks.adapters.docker.drain import (
    Action,
    DrainMethod,
    TcpSocket,
    count_in_flight,
    is_loopback,
    next_action,
    parse_proc_net_tcp,
    verdict_text,
)

# Read from a busybox httpd container on :8000 (0x1F40) with one request from Traefik
# (172.19.0.3) in flight, one finished (TIME_WAIT), a health check over loopback, and the
# client side of an outgoing connection (to a database on 5432).
TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1
   1: 020013AC:1F40 030013AC:9F22 01 00000000:00000000 00:00000000 00000000     0        0 2 1
   2: 020013AC:1F40 030013AC:9F24 06 00000000:00000000 03:000009D0 00000000     0        0 0 3
   3: 0100007F:1F40 0100007F:A000 01 00000000:00000000 00:00000000 00000000     0        0 3 1
   4: 020013AC:B000 040013AC:1538 01 00000000:00000000 00:00000000 00000000     0        0 4 1
"""
TCP6 = """\
  sl  local_address                         remote_address                        st tx_queue
   0: 00000000000000000000000000000000:1F40 00000000000000000000000000000000:0000 0A 0:0
   1: 0000000000000000FFFF0000020013AC:1F40 0000000000000000FFFF0000030013AC:9F30 01 0:0
   2: 0000000000000000FFFF0000020013AC:1F40 0000000000000000FFFF0000030013AC:9F31 01 0:0
   3: 00000000000000000000000001000000:1F40 00000000000000000000000001000000:A001 01 0:0
   4: garbage line
"""


def test_parse_reads_ports_addresses_and_states():
    sockets = parse_proc_net_tcp(TCP)
    assert sockets[0] == TcpSocket(8000, "00000000", drain.TCP_LISTEN)
    assert sockets[1] == TcpSocket(8000, "030013AC", drain.TCP_ESTABLISHED)
    assert [s.state for s in sockets] == [0x0A, 0x01, 0x06, 0x01, 0x01]
    assert len(parse_proc_net_tcp(TCP6)) == 4  # the garbage line is skipped


def test_only_established_connections_to_a_listening_port_from_outside_count():
    assert count_in_flight(parse_proc_net_tcp(TCP)) == 1
    assert count_in_flight(parse_proc_net_tcp(TCP6)) == 2
    both = parse_proc_net_tcp(TCP) + parse_proc_net_tcp(TCP6)
    assert count_in_flight(both) == 3


def test_a_server_listening_on_ipv6_only_still_counts_ipv4_clients():
    listen6 = parse_proc_net_tcp(TCP6)[:1]
    established4 = parse_proc_net_tcp(TCP)[1:2]
    assert count_in_flight(listen6 + established4) == 1


def test_loopback_in_every_spelling():
    assert is_loopback("0100007F") and is_loopback("0500007F")
    assert is_loopback("00000000000000000000000001000000")
    assert is_loopback("0000000000000000FFFF00000100007F")
    assert not is_loopback("030013AC")
    assert not is_loopback("0000000000000000FFFF0000030013AC")
    assert not is_loopback("20010DB8000000000000000000000001")


def test_the_wait_ends_only_on_confirmed_zero_or_the_timeout():
    assert next_action(0, 1, 0.1, 30) is Action.WAIT  # one zero may be a race
    assert next_action(0, 2, 0.3, 30) is Action.DRAINED
    assert next_action(3, 0, 10, 30) is Action.WAIT
    assert next_action(3, 0, 30, 30) is Action.TIMED_OUT
    assert next_action(0, 1, 30, 30) is Action.DRAINED
    assert next_action(None, 0, 29.9, 30) is Action.WAIT  # fixed delay
    assert next_action(None, 0, 30, 30) is Action.TIMED_OUT
    assert next_action(2, 0, 0, 0) is Action.TIMED_OUT  # drain_timeout 0: stop at once


@given(st.one_of(st.none(), st.integers(0, 50)), st.integers(0, 5),
       st.floats(0, 100), st.floats(0, 100))
def test_the_wait_never_outlives_the_timeout(count, zeros, elapsed, timeout):
    action = next_action(count, zeros, elapsed, timeout)
    if elapsed >= timeout:
        assert action is not Action.WAIT
    if action is Action.TIMED_OUT:
        assert count != 0


@given(st.lists(st.tuples(st.integers(1, 65535), st.sampled_from(["0100007F", "030013AC"]),
                          st.sampled_from([0x01, 0x06, 0x08, 0x0A]))))
def test_in_flight_is_at_most_the_established_connections(rows):
    sockets = [TcpSocket(*row) for row in rows]
    established = sum(1 for s in sockets if s.state == drain.TCP_ESTABLISHED)
    assert 0 <= count_in_flight(sockets) <= established


def _clock(monkeypatch):
    fake = {"t": 0.0}
    monkeypatch.setattr(drain.time, "monotonic", lambda: fake["t"])
    monkeypatch.setattr(drain.time, "sleep", lambda s: fake.__setitem__("t", fake["t"] + s))


def test_drain_reports_what_it_saw_and_how(monkeypatch):
    _clock(monkeypatch)
    counts = iter([3, 3, 2, 0, 0, 0])
    lines: list[str] = []
    report = drain.drain(None, "app-r1", "r1", 30, lines.append, counter=lambda: next(counts))
    assert report.method is DrainMethod.CONNECTIONS
    assert report.in_flight == 3 and report.cut == 0
    assert report.seconds == 4 * drain.POLL_SECONDS
    assert lines[0].startswith("draining r1: 3 requests in flight (counted as established")
    assert lines[1] == "r1: 2 requests in flight"
    assert verdict_text(report) == "drained in 1.0 s"


def test_a_count_lost_mid_drain_keeps_the_last_one(monkeypatch):
    _clock(monkeypatch)
    counts = iter([2, None, None, 1, 0, None, 0])
    report = drain.drain(None, "app-r1", "r1", 30, lambda _: None,
                         counter=lambda: next(counts))
    assert report.method is DrainMethod.CONNECTIONS and report.cut == 0
    assert report.seconds == 6 * drain.POLL_SECONDS


def test_drain_timeout_reports_the_requests_it_cuts(monkeypatch):
    _clock(monkeypatch)
    lines: list[str] = []
    report = drain.drain(None, "app-r1", "r1", 2, lines.append, counter=lambda: 1)
    assert report.cut == 1 and 2 <= report.seconds < 2 + drain.POLL_SECONDS
    assert verdict_text(report) == "drain timeout: 1 cut (after 2.0 s)"


def test_uncountable_release_waits_the_fixed_delay(monkeypatch):
    _clock(monkeypatch)
    lines: list[str] = []
    report = drain.drain(None, "app-r1", "r1", 5, lines.append, counter=lambda: None)
    assert report.method is DrainMethod.FIXED_DELAY and report.cut == 0
    assert 5 <= report.seconds < 5.3
    assert "unknown requests in flight (cannot count" in lines[0]
    assert verdict_text(report) == "waited 5.0 s (fixed delay)"


def test_a_paused_container_counts_and_a_stopped_one_does_not(monkeypatch):
    monkeypatch.setattr(drain, "_namespace_in_flight", lambda pid, cid: (f"ns{pid}", 2))
    containers = [{"Id": "a", "State": {"Status": "paused", "Pid": 10}},
                  {"Id": "b", "State": {"Status": "running", "Pid": 11}},
                  {"Id": "c", "State": {"Status": "exited", "Pid": 0}}]
    assert drain._in_flight(containers) == 4
