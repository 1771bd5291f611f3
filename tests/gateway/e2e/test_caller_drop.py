"""The caller's line drops mid-response (socket closed, no ``stop``): the upstream session closes at once."""

from __future__ import annotations

import asyncio
import time

from rtvoice import RealtimeAgent, ServerVAD
from rtvoice.testing import RealtimeSimulator, Say, ScriptedBrain
from rtvoice_gateway.numbers import CallDetails
from support.gateway import live_gateway, open_call, sounding, tone_voice, wait_until
from support.timing import seconds

LONG_REPLY = "Our opening hours are from nine to five on weekdays and from ten to two on Saturdays. " * 2


def factory(details: CallDetails) -> RealtimeAgent:
    return RealtimeAgent(instructions="You answer the phone.", turn_detection=ServerVAD())


async def test_a_dropped_line_closes_the_upstream_session_within_a_second() -> None:
    async with (
        RealtimeSimulator(brain=ScriptedBrain([Say(LONG_REPLY)]), synthesize=tone_voice) as sim,
        live_gateway(factory, sim=sim, entry={"greeting": "Greet."}) as live,
    ):
        call, runner = await open_call(live)
        await wait_until(
            lambda: bool(sounding(call)) and call.now_ms - sounding(call)[0] / 8 > 500, 10, "reply"
        )
        assert sim.close_times == []
        dropped_at = time.monotonic()
        call.drop()
        async with asyncio.timeout(seconds(5)):
            await runner
        await wait_until(lambda: len(sim.close_times) == 1, 5, "the upstream close")
        await wait_until(lambda: len(live.gateway.finished) == 1, 5, "the call's summary")

    delay = sim.close_times[0] - dropped_at
    print(f"upstream closed {delay * 1000:.0f} ms after the drop")
    assert 0 < delay < seconds(1)
    assert call.closed_by == "drop"
    summary = live.gateway.finished[0]
    assert summary.ended_by == "caller" and summary.line_end == "disconnect"
    assert live.api.updates == []  # nothing to hang up: the caller is gone
    assert live.gateway.calls_active == 0
