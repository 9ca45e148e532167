"""A small Handle client for operators and tests: resolve over UDP, TCP or HTTP, built on ``protocol``.

``resolve_udp``/``resolve_tcp`` send one OC 1 request and return the decoded response ``Message`` (UDP
fragments reassembled, §1.4); ``resolve_http`` returns the REST JSON. ``format_message`` prints a response
the way the Handle tools' qresolve does: the response code, then one line per value.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Sequence
from typing import Any, cast
from urllib.parse import quote

import aiohttp

from protocol.bodies import ErrorBody, ReferralBody, ResolutionRequest, ValuesBody
from protocol.constants import OpFlag, ResponseCode
from protocol.framing import UdpReassembler
from protocol.jsonfmt import value_to_json
from protocol.messages import Message, build_request, decode_message, encode_message
from protocol.values import HandleValue

_request_ids = itertools.count(1)  # like the Teleinfo client: a process-wide counter from 1 (§1.3)
DEFAULT_OPFLAG = OpFlag.REC | OpFlag.CA | OpFlag.PO  # 0x19000000, what CNRI/Teleinfo clients send (§16.6)


def resolution_request(
    handle: str, indexes: Sequence[int] = (), types: Sequence[str] = (), *, request_id: int | None = None,
    opflag: OpFlag = DEFAULT_OPFLAG,
) -> bytes:
    body = ResolutionRequest(handle, tuple(indexes), tuple(types))
    rid = next(_request_ids) if request_id is None else request_id
    return encode_message(build_request(body, request_id=rid, opflag=opflag))


class _UdpClient(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.reassembler = UdpReassembler()
        self.done: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        whole = self.reassembler.feed(data, asyncio.get_running_loop().time())
        if whole is not None and not self.done.done():
            self.done.set_result(whole)


async def exchange_udp(host: str, port: int, request: bytes, timeout_s: float = 5.0) -> bytes:
    """Send ``request`` as one datagram and return the (reassembled) response bytes."""
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(_UdpClient, remote_addr=(host, port))
    try:
        transport.sendto(request)
        return await asyncio.wait_for(proto.done, timeout_s)
    finally:
        transport.close()


async def exchange_tcp(host: str, port: int, request: bytes, timeout_s: float = 5.0) -> bytes:
    """Send ``request`` on a new connection and return the response bytes."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    try:
        writer.write(request)
        head = await asyncio.wait_for(reader.readexactly(20), timeout_s)
        rest = await asyncio.wait_for(reader.readexactly(int.from_bytes(head[16:20], "big")), timeout_s)
        return head + rest
    finally:
        writer.close()


async def resolve_udp(host: str, port: int, handle: str, indexes: Sequence[int] = (),
                      types: Sequence[str] = (), timeout_s: float = 5.0) -> Message:
    request = resolution_request(handle, indexes, types)
    return decode_message(await exchange_udp(host, port, request, timeout_s))


async def resolve_tcp(host: str, port: int, handle: str, indexes: Sequence[int] = (),
                      types: Sequence[str] = (), timeout_s: float = 5.0) -> Message:
    request = resolution_request(handle, indexes, types)
    return decode_message(await exchange_tcp(host, port, request, timeout_s))


async def resolve_http(host: str, port: int, handle: str, indexes: Sequence[int] = (),
                       types: Sequence[str] = (), timeout_s: float = 5.0) -> tuple[int, dict[str, Any]]:
    """GET /api/handles/{handle}: (HTTP status, JSON body)."""
    params = [("index", str(i)) for i in indexes] + [("type", t) for t in types]
    url = f"http://{host}:{port}/api/handles/{quote(handle, safe='/')}"
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url, params=params) as resp:
        return resp.status, cast(dict[str, Any], await resp.json())


def format_values(values: Sequence[HandleValue]) -> list[str]:
    lines = []
    for value in values:
        data = value_to_json(value)["data"]
        shown = data["value"] if data.get("format") == "string" else json.dumps(data, ensure_ascii=False)
        lines.append(f"  index={value.index} type={value.type} ttl={value.ttl} "
                     f"perms={int(value.permissions):04b} data={shown}")
    return lines


def format_message(message: Message) -> str:
    """qresolve-like text: the response code, then the handle and its values (or the message)."""
    code = ResponseCode(message.header.response_code)
    lines = [f"responseCode: {int(code)} ({code.name})"]
    body = message.body
    if isinstance(body, ValuesBody):
        lines += [f"handle: {body.handle}", *format_values(body.values)]
    elif isinstance(body, ReferralBody):
        lines += [f"referral: {body.handle or '(empty)'}", *format_values(body.values or ())]
    elif isinstance(body, ErrorBody):
        lines.append(f"message: {body.message}")
    return "\n".join(lines)


def format_json(status: int, body: dict[str, Any]) -> str:
    return f"HTTP {status}\n" + json.dumps(body, indent=2, ensure_ascii=False)
