"""RedisTokenStore against a real redis-server: each id once across stores, expiry in Redis, fail closed."""

from __future__ import annotations

import asyncio
import logging

import pytest
from redis.asyncio import Redis

from rtvoice_gateway.redis_token_store import DEFAULT_PREFIX, RedisTokenStore, token_store_for
from rtvoice_gateway.security import InMemoryTokenStore, TokenStoreUnavailable
from rtvoice_gateway.settings import Settings, SettingsError
from support.redis_server import RedisServer


async def test_an_id_is_claimed_once(redis: RedisServer) -> None:
    store = RedisTokenStore.from_url(redis.url)
    try:
        assert await store.claim("a", expires_at=1030.0, now=1000.0)
        assert not await store.claim("a", expires_at=1030.0, now=1001.0)
        assert await store.claim("b", expires_at=1030.0, now=1001.0)
    finally:
        await store.aclose()


async def test_the_key_expires_with_the_token(redis: RedisServer) -> None:
    store = RedisTokenStore.from_url(redis.url)
    client = Redis.from_url(redis.url)
    try:
        assert await store.claim("a", expires_at=1012.5, now=1000.0)
        assert await client.get(f"{DEFAULT_PREFIX}a") == b"1"
        assert 0 < await client.ttl(f"{DEFAULT_PREFIX}a") <= 13  # ceil(12.5)
        assert not await store.claim("late", expires_at=1000.0, now=1000.0)  # expired: refused, not stored
        assert await client.exists(f"{DEFAULT_PREFIX}late") == 0
    finally:
        await client.aclose()
        await store.aclose()


async def test_two_stores_on_one_redis_share_the_claims(redis: RedisServer) -> None:
    one, two = RedisTokenStore.from_url(redis.url), RedisTokenStore.from_url(redis.url)
    try:
        assert await one.claim("a", expires_at=1030.0, now=1000.0)
        assert not await two.claim("a", expires_at=1030.0, now=1000.0)
        # Claimed at the same moment from both: exactly one wins.
        results = await asyncio.gather(
            *(store.claim("race", expires_at=1030.0, now=1000.0) for store in (one, two) * 10)
        )
        assert sorted(results) == [False] * 19 + [True]
    finally:
        await one.aclose()
        await two.aclose()


async def test_a_stopped_redis_refuses_with_a_logged_counted_error_and_no_password(
    redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = redis.url.replace("redis://", "redis://:s3cret-pass@")
    store = RedisTokenStore.from_url(url)
    redis.stop()
    try:
        with caplog.at_level(logging.ERROR, "rtvoice_gateway.redis_token_store"):
            with pytest.raises(TokenStoreUnavailable):
                await store.claim("a", expires_at=1030.0, now=1000.0)
        assert store.failures == 1
        assert "did not answer" in caplog.text and "ConnectionError" in caplog.text
        assert "s3cret" not in caplog.text
    finally:
        await store.aclose()


async def test_a_redis_that_never_answers_refuses_within_the_timeout() -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # read nothing, answer nothing

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    store = RedisTokenStore.from_url(f"redis://127.0.0.1:{port}/0", timeout_s=0.2)
    try:
        with pytest.raises(TokenStoreUnavailable):
            await store.claim("a", expires_at=1030.0, now=1000.0)
        assert store.failures == 1 and accepted
    finally:
        await store.aclose()
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_the_settings_pick_the_store(redis: RedisServer) -> None:
    assert isinstance(token_store_for(Settings()), InMemoryTokenStore)
    store = token_store_for(Settings.from_env({"REDIS_URL": redis.url}))
    try:
        assert isinstance(store, RedisTokenStore)
        assert await store.claim("a", expires_at=1030.0, now=1000.0)
    finally:
        await store.aclose()


@pytest.mark.parametrize("url", ["http://:hunter2@cache:6379", "cache:6379", "hunter2"])
def test_a_bad_redis_url_is_named_and_not_echoed(url: str) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"REDIS_URL": url})
    assert str(refused.value).startswith("REDIS_URL: must be a redis://")
    assert "hunter2" not in str(refused.value)
