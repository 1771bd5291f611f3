"""Single-use stream tokens: a store that lets each token id be claimed once until it expires.

:class:`TokenStore` is the interface (async, so a Redis store can implement it with ``SET NX EX``);
:class:`InMemoryTokenStore` serves one process. With more than one replica, use a shared store
(:class:`rtvoice_gateway.redis_token_store.RedisTokenStore`, chosen by ``REDIS_URL``), or a token replayed
against another replica would be accepted there.
"""

from __future__ import annotations

import heapq
from abc import ABC, abstractmethod
from typing import Final

from rtvoice.exceptions import ConfigurationError
from rtvoice_gateway.security.tokens import StreamTokenError

__all__ = [
    "DEFAULT_MAX_ENTRIES",
    "InMemoryTokenStore",
    "TokenStore",
    "TokenStoreFull",
    "TokenStoreUnavailable",
]

DEFAULT_MAX_ENTRIES: Final = 100_000
"""With 30 s tokens this is more than 3,000 new calls a second, per process."""


class TokenStoreFull(StreamTokenError):
    """The store holds as many unexpired claims as it may; the stream is refused rather than risk a replay."""


class TokenStoreUnavailable(StreamTokenError):
    """The store could not be asked (a shared store is down or slow); the stream is refused (fail closed)."""


class TokenStore(ABC):
    """Records which stream tokens were used."""

    @abstractmethod
    async def claim(self, token_id: str, expires_at: float, now: float) -> bool:
        """Claim ``token_id`` for one use.

        Args:
            token_id: :attr:`StreamGrant.token_id <rtvoice_gateway.security.tokens.StreamGrant.token_id>`.
            expires_at: when the token expires (Unix seconds); the store may forget the id after that.
            now: Unix seconds.

        Returns:
            True the first time; False if it was claimed before or has expired.

        Raises:
            TokenStoreFull: the store cannot record another claim.
            TokenStoreUnavailable: the store could not be reached.
        """

    async def aclose(self) -> None:  # noqa: B027 -- a no-op unless the store holds connections
        """Release the store's connections (nothing to release by default)."""


class InMemoryTokenStore(TokenStore):
    """A :class:`TokenStore` in this process's memory, bounded: expired ids are purged on every claim.

    Args:
        max_entries: the most unexpired claims held at once.

    Raises:
        ConfigurationError: for a non-positive ``max_entries``.
    """

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries <= 0:
            raise ConfigurationError(f"max_entries must be a positive integer, got {max_entries!r}")
        self._max_entries = max_entries
        self._used: set[str] = set()
        self._expiries: list[tuple[float, str]] = []  # a heap, soonest first

    def __len__(self) -> int:
        """The number of claims held (unexpired as of the last claim)."""
        return len(self._used)

    async def claim(self, token_id: str, expires_at: float, now: float) -> bool:
        """See :meth:`TokenStore.claim`."""
        return self.claim_now(token_id, expires_at, now)

    def claim_now(self, token_id: str, expires_at: float, now: float) -> bool:
        """:meth:`claim` without the coroutine, for callers that are not async.

        Raises:
            TokenStoreFull: ``max_entries`` unexpired claims are held.
        """
        expiries = self._expiries
        while expiries and expiries[0][0] <= now:
            self._used.discard(heapq.heappop(expiries)[1])
        if expires_at <= now or token_id in self._used:
            return False
        if len(self._used) >= self._max_entries:
            raise TokenStoreFull(f"{self._max_entries} stream tokens are claimed and unexpired")
        self._used.add(token_id)
        heapq.heappush(expiries, (expires_at, token_id))
        return True
