"""One connection while it is on the HTTP fast lane (resolver/http/fastlane.py): reads request heads
(``protocol.http1``), answers them in order through ``LaneContext`` (resolver/http/lane_rest.py), stops
reading ahead while a miss is read, and hands the connection to aiohttp's handler - transport and unread
bytes - at the first request the lane does not answer. Timers as in aiohttp and ``conn_guard``: keep-alive
idle timeout (one lazily re-armed timer) and a header timeout while a partial head waits.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Final, cast

from protocol.http1 import NEED_DATA, RequestHead, parse_head
from resolver.http.conn_guard import REFUSAL
from resolver.http.lane_rest import Pending
from resolver.http.lane_targets import HANDOVER, Handover
from resolver.http.lane_wire import server_error

if TYPE_CHECKING:
    from resolver.http.fastlane import FastLane

MAX_BUFFERED: Final = 65_536  # ours: bytes read ahead while a miss is pending before reading pauses


class LaneConnection(asyncio.Protocol):
    """One connection while it is on the fast lane."""

    __slots__ = (
        "_buffer", "_head_timer", "_idle_timer", "_lane", "_last", "_paused", "_peer", "_pending",
        "_transport",
    )

    def __init__(self, lane: FastLane) -> None:
        self._lane = lane
        self._transport: asyncio.Transport | None = None
        self._buffer = b""
        self._pending: Pending | None = None
        self._paused = False
        self._peer = ""
        self._last = 0.0
        self._idle_timer: asyncio.TimerHandle | None = None
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # a stream's (uvloop's are not asyncio subclasses)
        lane = self._lane
        if lane.context.closing or lane.full():  # conn_guard's cap: a bare 503, closed before it is read
            transport.write(REFUSAL)
            transport.close()
            return
        self._transport = transport
        peer = transport.get_extra_info("peername")
        self._peer = peer[0] if isinstance(peer, tuple) else ""
        lane.connections.add(self)
        lane.idle.clear()
        self._touch()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._transport = None
            self._stop_timers()
            self._lane.forget(self)

    def data_received(self, data: bytes) -> None:
        self._buffer = self._buffer + data if self._buffer else data
        if self._pending is not None:
            if len(self._buffer) > MAX_BUFFERED and not self._paused:
                self._pause()
            return
        self._serve()

    def _serve(self) -> None:
        """Answer every whole request in the buffer, in order, until one is pending or handed over."""
        transport, context = self._transport, self._lane.context
        buffer, start = self._buffer, 0
        out: list[bytes] = []
        while start < len(buffer) and transport is not None:
            head = parse_head(buffer, start)
            if head is NEED_DATA:
                self._start_head_timer()
                break
            answer = context.answer(head, self._peer, self) if isinstance(head, RequestHead) else HANDOVER
            if not isinstance(head, RequestHead) or isinstance(answer, Handover):
                self._flush(out)
                self._hand_over(buffer[start:])
                return
            start = head.end
            if self._head_timer is not None:
                self._stop_head_timer()
            if isinstance(answer, Pending):
                self._pending = answer
                break
            out.append(answer)
            if not head.keep_alive or context.closing:
                self._flush(out)
                transport.close()
                return
        self._buffer = buffer[start:]
        self._flush(out)
        self._touch()

    def finish(self, pending: Pending, response: bytes | None) -> None:
        """A pending miss is answered (``LaneContext`` calls back from the storage read's batch)."""
        self._pending = None
        transport = self._transport
        if transport is None:
            return  # the client went away; the read others share went on
        if response is None:
            transport.write(server_error(pending.head.minor, self._lane.context.date.get()))
            transport.close()
            return
        transport.write(response)
        if not pending.head.keep_alive or self._lane.context.closing:
            transport.close()
            return
        if self._paused:
            self._paused = False
            transport.resume_reading()
        self._serve()

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
        handler.connection_made(transport)
        transport.set_protocol(handler)
        if unread and not transport.is_closing():
            handler.data_received(unread)

    def _pause(self) -> None:
        if self._transport is not None:
            self._paused = True
            self._transport.pause_reading()

    def close_if_idle(self) -> None:
        if self._pending is None and self._transport is not None:
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
        if self._pending is None and not self._buffer and loop.time() >= due:
            self._transport.close()
        else:
            self._idle_timer = loop.call_at(max(due, loop.time() + 0.001), self._on_idle)

    def _start_head_timer(self) -> None:
        timeout = self._lane.limits.header_timeout_s
        if self._head_timer is None and timeout > 0:
            self._head_timer = asyncio.get_running_loop().call_later(timeout, self.abort_slow)

    def abort_slow(self) -> None:
        self._head_timer = None
        if self._transport is not None and self._pending is None:
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
