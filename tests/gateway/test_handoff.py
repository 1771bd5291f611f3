"""AnsweredCalls against a real redis-server: one replica leaves a call's details, one other takes them."""

from __future__ import annotations

import logging

import pytest
from redis.asyncio import Redis

from rtvoice_gateway.handoff import DEFAULT_PREFIX, AnsweredCalls
from rtvoice_gateway.numbers import CallDetails
from support.redis_server import RedisServer

DETAILS = CallDetails(
    call_sid="CA0123",
    from_number="+15550100123",
    to_number="+15550100001",
    account_sid="AC1",
    direction="inbound",
)


async def test_details_left_by_one_replica_are_taken_once_by_another(redis: RedisServer) -> None:
    answering, taking = AnsweredCalls.from_url(redis.url), AnsweredCalls.from_url(redis.url)
    client = Redis.from_url(redis.url)
    try:
        assert await answering.put(DETAILS, ttl_s=35.0)
        assert 0 < await client.ttl(f"{DEFAULT_PREFIX}CA0123") <= 35
        assert await taking.take("CA0123") == DETAILS
        assert await taking.take("CA0123") is None  # taken: no second replica gets it
        assert await answering.take("CA0123") is None
        assert await taking.take("CAunknown") is None
    finally:
        await client.aclose()
        await answering.aclose()
        await taking.aclose()


async def test_unreadable_details_are_logged_and_refused(
    redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    calls = AnsweredCalls.from_url(redis.url)
    client = Redis.from_url(redis.url)
    try:
        await client.set(f"{DEFAULT_PREFIX}CAbad", b"{not json")
        await client.set(f"{DEFAULT_PREFIX}CAmissing", b'{"to_number": "+1"}')
        with caplog.at_level(logging.ERROR, "rtvoice_gateway.handoff"):
            assert await calls.take("CAbad") is None
            assert await calls.take("CAmissing") is None
        assert caplog.text.count("is unreadable") == 2
    finally:
        await client.aclose()
        await calls.aclose()


async def test_an_unreachable_redis_is_logged_counted_and_answers_nothing(
    redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    calls = AnsweredCalls.from_url(redis.url.replace("redis://", "redis://:s3cret-pass@"))
    redis.stop()
    try:
        with caplog.at_level(logging.ERROR, "rtvoice_gateway.handoff"):
            assert not await calls.put(DETAILS, ttl_s=35.0)
            assert await calls.take("CA0123") is None
        assert calls.failures == 2 and "ConnectionError" in caplog.text and "s3cret" not in caplog.text
    finally:
        await calls.aclose()
