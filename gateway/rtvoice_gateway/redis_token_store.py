"""Single-use stream tokens across replicas: used token ids recorded in Redis.

Every replica holding the stream token secret can verify any token, so single use must hold across them:
:class:`RedisTokenStore` claims a token id with ``SET rtvoice:stream-token:{id} 1 NX EX {ttl}`` (atomic:
of two replicas claiming the same id at once, one gets it). Redis forgets the key when the token expires,
so nothing needs purging.

It fails closed: when Redis cannot answer (down, unreachable, slower than ``timeout_s``), ``claim`` raises
:class:`~rtvoice_gateway.security.TokenStoreUnavailable` and the gateway refuses the stream (logged and
counted), because accepting it would let a replayed token through.

:func:`token_store_for` picks the store from the settings: Redis with ``REDIS_URL``, else
:class:`~rtvoice_gateway.security.InMemoryTokenStore` (one process).
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Final

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from rtvoice_gateway.security import InMemoryTokenStore, TokenStore, TokenStoreUnavailable
from rtvoice_gateway.settings import Settings

__all__ = ["DEFAULT_PREFIX", "DEFAULT_TIMEOUT_S", "RedisTokenStore", "token_store_for"]

log = logging.getLogger("rtvoice_gateway.redis_token_store")

DEFAULT_PREFIX: Final = "rtvoice:stream-token:"
DEFAULT_TIMEOUT_S: Final = 1.0
"""How long a claim may take before the stream is refused (Twilio waits a few seconds for the upgrade)."""


class RedisTokenStore(TokenStore):
    """A :class:`~rtvoice_gateway.security.TokenStore` in Redis, shared by every replica.

    Args:
        client: a ``redis.asyncio`` client; the store closes it in :meth:`aclose`.
        prefix: put before each token id to make its key.
        timeout_s: the most a claim may take, retries included.
    """

    def __init__(
        self, client: Redis, *, prefix: str = DEFAULT_PREFIX, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._timeout_s = timeout_s
        self.failures = 0
        """How many claims failed because Redis could not answer."""

    @classmethod
    def from_url(
        cls, url: str, *, prefix: str = DEFAULT_PREFIX, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> RedisTokenStore:
        """A store on the Redis at ``url`` (``redis://``, ``rediss://`` or ``unix://``).

        No connection is made until the first claim. A broken pooled connection (Redis restarted) is
        retried once, at once; each socket operation may take ``timeout_s``.
        """
        client = Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), retries=1),
        )
        return cls(client, prefix=prefix, timeout_s=timeout_s)

    async def claim(self, token_id: str, expires_at: float, now: float) -> bool:
        """See :meth:`TokenStore.claim <rtvoice_gateway.security.TokenStore.claim>`.

        Raises:
            TokenStoreUnavailable: Redis could not answer within ``timeout_s``.
        """
        ttl = math.ceil(expires_at - now)
        if ttl <= 0:
            return False
        try:
            async with asyncio.timeout(self._timeout_s):
                claimed = await self._client.set(f"{self._prefix}{token_id}", b"1", nx=True, ex=ttl)
        except (RedisError, OSError, TimeoutError) as exc:
            self.failures += 1
            # The exception names the host and port, never the URL's password.
            log.error(
                "the stream token store (Redis) did not answer: %s: %s; refusing the stream",
                type(exc).__name__,
                exc or "timed out",
            )
            raise TokenStoreUnavailable("the stream token store (Redis) is unavailable") from exc
        return bool(claimed)

    async def aclose(self) -> None:
        """Close the client and its connections."""
        await self._client.aclose()


def token_store_for(settings: Settings) -> TokenStore:
    """Redis when ``REDIS_URL`` is set, else this process's memory."""
    if settings.redis_url is None:
        return InMemoryTokenStore()
    return RedisTokenStore.from_url(settings.redis_url.get_secret_value())
