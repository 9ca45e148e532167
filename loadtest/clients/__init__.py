"""Load clients, one per transport, all with the same small interface (``Client``).

A client owns its connections and its in-flight requests; the runner decides *when* to send (the open-loop
schedule) and the client reports every outcome to the process's ``Tally``. ``open_client`` picks the client
for a target URL's scheme.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from loadtest.tally import Tally

Scheme = Literal["udp", "tcp", "http"]
SCHEMES: tuple[Scheme, ...] = ("udp", "tcp", "http")


@dataclass(frozen=True, slots=True)
class Target:
    """Where to send: ``udp://H:P``, ``tcp://H:P`` or ``http://H:P``."""

    scheme: Scheme
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Target:
        scheme, sep, rest = text.partition("://")
        host, _, port = rest.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"target {text!r} is not udp://HOST:PORT, tcp://HOST:PORT or http://HOST:PORT")
        for known in SCHEMES:
            if scheme == known:
                return cls(known, host.strip("[]"), int(port))
        raise ValueError(f"unknown target scheme {scheme!r}: use udp, tcp or http")

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


class Client(Protocol):
    """What the runner needs from a transport client."""

    async def open(self) -> None: ...

    def send(self, name: str, intended: float, now: float) -> None:
        """Send a resolution of ``name`` that was due at ``intended``."""

    def flush(self) -> None:
        """Push out requests buffered during this scheduler tick."""

    def expire(self, now: float) -> None:
        """Count requests older than the timeout as timeouts."""

    def in_flight(self) -> int: ...

    def abandon(self, now: float) -> None:
        """Count everything still in flight as a timeout (end of the run)."""

    async def aclose(self) -> None: ...


def open_client(target: Target, tally: Tally, connections: int, timeout_s: float) -> Client:
    # Imported here so a process only loads the transport it uses.
    if target.scheme == "udp":
        from loadtest.clients.udp import UdpClient

        return UdpClient(target, tally, connections, timeout_s)
    if target.scheme == "tcp":
        from loadtest.clients.tcp import TcpClient

        return TcpClient(target, tally, connections, timeout_s)
    from loadtest.clients.http import HttpClient

    return HttpClient(target, tally, connections, timeout_s)
