"""Refused calls and streams: nothing upstream is opened for them, and a refused stream's pre-warmed session
is closed at once."""

from __future__ import annotations

import asyncio
import time

import httpx2
import pytest
from websockets.exceptions import InvalidStatus

from rtvoice import RealtimeAgent, ServerVAD
from rtvoice.testing import RealtimeSimulator, Say, ScriptedBrain
from rtvoice_gateway.numbers import CallDetails
from rtvoice_gateway.testing import SimulatedCall
from support.gateway import PUBLIC, LiveGateway, live_gateway, open_call, quiet_spans, wait_until
from support.timing import seconds


def factory(details: CallDetails) -> RealtimeAgent:
    return RealtimeAgent(instructions="You answer the phone.", turn_detection=ServerVAD())


def simulator() -> RealtimeSimulator:
    return RealtimeSimulator(brain_factory=lambda: ScriptedBrain([Say("Hello.")]))


async def refused_upgrade(call: SimulatedCall, **connect: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await call.connect(**connect)
    assert refused.value.response.status_code == 403


async def test_a_webhook_with_a_bad_signature_is_refused_before_any_session() -> None:
    async with simulator() as sim, live_gateway(factory, sim=sim) as live:
        call = SimulatedCall(live.base_url, auth_token="not-the-token", public_url=PUBLIC)
        with pytest.raises(httpx2.HTTPStatusError) as refused:
            await call.dial()
        assert refused.value.response.status_code == 403
        assert live.gateway.refused == {"bad webhook signature": 1}
        assert live.gateway.pending == {} and not live.gateway.tasks
    assert sim.sessions == []


async def prewarmed(live: LiveGateway) -> SimulatedCall:
    call = live.call()
    await call.dial()
    await wait_until(lambda: len(live.sim.sessions) == 1, 5, "the pre-warmed session")
    return call


async def test_a_bad_upgrade_signature_closes_the_prewarmed_session_at_once() -> None:
    async with simulator() as sim, live_gateway(factory, sim=sim) as live:
        call = await prewarmed(live)
        refused_at = time.monotonic()
        await refused_upgrade(call, signature="bm90IGEgc2lnbmF0dXJl")
        await wait_until(lambda: len(sim.close_times) == 1, 5, "the pre-warmed session's close")
        assert sim.close_times[0] - refused_at < seconds(1)
        assert live.gateway.refused == {"bad upgrade signature": 1}
        assert live.gateway.pending == {}
        # The token is spent: the same stream, now signed, is refused too, and opens nothing.
        await refused_upgrade(call)
        assert live.gateway.refused["stream token used twice"] == 1
    assert len(sim.sessions) == 1


async def test_a_reused_stream_token_is_refused_and_the_first_call_goes_on() -> None:
    async with simulator() as sim, live_gateway(factory, sim=sim, entry={"greeting": "Greet."}) as live:
        call, runner = await open_call(live)
        replay = live.call()
        assert call.twiml is not None
        await refused_upgrade(replay, stream_url=call.twiml.stream_url or "")
        assert live.gateway.refused == {"stream token used twice": 1}
        await wait_until(lambda: quiet_spans(call, 1), 10, "the first call's greeting")
        call.hang_up()
        async with asyncio.timeout(seconds(5)):
            await runner
    assert len(sim.sessions) == 1


async def test_a_start_for_another_call_is_closed_with_1008_and_the_prewarm_closed() -> None:
    async with simulator() as sim, live_gateway(factory, sim=sim) as live:
        call = await prewarmed(live)
        other = live.call()  # another CallSid, on the first call's stream URL
        assert call.twiml is not None and other.call_sid != call.call_sid
        await other.connect(stream_url=call.twiml.stream_url)
        async with asyncio.timeout(seconds(12)):
            await other.run()
        assert other.closed_by == "gateway" and other.close_code == 1008
        await wait_until(lambda: len(sim.close_times) == 1, 5, "the pre-warmed session's close")
        assert [summary.ended_by for summary in live.gateway.finished] == ["refused"]
        assert other.heard.count(0xFF) == len(other.heard)  # the caller heard nothing of the agent
    assert len(sim.sessions) == 1


@pytest.mark.parametrize("token", ["expired", "garbage", "forged"])
async def test_an_invalid_stream_token_is_refused_before_any_session(token: str) -> None:
    async with simulator() as sim, live_gateway(factory, sim=sim) as live:
        call = live.call()
        if token == "expired":
            value = live.gateway.tokens.mint(call.call_sid, time.time() - 3600)
        elif token == "forged":
            value = live.gateway.tokens.mint(call.call_sid, time.time())
            value = value[:-4] + ("AAAA" if not value.endswith("AAAA") else "BBBB")
        else:
            value = "not-a-stream-token"
        url = PUBLIC.replace("https://", "wss://") + f"/twilio/stream/{value}"
        await refused_upgrade(call, stream_url=url)
        assert sum(live.gateway.refused.values()) == 1
        assert [why.startswith("stream token:") for why in live.gateway.refused] == [True]
    assert sim.sessions == []
