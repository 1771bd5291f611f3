"""Barge-in through the gateway: the truncate names what the caller heard, and the reply stops at once.

The agent's voice is a loud tone (``tone_voice``) that never drops to μ-law silence, so what the caller
heard of a reply is read on the carrier side, sample by sample, after G.711 and the 24k→8k resampler.
"""

from __future__ import annotations

import asyncio
import json

from openai.types.realtime import ConversationItemTruncateEvent

from rtvoice import RealtimeAgent, ServerVAD
from rtvoice.testing import (
    RealtimeSimulator,
    Say,
    ScriptedBrain,
    add_client_message_observer,
    remove_client_message_observer,
)
from rtvoice_gateway.numbers import CallDetails
from support.agent import received
from support.gateway import (
    heard_through,
    live_gateway,
    mulaw_speech,
    open_call,
    quiet_spans,
    reply_heard_ms,
    sounding,
    tone_voice,
    wait_until,
)

LONG_REPLY = "Let me tell you everything about our opening hours, our prices and our services. " * 2


def factory(details: CallDetails) -> RealtimeAgent:
    return RealtimeAgent(instructions="You answer the phone.", turn_detection=ServerVAD())


async def test_barge_in_truncates_at_what_the_caller_heard_and_stops_the_reply() -> None:
    brain = ScriptedBrain([Say(LONG_REPLY), Say("Okay.")])
    truncate_at: list[float] = []  # the call's clock when the simulator received each truncate
    async with (
        RealtimeSimulator(brain=brain, synthesize=tone_voice, generation_speed=8) as sim,
        live_gateway(factory, sim=sim, entry={"greeting": "Greet."}) as live,
    ):
        call, runner = await open_call(live)

        def observe(message: str) -> None:
            if json.loads(message).get("type") == "conversation.item.truncate":
                truncate_at.append(call.now_ms)

        add_client_message_observer(observe)
        try:
            await wait_until(lambda: bool(sounding(call)), 10, "the reply")
            reply_start = sounding(call)[0]
            await wait_until(lambda: call.now_ms - reply_start / 8 >= 1500, 10, "1.5 s of the reply")
            speech_at = call.now_ms
            call.say(mulaw_speech("Wait, wait, stop please."))
            await wait_until(lambda: bool(call.clears) and bool(truncate_at), 10, "the clear and truncate")
            await wait_until(lambda: quiet_spans(call, 2), 15, "the answer after the barge-in")
        finally:
            remove_client_message_observer(observe)
        call.hang_up()
        async with asyncio.timeout(5):
            await runner
        await wait_until(lambda: len(live.gateway.finished) == 1, 5, "the call's summary")
        barge_ins = live.gateway.metrics.registry.get_sample_value(
            "rtvoice_barge_ins_total", {"number": "+15550100001"}
        )

    assert barge_ins == 1
    truncates = received(sim, ConversationItemTruncateEvent)
    assert len(truncates) == 1
    heard_ms = reply_heard_ms(call, reply_start)  # to the point of the frame in progress at the clear
    heard_end = reply_start / 8 + heard_ms  # on the call's clock
    error_ms = truncates[0].audio_end_ms - heard_ms
    after_speech_ms = heard_end - speech_at
    after_truncate_ms = heard_end - truncate_at[0]
    print(
        f"barge-in: heard {heard_ms:.1f} ms of the reply, truncate at {truncates[0].audio_end_ms} ms "
        f"(error {error_ms:+.1f} ms); heard {after_speech_ms:.0f} ms after the caller began speaking, "
        f"{after_truncate_ms:.1f} ms after the truncate arrived, {heard_end - call.clears_heard_to[0]:.1f} ms "
        "after the clear"
    )
    assert abs(error_ms) <= 20
    assert after_truncate_ms <= 40
    # Nothing of the reply is heard after the clear (whole frames heard before it are in heard_ms).
    assert (heard_through(call, reply_start) + 1) / 8 <= call.clears[0]
    assert 0 < after_speech_ms < 1000  # the simulator's VAD needs some speech before it fires
    assert heard_ms < len(LONG_REPLY) * 60 - 1000  # the reply really was cut short
