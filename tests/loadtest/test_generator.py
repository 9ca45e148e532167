"""The generator against real servers: counts add up, latency is measured from the intended send time.

Low rates and short runs: these check the measurement, not performance (no timing assertions beyond the
known delay injected by the test server, which the generator must see).
"""

from __future__ import annotations

import socket
import threading

import pytest

from loadtest.clients import Scheme, Target
from loadtest.processes import Server, start_baseline
from loadtest.runner import RunSpec
from loadtest.session import GeneratorFailed, run_load
from loadtest.workloads import KeySpec

KEYS = KeySpec(count=1_000)


def _spec(scheme: Scheme, server: Server, **kw: object) -> RunSpec:
    options: dict[str, object] = {"rate": 200.0, "duration_s": 1.0, "keys": KEYS, "connections": 2}
    options.update(kw)
    return RunSpec(Target(scheme, server.host, server.ports["port"]), **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(("scheme", "fixture", "code"), [
    ("udp", "udp_echo", "RC 1 SUCCESS"),
    ("tcp", "tcp_echo", "RC 1 SUCCESS"),
    ("http", "http_hello", "HTTP 200"),
])
def test_every_request_is_answered_once_against_a_baseline(
    scheme: Scheme, fixture: str, code: str, request: pytest.FixtureRequest
) -> None:
    server: Server = request.getfixturevalue(fixture)
    result = run_load(_spec(scheme, server))
    t = result.tally
    assert t.sent == 200
    assert result.consistent
    assert (t.answered, t.errors, t.timeouts) == (200, 0, 0)
    assert t.codes == {code: 200}
    assert t.histogram.count == 200
    assert sum(s.sent for s in t.timeline) == 200
    assert sum(s.answered for s in t.timeline) == 200


def test_processes_split_the_rate_and_their_histograms_merge(udp_echo: Server) -> None:
    result = run_load(_spec("udp", udp_echo, rate=300.0, processes=3, connections=3))
    t = result.tally
    assert t.sent == 300
    assert t.answered + t.errors + t.timeouts == 300
    assert t.histogram.count == t.answered


@pytest.mark.parametrize("scheme", ["udp", "tcp", "http"])
def test_latency_includes_a_known_server_delay(scheme: Scheme) -> None:
    kind = {"udp": "udp-echo", "tcp": "tcp-echo", "http": "http-hello"}[scheme]
    server = start_baseline(kind, delay_ms=20.0)  # type: ignore[arg-type]
    try:
        result = run_load(_spec(scheme, server, rate=100.0))
    finally:
        server.stop()
    s = result.summary
    assert result.tally.answered == 100
    # Every answer is held back 20 ms, so nothing can be faster (less the server timers' 1 ms grain); the
    # median sits above 20 ms, and well under the 2x a double-counting bug would give, even on a busy machine.
    assert result.tally.histogram.min_us >= 18_500
    assert 19_500 <= s.p50_us < 60_000


# A window of 4 on each of two connections against answers held 200 ms. The TCP echo holds them side by
# side: 8 in flight per 200 ms, ~40 in the second, plus the last windows' drain. aiohttp answers a
# connection's pipelined requests in order: one per 200 ms per connection, and a request may wait behind the
# 3 others of its window.
@pytest.mark.parametrize(("scheme", "kind", "answered", "max_latency_ms"), [
    ("tcp", "tcp-echo", range(16, 65), 600),
    ("http", "http-hello", range(6, 33), 1_200),
])
def test_a_window_sheds_at_the_client_instead_of_queueing(
    scheme: Scheme, kind: str, answered: range, max_latency_ms: int
) -> None:
    """Offered far more than the window carries: the rest is shed at once and counted as failed, and the
    answers that come are prompt: no queue builds up behind the window."""
    server = start_baseline(kind, delay_ms=200.0)  # type: ignore[arg-type]
    try:
        result = run_load(_spec(scheme, server, rate=200.0, duration_s=1.0, window=4))
    finally:
        server.stop()
    t = result.tally
    assert result.consistent
    assert t.timeouts == 0
    assert t.answered in answered
    assert t.error_kinds == {"in-flight-cap": 200 - t.answered}
    assert t.histogram.max_us < max_latency_ms * 1_000


def test_a_window_counts_per_connection_and_a_negative_one_is_refused() -> None:
    target = Target("tcp", "127.0.0.1", 1)
    assert RunSpec(target, 1.0, 1.0, connections=16, processes=2, window=256).in_flight_cap() == 256 * 8
    assert RunSpec(target, 1.0, 1.0, window=256, max_in_flight=100).in_flight_cap() == 100
    with pytest.raises(ValueError, match="window"):
        RunSpec(target, 1.0, 1.0, window=-1)


def test_a_silent_udp_target_gives_timeouts_that_still_add_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:  # bound, never answers
        sink.bind(("127.0.0.1", 0))
        port = sink.getsockname()[1]
        spec = RunSpec(Target("udp", "127.0.0.1", port), 100.0, 0.5, keys=KEYS, timeout_s=0.3)
        result = run_load(spec)
    t = result.tally
    assert t.sent == 50
    assert (t.answered, t.timeouts) == (0, 50)
    assert result.consistent


def test_an_unreachable_tcp_target_fails_the_run() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: connections are refused
        with pytest.raises(GeneratorFailed, match=r"Connection|refused|Errno"):
            run_load(RunSpec(Target("tcp", "127.0.0.1", port), 100.0, 0.5, keys=KEYS))


@pytest.mark.parametrize("text", ["udp://127.0.0.1:2641", "tcp://[::1]:2641", "http://localhost:8000"])
def test_targets_parse_and_print_back(text: str) -> None:
    assert str(Target.parse(text)) == text


@pytest.mark.parametrize("text", ["127.0.0.1:2641", "ftp://h:1", "udp://h:port"])
def test_bad_targets_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"target|scheme"):
        Target.parse(text)


def test_a_malformed_reply_found_by_the_sampled_decode_counts_as_an_error() -> None:
    """A server whose answers have a valid envelope and RC but a broken body (value count with no values)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(0.2)
        port = server.getsockname()[1]
        stop = threading.Event()

        def answer() -> None:
            while not stop.is_set():
                try:
                    request, peer = server.recvfrom(2048)
                except TimeoutError:
                    continue
                body = b"\x00\x00\x00\x00" + b"\x00\x00\x00\x05"  # empty handle, 5 values, none follow
                reply = bytearray(request[:44] + body + b"\x00\x00\x00\x00")
                reply[16:20] = (len(reply) - 20).to_bytes(4, "big")
                reply[24:28] = (1).to_bytes(4, "big")
                reply[40:44] = len(body).to_bytes(4, "big")
                server.sendto(bytes(reply), peer)

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        try:
            result = run_load(RunSpec(Target("udp", "127.0.0.1", port), 100.0, 0.5, keys=KEYS, connections=1))
        finally:
            stop.set()
            thread.join(5)
    t = result.tally
    assert t.sent == 50
    assert t.error_kinds == {"malformed-response": 1}  # the first reply is always decoded in full
    assert (t.answered, t.errors) == (49, 1)
