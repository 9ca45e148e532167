"""The cold read path's round trip (issue 4): a batch of HGETs pipelined on one raw asyncio connection.

A cache miss reads a handful of records, and redis-py spends ~100 us of worker CPU per round trip (a Task,
stream reads under a timeout context, per-command parsing); Redis spends less per key on pipelined HGETs than
on one script call (commandstats, 1M ids: EVALSHA 14.5 us against HGET 5.4 us for one key). So a batch
here is N ``HGET bucket field`` commands packed by hand and sent in one write on a plain ``asyncio.Protocol``;
hiredis parses the replies in ``data_received`` and they are matched to batches in order (Redis answers a
connection's commands in the order it sent them). No Task, no Future per batch: the batch's callback runs
when its last reply arrives.

This path adds speed, never a failure mode: a batch it cannot finish (the link is down, breaks, stays silent
past the socket timeout, or answers with an error) goes to the ``fallback`` the store gives, its redis-py
pipeline with retries and backoff, while the link reconnects in the background. Each batch has exactly one
outcome: its callback, or the fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, cast

import hiredis
from redis.asyncio.connection import Connection, UnixDomainSocketConnection

log: Final = logging.getLogger(__name__)

RawValues = list[bytes | None]
# The fast path delivers only values; a fallback may deliver the exception the read failed with.
Done = Callable[[RawValues | Exception], None]
# Reads the batch another way and calls ``done`` once, later: never inside its own call.
Fallback = Callable[[list[str], list[bytes], Done], None]
CLIENT_NAME = b"idnode-fastread"  # what CLIENT LIST shows for this connection (ops: which one to kill)
# Packed "HGET <bucket>" prefixes kept; buckets are bounded (storage.keys), this is a cap.
_HEADS_MAX: Final = 65_536


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the fast link connects (a unix ``path``, else ``host``/``port``) and what it says first."""

    host: str = "127.0.0.1"
    port: int = 6379
    path: str | None = None
    db: int = 0
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)  # kept out of logs


def endpoint_of(connection_class: type, kwargs: dict[str, Any]) -> Endpoint | None:
    """The endpoint of a redis-py pool (its ``connection_class`` and ``connection_kwargs``), or None when
    this link cannot speak for it: TLS, a credential provider, or any connection class of its own."""
    if kwargs.get("credential_provider") is not None:
        return None
    base = Endpoint(
        db=int(kwargs.get("db") or 0), username=kwargs.get("username"), password=kwargs.get("password")
    )
    if connection_class is UnixDomainSocketConnection:
        return dataclasses.replace(base, path=str(kwargs["path"]))
    if connection_class is Connection:  # exactly: SSLConnection is a subclass
        host, port = str(kwargs.get("host", "localhost")), int(kwargs.get("port", 6379))
        return dataclasses.replace(base, host=host, port=port)
    return None


def pack_command(*args: bytes) -> bytes:
    """One command in RESP, as every client sends it (redis.io/docs/reference/protocol-spec, "Arrays")."""
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(arg), arg) for arg in args)


def hello_commands(endpoint: Endpoint) -> list[bytes]:
    """AUTH and SELECT as the pool's connections do, then a PING: a frozen server still accepts
    connections, so the link counts as up only once the server has answered."""
    commands = []
    if endpoint.password is not None:
        user = [endpoint.username.encode()] if endpoint.username else []
        commands.append(pack_command(b"AUTH", *user, endpoint.password.encode()))
    if endpoint.db:
        commands.append(pack_command(b"SELECT", b"%d" % endpoint.db))
    return [*commands, pack_command(b"PING")]


# A name for CLIENT LIST (which connection is the read link); an ACL that refuses it costs only the name.
_SETNAME: Final = pack_command(b"CLIENT", b"SETNAME", CLIENT_NAME)


class _Batch:
    """Commands written together and the replies received so far (``failed``: one was an error reply)."""

    __slots__ = ("count", "deadline", "done", "failed", "fallback", "fields", "keys", "values")

    def __init__(
        self, keys: list[str], fields: list[bytes], done: Done, fallback: Callable[[_Batch], None],
        deadline: float,
    ) -> None:
        self.keys = keys
        self.fields = fields
        self.count = len(fields)
        self.done = done
        self.fallback = fallback
        self.deadline = deadline
        self.values: RawValues = []
        self.failed = False


