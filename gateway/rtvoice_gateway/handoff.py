"""Answered calls that any replica can take: a media stream may reach another pod than its webhook did.

With several replicas behind one load balancer, the carrier's webhook and the call's media stream are two
requests that may reach different pods; nothing in them lets an ingress route both to one pod. The pod
that answers the webhook prepares the call in its memory (the agent, the pre-warmed session) and, with
``REDIS_URL`` set, also leaves the call's details in Redis (``rtvoice:answered:{CallSid}``, JSON, expiring
with the stream token). A pod that gets a stream whose token is valid (and now used) but whose call it did
not answer takes the details (``GETDEL``: one pod at most) and builds the call's agent itself, as with
``PREWARM=0``; the answering pod's pre-warmed session is closed when the token's lifetime is over.

Failures never break a call that reaches its own pod: a failed ``put`` is logged (the stream can still
come back to this pod), a failed ``take`` is logged and the stream refused as before.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from typing import Final

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from rtvoice_gateway.numbers import CallDetails

__all__ = ["DEFAULT_PREFIX", "AnsweredCalls"]

log = logging.getLogger("rtvoice_gateway.handoff")

DEFAULT_PREFIX: Final = "rtvoice:answered:"
_FIELDS = ("from_number", "to_number", "account_sid", "direction")  # and the key's CallSid


class AnsweredCalls:
    """The details of answered calls, in Redis, for whichever replica gets the stream.

    Args:
        client: a ``redis.asyncio`` client; closed by :meth:`aclose`.
        prefix: put before each CallSid to make its key.
        timeout_s: the most one operation may take.
    """

    def __init__(self, client: Redis, *, prefix: str = DEFAULT_PREFIX, timeout_s: float = 1.0) -> None:
        self._client = client
        self._prefix = prefix
        self._timeout_s = timeout_s
        self.failures = 0
        """How many operations failed because Redis could not answer."""

    @classmethod
    def from_url(cls, url: str, *, timeout_s: float = 1.0) -> AnsweredCalls:
        """On the Redis at ``url``; no connection is made until the first operation."""
        client = Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), retries=1),
        )
        return cls(client, timeout_s=timeout_s)

    async def put(self, details: CallDetails, ttl_s: float) -> bool:
        """Leave ``details`` for ``ttl_s`` seconds. False (logged) if Redis could not answer."""
        value = json.dumps({name: getattr(details, name) for name in _FIELDS})
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._client.set(
                    f"{self._prefix}{details.call_sid}", value, ex=max(1, math.ceil(ttl_s))
                )
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed("recording the answered call", exc)
            return False
        return True

    async def take(self, call_sid: str) -> CallDetails | None:
        """The details left for ``call_sid``, removed so that no other replica takes them; None if there are
        none (expired, taken, never answered by us) or Redis could not answer (logged)."""
        try:
            async with asyncio.timeout(self._timeout_s):
                raw = await self._client.getdel(f"{self._prefix}{call_sid}")
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed("taking an answered call", exc)
            return None
        if raw is None:
            return None
        try:
            fields = json.loads(raw)
            return CallDetails(
                call_sid=call_sid,
                from_number=str(fields["from_number"]),
                to_number=str(fields["to_number"]),
                account_sid=str(fields["account_sid"]),
                direction=str(fields["direction"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            log.error("the answered call %s in Redis is unreadable: %s", call_sid, exc)
            return None

    def _failed(self, what: str, exc: BaseException) -> None:
        self.failures += 1
        log.error("%s in Redis failed: %s: %s", what, type(exc).__name__, exc or "timed out")

    async def aclose(self) -> None:
        """Close the client and its connections."""
        await self._client.aclose()
