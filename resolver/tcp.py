"""Handle protocol over TCP: one ``asyncio.Protocol`` per connection (handle-protocol.md §1.3).

Requests are framed by MessageLength and may be pipelined; cache hits are answered inside ``data_received``
(all of one read's answers in a single write), misses are answered by RequestId from the callback of their
storage read (what one read answers for a connection leaves in one write). At ``max_in_flight`` unanswered
requests the connection stops reading until they drain, and answered-but-unwritten bytes count too: while the
transport's write buffer is over its high-water mark (``pause_writing``) or one read's answers reach it, the
connection stops reading, so a client that pipelines and never reads cannot grow the worker's memory (STYLE
#12; the client's own send blocks instead).
A framing error is answered with RC 4 and closes the connection, as the reference server does.

Connections are bounded like the HTTP listeners' (resolver/http/conn_guard.py): past ``max_connections`` open
ones per worker, or ``max_per_address`` from one client address, a new connection is closed at once (a flood
of idle connections must not take the descriptors the worker needs for Redis and its other listeners, nor
one address every slot), and a message must arrive whole within
``message_timeout_s`` of its first byte: a client dribbling a byte at a time (slowloris) is closed, though
each byte would keep the idle timeout away.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from time import perf_counter
from typing import Final, cast

from protocol.errors import ProtocolError
from protocol.framing import NEED_DATA, TcpFramer
from resolver.address_counts import AddressCounts, peer_address
from resolver.handler import HandleResponder, Pending, framing_error, internal_error
from resolver.logs import AccessLog, LogThrottle, log_handle_access
from resolver.metrics import TransportStats

log: Final = logging.getLogger(__name__)
# Answers buffered per connection before reading stops (~60 large replies), and where it resumes.
WRITE_HIGH_BYTES: Final = 256 * 1024
WRITE_LOW_BYTES: Final = 64 * 1024
_REFUSED_LOG: Final = LogThrottle()  # a connection flood logs one line per interval per worker


class ConnectionTracker:
    """The worker's open TCP connections, so a graceful stop can wait for their in-flight requests."""

    def __init__(self) -> None:
        self.connections: set[HandleTcpProtocol] = set()
        self.per_address = AddressCounts()  # the cap is each connection's (max_per_address)
        self.idle = asyncio.Event()
        self.idle.set()

    def add(self, connection: HandleTcpProtocol, address: str) -> None:
        self.connections.add(connection)
        self.per_address.add(address)

    def discard(self, connection: HandleTcpProtocol, address: str) -> None:
        if connection in self.connections:
            self.connections.discard(connection)
            self.per_address.discard(address)

    def busy(self) -> bool:
        return any(c.in_flight for c in self.connections)

    def changed(self) -> None:
        if self.busy():
            self.idle.clear()
        else:
            self.idle.set()


