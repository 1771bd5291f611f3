"""Stream tokens: signed, short-lived, single-use capabilities that bind a media stream to its call.

The voice webhook mints a token for the call's ``CallSid`` and puts it in the stream URL's *path*
(``wss://…/twilio/stream/{token}``; Twilio drops query strings). The WebSocket endpoint verifies it,
claims it in a :mod:`single-use store <rtvoice_gateway.security.token_store>`, and then accepts only a
``start`` whose ``callSid`` is the token's. Any replica holding the secret can verify any token.

Format (URL-safe, about 115 characters)::

    base64url(payload) "." base64url(HMAC-SHA256(secret, "rtvoice-stream-token\\0" + payload))
    payload = version (1 byte, 1) | expires_at (8 bytes, big-endian Unix seconds) | nonce (9 bytes) | CallSid

The nonce makes every token distinct (two webhooks for one call get two tokens) and is the token's id
in the single-use store. Times are wall-clock Unix seconds (``time.time()``), because a token crosses
processes and pods; they come in as ``now`` arguments.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from rtvoice.exceptions import ConfigurationError, VoiceAgentError

__all__ = [
    "DEFAULT_TOKEN_TTL_SECONDS",
    "MIN_SECRET_BYTES",
    "BadTokenSignature",
    "ExpiredToken",
    "MalformedToken",
    "StreamGrant",
    "StreamTokenError",
    "StreamTokens",
]

DEFAULT_TOKEN_TTL_SECONDS: Final = 30
"""Twilio opens the stream within a second or two of our TwiML; 30 s leaves room for slow networks."""
MIN_SECRET_BYTES: Final = 32
"""The shortest secret accepted (256 bits, the HMAC-SHA256 block's worth of key strength)."""

_VERSION = 1
_NONCE_BYTES = 9
_HEADER_BYTES = 1 + 8 + _NONCE_BYTES
_MAX_TOKEN_CHARS = 256
_DOMAIN = b"rtvoice-stream-token\x00"  # keeps these MACs apart from anything else signed with the secret
_CALL_SID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_B64URL = re.compile(r"[A-Za-z0-9_-]+")


class StreamTokenError(VoiceAgentError):
    """A stream token was refused. The shell closes the WebSocket (1008) without saying which kind."""


class MalformedToken(StreamTokenError):
    """Not a token we could have minted: wrong shape, encoding, version or length."""


class BadTokenSignature(StreamTokenError):
    """The token's signature does not match: forged, altered, or minted with another secret."""


class ExpiredToken(StreamTokenError):
    """The token was valid but its lifetime is over."""


@dataclass(frozen=True, slots=True)
class StreamGrant:
    """What a verified token grants.

    Attributes:
        call_sid: the call the stream must belong to (compare with ``start.callSid``).
        token_id: the token's unique id: claim it in the single-use store.
        expires_at: Unix seconds after which the token is refused (and the store may forget the id).
    """

    call_sid: str
    token_id: str
    expires_at: int


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not _B64URL.fullmatch(text):
        raise MalformedToken("a token part is not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise MalformedToken("a token part is not base64url") from None


def _random_nonce() -> bytes:
    return os.urandom(_NONCE_BYTES)


class StreamTokens:
    """Mints and verifies stream tokens with one secret.

    Args:
        secret: at least :data:`MIN_SECRET_BYTES` random bytes, shared by every replica.
        ttl_seconds: how long a token stays valid after minting.
        nonce_factory: returns 9 unpredictable bytes per token (tests pass a fixed one).

    Raises:
        ConfigurationError: for a short secret or a non-positive lifetime.
    """

    __slots__ = ("_nonce_factory", "_secret", "_ttl")

    def __init__(
        self,
        secret: bytes,
        *,
        ttl_seconds: int = DEFAULT_TOKEN_TTL_SECONDS,
        nonce_factory: Callable[[], bytes] = _random_nonce,
    ) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise ConfigurationError(f"the stream token secret needs at least {MIN_SECRET_BYTES} bytes")
        if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int) or ttl_seconds <= 0:
            raise ConfigurationError(f"ttl_seconds must be a positive integer, got {ttl_seconds!r}")
        self._secret = bytes(secret)
        self._ttl = ttl_seconds
        self._nonce_factory = nonce_factory

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, _DOMAIN + payload, hashlib.sha256).digest()

    def mint(self, call_sid: str, now: float) -> str:
        """A token for ``call_sid``, valid for ``ttl_seconds`` from ``now``.

        Args:
            call_sid: the call's id (letters, digits, ``_`` and ``-``, at most 64 characters).
            now: Unix seconds.

        Returns:
            The token: URL-safe, no ``/``, ``?`` or ``=``; put it in the stream URL's path.

        Raises:
            ValueError: for a ``call_sid`` outside that alphabet or length, or a nonce of the wrong size.
        """
        if not _CALL_SID.fullmatch(call_sid):
            raise ValueError(f"call_sid must be 1-64 letters, digits, '_' or '-', got {call_sid!r:.80}")
        nonce = self._nonce_factory()
        if len(nonce) != _NONCE_BYTES:
            raise ValueError(f"nonce_factory must return {_NONCE_BYTES} bytes, got {len(nonce)}")
        expires_at = int(now) + self._ttl
        payload = bytes([_VERSION]) + expires_at.to_bytes(8, "big") + nonce + call_sid.encode("ascii")
        return f"{_b64encode(payload)}.{_b64encode(self._mac(payload))}"

    def verify(self, token: str, now: float) -> StreamGrant:
        """Check a token's shape, signature and lifetime (not whether it was used: that is the store's job).

        Args:
            token: the path segment from the stream URL.
            now: Unix seconds.

        Returns:
            The call the token is bound to, its id and its expiry.

        Raises:
            MalformedToken: not a token of ours at all.
            BadTokenSignature: the signature does not match.
            ExpiredToken: the lifetime is over (``now >= expires_at``).
        """
        if len(token) > _MAX_TOKEN_CHARS or token.count(".") != 1:
            raise MalformedToken("a token is two base64url parts joined by '.'")
        payload_text, mac_text = token.split(".")
        payload = _b64decode(payload_text)
        mac = _b64decode(mac_text)
        if not hmac.compare_digest(mac, self._mac(payload)):
            raise BadTokenSignature("the token's signature does not match")
        # Signed by us, so the payload is well formed unless the format changed (the version says).
        if len(payload) <= _HEADER_BYTES or payload[0] != _VERSION:
            raise MalformedToken("unknown token version")
        expires_at = int.from_bytes(payload[1:9], "big")
        if now >= expires_at:
            raise ExpiredToken(f"the token expired {now - expires_at:.0f} s ago")
        return StreamGrant(
            call_sid=payload[_HEADER_BYTES:].decode("ascii"),
            token_id=payload[9:_HEADER_BYTES].hex(),
            expires_at=expires_at,
        )
