"""The demo records ``resolver demo`` loads (and the tests resolve): one homed prefix, one delegated prefix.

``88.100.1`` is homed here; ``88.100.2`` is delegated to an enterprise node at 192.0.2.10:2641 (a TEST-NET
address), so identifiers under it get a prefix referral (RC 303) with its HS_SITE value.
"""

from __future__ import annotations

from protocol.constants import Permission
from protocol.valuedata import Interface, ServerInfo, SiteInfo, address_from_text, encode_typed
from protocol.values import HandleValue
from storage.api import HandleStore, PrefixRecord, PrefixStatus

DEMO_PREFIX = "88.100.1"
DELEGATED_PREFIX = "88.100.2"
ACTOR = "demo"
PRIVATE = Permission.ADMIN_READ | Permission.ADMIN_WRITE  # not publicly readable


def site_value(index: int, host: str, port: int, value_type: str = "HS_SITE") -> HandleValue:
    """An HS_SITE value naming one server with TCP, UDP (query) and HTTP interfaces on ``port``."""
    interfaces = (Interface(3, 1, port), Interface(2, 0, port), Interface(3, 2, 8000))
    site = SiteInfo(serial_number=1, attributes=(("desc", "enterprise node"),),
                    servers=(ServerInfo(1, address_from_text(host), b"", interfaces),))
    return HandleValue(index, value_type, encode_typed(site))


def _text(index: int, value_type: str, text: str, **kw: Permission) -> HandleValue:
    return HandleValue(index, value_type, text.encode("utf-8"), **kw)  # type: ignore[arg-type]


DEMO_RECORDS: dict[str, tuple[HandleValue, ...]] = {
    f"{DEMO_PREFIX}/demo-url": (
        _text(1, "URL", "https://example.com/products/demo-url"),
        _text(2, "DESC", "A product whose QR code redirects to its web page"),
    ),
    f"{DEMO_PREFIX}/demo-text": (
        _text(1, "DESC", "A part with no web page: the proxy shows this record"),
        _text(2, "EMAIL", "quality@example.com"),
    ),
    f"{DEMO_PREFIX}/demo-private": (
        _text(1, "DESC", "Public description"),
        _text(2, "SUPPLIER_PRICE", "42.00 CNY", permissions=PRIVATE),
    ),
    f"{DEMO_PREFIX}/demo-big": tuple(
        _text(i, f"ATTR_{i}", f"attribute {i}: " + "数据" * 30) for i in range(1, 9)
    ),
    f"{DEMO_PREFIX}/产品-001": (_text(1, "URL", "https://example.com/products/001"),),
}


def demo_prefixes(handle_port: int) -> list[PrefixRecord]:
    """The homed demo prefix (its 0.NA record points at this node) and a delegated one."""
    homed = PrefixRecord(DEMO_PREFIX, PrefixStatus.HOMED, None, (site_value(1, "127.0.0.1", handle_port),))
    delegated = PrefixRecord(
        DELEGATED_PREFIX, PrefixStatus.DELEGATED, None,
        (site_value(1, "192.0.2.10", 2641, "HS_SITE.PREFIX"), _text(2, "HS_SERV", "0.NA/88.100.2")),
    )
    return [homed, delegated]


async def load_demo(store: HandleStore, handle_port: int = 2641) -> None:
    """Home the demo prefixes and (over)write the demo identifiers."""
    for record in demo_prefixes(handle_port):
        await store.put_prefix(record, actor=ACTOR)
    for handle, values in DEMO_RECORDS.items():
        await store.overwrite(handle, values, actor=ACTOR)
