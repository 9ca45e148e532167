"""The SNMS hashed login rule (http-apis.md §2.2): ``sha256hex(sha256hex(password) + "yyyy-MM-dd")``.

The documents do not say which clock the server uses; China uses UTC+8, and around midnight a client's date
may lag, so today and yesterday in UTC+8 are accepted (http-apis.md §2.2, inference).
"""

from __future__ import annotations

import datetime as dt
import hmac

from resolver.auth.sealed import sha256_hex

CHINA_TZ = dt.timezone(dt.timedelta(hours=8))


def hashed_password(password_sha_hex: str, day: dt.date) -> str:
    return sha256_hex(password_sha_hex + day.isoformat())


def accepted_days(now_s: float) -> tuple[dt.date, dt.date]:
    today = dt.datetime.fromtimestamp(now_s, CHINA_TZ).date()
    return today, today - dt.timedelta(days=1)


def check_hashed_password(submitted: str, password_sha_hex: str, now_s: float) -> bool:
    """Constant-time comparison against every accepted day (both are always computed)."""
    results = [
        hmac.compare_digest(submitted.lower().encode(), hashed_password(password_sha_hex, day).encode())
        for day in accepted_days(now_s)
    ]
    return any(results)
