"""The kernel's receive queue of a UDP socket: how large it is, how full, and what it dropped.

A UDP server cannot push back. When its worker falls behind for a moment (a garbage-collector pass, a burst,
a neighbour on its core) the datagrams wait in the socket's receive buffer, and past its end the kernel drops
them without a trace in the node. Linux's default (``net.core.rmem_default``, 208 KiB) holds only a few
hundred small requests, because each is charged its whole buffer (~1 KiB on loopback): milliseconds at the
rates this node serves. So the node asks for more (``udp_receive_buffer_bytes``), as DNS servers do (Unbound's
``so-rcvbuf``), and counts the drops (``idnode_udp_receive_drops_total``) from ``SO_MEMINFO``.
"""

from __future__ import annotations

import socket
import struct
from typing import NamedTuple

DEFAULT_RECEIVE_BUFFER_BYTES = 4_194_304  # ours (Unbound's advice for busy servers): thousands of requests
SO_MEMINFO = getattr(socket, "SO_MEMINFO", 55)  # linux/asm-generic/socket.h; Python names it only lately
# SK_MEMINFO_RMEM_ALLOC .. SK_MEMINFO_DROPS (linux/sock_diag.h): nine u32, the drops last.
_MEMINFO = struct.Struct("9I")


class ReceiveQueue(NamedTuple):
    queued_bytes: int  # what waits in the buffer now (as the kernel charges it)
    buffer_bytes: int  # the buffer's size (twice what was asked: the kernel's own bookkeeping)
    drops: int  # datagrams dropped since the socket was made (u32: wraps)


def size_receive_buffer(sock: socket.socket, wanted: int) -> int:
    """Ask for a ``wanted``-byte receive buffer (0: keep the system default); the size the kernel gave.

    Linux doubles the request and caps it at twice ``net.core.rmem_max`` without an error, so a result below
    twice ``wanted`` means the cap applied (raising the cap needs root: ``sysctl net.core.rmem_max``)."""
    if wanted > 0:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, wanted)
    given: int = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    return given


def receive_queue(sock: socket.socket) -> ReceiveQueue | None:
    """The socket's receive queue now, or None where the kernel does not say (not Linux)."""
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, _MEMINFO.size)
    except OSError:
        return None
    if len(raw) < _MEMINFO.size:
        return None
    fields = _MEMINFO.unpack(raw)
    return ReceiveQueue(fields[0], fields[1], fields[8])


def drops_since(now: int, last: int) -> int:
    """Drops between two readings of the u32 counter (it wraps after 4,294,967,295)."""
    return (now - last) & 0xFFFFFFFF