class HandleTcpProtocol(asyncio.Protocol):
    """One client connection."""

    def __init__(
        self, responder: HandleResponder, tracker: ConnectionTracker, *, max_in_flight: int,
        idle_timeout_s: float, max_message_bytes: int, stats: TransportStats | None = None,
        access: AccessLog | None = None, max_connections: int = 0, max_per_address: int = 0,
        message_timeout_s: float = 0.0,
    ) -> None:
        self.responder = responder
        self.stats = stats  # ops work: None when metrics are off
        self.access = access  # ops work: None when the access log is off
        self.tracker = tracker
        self.max_in_flight = max_in_flight
        self.idle_timeout_s = idle_timeout_s
        self.max_connections = max_connections  # 0: no cap
        self.max_per_address = max_per_address  # 0: no cap
        self.message_timeout_s = message_timeout_s  # 0: no limit
        self.framer = TcpFramer(max_message_bytes)
        self.in_flight = 0
        self.transport: asyncio.Transport | None = None
        self._client = ""
        self._loop = asyncio.get_running_loop()
        self._last_active = self._loop.time()
        self._paused = False
        self._write_paused = False  # the transport's buffer is over WRITE_HIGH_BYTES (pause_writing)
        self._idle_timer: asyncio.TimerHandle | None = None
        self._later: list[bytes] = []  # answers from storage reads, written together (_after_answers)
        self._settling = False  # _after_answers is scheduled
        self._partial_since: float | None = None  # loop time the unfinished message in the framer began
        self._message_timer: asyncio.TimerHandle | None = None  # lazily re-armed: see _check_message

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        client = peer_address(transport)
        refusal = self._refusal(client)
        if refusal:
            _REFUSED_LOG.emit(log, logging.WARNING, "refusing TCP connections: %s", refusal)
            transport.close()  # never tracked nor read: connection_lost finds nothing to undo
            return
        self.transport = cast(asyncio.Transport, transport)
        self.transport.set_write_buffer_limits(high=WRITE_HIGH_BYTES, low=WRITE_LOW_BYTES)
        self._client = client  # admin work: the rate-limit key
        self.tracker.add(self, client)
        self._idle_timer = self._loop.call_later(self.idle_timeout_s, self._check_idle)

    def _refusal(self, client: str) -> str:
        """Why a new connection from ``client`` is refused ("" when it is not): a cap is reached."""
        tracker = self.tracker
        if self.max_connections and len(tracker.connections) >= self.max_connections:
            return f"{len(tracker.connections)} open, the worker's cap (tcp_max_connections)"
        held = tracker.per_address.held(client)
        if self.max_per_address and held >= self.max_per_address:
            return f"{held} open from {client}, the cap per address (tcp_max_connections_per_address)"
        return ""

    def connection_lost(self, exc: Exception | None) -> None:
        self.tracker.discard(self, self._client)
        for timer in (self._idle_timer, self._message_timer):
            if timer is not None:
                timer.cancel()
        # Misses still waiting on a read stay counted until it calls back; their answers go nowhere.
        self.transport = None
        self.tracker.changed()

    def data_received(self, data: bytes) -> None:
        now = self._last_active = self._loop.time()
        stats = self.stats
        started = perf_counter() if stats is not None or self.access is not None else 0.0
        self.framer.receive_data(data)
        out: list[bytes] = []
        try:
            self._drain_framer(now, out, started)
        except ProtocolError as exc:
            out.append(framing_error(str(exc)))
            self._write(out)
            self.close()
        else:
            self._write(out)
            if self._paused and not self._write_paused and self.in_flight < self.max_in_flight:
                self._loop.call_soon(self._resume)  # one read's answers hit the mark but the kernel took them
        if stats is not None and out:
            stats.finish_batch(out, started)  # ops work: the answers of one read leave in one write

    def _drain_framer(self, now: float, out: list[bytes], started: float) -> None:
        framer, respond_now, access = self.framer, self.responder.respond_now, self.access
        out_bytes = 0
        taken = False  # a whole message came since the last look: an unfinished one after it is new
        while self.in_flight < self.max_in_flight and not self._write_paused and out_bytes < WRITE_HIGH_BYTES:
            message = framer.next_message()
            if message is NEED_DATA:
                if not framer.buffered:
                    self._partial_since = None
                elif taken or self._partial_since is None:
                    self._partial(now)
                return
            taken = True
            try:
                result = respond_now(message, now, client=self._client)
            except Exception:  # a bug must not kill the connection, let alone the worker (STYLE #10)
                log.exception("unexpected error answering a TCP request")
                result = internal_error(message)
            if isinstance(result, bytes):
                out.append(result)  # a finished Handle/TCP resolution (hot or decided without I/O)
                out_bytes += len(result)
                if access is not None and access.sampled():
                    log_handle_access(access, "tcp", self._client, message, result, started)
            elif result is not None:
                self._start(result, now, started)
        self._pause()

    def _start(self, pending: Pending, now: float, started: float) -> None:
        self.in_flight += 1
        if self.in_flight == 1:
            self.tracker.idle.clear()
        # No task per miss: the batch's read calls back (resolver/loader.py, issue 4).
        reply = partial(self._answer_later, pending, started)
        self.responder.respond_deferred(pending, now, reply)

    def _answer_later(self, pending: Pending, started: float, response: bytes) -> None:
        try:
            if self.transport is not None:
                self._later.append(response)  # a finished Handle/TCP resolution after a storage read
                if self.stats is not None:
                    self.stats.finish_message(response, started)
                if self.access is not None and self.access.sampled():
                    log_handle_access(self.access, "tcp", self._client, pending.query.data, response, started)
        except Exception:
            log.exception("unexpected error answering a TCP request")
        finally:
            self.in_flight -= 1
            if not self._settling:
                self._settling = True
                self._loop.call_soon(self._after_answers)  # after the rest of this read's answers

    def _after_answers(self) -> None:
        """What one read answered for this connection: one write, then reading again if it was paused.

        Once per read, not once per answer: a saturated connection (at ``max_in_flight``) otherwise resumed
        and paused its transport for every answer, two ``epoll_ctl`` calls and one frame each (issue 4: TCP
        cold at saturation spent ~13 us of system time per request, against ~3 below it).
        """
        self._settling = False
        later, self._later = self._later, []
        self._write(later)
        self._resume()  # frames buffered while paused are taken now: they may be in flight again
        if self.in_flight == 0:  # only now idle: a graceful stop waits for those frames too
            self.tracker.changed()

    def _write(self, out: list[bytes]) -> None:
        if out and self.transport is not None:
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))

    def _pause(self) -> None:
        self._partial_since = None  # not the client's delay while we do not read: the clock restarts after
        if not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def pause_writing(self) -> None:
        """The write buffer passed WRITE_HIGH_BYTES: answered-but-unwritten data counts as in flight."""
        self._write_paused = True
        self._pause()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._resume()

    def _resume(self) -> None:
        if (self._paused and self.transport is not None and self.in_flight < self.max_in_flight
                and not self._write_paused):
            self._paused = False
            self.transport.resume_reading()
            self.data_received(b"")  # frames already buffered while paused

    def _partial(self, now: float) -> None:
        """An unfinished message waits in the framer from ``now``: it has ``message_timeout_s`` to finish."""
        self._partial_since = now
        if self._message_timer is None and self.message_timeout_s > 0:
            self._message_timer = self._loop.call_at(now + self.message_timeout_s, self._check_message)

    def _check_message(self) -> None:
        """One timer per connection, re-armed only when it fires (not per read): close a connection whose
        unfinished message is older than the timeout, else wait for the one now unfinished, if any."""
        self._message_timer = None
        since = self._partial_since
        if since is None or self.transport is None:
            return
        due = since + self.message_timeout_s
        if self._loop.time() >= due:
            log.info("closing a TCP connection from %s: no whole message within %g s", self._client,
                     self.message_timeout_s)
            self.close()
            return
        self._message_timer = self._loop.call_at(due, self._check_message)

    def _check_idle(self) -> None:
        if self.transport is None:
            return
        quiet_s = self._loop.time() - self._last_active
        if self.in_flight == 0 and quiet_s >= self.idle_timeout_s:
            self.close()
            return
        self._idle_timer = self._loop.call_later(max(self.idle_timeout_s - quiet_s, 1.0), self._check_idle)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

