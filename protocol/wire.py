"""Reader and Writer: the cursor every Handle codec reads and writes primitives with (handle-protocol.md §2).

All integers are unsigned big-endian. A short read raises ``Truncated``, a count over its limit
``LimitExceeded`` and bad UTF-8 ``MalformedField``; no ``IndexError`` or ``struct.error`` leaves this module.
"""

from __future__ import annotations

import struct

from protocol.constants import MAX_ARRAY_SIZE
from protocol.errors import LimitExceeded, MalformedField, Truncated

U8 = struct.Struct(">B")
U16 = struct.Struct(">H")
U32 = struct.Struct(">I")

_u8_from = U8.unpack_from
_u16_from = U16.unpack_from
_u32_from = U32.unpack_from
_pack_u32 = U32.pack


class Reader:
    """A cursor over ``data[pos:end]``. ``sub_reader`` hands out an exact-length window of it."""

    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes | memoryview, pos: int = 0, end: int | None = None) -> None:
        self.data = bytes(data) if isinstance(data, memoryview) else data
        self.pos = pos
        self.end = len(self.data) if end is None else end

    def remaining(self) -> int:
        return self.end - self.pos

    def _take(self, n: int) -> int:
        """Advance by ``n`` bytes and return the old position; ``Truncated`` if they are not there."""
        pos = self.pos
        if n > self.end - pos:
            raise Truncated(f"need {n} bytes at offset {pos}, have {self.end - pos}")
        self.pos = pos + n
        return pos

    def u8(self) -> int:
        value: int = _u8_from(self.data, self._take(1))[0]
        return value

    def u16(self) -> int:
        value: int = _u16_from(self.data, self._take(2))[0]
        return value

    def u32(self) -> int:
        value: int = _u32_from(self.data, self._take(4))[0]
        return value

    def unpack(self, fmt: struct.Struct) -> tuple[int, ...]:
        """Read a fixed part with one precompiled struct."""
        return fmt.unpack_from(self.data, self._take(fmt.size))

    def raw(self, n: int) -> bytes:
        pos = self._take(n)
        return self.data[pos : pos + n]

    def counted_bytes(self, limit: int = MAX_ARRAY_SIZE) -> bytes:
        """int4 length + bytes (§2 byte array)."""
        n = self.u32()
        if n > limit:
            raise LimitExceeded(f"byte array of {n} bytes is over the limit of {limit}")
        return self.raw(n)

    def string(self, limit: int = MAX_ARRAY_SIZE) -> str:
        """UTF8-String: int4 length + UTF-8 bytes (DRAFT §2.1.4)."""
        raw = self.counted_bytes(limit)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedField(f"invalid UTF-8 in a string field: {exc.reason}") from None

    def count(self, limit: int, item_size: int) -> int:
        """An int4 element count, checked against ``limit`` and against the bytes left."""
        n = self.u32()
        if n > limit:
            raise LimitExceeded(f"count {n} is over the limit of {limit}")
        if n * item_size > self.end - self.pos:
            raise Truncated(f"count {n} needs at least {n * item_size} bytes, have {self.end - self.pos}")
        return n

    def int_array(self, limit: int = MAX_ARRAY_SIZE) -> tuple[int, ...]:
        """IndexList: int4 count + count x int4."""
        n = self.count(limit, 4)
        pos = self._take(4 * n)
        return struct.unpack_from(f">{n}I", self.data, pos)

    def string_array(self, limit: int = MAX_ARRAY_SIZE, item_limit: int = MAX_ARRAY_SIZE) -> tuple[str, ...]:
        """TypeList: int4 count + count x UTF8-String."""
        n = self.count(limit, 4)
        return tuple(self.string(item_limit) for _ in range(n))

    def sub_reader(self, n: int) -> Reader:
        """The next ``n`` bytes as their own reader; callers demand full consumption with ``expect_end``."""
        pos = self._take(n)
        return Reader(self.data, pos, pos + n)

    def rest(self) -> bytes:
        pos, self.pos = self.pos, self.end
        return self.data[pos : self.end]

    def expect_end(self, what: str) -> None:
        if self.pos != self.end:
            raise MalformedField(f"{self.end - self.pos} unexpected trailing bytes after {what}")


class Writer:
    """Appends primitives to a bytearray; ``getvalue()`` returns the bytes."""

    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf = bytearray()

    def u8(self, value: int) -> None:
        self.buf.append(value)

    def u16(self, value: int) -> None:
        self.buf += U16.pack(value)

    def u32(self, value: int) -> None:
        self.buf += _pack_u32(value)

    def raw(self, data: bytes) -> None:
        self.buf += data

    def counted_bytes(self, data: bytes) -> None:
        self.buf += _pack_u32(len(data))
        self.buf += data

    def string(self, text: str) -> None:
        self.counted_bytes(text.encode("utf-8"))

    def int_array(self, items: tuple[int, ...] | list[int]) -> None:
        self.buf += _pack_u32(len(items))
        self.buf += struct.pack(f">{len(items)}I", *items)

    def string_array(self, items: tuple[str, ...] | list[str]) -> None:
        self.buf += _pack_u32(len(items))
        for item in items:
            self.string(item)

    def getvalue(self) -> bytes:
        return bytes(self.buf)


def counted_string_bytes(text: str) -> bytes:
    """The UTF8-String encoding of ``text`` in one call (used by the pre-encoded fast paths)."""
    raw = text.encode("utf-8")
    return _pack_u32(len(raw)) + raw
