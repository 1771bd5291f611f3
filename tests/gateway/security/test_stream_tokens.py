"""StreamTokens: the documented format, lifetimes, and only StreamTokenError for anything else."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtvoice.exceptions import ConfigurationError
from rtvoice_gateway.security import (
    BadTokenSignature,
    ExpiredToken,
    MalformedToken,
    StreamGrant,
    StreamTokenError,
    StreamTokens,
)

SECRET = bytes(range(32))
NONCE = bytes.fromhex("0102030405060708ff")
CALL_SID = "CA5d1b2bd6a6ec3b9c1f9bbd5a0b7c1f42"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed(payload: bytes, secret: bytes = SECRET) -> str:
    """A token built by hand from the format in the module docstring."""
    mac = hmac.new(secret, b"rtvoice-stream-token\x00" + payload, hashlib.sha256).digest()
    return f"{b64(payload)}.{b64(mac)}"


def tokens(**kwargs: object) -> StreamTokens:
    return StreamTokens(SECRET, nonce_factory=lambda: NONCE, **kwargs)  # type: ignore[arg-type]


def test_the_documented_format() -> None:
    token = tokens(ttl_seconds=30).mint(CALL_SID, now=1_700_000_000.9)
    payload = b"\x01" + (1_700_000_030).to_bytes(8, "big") + NONCE + CALL_SID.encode()
    assert token == signed(payload)
    assert re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", token)
    assert len(token) < 130


def test_verify_grants_the_call_until_expiry() -> None:
    minter = tokens(ttl_seconds=30)
    token = minter.mint(CALL_SID, now=1000.0)
    grant = StreamGrant(call_sid=CALL_SID, token_id=NONCE.hex(), expires_at=1030)
    assert minter.verify(token, now=1000.0) == grant
    assert minter.verify(token, now=1029.999) == grant
    with pytest.raises(ExpiredToken):
        minter.verify(token, now=1030.0)


def test_every_token_is_distinct_with_the_default_nonces() -> None:
    minter = StreamTokens(SECRET)
    first, second = minter.mint(CALL_SID, 0.0), minter.mint(CALL_SID, 0.0)
    assert first != second
    assert minter.verify(first, 1.0).token_id != minter.verify(second, 1.0).token_id


def test_another_secret_or_an_altered_token_is_refused() -> None:
    token = tokens().mint(CALL_SID, now=0.0)
    with pytest.raises(BadTokenSignature):
        StreamTokens(b"x" * 32).verify(token, now=1.0)
    payload, mac = token.split(".")
    other = b64(b"\x01" + (10**9).to_bytes(8, "big") + NONCE + CALL_SID.encode())
    for altered in (f"{other}.{mac}", f"{payload}.{b64(bytes(32))}", f"{payload}.{mac[:-4]}"):
        with pytest.raises(BadTokenSignature):
            tokens().verify(altered, now=1.0)


@pytest.mark.parametrize(
    "token",
    [
        "",
        ".",
        "abc",
        "a.b.c",
        "a=.b",
        "a/b.c",
        "ab+.cd",
        "A.AAAA",
        "AAAA.A",
        "é.é",
        "a" * 300 + ".b",
        "AAAA. AAA",
    ],
)
def test_malformed_tokens(token: str) -> None:
    with pytest.raises(MalformedToken):
        tokens().verify(token, now=0.0)


@pytest.mark.parametrize(
    "payload",
    [b"\x01", b"\x01" + bytes(17), b"\x02" + (10**10).to_bytes(8, "big") + NONCE + b"CA1"],
)
def test_a_signed_payload_of_another_version_is_malformed(payload: bytes) -> None:
    with pytest.raises(MalformedToken, match="version"):
        tokens().verify(signed(payload), now=0.0)


@pytest.mark.parametrize("call_sid", ["", "CA 1", "CA/1", "CA.1", "x" * 65, "CAé"])
def test_call_sids_outside_the_alphabet_are_refused(call_sid: str) -> None:
    with pytest.raises(ValueError, match="call_sid"):
        tokens().mint(call_sid, now=0.0)


def test_a_nonce_of_the_wrong_size_is_refused() -> None:
    with pytest.raises(ValueError, match="9 bytes"):
        StreamTokens(SECRET, nonce_factory=lambda: b"123").mint(CALL_SID, now=0.0)


@pytest.mark.parametrize(
    ("secret", "ttl"), [(b"x" * 31, 30), (SECRET, 0), (SECRET, -5), (SECRET, True), (SECRET, 1.5)]
)
def test_bad_configuration(secret: bytes, ttl: object) -> None:
    with pytest.raises(ConfigurationError):
        StreamTokens(secret, ttl_seconds=ttl)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200) | st.from_regex(r"[A-Za-z0-9_-]{0,80}\.[A-Za-z0-9_-]{0,80}", fullmatch=True))
def test_any_text_is_refused_with_a_stream_token_error(token: str) -> None:
    with pytest.raises(StreamTokenError):
        tokens().verify(token, now=0.0)


@settings(max_examples=200, deadline=None)
@given(
    st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True),
    st.floats(0, 4e9),
    st.binary(min_size=9, max_size=9),
)
def test_round_trip(call_sid: str, now: float, nonce: bytes) -> None:
    minter = StreamTokens(SECRET, ttl_seconds=60, nonce_factory=lambda: nonce)
    assert minter.verify(minter.mint(call_sid, now), now) == StreamGrant(call_sid, nonce.hex(), int(now) + 60)
