"""Two gateway processes (two uvicorn servers, two Gateways, one stream token secret), as two replicas behind
one load balancer.

Single use: a stream token used on one is refused on the other when they share a Redis (REDIS_URL), and is
not without one (each process remembers only its own). The replay is the worst case: the carrier's webhook
retry landed on the second gateway, so it holds an answered call for that CallSid and would take the stream.

Handoff: a call whose webhook reached one gateway and whose stream reaches the other is taken over there
with Redis, and refused without it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from websockets.exceptions import InvalidStatus

from rtvoice import RealtimeAgent, ServerVAD
from rtvoice.testing import RealtimeSimulator, Say, ScriptedBrain
from rtvoice_gateway.numbers import CallDetails
from rtvoice_gateway.redis_token_store import RedisTokenStore
from rtvoice_gateway.security import InMemoryTokenStore
from rtvoice_gateway.testing import SimulatedCall
from support.gateway import LiveGateway, live_gateway, open_call, quiet_spans, wait_until
from support.redis_server import RedisServer
from support.timing import seconds

SECRET = "one-secret-shared-by-every-replica-0123456789"


def factory(details: CallDetails) -> RealtimeAgent:
    return RealtimeAgent(instructions="You answer the phone.", turn_detection=ServerVAD())


@contextlib.asynccontextmanager
async def two_gateways(
    redis_url: str | None,
) -> AsyncIterator[tuple[RealtimeSimulator, LiveGateway, LiveGateway]]:
    settings: dict[str, object] = {"stream_token_secret": SECRET}
    if redis_url is not None:
        settings["redis_url"] = redis_url
    async with (
        RealtimeSimulator(brain_factory=lambda: ScriptedBrain([Say("Hello.")])) as sim,
        live_gateway(factory, sim=sim, settings=settings, entry={"greeting": "Greet."}) as a,
        live_gateway(factory, sim=sim, settings=settings, entry={"greeting": "Greet."}) as b,
    ):
        assert a.server.port != b.server.port and a.gateway is not b.gateway
        yield sim, a, b


async def webhook_retried_on(b: LiveGateway, call: SimulatedCall) -> SimulatedCall:
    """The carrier retries ``call``'s webhook and the load balancer sends it to ``b``."""
    retry = b.call()
    retry.call_sid = call.call_sid
    await retry.dial()
    assert call.call_sid in b.gateway.pending
    return retry


async def end(*runners: tuple[SimulatedCall, asyncio.Task[None]]) -> None:
    for call, runner in runners:
        call.hang_up()
        async with asyncio.timeout(seconds(10)):
            await runner


async def test_a_token_used_on_one_gateway_is_refused_on_another_sharing_redis(redis: RedisServer) -> None:
    async with two_gateways(redis.url) as (sim, a, b):
        assert isinstance(a.gateway.token_store, RedisTokenStore)
        assert isinstance(b.gateway.token_store, RedisTokenStore)
        call, runner = await open_call(a)
        assert call.twiml is not None and call.twiml.stream_url is not None
        await wait_until(lambda: a.gateway.calls_active == 1, 5, "the call on A")
        replay = await webhook_retried_on(b, call)
        with pytest.raises(InvalidStatus) as refused:
            await replay.connect(stream_url=call.twiml.stream_url)
        assert refused.value.response.status_code == 403
        assert b.gateway.refused == {"stream token used twice": 1}
        assert b.gateway.calls_total == 0 and a.gateway.calls_total == 1
        await end((call, runner))


async def test_without_redis_each_gateway_remembers_only_its_own_tokens() -> None:
    async with two_gateways(None) as (sim, a, b):
        assert isinstance(a.gateway.token_store, InMemoryTokenStore)
        call, runner = await open_call(a)
        assert call.twiml is not None and call.twiml.stream_url is not None
        await wait_until(lambda: a.gateway.calls_active == 1, 5, "the call on A")
        replay = await webhook_retried_on(b, call)
        await replay.connect(stream_url=call.twiml.stream_url)  # accepted: B never saw the token used
        replayed = asyncio.create_task(replay.run())
        await wait_until(lambda: b.gateway.calls_active == 1, 5, "the replayed call on B")
        assert b.gateway.refused == {}
        await end((call, runner), (replay, replayed))


async def test_an_unreachable_redis_refuses_the_stream(redis: RedisServer) -> None:
    url = redis.url
    redis.stop()
    async with (
        RealtimeSimulator(brain_factory=lambda: ScriptedBrain([Say("Hello.")])) as sim,
        live_gateway(factory, sim=sim, settings={"redis_url": url}) as live,
    ):
        call = live.call()
        await call.dial()
        with pytest.raises(InvalidStatus) as refused:
            await call.connect()
        assert refused.value.response.status_code == 403
        assert live.gateway.refused == {"token store: TokenStoreUnavailable": 1}
        assert live.gateway.calls_total == 0
        store = live.gateway.token_store
        assert isinstance(store, RedisTokenStore) and store.failures == 1


async def test_a_stream_that_reaches_the_other_gateway_is_taken_over_there(redis: RedisServer) -> None:
    async with two_gateways(redis.url) as (sim, a, b):
        call = a.call()
        await call.dial()  # the webhook reached A: A pre-warms
        await wait_until(lambda: len(sim.sessions) == 1, 5, "A's pre-warmed session")
        call.base_url = b.base_url  # ... and the load balancer sends the stream to B
        await call.connect()
        runner = asyncio.create_task(call.run())
        await wait_until(lambda: quiet_spans(call, 1), 10, "the greeting, from B")
        assert (a.gateway.calls_total, b.gateway.calls_total) == (0, 1)
        assert b.gateway.refused == {} and len(sim.sessions) == 2
        assert call.call_sid in a.gateway.pending  # closed when the token's lifetime is over
        await end((call, runner))
        await wait_until(lambda: len(b.gateway.finished) == 1, 5, "the call's end on B")
        assert [summary.ended_by for summary in b.gateway.finished] == ["caller"]


async def test_without_redis_a_stream_that_reaches_the_other_gateway_is_refused() -> None:
    async with two_gateways(None) as (sim, a, b):
        call = a.call()
        await call.dial()
        call.base_url = b.base_url
        with pytest.raises(InvalidStatus) as refused:
            await call.connect()
        assert refused.value.response.status_code == 403
        assert b.gateway.refused == {"no answered call for this stream": 1}
