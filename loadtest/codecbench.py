"""Codec micro-benchmark: how many resolution requests one core decodes and responses it encodes per second.

Not a test: numbers depend on the machine. ``python -m loadtest.codecbench [seconds]`` prints them with the
``struct.unpack`` of the same 44 envelope+header bytes as the floor no Python decoder can beat.
"""

from __future__ import annotations

import struct
import sys
import time
from collections.abc import Callable

from protocol.bodies import ValuesBody
from protocol.constants import ResponseCode
from protocol.fastpath import decode_resolution_request, encode_resolution_response
from protocol.messages import decode_message, encode_response
from protocol.values import HandleValue, encode_values

# V1c of handle-protocol.md §17: the default Teleinfo SDK request shape.
V1C = bytes.fromhex(
    "020a020a00000000000000010000000000000039000000010000000019000000ffff0000000000000000001d0000000d"
    "38382e313030302e312f61626300000000000000000000000000000000"
)
URL_VALUE = HandleValue(1, "URL", b"https://example.com/p/abc", timestamp=1_700_000_000)  # V2's value
_HEAD44 = struct.Struct(">BBBBIIIIIIIHBBII")


def _rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``fn``, timed in batches so the clock is read rarely."""
    batch, calls = 2_000, 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(batch):
            fn()
        calls += batch
        now = time.perf_counter()
        if now >= deadline:
            return calls / (now - start)


def run_codec_bench(seconds: float = 1.0) -> dict[str, float]:
    """Per-core rates (operations/s) and their ratios to the ``struct.unpack`` floor."""
    per = seconds / 5
    query = decode_resolution_request(V1C)
    message = decode_message(V1C)
    body = ValuesBody("88.1000.1/abc", (URL_VALUE,))
    cached = encode_values([URL_VALUE])
    rates = {
        "struct_unpack_44_per_s": _rate(lambda: _HEAD44.unpack_from(V1C), per),
        "request_decode_fast_per_s": _rate(lambda: decode_resolution_request(V1C), per),
        "request_decode_general_per_s": _rate(lambda: decode_message(V1C), per),
        "response_encode_full_per_s": _rate(
            lambda: encode_response(message, ResponseCode.SUCCESS, body), per),
        "response_encode_preencoded_per_s": _rate(lambda: encode_resolution_response(query, cached), per),
    }
    floor = rates["struct_unpack_44_per_s"]
    ratios = {name.replace("_per_s", "_vs_floor"): rate / floor for name, rate in rates.items()
              if name != "struct_unpack_44_per_s"}
    return rates | ratios


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    seconds = float(args[0]) if args else 1.0
    for name, value in run_codec_bench(seconds).items():
        print(f"{name:40s} {value:>14,.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
