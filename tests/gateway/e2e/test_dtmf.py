"""DTMF both ways: keys the caller presses reach ``CallControl.digits``; ``send_digits`` tones reach the caller."""

from __future__ import annotations

import asyncio
import math

import numpy as np
from openai.types.realtime import ConversationItemCreateEvent, ConversationItemTruncateEvent

from rtvoice import Inject, RealtimeAgent, ServerVAD, Tools
from rtvoice.testing import CallFunction, RealtimeSimulator, Say, ScriptedBrain
from rtvoice_codecs import ulaw_to_pcm16
from rtvoice_gateway.call_control import CallControl, DigitPressed
from rtvoice_gateway.numbers import CallDetails
from rtvoice_gateway.testing import SimulatedCall
from support.agent import function_outputs, received
from support.gateway import (
    MS_PER_CHARACTER,
    live_gateway,
    mulaw_speech,
    open_call,
    quiet_spans,
    reply_heard_ms,
    sounding,
    tone_voice,
    wait_until,
)

LOW = (697, 770, 852, 941)
HIGH = (1209, 1336, 1477, 1633)
KEYS = ("123A", "456B", "789C", "*0#D")
tools = Tools()


@tools.action("Read the keys the caller pressed")
async def read_digits(call: Inject[CallControl]) -> str:
    return "".join(digit for digit, _ in call.digits)


@tools.action("Press keys on the phone line")
async def press_keys(call: Inject[CallControl], digits: str) -> str:
    await call.send_digits(digits)
    return "Pressed."


PRESSED: list[str] = []  # what a factory's listener on the event bus saw


def factory(details: CallDetails) -> RealtimeAgent:
    agent = RealtimeAgent(instructions="You answer the phone.", tools=tools, turn_detection=ServerVAD())
    agent.event_bus.subscribe(DigitPressed, lambda event: PRESSED.append(event.digit))
    return agent


def _power(pcm: np.ndarray, hz: float) -> float:
    """Goertzel: the power of ``hz`` in ``pcm`` (8 kHz)."""
    coefficient = 2 * math.cos(2 * math.pi * hz / 8000)
    s1 = s2 = 0.0
    for sample in pcm:
        s1, s2 = float(sample) + coefficient * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coefficient * s1 * s2


def heard_keys(call: SimulatedCall) -> str:
    """The DTMF keys in what the caller heard (each 20 ms frame whose two strongest DTMF tones hold most of
    its energy; a key is counted once per run of frames)."""
    keys: list[str] = []
    previous = ""
    for start in range(0, len(call.heard), 160):
        pcm = np.frombuffer(ulaw_to_pcm16(bytes(call.heard[start : start + 160])), dtype="<i2").astype(float)
        total = float(np.sum(pcm * pcm)) * len(pcm) / 2
        key = ""
        if total > 1e6:
            low = [_power(pcm, hz) for hz in LOW]
            high = [_power(pcm, hz) for hz in HIGH]
            if max(low) + max(high) > 0.6 * total:
                key = KEYS[int(np.argmax(low))][int(np.argmax(high))]
        if key and key != previous:
            keys.append(key)
        previous = key
    return "".join(keys)


async def test_pressed_keys_reach_the_tool_and_sent_tones_reach_the_caller() -> None:
    brain = ScriptedBrain(
        [
            Say("Hello, enter your account number."),
            CallFunction("read_digits", {}),
            Say("Thank you."),
            CallFunction("press_keys", {"digits": "159#"}),
            Say("Done."),
        ]
    )
    async with (
        RealtimeSimulator(brain=brain, synthesize=tone_voice) as sim,
        live_gateway(factory, sim=sim, entry={"greeting": "Greet."}) as live,
    ):
        # Real time: the gateway paces its audio by the wall clock, and a faster carrier would play gaps.
        call, runner = await open_call(live)
        await wait_until(lambda: quiet_spans(call, 1), 20, "the greeting")
        for digit in "42#":
            await call.press(digit)
        call.say(mulaw_speech("That is my number."))
        await wait_until(lambda: quiet_spans(call, 2), 20, "the thanks")
        call.say(mulaw_speech("Please press the keys."))
        await wait_until(lambda: quiet_spans(call, 3), 20, "the tones and the last reply")
        call.hang_up()
        async with asyncio.timeout(5):
            await runner

    assert [output for _, output in function_outputs(sim)] == ["42#", "Pressed."]
    assert PRESSED[-3:] == ["4", "2", "#"]  # and each key reached the listener on the event bus
    # The agent's voice (a 300 Hz tone) holds no DTMF pair; the tones are heard in order.
    assert heard_keys(call) == "159#"


