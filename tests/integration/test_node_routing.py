"""Routing end to end on a 2-worker node: derived prefixes (handle-protocol.md §9 step 3, §8.6), RC 303 never
sent to peers below 2.5 (§6, §16.3), and multi-packet UDP requests answered whichever worker gets them."""

from __future__ import annotations

import asyncio
import socket

import pytest

from protocol.bodies import ErrorBody, ReferralBody, ResolutionRequest
from protocol.envelope import Envelope
from protocol.framing import UdpReassembler, split_for_udp
from protocol.messages import Message, build_request, decode_message, encode_message
from protocol.values import HandleValue
from resolver.client import exchange_tcp, exchange_udp, resolve_http, resolve_tcp, resolve_udp
from resolver.demo_data import DEMO_PREFIX
from storage.api import HandleStore
from tests.integration.node import Node

HOST = "127.0.0.1"


async def _codes(node: Node, handle: str) -> tuple[int, int, int, int]:
    udp = await resolve_udp(HOST, node.handle_port, handle)
    tcp = await resolve_tcp(HOST, node.handle_port, handle)
    status, body = await resolve_http(HOST, node.http_port, handle)
    return int(udp.header.response_code), int(tcp.header.response_code), status, int(body["responseCode"])


@pytest.mark.slow
async def test_derived_prefixes_on_every_transport(node: Node, store: HandleStore) -> None:
    # A record under a prefix that is not homed (written behind the node's back) is still not served.
    await store.overwrite(f"{DEMO_PREFIX}.7/x", [HandleValue(1, "URL", b"https://example.com/")], actor="t")
    cases = {
        f"{DEMO_PREFIX}.7/x": (301, 301, 400, 301),  # derived from a homed prefix: not homed here
        f"{DEMO_PREFIX}.7/missing": (301, 301, 400, 301),
        "88.100.2.7/x": (303, 303, 300, 303),  # derived from a delegated prefix: its referral
        f"0.NA/{DEMO_PREFIX}.7": (301, 301, 400, 301),  # prefix handle under a homed ancestor, not known
        "0.NA/88.100.2.7": (303, 303, 300, 303),  # prefix handle under a delegated ancestor
        f"{DEMO_PREFIX}/demo-url": (1, 1, 200, 1),  # its own prefix is homed: answered
    }
    for handle, expected in cases.items():
        assert await _codes(node, handle) == expected, handle
    referral = (await resolve_tcp(HOST, node.handle_port, "88.100.2.7/x")).body
    assert isinstance(referral, ReferralBody) and referral.handle == "0.NA/88.100.2"
    assert {v.type for v in referral.values or ()} == {"HS_SITE.PREFIX", "HS_SERV"}


def _caict_request(handle: str, request_id: int) -> bytes:
    """A resolution in a 2.3 envelope, as CAICT clients send it (§16.3)."""
    message = build_request(ResolutionRequest(handle, (), ()), request_id=request_id)
    return encode_message(Message(Envelope(2, 3, message.envelope.flags, 2, 3, 0, request_id),
                                  message.header, message.body))


@pytest.mark.slow
async def test_old_peer_gets_301_instead_of_303(node: Node, store: HandleStore) -> None:
    for handle in ("88.100.2/x", "88.100.2.7/x", "0.NA/88.100.2.7"):
        for exchange in (exchange_udp, exchange_tcp):
            reply = decode_message(await exchange(HOST, node.handle_port, _caict_request(handle, 9)))
            assert reply.header.response_code == 301, (handle, exchange)
            assert isinstance(reply.body, ErrorBody) and "delegated" in reply.body.message
        modern = await resolve_udp(HOST, node.handle_port, handle)
        assert modern.header.response_code == 303, handle


def _big_request(request_id: int) -> list[bytes]:
    """A resolution over 512 bytes (a long type list), split into TC fragments (§1.4)."""
    types = (*(f"TYPE_{i:03d}" for i in range(80)), "URL")
    message = build_request(ResolutionRequest(f"{DEMO_PREFIX}/demo-url", (), types), request_id=request_id)
    fragments = split_for_udp(encode_message(message))
    assert len(fragments) >= 2
    return fragments


async def _exchange_fragments(port: int, fragments: list[bytes]) -> Message:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:  # a fresh source port each time
        sock.settimeout(5)
        for fragment in fragments:
            sock.sendto(fragment, (HOST, port))
        reassembler, whole = UdpReassembler(), None
        while whole is None:
            whole = reassembler.feed(await asyncio.to_thread(sock.recv, 2048), 0.0)
    return decode_message(whole)


@pytest.mark.slow
async def test_multi_packet_request_on_two_workers(node: Node, store: HandleStore) -> None:
    for request_id in range(1, 25):  # each from its own socket: the kernel spreads them over both workers
        reply = await _exchange_fragments(node.handle_port, _big_request(request_id))
        assert reply.envelope.request_id == request_id
        assert reply.header.response_code == 1