class _Link(asyncio.Protocol):
    """One connection: writes batches, hands replies to them in order, watches the oldest one's deadline."""

    _transport: asyncio.Transport  # set by connection_made, before anyone holds the link

    def __init__(self, loop: asyncio.AbstractEventLoop, on_lost: Callable[[_Link], None]) -> None:
        self._loop = loop
        self._on_lost = on_lost
        self._reader = hiredis.Reader()
        self._pending: deque[_Batch] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._idle: asyncio.Future[None] | None = None  # aclose waits on it for the last replies
        self._gone: asyncio.Future[None] = loop.create_future()  # the socket is closed (connection_lost)
        self.broken = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def send(self, batch: _Batch, payload: bytes) -> None:
        self._pending.append(batch)
        if self._timer is None:  # one timer per link, not per batch: _watch re-arms it for the oldest
            self._timer = self._loop.call_at(batch.deadline, self._watch)
        try:
            self._transport.write(payload)
        except (RuntimeError, OSError):  # closed under us, before connection_lost (uvloop raises here)
            self.fail()

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        reader.feed(data)
        pending = self._pending
        try:
            while pending:
                batch = pending[0]
                values = batch.values
                for _ in range(batch.count - len(values)):
                    reply = reader.gets()
                    if reply is False:
                        return
                    if reply is not None and type(reply) is not bytes:  # an error reply (hiredis.ReplyError)
                        batch.failed = True
                    values.append(reply)
                pending.popleft()
                _finish(batch)
            if reader.has_data():  # a reply nobody asked for: the stream is out of step
                raise hiredis.ProtocolError("unexpected reply")
        except hiredis.ProtocolError:
            log.warning("fast read link: malformed reply stream, reconnecting", exc_info=True)
            self.fail()
        finally:
            if not pending and self._idle is not None and not self._idle.done():
                self._idle.set_result(None)

    def _watch(self) -> None:
        self._timer = None
        if not self._pending:
            return
        deadline = self._pending[0].deadline
        if deadline <= self._loop.time():
            log.debug("fast read link: no reply within the socket timeout")  # FastReader._lost warns
            self.fail()
        else:
            self._timer = self._loop.call_at(deadline, self._watch)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail()
        if not self._gone.done():
            self._gone.set_result(None)

    def fail(self) -> None:
        """Drop the connection; every batch still waiting goes to its fallback (once: idempotent)."""
        if self.broken:
            return
        self.broken = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._transport.abort()
        # Emptied in place: a data_received that called us (through a callback) must not finish these too.
        pending = list(self._pending)
        self._pending.clear()
        for batch in pending:
            _hand_off(batch)
        if self._idle is not None and not self._idle.done():
            self._idle.set_result(None)
        self._on_lost(self)

    async def aclose(self, timeout_s: float) -> None:
        """Wait (bounded) until every batch sent has its replies, then drop the connection and wait until
        its socket is closed (``abort`` closes it on a later loop iteration)."""
        if self._pending and not self.broken:
            self._idle = self._loop.create_future()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._idle), timeout_s)
        self.fail()
        await self._gone


def _finish(batch: _Batch) -> None:
    if batch.failed:
        _hand_off(batch)
        return
    try:
        batch.done(batch.values)
    except Exception:  # one caller's bug must not stop the replies of the others (STYLE.md 10)
        log.exception("unexpected error in a fast read callback")


def _hand_off(batch: _Batch) -> None:
    try:
        batch.fallback(batch)
    except Exception:
        log.exception("unexpected error handing a read to its fallback")


def _ignore(outcome: object) -> None:
    return


class HelloFailed(Exception):  # not ConnectionError: mypyc compiles no subclass of OSError (setup.py)
    """The server refused AUTH, SELECT or PING on a new fast link."""


