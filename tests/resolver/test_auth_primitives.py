"""Secrets, sealing and the SNMS hashed-login rule."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest

from resolver.auth import secrets as sec
from resolver.auth.accounts import canonical_identity
from resolver.auth.sealed import SealError, SecretBox, load_or_create_key, sha256_hex
from resolver.auth.snms_login import CHINA_TZ, check_hashed_password, hashed_password
from resolver.http.authn import AuthError, split_basic_user

FAST = sec.ScryptCost(n=2**10, r=8, p=1)


def test_hash_and_verify() -> None:
    stored = sec.hash_secret("s3cret", FAST)
    assert stored.startswith("scrypt$1024$8$1$")
    assert sec.verify_secret("s3cret", stored)
    assert not sec.verify_secret("s3cret ", stored)
    assert not sec.verify_secret("", stored)


def test_hash_is_salted() -> None:
    assert sec.hash_secret("same", FAST) != sec.hash_secret("same", FAST)


@pytest.mark.parametrize(
    "stored", ["", "plain", "scrypt$x$8$1$aa$bb", "bcrypt$1$2$3$4$5", "scrypt$1024$8$1$!$!"]
)
def test_malformed_hash_never_matches(stored: str) -> None:
    assert not sec.verify_secret("anything", stored)


def test_tokens_are_random_and_digested() -> None:
    first, second = sec.new_token(), sec.new_token()
    assert first != second and len(first) == 43
    assert sec.token_digest(first) == sec.token_digest(first) != first


def test_snms_documented_example() -> None:
    # http-apis.md §2.2: password 123456, date 2019-08-15.
    expected = "58e2c92c46485fdbc35fdcd0814d6c0f000cad5aa156848ca5edaf29406b7661"
    assert hashed_password(sha256_hex("123456"), dt.date(2019, 8, 15)) == expected


def _utc8(year: int, month: int, day: int, hour: int, minute: int = 0) -> float:
    return dt.datetime(year, month, day, hour, minute, tzinfo=CHINA_TZ).timestamp()


def test_snms_login_accepts_today_and_yesterday_in_utc8() -> None:
    documented = "58e2c92c46485fdbc35fdcd0814d6c0f000cad5aa156848ca5edaf29406b7661"
    sha = sha256_hex("123456")
    assert check_hashed_password(documented, sha, _utc8(2019, 8, 15, 12))
    assert check_hashed_password(documented.upper(), sha, _utc8(2019, 8, 16, 0, 30))
    assert not check_hashed_password(documented, sha, _utc8(2019, 8, 17, 0, 0))
    assert not check_hashed_password(documented, sha, _utc8(2019, 8, 14, 23, 59))
    # 2019-08-14 20:00 UTC is already 08-15 in China.
    utc = dt.datetime(2019, 8, 14, 20, tzinfo=dt.UTC).timestamp()
    assert check_hashed_password(documented, sha, utc)
    assert not check_hashed_password(documented, sha256_hex("12345"), _utc8(2019, 8, 15, 12))


def test_secret_box_round_trip_and_tamper(tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path / "node.key")
    assert stat.S_IMODE((tmp_path / "node.key").stat().st_mode) == 0o600
    assert load_or_create_key(tmp_path / "node.key") == key
    box = SecretBox(key)
    sealed = box.seal(b"8d969eef")
    assert box.open(sealed) == b"8d969eef"
    assert box.seal(b"8d969eef") != sealed
    raw = bytearray(sealed.encode())
    # A character in the middle: every one of its 6 bits is data (the last one's low bits may be padding).
    raw[30] = ord("A") if raw[30] != ord("A") else ord("g")
    with pytest.raises(SealError):
        box.open(raw.decode())
    with pytest.raises(SealError):
        SecretBox(b"k" * 32).open(sealed)
    with pytest.raises(SealError):
        box.open("***")


def test_short_key_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        SecretBox(b"short")
    (tmp_path / "k").write_bytes(b"x")
    with pytest.raises(ValueError, match="shorter"):
        load_or_create_key(tmp_path / "k")


def test_canonical_identity() -> None:
    assert canonical_identity("300%3A88.abc.1%2Fadmin") == "300:88.ABC.1/admin"
    assert canonical_identity("300:88.abc.1/ADMIN") == "300:88.ABC.1/ADMIN"


@pytest.mark.parametrize(
    ("decoded", "expected"),
    [
        ("300%3A88.1%2FADMIN:s3:cret", ("300%3A88.1%2FADMIN", "s3:cret")),  # encoded identity (pyhandle)
        ("300:88.1/ADMIN:s3:cret", ("300:88.1/ADMIN", "s3:cret")),  # unencoded identity
        ("acme:pw", ("acme", "pw")),  # SNMS username
        ("acme:", ("acme", "")),
    ],
)
def test_split_basic_user(decoded: str, expected: tuple[str, str]) -> None:
    assert split_basic_user(decoded) == expected


def test_split_basic_user_needs_a_colon() -> None:
    with pytest.raises(AuthError):
        split_basic_user("no-colon")
