"""Twenty calls at once through one gateway: each caller hears only its own agent.

Each agent's instructions name its caller's number; the simulator's brain says that number, and its voice
(``tone_voice``) has a pitch set by it, so each caller can tell on the carrier side whose agent it hears.
"""

from __future__ import annotations

import asyncio
import re

from rtvoice import RealtimeAgent, ServerVAD
from rtvoice.testing import BrainContext, RealtimeSimulator, Say, Step
from rtvoice_gateway.numbers import CallDetails
from rtvoice_gateway.testing import SimulatedCall
from support.gateway import (
    dominant_hz,
    live_gateway,
    open_call,
    quiet_spans,
    sounding,
    tone_voice,
    wait_until,
)
from support.timing import seconds

CALLS = 20


def factory(details: CallDetails) -> RealtimeAgent:
    n = int(details.from_number[-2:])
    return RealtimeAgent(instructions=f"You are agent {n}. Say so.", turn_detection=ServerVAD())


def brain(ctx: BrainContext) -> list[Step]:
    found = re.search(r"agent (\d+)", ctx.instructions)
    assert found is not None, ctx.instructions
    return [Say(f"Hello, you are talking to agent {found.group(1)}.")]


def pitches(call: SimulatedCall) -> set[int]:
    """The dominant pitch (rounded to 10 Hz) of every 100 ms the caller heard that holds agent audio."""
    found = set()
    for start in range(0, len(call.heard) - 800, 800):
        if len(sounding(call, start, start + 800)) == 800:
            found.add(round(dominant_hz(bytes(call.heard[start : start + 800])), -1))
    return {int(hz) for hz in found}


async def test_twenty_simultaneous_calls_each_hear_only_their_own_agent() -> None:
    async with (
        RealtimeSimulator(brain=brain, synthesize=tone_voice) as sim,
        live_gateway(factory, sim=sim, entry={"greeting": "Greet."}) as live,
    ):
        opened = await asyncio.gather(
            *(open_call(live, from_number=f"+155502000{n:02d}") for n in range(CALLS))
        )
        calls = [call for call, _ in opened]
        await wait_until(lambda: all(quiet_spans(call, 1) for call in calls), 20, "every greeting")
        assert live.gateway.calls_active == CALLS
        for call in calls:
            call.hang_up()
        async with asyncio.timeout(seconds(10)):
            await asyncio.gather(*(runner for _, runner in opened))
        await wait_until(lambda: len(live.gateway.finished) == CALLS, 5, "every call's summary")

    for n, call in enumerate(calls):
        assert pitches(call) == {300 + 40 * n}, (n, pitches(call))
        assert len(list(call.heard_spans())) == 1
    summaries = {summary.call_sid: summary for summary in live.gateway.finished}
    for n, call in enumerate(calls):
        result = summaries[call.call_sid].result
        assert result is not None
        assert [(t.role, t.transcript) for t in result.turns] == [
            ("assistant", f"Hello, you are talking to agent {n}.")
        ]
    assert len(sim.sessions) == CALLS and len(sim.close_times) == CALLS
    assert live.gateway.calls_active == 0
