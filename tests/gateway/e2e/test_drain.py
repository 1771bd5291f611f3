"""The drain in-process: new calls get 503, the reply in progress is heard whole, then the goodbye and the
hang-up. (The ``serve`` process and its SIGTERM: tests/gateway/test_serve_drain.py.)"""

from __future__ import annotations

import asyncio
import math

import httpx2
import numpy as np
import pytest

from rtvoice import RealtimeAgent, ServerVAD
from rtvoice.testing import RealtimeSimulator, Say, ScriptedBrain
from rtvoice_codecs import pcm16_to_ulaw
from rtvoice_gateway.numbers import CallDetails
from support.gateway import (
    MS_PER_CHARACTER,
    NUMBER,
    dominant_hz,
    live_gateway,
    open_call,
    sounding,
    tone_voice,
    wait_until,
)
from support.timing import seconds

REPLY = "Let me tell you about our opening hours and our prices."
GOODBYE_HZ = 1000.0


def factory(details: CallDetails) -> RealtimeAgent:
    return RealtimeAgent(instructions="You answer the phone.", turn_detection=ServerVAD())


def goodbye_tone(ms: int = 600) -> bytes:
    t = np.arange(8 * ms) / 8000
    return pcm16_to_ulaw((np.sin(2 * math.pi * GOODBYE_HZ * t) * 12000).astype("<i2").tobytes())


async def test_a_drain_lets_the_reply_finish_then_says_goodbye_and_hangs_up() -> None:
    brain = ScriptedBrain([Say(REPLY)])
    async with (
        RealtimeSimulator(brain=brain, synthesize=tone_voice, generation_speed=8) as sim,
        live_gateway(factory, sim=sim, entry={"greeting": "Greet."}) as live,
    ):
        gateway = live.gateway
        gateway.goodbye_audio = goodbye_tone()
        call, runner = await open_call(live)
        await wait_until(lambda: bool(sounding(call)), 10, "the reply")
        reply_start = sounding(call)[0]
        drain = asyncio.create_task(gateway.drain(0))  # no grace: the call is ended at once
        await wait_until(lambda: gateway.draining, 5, "the drain")
        async with httpx2.AsyncClient(timeout=seconds(5)) as client:
            ready = await client.get(f"{live.base_url}/readyz")
        assert ready.status_code == 503
        refused = live.call(from_number="+15550100999")
        with pytest.raises(httpx2.HTTPStatusError) as answer:
            await refused.dial()
        assert answer.value.response.status_code == 503
        async with asyncio.timeout(seconds(30)):
            assert await drain == 1
            await runner
        await wait_until(lambda: len(gateway.finished) == 1, 5, "the call's summary")
        metrics = gateway.metrics.render().decode()

    summary = gateway.finished[0]
    assert summary.ended_by == "drain"
    assert summary.result is not None and summary.result.stop_reason == "stopped"
    # The reply was not cut: no clear, and its tone lasted as long as its text takes to say.
    assert call.clears == []
    spans = list(call.heard_spans())
    assert len(spans) == 1, spans  # the goodbye follows the reply at once
    start, end = spans[0]
    assert start == reply_start // 160 * 20  # the frame it starts in
    # Each 20 ms heard: the reply's tone (300 Hz) whole (a frame of silence may come between two when the
    # pacer ran short), then the goodbye's tone whole.
    tones = [dominant_hz(bytes(call.heard[at : at + 160])) for at in range(int(start * 8), int(end * 8), 160)]
    goodbye = tones.index(GOODBYE_HZ)
    assert tones[:goodbye].count(300) * 20 == pytest.approx(len(REPLY) * MS_PER_CHARACTER, abs=60), str(tones)
    assert set(tones[:goodbye]) <= {300, 0}, str(tones)
    assert tones[goodbye:] == [GOODBYE_HZ] * len(tones[goodbye:]), str(tones)
    assert len(tones[goodbye:]) * 20 == pytest.approx(600, abs=40)
    # Then the hang-up through the carrier's REST API.
    assert [u.hangup for u in live.api.updates] == [True] and live.api.updates[0].call_sid == call.call_sid
    assert call.closed_by == "carrier"
    assert f'rtvoice_calls_total{{number="{NUMBER}",outcome="drained"}} 1.0' in metrics
    assert f'rtvoice_calls_total{{number="{NUMBER}",outcome="refused"}} 1.0' in metrics
