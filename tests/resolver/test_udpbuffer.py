"""resolver/udpbuffer.py on real loopback sockets: the size the kernel gives, and the drops it counts."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator

import pytest

from resolver.udpbuffer import drops_since, receive_queue, size_receive_buffer

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_MEMINFO is Linux's")


@pytest.fixture
def receiver() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


def test_the_kernel_doubles_what_is_asked(receiver: socket.socket) -> None:
    default = size_receive_buffer(receiver, 0)  # 0 asks nothing: the system default stays
    assert default == receiver.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    assert size_receive_buffer(receiver, 32_768) == 65_536  # under any net.core.rmem_max


def test_a_full_buffer_drops_and_the_drops_are_counted(receiver: socket.socket) -> None:
    size_receive_buffer(receiver, 4096)  # room for a handful of datagrams: each is charged ~1 KiB
    empty = receive_queue(receiver)
    assert empty is not None
    assert (empty.queued_bytes, empty.drops) == (0, 0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for _ in range(200):  # nobody reads the receiver
            sender.sendto(b"x" * 100, receiver.getsockname())
    full = receive_queue(receiver)
    assert full is not None
    assert full.buffer_bytes == 8192
    assert 0 < full.queued_bytes <= full.buffer_bytes + 2048  # the kernel admits one past the line
    kept = 0
    receiver.setblocking(False)
    while True:
        try:
            receiver.recv(2048)
        except BlockingIOError:
            break
        kept += 1
    assert full.drops == 200 - kept > 150
    drained = receive_queue(receiver)
    assert drained is not None
    assert (drained.queued_bytes, drained.drops) == (0, full.drops)


def test_drops_between_readings_survive_the_u32_wrap() -> None:
    assert drops_since(10, 4) == 6
    assert drops_since(3, 0xFFFF_FFFE) == 5
    assert drops_since(7, 7) == 0
