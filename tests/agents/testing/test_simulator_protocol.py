"""The simulator, driven by the unmodified openai SDK over real loopback sockets: responses, VAD, tools."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from rtvoice.testing import CallFunction, RealtimeSimulator, Say, ScriptedBrain, speech
from support.realtime import SimClient, connect

RATE = 24000
FRAME = 960  # 20 ms of PCM16 at 24 kHz


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


async def append_pcm(client: SimClient, pcm: bytes, frame: int = FRAME) -> None:
    for start in range(0, len(pcm), frame):
        await client.send({"type": "input_audio_buffer.append", "audio": b64(pcm[start : start + frame])})


def utterance(text: str, rate: int = RATE) -> bytes:
    return speech.trim_silence(speech.synthesize(text, sample_rate=rate), sample_rate=rate)


SERVER_VAD: dict[str, Any] = {
    "type": "server_vad",
    "threshold": 0.5,
    "prefix_padding_ms": 300,
    "silence_duration_ms": 500,
}


async def configure(client: SimClient, **session: Any) -> dict[str, Any]:
    await client.send({"type": "session.update", "session": {"type": "realtime", **session}})
    updated = (await client.until("session.updated"))[-1]
    return updated


async def test_session_created_is_a_full_ga_session() -> None:
    async with RealtimeSimulator() as sim, connect(sim, model="gpt-realtime-mini") as client:
        session = client.events[0]["session"]
        assert session["type"] == "realtime"
        assert session["object"] == "realtime.session"
        assert session["id"].startswith("sess_")
        assert session["model"] == "gpt-realtime-mini"
        assert session["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
        assert session["audio"]["input"]["turn_detection"]["type"] == "server_vad"
        assert session["audio"]["output"]["voice"] == "alloy"
        assert session["expires_at"] > 0


async def test_session_update_merges_only_what_was_sent_and_null_clears() -> None:
    async with RealtimeSimulator() as sim, connect(sim) as client:
        first = await configure(client, instructions="Be brief.", audio={"output": {"voice": "marin"}})
        assert first["session"]["instructions"] == "Be brief."
        assert first["session"]["audio"]["output"]["voice"] == "marin"
        assert "event_id" in first and first["session"]["audio"]["input"]["turn_detection"] is not None
        second = await configure(client, audio={"input": {"turn_detection": None}})
        assert second["session"]["instructions"] == "Be brief."
        assert second["session"]["audio"]["output"]["voice"] == "marin"
        assert second["session"]["audio"]["input"]["turn_detection"] is None


def _types(events: list[dict[str, Any]], without: str = "") -> list[str]:
    """Event types in order, with runs of the same delta collapsed into one."""
    collapsed: list[str] = []
    for event in events:
        if event["type"] == without:
            continue
        if collapsed and collapsed[-1] == event["type"] and event["type"].endswith(".delta"):
            continue
        collapsed.append(event["type"])
    return collapsed


async def test_text_turn_gets_an_audio_response_with_the_full_ga_event_order() -> None:
    async with RealtimeSimulator() as sim, connect(sim) as client:
        await client.send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "Hello there"}],
                },
            }
        )
        await client.until("conversation.item.done")
        await client.send({"type": "response.create"})
        events = await client.until("response.done")
        types = _types(events, without="response.output_audio_transcript.delta")
        assert types == [
            "response.created",
            "rate_limits.updated",
            "response.output_item.added",
            "conversation.item.added",
            "response.content_part.added",
            "response.output_audio.delta",
            "response.output_audio.done",
            "response.output_audio_transcript.done",
            "response.content_part.done",
            "response.output_item.done",
            "conversation.item.done",
            "response.done",
        ]
        deltas = [e for e in events if e["type"] == "response.output_audio.delta"]
        audio = b"".join(base64.b64decode(e["delta"]) for e in deltas)
        assert len(deltas) > 3 and len(audio) > RATE  # more than half a second of speech
        transcript = "".join(
            e["delta"] for e in events if e["type"] == "response.output_audio_transcript.delta"
        )
        assert transcript == "Hello there"
        done = events[-1]["response"]
        assert done["status"] == "completed"
        assert done["output"][0]["content"][0] == {"type": "output_audio", "transcript": "Hello there"}
        usage = done["usage"]
        assert usage["output_token_details"]["audio_tokens"] > 0
        assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


async def test_text_output_modality_streams_text_deltas() -> None:
    async with RealtimeSimulator() as sim, connect(sim) as client:
        await configure(client, output_modalities=["text"])
        await client.send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "one two"}],
                },
            }
        )
        await client.send({"type": "response.create"})
        events = await client.until("response.done")
        assert "response.output_audio.delta" not in _types(events)
        assert "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta") == "one two"
        assert [e["text"] for e in events if e["type"] == "response.output_text.done"] == ["one two"]


@pytest.mark.parametrize("rate_name", ["pcm24k", "pcmu8k"])
async def test_vad_timings_on_espeak_speech_match_the_wav(rate_name: str) -> None:
    lead_ms, gap_ms = 700, 1500
    rate = RATE if rate_name == "pcm24k" else 8000
    first, second = utterance("Hello, I would like a table.", rate), utterance("Seven thirty please.", rate)
    pcm = (
        speech.silence(lead_ms, sample_rate=rate) + first + speech.silence(gap_ms, sample_rate=rate) + second
    )
    pcm += speech.silence(gap_ms, sample_rate=rate)
    first_ms, second_ms = len(first) / 2 / rate * 1000, len(second) / 2 / rate * 1000
    expected = [
        (lead_ms - 300, lead_ms + first_ms + 500),
        (lead_ms + first_ms + gap_ms - 300, lead_ms + first_ms + gap_ms + second_ms + 500),
    ]
    turn_detection = {**SERVER_VAD, "create_response": False}
    async with RealtimeSimulator() as sim, connect(sim) as client:
        if rate_name == "pcmu8k":
            await configure(
                client, audio={"input": {"format": {"type": "audio/pcmu"}, "turn_detection": turn_detection}}
            )
            await append_pcm(client, speech.pcm16_to_ulaw(pcm), frame=160)
        else:
            await configure(client, audio={"input": {"turn_detection": turn_detection}})
            await append_pcm(client, pcm)
        events = await client.until("conversation.item.done")
        events += await client.until("conversation.item.done")
    started = [e for e in events if e["type"] == "input_audio_buffer.speech_started"]
    stopped = [e for e in events if e["type"] == "input_audio_buffer.speech_stopped"]
    measured = [(s["audio_start_ms"], e["audio_end_ms"]) for s, e in zip(started, stopped, strict=True)]
    assert len(measured) == 2
    for (start, end), (want_start, want_end) in zip(measured, expected, strict=True):
        assert abs(start - want_start) <= 20, (start, want_start)
        assert abs(end - want_end) <= 20, (end, want_end)
    assert [s["item_id"] for s in started] == [e["item_id"] for e in stopped]


async def test_caller_turn_commits_transcribes_and_answers() -> None:
    transcripts = ["I'd like to book a table for two."]
    async with RealtimeSimulator(user_transcripts=transcripts) as sim, connect(sim) as client:
        await configure(
            client, audio={"input": {"turn_detection": SERVER_VAD, "transcription": {"model": "whisper-1"}}}
        )
        await append_pcm(client, speech.silence(300) + utterance("Table for two.") + speech.silence(800))
        events = await client.until("response.done")
    types = [e["type"] for e in events]
    order = [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
        "conversation.item.input_audio_transcription.completed",
        "response.created",
    ]
    head = types[: types.index("response.created") + 1]
    assert [t for t in head if t in order] == order
    completed = next(
        e for e in events if e["type"] == "conversation.item.input_audio_transcription.completed"
    )
    assert completed["transcript"] == transcripts[0]
    assert completed["usage"]["type"] == "duration" and completed["usage"]["seconds"] > 0.5
    committed = next(e for e in events if e["type"] == "input_audio_buffer.committed")
    assert completed["item_id"] == committed["item_id"]
    said = next(e for e in events if e["type"] == "response.output_audio_transcript.done")
    assert said["transcript"] == transcripts[0]


async def test_late_transcripts_arrive_after_the_response() -> None:
    async with (
        RealtimeSimulator(user_transcripts=["late words"], late_transcripts=True) as sim,
        connect(sim) as client,
    ):
        await configure(
            client,
            audio={
                "input": {"turn_detection": SERVER_VAD, "transcription": {"model": "gpt-4o-mini-transcribe"}}
            },
        )
        await append_pcm(client, utterance("Some words.") + speech.silence(800))
        events = await client.until("conversation.item.input_audio_transcription.completed")
    types = [e["type"] for e in events]
    assert types.index("response.done") < types.index("conversation.item.input_audio_transcription.completed")
    assert events[-1]["usage"]["type"] == "tokens"


async def test_function_call_round_trip() -> None:
    brain = ScriptedBrain(
        [CallFunction("get_weather", {"city": "Paris"}), Say("It is sunny in Paris.")],
    )
    tools = [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        }
    ]
    async with RealtimeSimulator(brain=brain) as sim, connect(sim) as client:
        await configure(client, tools=tools)
        await client.send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "Weather?"}],
                },
            }
        )
        await client.send({"type": "response.create"})
        events = await client.until("response.done")
        done_args = next(e for e in events if e["type"] == "response.function_call_arguments.done")
        deltas = "".join(e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta")
        assert json.loads(done_args["arguments"]) == {"city": "Paris"} == json.loads(deltas)
        assert done_args["name"] == "get_weather"
        output_item = events[-1]["response"]["output"][0]
        assert output_item["type"] == "function_call" and output_item["call_id"] == done_args["call_id"]
        await client.send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "function_call_output",
                    "call_id": done_args["call_id"],
                    "output": "sunny, 21C",
                },
            }
        )
        await client.until("conversation.item.done")
        await client.send({"type": "response.create"})
        events = await client.until("response.done")
        said = next(e for e in events if e["type"] == "response.output_audio_transcript.done")
        assert said["transcript"] == "It is sunny in Paris."


async def test_echo_brain_reads_back_function_outputs() -> None:
    brain = ScriptedBrain([CallFunction("lookup", {})])
    tools = [{"type": "function", "name": "lookup", "description": "x", "parameters": {"type": "object"}}]
    async with RealtimeSimulator(brain=brain) as sim, connect(sim) as client:
        await configure(client, tools=tools, output_modalities=["text"])
        await client.send({"type": "response.create"})
        call = next(e for e in await client.until("response.done") if e["type"].endswith("arguments.done"))
        item = {"type": "function_call_output", "call_id": call["call_id"], "output": "forty two"}
        await client.send({"type": "conversation.item.create", "item": item})
        await client.send({"type": "response.create"})
        events = await client.until("response.done")
        assert next(e["text"] for e in events if e["type"] == "response.output_text.done") == "forty two"


async def test_a_tool_the_session_does_not_have_is_not_called() -> None:
    async with RealtimeSimulator(brain=ScriptedBrain([CallFunction("launch_rocket", {})])) as sim:
        async with connect(sim) as client:
            await configure(client, output_modalities=["text"])
            await client.send({"type": "response.create"})
            events = await client.until("response.done")
    assert not any(e["type"].startswith("response.function_call") for e in events)
    assert "launch_rocket" in next(e["text"] for e in events if e["type"] == "response.output_text.done")


async def test_barge_in_cancels_the_response_with_turn_detected() -> None:
    long_answer = Say(
        "This is a rather long answer that keeps going for quite a while so you can interrupt it."
    )
    async with (
        RealtimeSimulator(brain=ScriptedBrain([long_answer]), generation_speed=1.0) as sim,
        connect(sim) as client,
    ):
        await configure(client, audio={"input": {"turn_detection": SERVER_VAD}})
        await client.send({"type": "response.create"})
        await client.until("response.output_audio.delta")
        await append_pcm(client, utterance("Wait, stop."))
        events = await client.until("response.done")
        types = [e["type"] for e in events]
        assert types.index("input_audio_buffer.speech_started") < types.index("response.done")
        done = events[-1]["response"]
        assert done["status"] == "cancelled"
        assert done["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
        assert done["output"][0]["status"] == "incomplete"
        # The open parts are closed before response.done, innermost first.
        assert types[-5:] == [
            "response.output_audio.done",
            "response.output_audio_transcript.done",
            "response.content_part.done",
            "response.output_item.done",
            "conversation.item.done",
        ][-5:] or types[-6:-1] == [
            "response.output_audio.done",
            "response.output_audio_transcript.done",
            "response.content_part.done",
            "response.output_item.done",
            "conversation.item.done",
        ]


async def test_client_cancel_and_truncate_cut_audio_and_transcript() -> None:
    async with (
        RealtimeSimulator(
            brain=ScriptedBrain([Say("A long sentence to cut short, word after word.")])
        ) as sim,
        connect(sim) as client,
    ):
        await configure(client, audio={"input": {"turn_detection": None}})
        await client.send({"type": "response.create"})
        events = await client.until("response.output_audio.delta")
        item_id = events[-1]["item_id"]
        await client.send({"type": "response.cancel"})
        events = await client.until("response.done")
        assert events[-1]["response"]["status_details"]["reason"] == "client_cancelled"
        # No audio for a cancelled response after its response.done.
        await client.send(
            {"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": 60}
        )
        truncated = (await client.until("conversation.item.truncated"))[-1]
        assert truncated["audio_end_ms"] == 60 and truncated["item_id"] == item_id
        await client.send({"type": "conversation.item.retrieve", "item_id": item_id})
        retrieved = (await client.until("conversation.item.retrieved"))[-1]
        assert retrieved["item"]["content"][0]["transcript"] == ""
        # The stored audio is now 60 ms long: truncating past it is refused.
        await client.send(
            {"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": 80}
        )
        error = await client.error()
        assert error["message"] == "Audio content of 60ms is already shorter than 80ms"


async def test_manual_turns_without_vad() -> None:
    async with RealtimeSimulator(user_transcripts=["typed by script"]) as sim, connect(sim) as client:
        await configure(client, audio={"input": {"turn_detection": None}})
        await append_pcm(client, utterance("Hello."))
        await client.send({"type": "input_audio_buffer.commit"})
        events = await client.until("conversation.item.done")
        assert "input_audio_buffer.speech_started" not in [e["type"] for e in events]
        assert events[0]["type"] == "input_audio_buffer.committed"
        await client.send({"type": "response.create"})
        events = await client.until("response.done")
        assert (
            next(e for e in events if e["type"].endswith("transcript.done"))["transcript"]
            == "typed by script"
        )


async def test_pcmu_output_is_8khz_mulaw() -> None:
    async with RealtimeSimulator(brain=ScriptedBrain([Say("Hello caller.")])) as sim, connect(sim) as client:
        await configure(client, audio={"output": {"format": {"type": "audio/pcmu"}}})
        await client.send({"type": "response.create"})
        events = await client.until("response.done")
    audio = b"".join(
        base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta"
    )
    pcm = speech.ulaw_to_pcm16(audio)
    assert 0.4 < len(audio) / 8000 < 3.0  # seconds of 8 kHz speech
    assert (
        max(abs(int.from_bytes(pcm[i : i + 2], "little", signed=True)) for i in range(0, len(pcm), 2)) > 2000
    )
    assert events[-1]["response"]["audio"]["output"]["format"] == {"type": "audio/pcmu"}


async def test_out_of_band_response_is_not_written_to_the_conversation() -> None:
    async with RealtimeSimulator(brain=ScriptedBrain([Say("side note")])) as sim, connect(sim) as client:
        await configure(client, output_modalities=["text"])
        await client.send(
            {"type": "response.create", "response": {"conversation": "none", "metadata": {"k": "v"}}}
        )
        events = await client.until("response.done")
        assert "conversation.item.added" not in [e["type"] for e in events]
        assert events[-1]["response"]["conversation_id"] is None
        assert events[-1]["response"]["metadata"] == {"k": "v"}
        assert sim.sessions[0].items == []


async def test_usage_grows_with_the_conversation_and_reports_cached_tokens() -> None:
    async with RealtimeSimulator() as sim, connect(sim) as client:
        usages = []
        for text in ["first question " * 20, "second question " * 20]:
            item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
            await client.send({"type": "conversation.item.create", "item": item})
            await client.send({"type": "response.create"})
            usages.append((await client.until("response.done"))[-1]["response"]["usage"])
    assert usages[1]["input_tokens"] > usages[0]["input_tokens"]
    assert usages[0]["input_token_details"]["cached_tokens"] == 0
    assert usages[1]["input_token_details"]["cached_tokens"] > 0
