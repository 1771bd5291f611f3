"""The Realtime session is lost mid-call: the caller hears the apology, then the line closes (never silence)."""

from __future__ import annotations

import asyncio

import pytest

from rtvoice import RealtimeAgent, ServerVAD
from rtvoice.testing import Faults, RealtimeSimulator, Say, ScriptedBrain
from rtvoice_gateway.call_control import dtmf_tones
from rtvoice_gateway.numbers import CallDetails
from support.gateway import dominant_hz, live_gateway, open_call, sounding, tone_voice
from support.timing import seconds

REPLY = "Hello, thanks for calling, our opening hours are from nine to five on weekdays. " * 2
APOLOGY = dtmf_tones("5" * 5, tone_ms=100, gap_ms=0)  # 500 ms of an unmistakable sound (770 + 1336 Hz)


def factory(details: CallDetails) -> RealtimeAgent:
    return RealtimeAgent(instructions="You answer the phone.", turn_detection=ServerVAD())


@pytest.mark.parametrize("close_at_event", [1, 2, 3, 12])
async def test_upstream_loss_plays_the_apology_then_closes_the_line(close_at_event: int) -> None:
    # Events 1-2: session.created, session.updated; then the greeting: response.created, item added, ...
    # and 100 ms audio deltas. Events 1-2 fail the pre-warm, 3 comes before any audio, 12 inside the
    # greeting's audio.
    async with (
        RealtimeSimulator(
            brain=ScriptedBrain([Say(REPLY)]),
            synthesize=tone_voice,
            faults=Faults(close_at_event=close_at_event),
        ) as sim,
        live_gateway(factory, sim=sim, entry={"greeting": "Greet."}, apology_audio=APOLOGY) as live,
    ):
        call, runner = await open_call(live)
        async with asyncio.timeout(seconds(15)):
            await runner
        finished = list(live.gateway.finished)
        metrics = live.gateway.metrics

    assert call.closed_by == "gateway"
    assert live.api.updates == []
    end = (sounding(call)[-1] + 1) / 8  # the last sound the caller heard
    before, apology = (
        bytes(call.heard[: int(end - 500) * 8]),
        bytes(call.heard[int(end - 500) * 8 : int(end) * 8]),
    )
    # Some of the greeting (a 300 Hz tone) when it had begun, then the whole apology (770 + 1336 Hz).
    if close_at_event > 3:
        assert len(sounding(call, 0, int(end - 500) * 8)) > 8 * 100
        assert abs(dominant_hz(before[-800:]) - 300) < 30
    else:
        assert sounding(call, 0, int(end - 500) * 8) == []
    assert min(abs(dominant_hz(apology) - hz) for hz in (770, 1336)) < 30
    assert len(sounding(call, int(end - 500) * 8)) > 8 * 480
    # The line closed right after the apology: no long silence before the end.
    assert call.now_ms - end < 1000
    assert [summary.ended_by for summary in finished] == ["upstream"]
    # Counted: the lost call; a pre-warm that failed made the call open its session again.
    counted = metrics.registry.get_sample_value
    assert counted("rtvoice_calls_total", {"number": "+15550100001", "outcome": "upstream_lost"}) == 1
    assert counted("rtvoice_upstream_reconnects_total", {}) == (1 if close_at_event <= 2 else 0)
    # Events 1-2: the session could not be opened (again); later ones: it was lost.
    lost = "connection_error" if close_at_event <= 2 else "connection_lost"
    assert counted("rtvoice_upstream_errors_total", {"type": lost}) == 1
