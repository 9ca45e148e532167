"""The credential section after the body (RFC 3652 §2.2.4, handle-protocol.md §10).

``int4 CredentialLength``; 0 means no credential, and a message that ends right after its body (Teleinfo's
OC 2001 login, §16.5) has none either. A signed credential is parsed into its fields and its raw bytes kept.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from protocol.constants import MAX_HANDLE_LENGTH
from protocol.wire import Reader, Writer

_PREAMBLE = struct.Struct(">BBH")  # version, reserved, options


@dataclass(frozen=True, slots=True)
class Credential:
    version: int
    reserved: int
    options: int
    signer_handle: str
    signer_index: int
    type: str  # HS_SIGNED, HS_MAC (legacy HS_DSAPUBKEY)
    digest_algorithm: str  # e.g. SHA-256, SHA1, HMAC-SHA256, SM3
    signature: bytes
    raw: bytes = field(default=b"", compare=False)  # the credential bytes as received


def pull_credential_body(reader: Reader) -> Credential:
    """Parse a non-empty credential from a reader that holds exactly its bytes."""
    start = reader.pos
    version, reserved, options = reader.unpack(_PREAMBLE)
    signer_handle = reader.string(MAX_HANDLE_LENGTH)
    signer_index = reader.u32()
    ctype = reader.string()
    signed_info = reader.sub_reader(reader.u32())
    algorithm = signed_info.string()
    signature = signed_info.counted_bytes()
    signed_info.expect_end("the credential's signed info")
    reader.expect_end("the credential")
    return Credential(version, reserved, options, signer_handle, signer_index, ctype, algorithm, signature,
                      reader.data[start : reader.end])


def encode_credential_body(c: Credential) -> bytes:
    w = Writer()
    w.raw(_PREAMBLE.pack(c.version, c.reserved, c.options))
    w.string(c.signer_handle)
    w.u32(c.signer_index)
    w.string(c.type)
    signed = Writer()
    signed.string(c.digest_algorithm)
    signed.counted_bytes(c.signature)
    w.counted_bytes(signed.getvalue())
    return w.getvalue()


def pull_credential(reader: Reader) -> Credential | None:
    """The credential trailer: absent or length 0 gives None."""
    if reader.remaining() == 0:
        return None
    length = reader.u32()
    if length == 0:
        return None
    return pull_credential_body(reader.sub_reader(length))


def push_credential(writer: Writer, credential: Credential | None) -> None:
    if credential is None:
        writer.u32(0)
    else:
        writer.counted_bytes(encode_credential_body(credential))