async def test_tones_sent_are_not_counted_as_the_agents_speech() -> None:
    """After ``send_digits``, a barge-in on the next reply still truncates at what the caller heard of it."""
    long_reply = "Now let me read you the full terms and conditions of your account, slowly. " * 2
    brain = ScriptedBrain([CallFunction("press_keys", {"digits": "0#"}), Say(long_reply), Say("Okay.")])
    async with (
        RealtimeSimulator(brain=brain, synthesize=tone_voice, generation_speed=8) as sim,
        live_gateway(factory, sim=sim, entry={"greeting": "Press keys."}) as live,
    ):
        call, runner = await open_call(live)
        await wait_until(lambda: bool(sounding(call)), 10, "the tones")
        tones_end = sounding(call)[0] + 2 * 160 * 8  # two keys of 100 ms tone and 60 ms gap each
        await wait_until(lambda: bool(sounding(call, tones_end)), 10, "the reply")
        reply_start = sounding(call, tones_end)[0]
        await wait_until(lambda: call.now_ms - reply_start / 8 >= 1000, 10, "1 s of the reply")
        call.say(mulaw_speech("Wait, stop please."))
        await wait_until(lambda: bool(call.clears) and quiet_spans(call, 2), 15, "the answer to the barge-in")
        call.hang_up()
        async with asyncio.timeout(5):
            await runner

    assert heard_keys(call) == "0#"
    truncates = received(sim, ConversationItemTruncateEvent)
    assert len(truncates) == 1
    heard_ms = reply_heard_ms(call, reply_start)
    assert abs(truncates[0].audio_end_ms - heard_ms) <= 20, (truncates[0].audio_end_ms, heard_ms)


async def test_with_dtmf_model_the_keys_are_told_to_the_model_per_entry() -> None:
    brain = ScriptedBrain([Say("Hello, enter your account number.")])  # then it echoes what it is told
    async with (
        RealtimeSimulator(brain=brain, synthesize=tone_voice) as sim,
        live_gateway(factory, sim=sim, entry={"greeting": "Greet.", "dtmf": "model"}) as live,
    ):
        call, runner = await open_call(live)
        await wait_until(lambda: quiet_spans(call, 1), 20, "the greeting")
        for digit in "12":  # ended by a pause
            await call.press(digit)
        await wait_until(lambda: len(told(sim)) == 1, 5, "the first entry")
        for digit in "3#":  # ended by #
            await call.press(digit)
        await wait_until(lambda: len(told(sim)) == 2, 5, "the second entry")
        # The second answer may follow the first without a pause: wait for all the agent's audio.
        spoken_ms = MS_PER_CHARACTER * len("Hello, enter your account number." + "".join(told(sim)))
        await wait_until(lambda: len(sounding(call)) / 8 >= spoken_ms - 100, 20, "both answers")
        call.hang_up()
        async with asyncio.timeout(5):
            await runner
        await wait_until(lambda: len(live.gateway.finished) == 1, 5, "the call's summary")

    assert told(sim) == ["[The caller pressed 1 2]", "[The caller pressed 3 #]"]
    result = live.gateway.finished[0].result
    assert result is not None
    assert [turn.transcript for turn in result.turns if turn.role == "assistant"][1:] == told(sim)


def told(sim: RealtimeSimulator) -> list[str]:
    """The user text messages the agent sent."""
    return [
        part.text or ""
        for event in received(sim, ConversationItemCreateEvent)
        if event.item.type == "message" and event.item.role == "user"
        for part in event.item.content or []
        if part.type == "input_text"
    ]
