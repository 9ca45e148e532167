"""Codes, flags and limits of the Handle protocol 2.x, each with the source it comes from.

Enums keep values they do not know: an unknown opcode or response code decodes to a pseudo-member with the
same integer value (``_missing_``) so that it round-trips unchanged, the way dnspython keeps unknown rdata.
"""

from __future__ import annotations

import enum
from typing import Final


class _OpenIntEnum(enum.IntEnum):
    """An IntEnum that turns unknown values into pseudo-members instead of raising."""

    @classmethod
    def _missing_(cls, value: object) -> _OpenIntEnum | None:
        if not isinstance(value, int):
            return None
        member = int.__new__(cls, value)
        member._name_ = f"UNKNOWN_{value}"
        member._value_ = value
        return member


class OpCode(_OpenIntEnum):
    """RFC 3652 §2.2.2.1 plus the CNRI/Teleinfo/CAICT extensions (handle-protocol.md §5)."""

    RESERVED = 0
    RESOLUTION = 1
    GET_SITE_INFO = 2
    CREATE_HANDLE = 100
    DELETE_HANDLE = 101
    ADD_VALUE = 102
    REMOVE_VALUE = 103
    MODIFY_VALUE = 104
    LIST_HANDLES = 105
    LIST_NA = 106
    CHALLENGE_RESPONSE = 200
    VERIFY_RESPONSE = 201
    HOME_NA = 300
    UNHOME_NA = 301
    LIST_HOMED_NAS = 302
    SESSION_SETUP = 400
    SESSION_TERMINATE = 401
    SESSION_EXCHANGEKEY = 402
    GET_NEXT_TXN_ID = 1000
    RETRIEVE_TXN_LOG = 1001
    DUMP_HANDLES = 1002
    BACKUP_SERVER = 1003
    LOGIN = 2000  # CAICT password login
    LOGIN_ID_SYSTEM = 2001  # CAICT/Teleinfo public-key login (handle-protocol.md §16.5)


class ResponseCode(_OpenIntEnum):
    """RFC 3652 §2.2.2.2 with the CNRI names where they differ (handle-protocol.md §6)."""

    RESERVED = 0
    SUCCESS = 1
    ERROR = 2
    SERVER_TOO_BUSY = 3
    PROTOCOL_ERROR = 4
    OPERATION_NOT_SUPPORTED = 5
    RECURSION_COUNT_TOO_HIGH = 6
    SERVER_BACKUP = 7
    HANDLE_NOT_FOUND = 100
    HANDLE_ALREADY_EXISTS = 101
    INVALID_HANDLE = 102
    VALUES_NOT_FOUND = 200
    VALUE_ALREADY_EXISTS = 201
    INVALID_VALUE = 202
    OUT_OF_DATE_SITE_INFO = 300
    SERVER_NOT_RESP = 301
    SERVICE_REFERRAL = 302
    PREFIX_REFERRAL = 303
    INVALID_ADMIN = 400
    INSUFFICIENT_PERMISSIONS = 401
    AUTHENTICATION_NEEDED = 402
    AUTHENTICATION_FAILED = 403
    INVALID_CREDENTIAL = 404
    AUTHEN_TIMEOUT = 405
    AUTHEN_ERROR = 406
    SESSION_TIMEOUT = 500
    SESSION_FAILED = 501
    INVALID_SESSION_KEY = 502
    NEED_RSAKEY_FOR_SESSIONEXCHANGE = 503
    INVALID_SESSIONSETUP_REQUEST = 504
    SESSION_MESSAGE_REJECTED = 505
    REQUEST_LIMIT_DAILY = 603  # Teleinfo extension


