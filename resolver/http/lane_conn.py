"""One connection while it is on the HTTP fast lane (resolver/http/fastlane.py): reads request heads
(``protocol.http1``), answers them through ``LaneContext`` (resolver/http/lane_rest.py) and writes the
answers in request order, and hands the connection to aiohttp's handler - transport and unread bytes - at
the first request the lane does not answer, once every earlier answer is written. Up to ``MAX_PENDING``
pipelined misses are read at once (RFC 9112 §9.3.2: a server may process pipelined safe requests in
parallel, answering in order), so they share the worker's storage batch and, answered together, one write.
Timers as in aiohttp and ``conn_guard``: keep-alive idle timeout (one lazily re-armed timer) and a header
timeout while a partial head waits.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Final, cast

from protocol.http1 import NEED_DATA, RequestHead, parse_head
from resolver.address_counts import peer_address
from resolver.http.lane_rest import Pending
from resolver.http.lane_targets import HANDOVER, Handover
from resolver.http.lane_wire import server_error

if TYPE_CHECKING:
    from resolver.http.fastlane import FastLane

MAX_BUFFERED: Final = 65_536  # ours: bytes read ahead while parsing waits before reading pauses
# Ours: misses of one connection read at once. A saturated, pipelining client's misses then go to storage
# in batches of up to 16 x its connections, and their answers out in one write per batch (issue 4).
MAX_PENDING: Final = 16


class LaneConnection(asyncio.Protocol):
    """One connection while it is on the fast lane."""

    __slots__ = (
        "_buffer", "_closes", "_drain_due", "_head_timer", "_idle_timer", "_lane", "_last", "_paused",
        "_peer", "_queue", "_stalled", "_transport", "_waiting",
    )

    def __init__(self, lane: FastLane) -> None:
        self._lane = lane
        self._transport: asyncio.Transport | None = None
        # A bytearray: appending is amortised O(chunk) and dropping answered heads from the front is O(1)
        # (CPython moves its start), where bytes concatenation and slicing copied every byte still unread,
        # per chunk and per answer: quadratic in the pipeline's depth (up to MAX_BUFFERED per request).
        self._buffer = bytearray()
        self._queue: deque[bytes | Pending] = deque()  # answers not yet written, in request order
        self._waiting = 0  # Pendings in the queue not answered yet
        self._stalled = False  # parsing waits for the queue to empty (a hand-over or a close is next)
        self._closes = False  # the last queued answer closes the connection
        self._drain_due = False
        self._paused = False
        self._peer = ""
        self._last = 0.0
        self._idle_timer: asyncio.TimerHandle | None = None
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # a stream's (uvloop's are not asyncio subclasses)
        lane = self._lane
        peer = peer_address(transport)
        admission = lane.admission  # conn_guard's caps
        reason = admission.refusal(lane.open_now(), peer)
        if reason or lane.context.closing:
            admission.refuse(transport, reason)
            return
        self._transport = transport
        self._peer = peer
        admission.addresses.add(peer)  # held until the connection closes, on the lane or after its hand-over
        lane.connections.add(self)
        lane.idle.clear()
        self._touch()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._transport = None
            self._stop_timers()
            self._lane.forget(self)
            self._lane.admission.addresses.discard(self._peer)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._stalled or self._waiting >= MAX_PENDING:
            if len(self._buffer) > MAX_BUFFERED and not self._paused:
                self._pause()
            return
        self._serve()

    def _serve(self) -> None:
        """Answer the whole requests in the buffer, in order, until ``MAX_PENDING`` misses are read, a
        request waits for earlier answers (hand-over, close), or the connection is handed over."""
        transport, context = self._transport, self._lane.context
        buffer, start, queue = self._buffer, 0, self._queue
        out: list[bytes] = []  # answers written at the end (while nothing is queued before them)
        while start < len(buffer) and transport is not None and self._waiting < MAX_PENDING:
            head = parse_head(buffer, start)
            if head is NEED_DATA:
                self._start_head_timer()
                break
            answer = context.answer(head, self._peer, self) if isinstance(head, RequestHead) else HANDOVER
            if not isinstance(head, RequestHead) or isinstance(answer, Handover):
                if queue:  # aiohttp takes over once every earlier answer is written
                    self._stalled = True
                    break
                self._flush(out)
                self._hand_over(bytes(buffer[start:]))
                return
            start = head.end
            if self._head_timer is not None:
                self._stop_head_timer()
            if isinstance(answer, Pending):
                self._waiting += 1
                queue.append(answer)
            elif queue:
                queue.append(answer)
            else:
                out.append(answer)
            if not context.keeps_open(head):
                if not queue:
                    self._flush(out)
                    transport.close()
                    return
                self._stalled = self._closes = True
                break
        del buffer[:start]
        self._flush(out)
        self._touch()

    def finish(self, pending: Pending) -> None:
        """A queued miss is answered (``Pending.answer``, from the storage read's batch). Its answer is
        written with those before it once they are ready; while others are still read (often answered by
        the same batch), after the batch, in one write."""
        self._waiting -= 1
        if self._transport is None:
            return  # the client went away; the read others share went on
        if not self._waiting:
            self._drain()
        elif not self._drain_due:
            self._drain_due = True
            self._lane.context.loop.call_soon(self._drain)

    def _drain(self) -> None:
        """Write the ready answers at the head of the queue, then read on (or close, or hand over)."""
        self._drain_due = False
        transport, queue = self._transport, self._queue
        if transport is None or transport.is_closing():
            return  # gone, or closed after a 500: the answers still queued have nowhere to go
        out: list[bytes] = []
        while queue:
            first = queue[0]
            if isinstance(first, Pending):
                if not first.done:
                    break
                if first.response is None:  # a bug (logged): 500, and close
                    out.append(server_error(first.head.minor, self._lane.context.date.get()))
                    self._flush(out)
                    transport.close()
                    return
                out.append(first.response)
                if first.closes:  # answered after the graceful stop began: RFC 9112 §9.6, nothing after it
                    self._flush(out)
                    transport.close()
                    return
            else:
                out.append(first)
            queue.popleft()
        self._flush(out)
        self._after_drain(transport)

    def _after_drain(self, transport: asyncio.Transport) -> None:
        closing = self._lane.context.closing
        if not self._queue:
            if self._closes or closing:
                transport.close()
                return
            self._stalled = False
        elif closing or self._stalled:
            return  # nothing more is read: the queue empties first
        self._serve()
        if self._paused and len(self._buffer) <= MAX_BUFFERED and not transport.is_closing():
            self._paused = False
            transport.resume_reading()

    def _flush(self, out: list[bytes]) -> None:
        if out and self._transport is not None:
            self._transport.write(out[0] if len(out) == 1 else b"".join(out))
            out.clear()

    def _hand_over(self, unread: bytes) -> None:
        """aiohttp takes the connection for good: its handler gets the transport and the unread bytes."""
        transport = self._transport
        if transport is None:
            return
        self._transport = None
        self._stop_timers()
        self._lane.forget(self)
        self._lane.handed_over += 1
        if self._paused:
            transport.resume_reading()
        make = self._lane.make_handler
        if make is None:
            raise RuntimeError("the fast lane serves only behind a GuardedSockSite (FastLane.front)")
        handler = make()
        handler.adopt(self._peer)  # the address slot goes with the connection
        handler.connection_made(transport)
        transport.set_protocol(handler)
        if unread and not transport.is_closing():
            handler.data_received(unread)

    def _pause(self) -> None:
        if self._transport is not None:
            self._paused = True
            self._transport.pause_reading()

    def close_if_idle(self) -> None:
        if not self._queue and self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    # Timers (conn_guard.py, aiohttp keepalive_timeout): one lazily re-armed idle timer per connection, and a
    # header timer only while a partial head waits.
    def _touch(self) -> None:
        loop = self._lane.context.loop
        self._last = loop.time()
        if self._idle_timer is None and self._lane.keepalive_s > 0:
            self._idle_timer = loop.call_at(self._last + self._lane.keepalive_s, self._on_idle)

    def _on_idle(self) -> None:
        self._idle_timer = None
        if self._transport is None:
            return
        due = self._last + self._lane.keepalive_s
        loop = self._lane.context.loop
        if not self._queue and not self._buffer and loop.time() >= due:
            self._transport.close()
        else:
            self._idle_timer = loop.call_at(max(due, loop.time() + 0.001), self._on_idle)

    def _start_head_timer(self) -> None:
        timeout = self._lane.limits.header_timeout_s
        if self._head_timer is None and timeout > 0:
            self._head_timer = asyncio.get_running_loop().call_later(timeout, self.abort_slow)

    def abort_slow(self) -> None:
        self._head_timer = None
        if self._transport is not None and not self._queue:
            self._transport.close()

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _stop_timers(self) -> None:
        self._stop_head_timer()
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
