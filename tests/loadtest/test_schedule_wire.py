"""The open-loop schedule and the generator's Handle fast path (checked against ``protocol``)."""

from __future__ import annotations

import pytest

from loadtest.handlewire import encode_resolution_request, peek_reply
from loadtest.schedule import Schedule, diurnal_profile
from protocol.bodies import ResolutionRequest
from protocol.constants import OpCode
from protocol.messages import build_request, decode_message, encode_message

V2 = bytes.fromhex(  # handle-protocol.md §17 V2, line by line as printed there
    "020a020a 00000000 00000001 00000000 00000067"
    "00000001 00000001 00000000 0000 00 00 00000000 0000004b"
    "0000000d 38382e313030302e312f616263 00000001"
    "00000001 6553f100 00 00015180 0e"
    "00000003 55524c 00000019 68747470733a2f2f6578616d706c652e636f6d2f702f616263 00000000"
    "00000000"
)
V3 = bytes.fromhex(
    "020a020a000000000000000100000000000000300000000100000064000000000000000000000000000000140000001048616e64"
    "6c65206e6f7420666f756e6400000000"
)


def test_a_constant_rate_is_due_evenly() -> None:
    s = Schedule([100.0], 2.0)
    assert s.total == 200
    assert s.intended(0) == 0.0
    assert s.intended(150) == pytest.approx(1.5)
    assert s.due_by(-0.1) == 0
    assert s.due_by(0.0) == 1
    assert s.due_by(0.995) == 100
    assert s.due_by(5.0) == 200


def test_due_by_and_intended_agree_across_segments() -> None:
    s = Schedule([10.0, 0.0, 40.0], 3.0)
    assert s.total == 50
    for i in range(s.total):
        t = s.intended(i)
        assert s.due_by(t) >= i + 1, i
    assert all(not 1.0 <= s.intended(i) < 2.0 for i in range(s.total))


def test_the_day_profile_has_24_hours_with_a_peak_of_one() -> None:
    profile = diurnal_profile()
    assert len(profile) == 24
    assert max(profile) == 1.0
    assert min(profile) > 0


@pytest.mark.parametrize("handle", ["88.100.1/lt-00000001", "88.1000.1/abc", "88.100.1/零件-1"])
def test_the_fast_request_is_the_bytes_protocol_encodes(handle: str) -> None:
    fast = encode_resolution_request(handle, 4660)
    assert fast == encode_message(build_request(ResolutionRequest(handle), request_id=4660))
    msg = decode_message(fast)
    assert msg.request_id == 4660
    assert msg.opcode == OpCode.RESOLUTION
    assert msg.body == ResolutionRequest(handle)


@pytest.mark.parametrize(("data", "code"), [(V2, 1), (V3, 100)])
def test_peek_reads_request_id_and_response_code_of_the_reference_vectors(data: bytes, code: int) -> None:
    assert decode_message(data).header.response_code == code  # the vector is what we think it is
    peek = peek_reply(data)
    assert peek is not None
    assert (peek.request_id, peek.response_code, peek.sequence, peek.truncated) == (1, code, 0, False)
    assert peek.fragments == 1


def test_peek_counts_the_fragments_of_a_long_udp_reply() -> None:
    from protocol.framing import split_for_udp

    long_reply = encode_message(build_request(ResolutionRequest("88.100.1/" + "x" * 900), request_id=9))
    parts = split_for_udp(long_reply)
    peeks = [peek_reply(p) for p in parts]
    assert all(p is not None and p.truncated and p.fragments == len(parts) for p in peeks)
    assert peek_reply(b"\x02\x0a") is None