class FastReader:
    """Batched HGETs on one link to ``endpoint``; ``read`` never waits and never fails (see module doc)."""

    def __init__(
        self, endpoint: Endpoint, timeout_s: float, fallback: Fallback, backoff_s: float = 0.05,
        backoff_cap_s: float = 2.0,
    ) -> None:
        self._endpoint = endpoint
        self._timeout_s = timeout_s
        self._fallback = fallback
        self._backoff_s = max(backoff_s, 0.001)
        self._backoff_cap_s = backoff_cap_s
        self._hello = hello_commands(endpoint)
        self._link: _Link | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._heads: dict[str, bytes] = {}
        self._closed = False
        self.handed_off = 0  # batches given to the fallback (ops, tests: did the fast path carry them?)

    @property
    def connected(self) -> bool:
        return self._link is not None

    def read(self, keys: list[str], fields: list[bytes], done: Done) -> None:
        """HGET ``keys[i] fields[i]`` for every i; ``done(values)`` once the last reply is in, or the batch
        goes to the fallback. ``done`` is never called inside this call. ``keys`` must not be empty."""
        link = self._link
        if link is None:
            self._connect_soon()
            self._fallback_read(keys, fields, done)
            return
        loop = link._loop
        batch = _Batch(keys, fields, done, self._hand_off, loop.time() + self._timeout_s)
        link.send(batch, self._pack(keys, fields))

    def _pack(self, keys: list[str], fields: list[bytes]) -> bytes:
        heads = self._heads
        parts = []
        for key, field in zip(keys, fields, strict=True):
            head = heads.get(key) or self._head(key)
            parts.append(b"%s$%d\r\n%s\r\n" % (head, len(field), field))
        return b"".join(parts)

    def _head(self, key: str) -> bytes:
        if len(self._heads) >= _HEADS_MAX:
            self._heads.clear()
        raw = key.encode()
        head = self._heads[key] = b"*3\r\n$4\r\nHGET\r\n$%d\r\n%s\r\n" % (len(raw), raw)
        return head

    def _hand_off(self, batch: _Batch) -> None:
        self._fallback_read(batch.keys, batch.fields, batch.done)

    def _fallback_read(self, keys: list[str], fields: list[bytes], done: Done) -> None:
        self.handed_off += 1
        self._fallback(keys, fields, done)

    # --- the link's life -------------------------------------------------------------------------
    def _connect_soon(self) -> None:
        if self._link is None and self._connecting is None and not self._closed:
            self._connecting = asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        """Open a link; after a failed attempt wait a jittered, doubling backoff and try again."""
        delay_s, say = self._backoff_s, log.warning  # the first failure of a series is worth a warning
        try:
            while not self._closed:
                try:
                    self._link = await self._open()
                    return
                except (OSError, TimeoutError, HelloFailed) as exc:
                    say("fast read link: connect failed (%r); reads use the pooled path, retrying", exc)
                    say = log.debug
                await asyncio.sleep(delay_s * (0.5 + random.random()))  # noqa: S311 - jitter, not secrecy
                delay_s = min(delay_s * 2, self._backoff_cap_s)
        finally:
            self._connecting = None

    async def _open(self) -> _Link:
        loop = asyncio.get_running_loop()
        ep = self._endpoint

        def factory() -> _Link:
            return _Link(loop, self._lost)

        async with asyncio.timeout(self._timeout_s):
            if ep.path is not None:
                transport, link = await loop.create_unix_connection(factory, ep.path)
            else:
                transport, link = await loop.create_connection(factory, ep.host, ep.port)
            try:
                await self._greet(link, loop)
            except BaseException:
                transport.abort()
                raise
        return link

    async def _greet(self, link: _Link, loop: asyncio.AbstractEventLoop) -> None:
        answered: asyncio.Future[bool] = loop.create_future()

        def settle(outcome: object) -> None:
            if not answered.done():
                answered.set_result(isinstance(outcome, list))

        deadline = loop.time() + self._timeout_s
        link.send(_Batch([], [b""] * len(self._hello), settle, settle, deadline), b"".join(self._hello))
        link.send(_Batch([], [b""], _ignore, _ignore, deadline), _SETNAME)
        if not await answered:
            raise HelloFailed("the server refused AUTH, SELECT or PING")

    def _lost(self, link: _Link) -> None:
        if self._link is link:
            self._link = None
            if not self._closed:
                log.warning("fast read link lost; reads use the pooled path until it is back")
                self._connect_soon()

    async def connect(self) -> bool:
        """Start connecting if need be and wait for this attempt (bounded by the socket timeout and the
        first backoff); True when the link is up. Reads do not need this: it is for start-up and tests."""
        self._connect_soon()
        task = self._connecting
        if task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), self._timeout_s + self._backoff_s * 2)
        return self._link is not None

    async def aclose(self) -> None:
        """Stop reconnecting, let the batches in flight finish (bounded by the socket timeout), then drop
        the link; batches still waiting go to the fallback."""
        self._closed = True
        task = self._connecting
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        link, self._link = self._link, None
        if link is not None:
            await link.aclose(self._timeout_s)
