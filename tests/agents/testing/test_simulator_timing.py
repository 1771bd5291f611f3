"""The simulator's timing model: thinking time, generation rates, the scale, and what they imply.

No test here asserts how long something took at most: waits are lower bounds (a sleep is never shorter
than asked), and comparisons between two runs are ratios.
"""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from rtvoice.exceptions import ConfigurationError
from rtvoice.testing import CallFunction, RealtimeSimulator, Say, ScriptedBrain
from rtvoice.testing.timing import (
    REALISTIC_AUDIO_SPEED,
    REALISTIC_FIRST_AUDIO_MS,
    REALISTIC_FIRST_TEXT_MS,
    REALISTIC_TEXT_TOKENS_PER_SECOND,
    Timing,
)
from support.realtime import SimClient, connect

# These tests measure the simulator's pacing against the wall clock.
pytestmark = pytest.mark.serial

USER_HI = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi there"}]}


def tone(text: str, rate: int, speed: float) -> bytes:
    """100 ms of audio per word: durations are exact and independent of espeak-ng."""
    return bytes(2 * rate // 10 * len(text.split()))


async def timed_until(client: SimClient, kind: str) -> dict[str, float]:
    """Receive up to ``kind``; the monotonic arrival time of the first event of each type."""
    seen: dict[str, float] = {}
    while True:
        event = await client.next()
        seen.setdefault(event["type"], time.monotonic())
        if event["type"] == kind:
            return seen


def test_realistic_defaults_and_scale() -> None:
    realistic = Timing.realistic()
    assert (realistic.first_audio_ms, realistic.first_text_ms) == (
        REALISTIC_FIRST_AUDIO_MS,
        REALISTIC_FIRST_TEXT_MS,
    )
    assert realistic.audio_speed == REALISTIC_AUDIO_SPEED
    assert realistic.text_tokens_per_second == REALISTIC_TEXT_TOKENS_PER_SECOND
    tenth = Timing.realistic(scale=0.1)
    assert tenth.first_output_seconds("audio") == pytest.approx(realistic.first_output_seconds("audio") / 10)
    assert tenth.audio_seconds(1000) == pytest.approx(realistic.audio_seconds(1000) / 10)
    assert tenth.text_seconds(50) == pytest.approx(realistic.text_seconds(50) / 10)
    assert realistic.scaled(0).first_output_seconds("text") == 0.0
    fast = Timing.fast()
    assert (fast.first_output_seconds("audio"), fast.text_seconds(1000)) == (0.0, 0.0)
    assert fast.audio_seconds(400) == pytest.approx(0.1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"audio_speed": 0},
        {"text_tokens_per_second": -1},
        {"first_audio_ms": -5},
        {"scale": -1},
        {"scale": math.inf},
    ],
)
def test_invalid_timing_is_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        Timing(**kwargs)


