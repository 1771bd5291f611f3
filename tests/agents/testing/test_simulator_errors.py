"""Every refusal the simulator reproduces: shaped and coded as the real API's, and the session stays open."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
from openai import AsyncOpenAI
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from rtvoice.testing import Faults, RealtimeSimulator, Say, ScriptedBrain
from rtvoice.testing.simulator import BETA_REFUSED
from support.realtime import SimClient, connect

pytestmark = pytest.mark.sends_invalid_events

USER_HI = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}


async def assert_still_open(client: SimClient) -> None:
    """A session that refused an event goes on: a valid event still gets its answer."""
    await client.send({"type": "input_audio_buffer.clear", "event_id": "evt_probe"})
    assert (await client.until("input_audio_buffer.cleared"))[-1]["type"] == "input_audio_buffer.cleared"


CASES: list[tuple[str, dict[str, Any] | str, dict[str, Any]]] = [
    (
        "missing session.type",
        {"type": "session.update", "session": {"instructions": "x"}},
        {
            "code": "missing_required_parameter",
            "param": "session.type",
            "message": "Missing required parameter: 'session.type'.",
        },
    ),
    (
        "beta field modalities",
        {"type": "session.update", "session": {"type": "realtime", "modalities": ["audio", "text"]}},
        {
            "code": "unknown_parameter",
            "param": "session.modalities",
            "message": "Unknown parameter: 'session.modalities'.",
        },
    ),
    (
        "beta field input_audio_format",
        {"type": "session.update", "session": {"type": "realtime", "input_audio_format": "g711_ulaw"}},
        {"code": "unknown_parameter", "param": "session.input_audio_format"},
    ),
    (
        "beta field temperature",
        {"type": "session.update", "session": {"type": "realtime", "temperature": 0.8}},
        {"code": "unknown_parameter", "param": "session.temperature"},
    ),
    (
        "beta field in response.create",
        {"type": "response.create", "response": {"modalities": ["text"]}},
        {"code": "unknown_parameter", "param": "response.modalities"},
    ),
    (
        "both output modalities",
        {"type": "session.update", "session": {"type": "realtime", "output_modalities": ["audio", "text"]}},
        {"code": "invalid_value", "param": "session.output_modalities"},
    ),
    (
        "speed above maximum",
        {"type": "session.update", "session": {"type": "realtime", "audio": {"output": {"speed": 2.0}}}},
        {"code": "decimal_above_max_value", "param": "session.audio.output.speed"},
    ),
    (
        "wrong type of value",
        {"type": "session.update", "session": {"type": "realtime", "instructions": 5}},
        {
            "code": "invalid_type",
            "param": "session.instructions",
            "message": "Invalid type for 'session.instructions': expected a string, but got an integer instead.",
        },
    ),
    (
        "unknown voice value type",
        {
            "type": "session.update",
            "session": {"type": "realtime", "audio": {"input": {"turn_detection": {"type": "vad"}}}},
        },
        {
            "code": "invalid_value",
            "param": "session.audio.input.turn_detection.type",
            "message": "Invalid value: 'vad'. Supported values are: 'server_vad', 'semantic_vad'.",
        },
    ),
    (
        "beta event name",
        {"type": "transcription_session.update", "session": {}},
        {"code": "invalid_value", "param": "type"},
    ),
    ("no type", {"audio": "AAAA"}, {"code": "missing_required_parameter", "param": "type"}),
    ("not json", "{this is not json", {"code": "invalid_json"}),
    ("not an object", "[1, 2]", {"code": "invalid_type"}),
    (
        "audio not base64",
        {"type": "input_audio_buffer.append", "audio": "@@@not-base64@@@"},
        {"code": "invalid_value", "param": "audio"},
    ),
    (
        "cancel with no active response",
        {"type": "response.cancel"},
        {"code": "response_cancel_not_active", "message": "Cancellation failed: no active response found"},
    ),
    (
        "commit of an empty buffer",
        {"type": "input_audio_buffer.commit"},
        {"code": "input_audio_buffer_commit_empty"},
    ),
    (
        "truncate an unknown item",
        {
            "type": "conversation.item.truncate",
            "item_id": "item_nope",
            "content_index": 0,
            "audio_end_ms": 10,
        },
        {"code": "item_truncate_invalid_item_id", "param": "item_id"},
    ),
    (
        "delete an unknown item",
        {"type": "conversation.item.delete", "item_id": "item_nope"},
        {"code": "invalid_value", "param": "item_id"},
    ),
    (
        "retrieve an unknown item",
        {"type": "conversation.item.retrieve", "item_id": "item_nope"},
        {"code": "invalid_value", "param": "item_id"},
    ),
    (
        "output for an unknown call id",
        {
            "type": "conversation.item.create",
            "item": {"type": "function_call_output", "call_id": "call_nope", "output": "x"},
        },
        {
            "code": "invalid_tool_call_id",
            "param": "item.call_id",
            "message": "Tool call ID 'call_nope' not found in conversation.",
        },
    ),
    (
        "insert after an unknown item",
        {"type": "conversation.item.create", "previous_item_id": "item_nope", "item": USER_HI},
        {"code": "invalid_value", "param": "previous_item_id"},
    ),
    (
        "wrong content type for a user message",
        {
            "type": "conversation.item.create",
            "item": {"type": "message", "role": "user", "content": [{"type": "text", "text": "hi"}]},
        },
        {
            "code": "invalid_value",
            "param": "item.content[0].type",
            "message": "Invalid value: 'text'. Supported values are: 'input_text', 'input_audio', 'input_image'.",
        },
    ),
    (
        "assistant audio created by the client",
        {
            "type": "conversation.item.create",
            "item": {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_audio", "audio": "AAAA"}],
            },
        },
        {"code": "invalid_value", "param": "item.content"},
    ),
    (
        "output_audio_buffer.clear over WebSocket",
        {"type": "output_audio_buffer.clear"},
        {"code": "invalid_value", "param": "type"},
    ),
]


@pytest.mark.parametrize(("event", "expected"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
async def test_refused_events_get_api_shaped_errors(
    event: dict[str, Any] | str, expected: dict[str, Any]
) -> None:
    async with RealtimeSimulator() as sim, connect(sim) as client:
        if isinstance(event, str):
            await client.send_text(event)
        else:
            await client.send({**event, "event_id": "evt_client_1"} if "type" in event else event)
        error = await client.error()
        assert {key: error[key] for key in expected} == expected
        assert error["type"] == "invalid_request_error"
        if isinstance(event, dict) and "type" in event:
            assert error["event_id"] == "evt_client_1"
        await assert_still_open(client)


async def test_second_response_create_while_one_is_active() -> None:
    brain = ScriptedBrain([Say("A fairly long answer that takes a while to stream out completely.")])
    async with RealtimeSimulator(brain=brain, generation_speed=1.0) as sim, connect(sim) as client:
        await client.send({"type": "response.create"})
        created = (await client.until("response.created"))[-1]
        await client.send({"type": "response.create", "event_id": "evt_second"})
        error = await client.error()
        assert error["code"] == "conversation_already_has_active_response"
        assert created["response"]["id"] in error["message"]
        assert error["event_id"] == "evt_second"
        await client.send({"type": "response.cancel"})
        assert (await client.until("response.done"))[-1]["response"]["status"] == "cancelled"


async def test_truncate_of_a_user_item_is_refused() -> None:
    async with RealtimeSimulator() as sim, connect(sim) as client:
        await client.send({"type": "conversation.item.create", "item": {**USER_HI, "id": "item_user1"}})
        await client.until("conversation.item.done")
        await client.send(
            {
                "type": "conversation.item.truncate",
                "item_id": "item_user1",
                "content_index": 0,
                "audio_end_ms": 0,
            }
        )
        error = await client.error()
        assert error["code"] == "unsupported_content_type"
        assert error["message"] == "Only model output audio messages can be truncated"


async def test_truncate_past_the_audio_is_refused() -> None:
    async with RealtimeSimulator(brain=ScriptedBrain([Say("Short.")])) as sim, connect(sim) as client:
        await client.send({"type": "response.create"})
        events = await client.until("response.done")
        item = events[-1]["response"]["output"][0]
        audio = b"".join(
            base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta"
        )
        audio_ms = len(audio) / 48
        await client.send(
            {
                "type": "conversation.item.truncate",
                "item_id": item["id"],
                "content_index": 0,
                "audio_end_ms": 99999,
            }
        )
        error = await client.error()
        assert error["message"] == f"Audio content of {audio_ms:.0f}ms is already shorter than 99999ms"
        assert error["code"] == "invalid_value"


async def test_voice_cannot_change_after_assistant_audio() -> None:
    async with RealtimeSimulator(brain=ScriptedBrain([Say("Hi.")])) as sim, connect(sim) as client:
        await client.send(
            {"type": "session.update", "session": {"type": "realtime", "audio": {"output": {"voice": "ash"}}}}
        )
        await client.until("session.updated")  # before any audio: allowed
        await client.send({"type": "response.create"})
        await client.until("response.done")
        await client.send(
            {
                "type": "session.update",
                "session": {"type": "realtime", "audio": {"output": {"voice": "marin"}}},
            }
        )
        error = await client.error()
        assert error["code"] == "cannot_update_voice"


async def test_api_key_is_checked_bearer_and_azure_header() -> None:
    async with RealtimeSimulator(api_key="sk-right") as sim:
        async with connect(sim, api_key="sk-right") as client:
            assert client.events[0]["type"] == "session.created"
        wrong = AsyncOpenAI(api_key="sk-wrong", websocket_base_url=sim.url)
        with pytest.raises(InvalidStatus) as refused:
            async with wrong.realtime.connect(model="gpt-realtime"):
                pass
        await wrong.close()
        assert refused.value.response.status_code == 401
        assert json.loads(refused.value.response.body)["error"]["code"] == "invalid_api_key"
        url = f"ws://127.0.0.1:{sim.bound_port}/openai/v1/realtime?model=gpt-realtime"
        async with ws_connect(url, additional_headers={"api-key": "sk-right"}) as ws:
            assert json.loads(await ws.recv())["type"] == "session.created"


async def test_handshake_refusals() -> None:
    async with RealtimeSimulator() as sim:
        base = f"ws://127.0.0.1:{sim.bound_port}"
        with pytest.raises(InvalidStatus) as no_model:
            async with ws_connect(f"{base}/v1/realtime"):
                pass
        assert no_model.value.response.status_code == 400
        with pytest.raises(InvalidStatus) as bad_path:
            async with ws_connect(f"{base}/v2/somewhere?model=x"):
                pass
        assert bad_path.value.response.status_code == 404
        async with ws_connect(
            f"{base}/v1/realtime?model=gpt-realtime", additional_headers={"OpenAI-Beta": "realtime=v1"}
        ) as ws:
            event = json.loads(await ws.recv())
            assert event["type"] == "error" and event["error"]["message"] == BETA_REFUSED
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            assert ws.close_code == 1008


async def test_session_length_cap_closes_with_1001() -> None:
    async with RealtimeSimulator(max_session_seconds=0.3) as sim, connect(sim) as client:
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await client.next(limit=5)
        await sim.wait_idle()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert closed.value.rcvd.reason == "Your session hit the maximum duration of 0.3 seconds."


async def test_fault_close_at_event() -> None:
    async with (
        RealtimeSimulator(faults=Faults(close_at_event=3, close_code=1011)) as sim,
        connect(sim) as client,
    ):
        await client.send({"type": "input_audio_buffer.clear"})  # event 2
        await client.until("input_audio_buffer.cleared")
        await client.send({"type": "input_audio_buffer.clear"})  # event 3: closed instead
        with pytest.raises(ConnectionClosed) as closed:
            await client.next()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011


async def test_fault_stall_then_resume() -> None:
    async with (
        RealtimeSimulator(faults=Faults(stall_at_event=2, stall_seconds=0.5)) as sim,
        connect(sim) as client,
    ):
        await client.send({"type": "input_audio_buffer.clear"})
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.next(), 0.1)
        # After the stall the event arrives; nothing was lost.
        assert (await client.next(limit=5))["type"] == "input_audio_buffer.cleared"


async def test_closing_the_simulator_ends_a_stall_at_once() -> None:
    # A stalled connection reads nothing, so a close handshake could never finish: aclose() cuts it.
    sim = RealtimeSimulator(faults=Faults(stall_at_event=2, stall_seconds=60))
    await sim.start()
    try:
        async with connect(sim) as client:
            await client.send({"type": "input_audio_buffer.clear"})
            await asyncio.sleep(0.1)  # the stall has begun
            async with asyncio.timeout(3):  # the stall lasts 60 s; websockets' own close limit is 10 s
                await sim.aclose()
            with pytest.raises(ConnectionClosed):
                await client.next(limit=5)
    finally:
        await sim.aclose()
    assert len(sim.close_times) == 1


async def test_fault_injected_error_then_close() -> None:
    error = {
        "type": "server_error",
        "code": "session_expired",
        "message": "Your session expired.",
        "param": None,
    }
    faults = Faults(error_at_event=2, error=error, close_after_error=True)
    async with RealtimeSimulator(faults=faults) as sim, connect(sim) as client:
        await client.send({"type": "input_audio_buffer.clear"})
        event = await client.next()
        assert event["type"] == "error" and event["error"]["code"] == "session_expired"
        with pytest.raises(ConnectionClosed):
            await client.next()


async def test_faults_apply_only_to_the_connections_named() -> None:
    faults = Faults(close_at_event=2, sessions=frozenset({1}))
    async with RealtimeSimulator(faults=faults) as sim:
        async with connect(sim) as first:
            await first.send({"type": "input_audio_buffer.clear"})
            assert (await first.next())["type"] == "input_audio_buffer.cleared"
            async with connect(sim) as second:
                await second.send({"type": "input_audio_buffer.clear"})
                with pytest.raises(ConnectionClosed):
                    await second.next()
            await first.send({"type": "input_audio_buffer.clear"})  # the first goes on
            assert (await first.next())["type"] == "input_audio_buffer.cleared"


async def test_a_per_connection_session_cap_closes_with_1001_and_the_cap_message() -> None:
    faults = Faults(max_session_seconds=0.3, sessions=frozenset({0}))
    async with RealtimeSimulator(faults=faults) as sim, connect(sim) as client:
        with pytest.raises(ConnectionClosed) as closed:
            await client.next(limit=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        assert "maximum duration of 0.3 seconds" in closed.value.rcvd.reason
    assert sim.sessions[0].max_session_seconds == 0.3
