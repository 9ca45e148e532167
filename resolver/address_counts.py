"""Open connections by client address, for the caps that keep one address from taking every slot of a
listener (Handle TCP: resolver/tcp.py; HTTP: resolver/http/conn_guard.py and the fast lane)."""

from __future__ import annotations

import asyncio


class AddressCounts:
    """How many connections each client address holds open. An address leaves the map with its last one,
    so the map is as large as the set of connected addresses, never the set of addresses ever seen."""

    __slots__ = ("cap", "open")

    def __init__(self, cap: int = 0) -> None:
        """``cap``: connections one address may hold (0: no cap; ``full`` is then always False)."""
        self.cap = cap
        self.open: dict[str, int] = {}

    def held(self, address: str) -> int:
        return self.open.get(address, 0)

    def full(self, address: str) -> bool:
        """Would one more connection from ``address`` pass the cap?"""
        return bool(self.cap) and self.held(address) >= self.cap

    def add(self, address: str) -> None:
        self.open[address] = self.open.get(address, 0) + 1

    def discard(self, address: str) -> None:
        left = self.open.pop(address, 1) - 1
        if left:
            self.open[address] = left


def peer_address(transport: asyncio.BaseTransport) -> str:
    """The client address of a stream transport ("" when it has none, e.g. a Unix socket)."""
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else ""