async def test_back_to_back_response_create_is_refused_while_the_first_streams() -> None:
    # A text-only response used to finish in one burst, so a second response.create was answered too.
    async with (
        RealtimeSimulator(timing=Timing.realistic(scale=0.2)) as sim,
        connect(sim) as client,
    ):
        await client.send(
            {"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}}
        )
        await client.until("session.updated")
        await client.send({"type": "conversation.item.create", "item": USER_HI})
        await client.until("conversation.item.done")
        await client.send({"type": "response.create", "event_id": "evt_1"})
        await client.send({"type": "response.create", "event_id": "evt_2"})
        events = await client.until("response.done")
        errors = [e for e in events if e["type"] == "error"]
        assert len(errors) == 1
        assert errors[0]["error"]["code"] == "conversation_already_has_active_response"
        assert errors[0]["error"]["event_id"] == "evt_2"
        created = [e for e in events if e["type"] == "response.created"]
        assert len(created) == 1
        assert errors[0]["error"]["message"].startswith(
            f"Conversation already has an active response in progress: {created[0]['response']['id']}."
        )
        # response.created comes at once, the error before any output.
        kinds = [e["type"] for e in events]
        assert (
            kinds.index("response.created") < kinds.index("error") < kinds.index("response.output_text.delta")
        )


async def test_the_first_audio_comes_after_the_thinking_time() -> None:
    timing = Timing(first_audio_ms=300, audio_speed=1000)
    async with RealtimeSimulator(timing=timing, synthesize=tone) as sim, connect(sim) as client:
        await client.send({"type": "conversation.item.create", "item": USER_HI})
        await client.until("conversation.item.done")
        await client.send({"type": "response.create"})
        seen = await timed_until(client, "response.done")
    gap = seen["response.output_audio.delta"] - seen["response.created"]
    assert gap >= 0.3 * 0.95
    # The item and its content part arrive with the output, not with response.created.
    assert seen["response.output_item.added"] - seen["response.created"] >= 0.3 * 0.95


async def test_audio_streams_at_the_generation_rate() -> None:
    # 10 words = 1 s of audio at 5x real time: at least 200 ms from the first delta to response.done.
    brain = ScriptedBrain([Say("one two three four five six seven eight nine ten")])
    timing = Timing(audio_speed=5.0)
    async with RealtimeSimulator(brain=brain, timing=timing, synthesize=tone) as sim, connect(sim) as client:
        await client.send({"type": "response.create"})
        seen = await timed_until(client, "response.done")
    assert seen["response.done"] - seen["response.output_audio.delta"] >= 0.9 * 0.2 * 0.95


async def test_a_stream_that_fell_behind_catches_up_instead_of_ending_late() -> None:
    # 2 s of audio in 100 ms deltas at real time. The event loop is blocked for 0.5 s after the third
    # delta (a loaded machine): the deltas due meanwhile then come back to back, and the rest keep the
    # schedule, rather than every later delta coming 0.5 s late.
    words = " ".join(["word"] * 20)
    brain = ScriptedBrain([Say(words)])
    async with (
        RealtimeSimulator(brain=brain, timing=Timing(audio_speed=1.0), synthesize=tone) as sim,
        connect(sim) as client,
    ):
        await client.send({"type": "response.create"})
        arrivals: list[float] = []
        while True:
            event = await client.next()
            if event["type"] == "response.output_audio.delta":
                arrivals.append(time.monotonic())
                if len(arrivals) == 3:
                    time.sleep(0.5)  # noqa: ASYNC251 - on purpose: blocks the simulator too (same loop)
            if event["type"] == "response.done":
                break
    gaps = [b - a for a, b in zip(arrivals[3:], arrivals[4:], strict=False)]
    back_to_back = sum(1 for gap in gaps[:6] if gap < 0.03)
    assert back_to_back >= 3, [round(g, 3) for g in gaps]
    assert len(arrivals) == 20


async def test_text_streams_at_the_token_rate() -> None:
    # 20 words of 4 characters: 20 deltas of 1-2 tokens at 100 tokens/s is at least ~0.2 s.
    words = " ".join(["abcd"] * 20)
    brain = ScriptedBrain([Say(words)])
    timing = Timing(text_tokens_per_second=100)
    async with RealtimeSimulator(brain=brain, timing=timing) as sim, connect(sim) as client:
        await client.send(
            {"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}}
        )
        await client.until("session.updated")
        await client.send({"type": "response.create"})
        seen = await timed_until(client, "response.done")
    assert seen["response.done"] - seen["response.output_text.delta"] >= 0.19 * 0.95


async def test_a_function_call_waits_the_text_thinking_time() -> None:
    brain = ScriptedBrain([CallFunction("lookup", {"q": "x"})])
    timing = Timing(first_audio_ms=0, first_text_ms=250)
    async with RealtimeSimulator(brain=brain, timing=timing) as sim, connect(sim) as client:
        tools = [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}]
        await client.send({"type": "session.update", "session": {"type": "realtime", "tools": tools}})
        await client.until("session.updated")
        await client.send({"type": "response.create"})
        seen = await timed_until(client, "response.done")
    assert seen["response.function_call_arguments.delta"] - seen["response.created"] >= 0.25 * 0.95


class SlowBrain(ScriptedBrain):
    """A scripted brain with its own pace."""

    timing = Timing(first_audio_ms=400, audio_speed=1000)


async def test_a_brain_paces_its_own_responses() -> None:
    async with (
        RealtimeSimulator(brain=SlowBrain([Say("one two")]), synthesize=tone) as sim,
        connect(sim) as client,
    ):
        assert sim.timing == Timing.fast()
        await client.send({"type": "response.create"})
        seen = await timed_until(client, "response.done")
    assert seen["response.output_audio.delta"] - seen["response.created"] >= 0.4 * 0.95


async def test_scale_shrinks_every_wait_in_proportion() -> None:
    async def first_audio_gap(scale: float) -> float:
        timing = Timing(first_audio_ms=400, audio_speed=1000, scale=scale)
        async with RealtimeSimulator(timing=timing, synthesize=tone) as sim, connect(sim) as client:
            await client.send({"type": "response.create"})
            seen = await timed_until(client, "response.done")
        return seen["response.output_audio.delta"] - seen["response.created"]

    full, quarter = await first_audio_gap(1.0), await first_audio_gap(0.25)
    assert quarter >= 0.1 * 0.95
    assert quarter < full


def test_legacy_arguments_override_the_timing() -> None:
    sim = RealtimeSimulator(timing=Timing.realistic(), generation_speed=16, first_audio_delay_ms=20)
    assert sim.timing.audio_speed == sim.generation_speed == 16
    assert (sim.timing.first_audio_ms, sim.timing.first_text_ms) == (20, 20)
    assert sim.timing.text_tokens_per_second == REALISTIC_TEXT_TOKENS_PER_SECOND
    assert RealtimeSimulator().timing == Timing.fast()
