"""``encode_success_bytes`` (the reply to a cold miss, issue 4) writes exactly what the general encoder writes
for every request version, suggested version and OpFlag, RD (a digest) included."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.bodies import ResolutionRequest
from protocol.constants import OpFlag, ResponseCode
from protocol.envelope import Envelope
from protocol.fastpath import decode_resolution_request, encode_success_bytes, handle_field_of
from protocol.messages import build_request, encode_message, encode_reply_bytes
from protocol.values import HandleValue, encode_values

WIRE = encode_values([HandleValue(1, "URL", b"https://example.cn/a"), HandleValue(2, "EMAIL", b"a@b.cn")])
VERSIONS = [(2, 1), (2, 5), (2, 10), (2, 11), (3, 0), (5, 0), (1, 9), (2, 0)]


def request_bytes(handle: str, version: tuple[int, int], suggested: tuple[int, int], opflag: int) -> bytes:
    body = ResolutionRequest(handle, (), ())
    message = build_request(body, request_id=77, session_id=5, opflag=OpFlag(opflag))
    envelope = Envelope(version[0], version[1], message.envelope.flags, suggested[0], suggested[1], 5, 77)
    return encode_message(replace(message, envelope=envelope))


def general(data: bytes) -> bytes:
    query = decode_resolution_request(data)
    return encode_reply_bytes(query, ResponseCode.SUCCESS, handle_field_of(query) + WIRE)


OPFLAGS = [0, int(OpFlag.RD), int(OpFlag.PO | OpFlag.DNRF), int(OpFlag.CT | OpFlag.RD)]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("suggested", [(0, 0), (2, 11), (2, 3), (3, 1)])
@pytest.mark.parametrize("opflag", OPFLAGS)
def test_the_same_bytes_as_the_general_encoder(
    version: tuple[int, int], suggested: tuple[int, int], opflag: int
) -> None:
    data = request_bytes("88.100.1/\u6807\u8bc6-1", version, suggested, opflag)
    assert encode_success_bytes(decode_resolution_request(data), WIRE) == general(data)


@given(
    major=st.integers(0, 255), minor=st.integers(0, 255), s_major=st.integers(0, 3),
    s_minor=st.integers(0, 255), opflag=st.integers(0, 2**32 - 1), handle=st.text(min_size=1, max_size=40),
)
def test_any_version_and_opflag(
    major: int, minor: int, s_major: int, s_minor: int, opflag: int, handle: str
) -> None:
    data = request_bytes(handle, (major, minor), (s_major, s_minor), opflag)
    # Twice: the second reply comes from the map of reply versions the first one filled.
    for _ in range(2):
        assert encode_success_bytes(decode_resolution_request(data), WIRE) == general(data)
