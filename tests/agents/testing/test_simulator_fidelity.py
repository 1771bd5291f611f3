"""Fidelity fixes found by third-party clients: truncating a streaming item, a model in session.update,
the semantic_vad echo and conversation.item.retrieved for assistant audio."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from rtvoice.testing import BrainContext, CallFunction, EchoBrain, RealtimeSimulator, Say, ScriptedBrain
from rtvoice.testing.responses import AudioItem
from rtvoice.testing.timing import Timing
from support.realtime import SimClient, connect

WORDS = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen"


def tone(text: str, rate: int, speed: float) -> bytes:
    """100 ms of audio per word: durations are exact and independent of espeak-ng."""
    return b"\x01\x00" * (rate // 10 * len(text.split()))


async def audio_until(client: SimClient, total_ms: float) -> tuple[str, float]:
    """Receive audio deltas until ``total_ms`` arrived; the item id and the ms received."""
    got = 0.0
    item_id = ""
    while got < total_ms:
        event = await client.next()
        if event["type"] == "response.output_audio.delta":
            item_id = event["item_id"]
            got += len(base64.b64decode(event["delta"])) / 48
    return item_id, got


async def test_truncating_a_streaming_item_keeps_the_cut() -> None:
    # The agents SDK's sequence: truncate at 978 ms mid-stream, then at 1979 ms after 2000 ms were sent.
    brain = ScriptedBrain([Say(WORDS)])  # 1.6 s of audio at 1x real time: still streaming at the cut
    async with (
        RealtimeSimulator(brain=brain, synthesize=tone, generation_speed=4) as sim,
        connect(sim) as client,
    ):
        await client.send({"type": "response.create"})
        item_id, _ = await audio_until(client, 1000)
        await client.send(
            {
                "type": "conversation.item.truncate",
                "item_id": item_id,
                "content_index": 0,
                "audio_end_ms": 978,
            }
        )
        events = await client.until("response.done")
        truncated = next(e for e in events if e["type"] == "conversation.item.truncated")
        assert truncated["audio_end_ms"] == 978
        sent_after = sum(
            len(base64.b64decode(e["delta"])) / 48
            for e in events[events.index(truncated) :]
            if e["type"] == "response.output_audio.delta"
        )
        assert sent_after > 0  # the response went on streaming after the truncate
        done = events[-1]["response"]
        assert done["status"] == "completed"
        # The stored item keeps the cut and its deleted transcript; the wire kept the whole text.
        assert done["output"][0]["content"][0]["transcript"] == ""
        transcript_done = next(e for e in events if e["type"] == "response.output_audio_transcript.done")
        assert transcript_done["transcript"] == WORDS
        stored = sim.sessions[0].items[-1]
        assert isinstance(stored, AudioItem) and stored.audio_ms == 978
        await client.send(
            {
                "type": "conversation.item.truncate",
                "item_id": item_id,
                "content_index": 0,
                "audio_end_ms": 1979,
            }
        )
        error = await client.error()
        assert error["code"] == "invalid_value"
        assert error["message"] == "Audio content of 978ms is already shorter than 1979ms"
        await client.send({"type": "conversation.item.retrieve", "item_id": item_id})
        item = (await client.until("conversation.item.retrieved"))[-1]["item"]
        assert len(base64.b64decode(item["content"][0]["audio"])) == 978 * 48
        assert item["content"][0]["transcript"] == ""


async def test_a_model_in_session_update_is_accepted_and_ignored() -> None:
    tools = [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}]
    async with RealtimeSimulator() as sim, connect(sim, model="gpt-realtime") as client:
        await client.send(
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "model": "gpt-realtime-2.1",
                    "tools": tools,
                    "audio": {"output": {"voice": "marin"}},
                },
            }
        )
        updated = (await client.until(("session.updated", "error")))[-1]
        assert updated["type"] == "session.updated"
        session = updated["session"]
        assert session["model"] == "gpt-realtime"
        assert [t["name"] for t in session["tools"]] == ["lookup"]
        assert session["audio"]["output"]["voice"] == "marin"


@pytest.mark.parametrize(
    ("sent", "echoed"),
    [
        (
            {"type": "semantic_vad"},
            {
                "type": "semantic_vad",
                "eagerness": "auto",
                "create_response": True,
                "interrupt_response": True,
            },
        ),
        (
            {"type": "semantic_vad", "eagerness": "low", "create_response": False},
            {
                "type": "semantic_vad",
                "eagerness": "low",
                "create_response": False,
                "interrupt_response": True,
            },
        ),
        (
            {"type": "server_vad", "silence_duration_ms": 700},
            {
                "type": "server_vad",
                "threshold": 0.5,
                "prefix_padding_ms": 300,
                "silence_duration_ms": 700,
                "idle_timeout_ms": None,
                "create_response": True,
                "interrupt_response": True,
            },
        ),
    ],
)
async def test_turn_detection_is_echoed_with_its_defaults(
    sent: dict[str, Any], echoed: dict[str, Any]
) -> None:
    async with RealtimeSimulator() as sim, connect(sim) as client:
        if sent["type"] == "server_vad":  # from semantic_vad back to server_vad: nothing of it is kept
            await client.send(
                {
                    "type": "session.update",
                    "session": {
                        "type": "realtime",
                        "audio": {"input": {"turn_detection": {"type": "semantic_vad"}}},
                    },
                }
            )
            await client.until("session.updated")
        update = {"type": "realtime", "audio": {"input": {"turn_detection": sent}}}
        await client.send({"type": "session.update", "session": update})
        session = (await client.until("session.updated"))[-1]["session"]
        assert session["audio"]["input"]["turn_detection"] == echoed


async def test_retrieve_gives_assistant_audio_and_the_content_so_far() -> None:
    brain = ScriptedBrain([Say(WORDS)])
    async with (
        RealtimeSimulator(brain=brain, synthesize=tone, generation_speed=2) as sim,
        connect(sim) as client,
    ):
        await client.send({"type": "response.create"})
        item_id, _ = await audio_until(client, 300)
        await client.send({"type": "conversation.item.retrieve", "item_id": item_id})
        events = await client.until("conversation.item.retrieved")
        streaming = events[-1]["item"]
        said = "".join(
            e["delta"] for e in client.events if e["type"] == "response.output_audio_transcript.delta"
        )
        received = sum(
            len(base64.b64decode(e["delta"]))
            for e in client.events
            if e["type"] == "response.output_audio.delta"
        )
        assert streaming["status"] == "in_progress"
        part = streaming["content"][0]
        assert part["type"] == "output_audio"
        assert part["transcript"] == said and said
        assert len(base64.b64decode(part["audio"])) == received
        await client.until("response.done")
        await client.send({"type": "conversation.item.retrieve", "item_id": item_id})
        done = (await client.until("conversation.item.retrieved"))[-1]["item"]
        assert done["status"] == "completed"
        assert done["content"][0]["transcript"] == WORDS
        assert base64.b64decode(done["content"][0]["audio"]) == tone(WORDS, 24000, 1.0)


async def test_retrieve_of_a_text_reply_in_progress_has_the_text_so_far() -> None:
    brain = ScriptedBrain([Say(WORDS)])
    async with (
        RealtimeSimulator(brain=brain, timing=Timing(text_tokens_per_second=20)) as sim,
        connect(sim) as client,
    ):
        await client.send(
            {"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}}
        )
        await client.until("session.updated")
        await client.send({"type": "response.create"})
        delta = (await client.until("response.output_text.delta"))[-1]
        await client.send({"type": "conversation.item.retrieve", "item_id": delta["item_id"]})
        events = await client.until("conversation.item.retrieved")
        said = "".join(e["delta"] for e in client.events if e["type"] == "response.output_text.delta")
        part = events[-1]["item"]["content"][0]
        assert part == {"type": "output_text", "text": said}
        assert said and said != WORDS


def ctx(text: str, tools: tuple[str, ...], last: str = "message") -> BrainContext:
    return BrainContext(
        trigger="audio",
        last_user_text=text,
        last_item_type=last,
        function_outputs=(),
        instructions="",
        tools=tools,
        response_index=0,
    )


def test_the_echo_brain_calls_a_tool_it_is_asked_to_call() -> None:
    brain = EchoBrain()
    asked = 'Please call get_weather {"city": "Paris"}'
    assert brain(ctx(asked, ("get_weather",))) == [CallFunction("get_weather", {"city": "Paris"})]
    assert brain(ctx("Call hang_up now.", ("hang_up",))) == [CallFunction("hang_up", {})]
    # Not offered, only mentioned, or a prefix of another name: an echo, as before.
    assert brain(ctx(asked, ())) == [Say(asked)]
    assert brain(ctx("What is get_weather?", ("get_weather",))) == [Say("What is get_weather?")]
    assert brain(ctx("call get_weather_now", ("get_weather",))) == [Say("call get_weather_now")]