class OpFlag(enum.IntFlag, boundary=enum.KEEP):
    """Header OpFlag bits; bit 0 is the most significant (RFC 3652 §2.2.2.3, handle-protocol.md §7).

    ``boundary=KEEP`` keeps bits that have no name, so unknown flags round-trip.
    """

    NONE = 0
    AT = 0x80000000
    CT = 0x40000000
    ENC = 0x20000000
    REC = 0x10000000
    CA = 0x08000000
    CN = 0x04000000
    KPAL = 0x02000000
    PO = 0x01000000
    RD = 0x00800000
    OVRW = 0x00400000
    MINT = 0x00200000
    DNRF = 0x00100000  # the implementations use 1<<20; pullp's 1<<21 is MINT (§16.7)
    RECU_AUTH = 0x00000004  # Teleinfo
    TRUSTED_QUERY = 0x00000002  # CAICT
    TRUSTED_RESULT = 0x00000001  # CAICT


class MessageFlag(enum.IntFlag, boundary=enum.KEEP):
    """Envelope MessageFlag bits. The low 10 bits are not flags but the suggested version (§3, §16.2)."""

    NONE = 0
    CP = 0x8000
    EC = 0x4000
    TC = 0x2000


class Permission(enum.IntFlag, boundary=enum.KEEP):
    """The per-value permission byte (RFC 3651 §3.1, handle-protocol.md §11.1)."""

    NONE = 0
    PUBLIC_WRITE = 0x01
    PUBLIC_READ = 0x02
    ADMIN_WRITE = 0x04
    ADMIN_READ = 0x08


class AdminPermission(enum.IntFlag, boundary=enum.KEEP):
    """The HS_ADMIN permission mask (handle-protocol.md §12.1)."""

    NONE = 0
    ADD_HANDLE = 0x0001
    DELETE_HANDLE = 0x0002
    ADD_NA = 0x0004
    DELETE_NA = 0x0008
    MODIFY_VALUE = 0x0010
    REMOVE_VALUE = 0x0020
    ADD_VALUE = 0x0040
    MODIFY_ADMIN = 0x0080
    REMOVE_ADMIN = 0x0100
    ADD_ADMIN = 0x0200
    READ_VALUE = 0x0400
    LIST_HANDLES = 0x0800
    LIST_NA = 0x1000  # named only by pullp


class TTLType(_OpenIntEnum):
    RELATIVE = 0
    ABSOLUTE = 1


class DigestAlgorithm(_OpenIntEnum):
    """First byte of a request digest (handle-protocol.md §8.1; TI core/Common.java HASH_CODE_*)."""

    MD5_OLD_FORMAT = 0
    MD5 = 1
    SHA1 = 2
    SHA256 = 3


# Defaults used when the peer does not tell us better. (Final: the compiled modules, setup.py, build these
# into their code instead of looking one up in this module at every use; the resolution path reads several.)
DEFAULT_PORT: Final = 2641  # TI core/HSG.java DEFAULT_TCP_UDP_PORT
DEFAULT_HTTP_PORT: Final = 8000  # TI core/HSG.java DEFAULT_HTTP_PORT
DEFAULT_TTL_S: Final = 86_400  # handle-protocol.md §11
DEFAULT_PERMISSIONS = Permission.ADMIN_READ | Permission.ADMIN_WRITE | Permission.PUBLIC_READ  # 0x0E
SERVER_VERSION: Final = (2, 11)  # TI core/Common.java MAJOR_VERSION/MINOR_VERSION; responses are capped here

# Limits enforced by decoders (handle-protocol.md §1.5).
MAX_MESSAGE_LENGTH: Final = 262_144  # TI core/Common.java MAX_MESSAGE_LENGTH
MAX_HANDLE_LENGTH: Final = 2_048  # TI core/Common.java MAX_HANDLE_LENGTH (bytes on the wire)
MAX_HANDLE_VALUES: Final = 2_048  # TI core/Common.java MAX_HANDLE_VALUES
MAX_ARRAY_SIZE: Final = 1_048_576  # TI core/Common.java MAX_ARRAY_SIZE
MAX_UDP_PACKET_SIZE: Final = 512  # TI core/Common.java MAX_UDP_PACKET_SIZE
MAX_UDP_DATA_SIZE: Final = 492  # 512 - 20-byte envelope; TI core/Common.java MAX_UDP_DATA_SIZE
ENVELOPE_SIZE: Final = 20  # RFC 3652 §2.2.1
HEADER_SIZE: Final = 24  # RFC 3652 §2.2.2
