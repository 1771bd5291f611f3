"""Parsing server events and encoding client events with the SDK's models; the fixtures themselves."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openai.types.realtime import (
    InputAudioBufferAppendEvent,
    RealtimeServerEvent,
    ResponseAudioDeltaEvent,
    SessionUpdateEvent,
)
from pydantic import TypeAdapter

from rtvoice.exceptions import RemoteProtocolError
from rtvoice.realtime import SessionConfig, build_session_update
from rtvoice.realtime.wire import (
    SERVER_EVENT_ADAPTER,
    SERVER_EVENT_TYPES,
    MalformedServerEvent,
    UnknownEvent,
    append_audio_json,
    decode_audio,
    encode_client_event,
    parse_server_event,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "realtime"
SDK_ADAPTER = TypeAdapter(RealtimeServerEvent)
FIXTURE_LINES = [
    (path.name, number, line)
    for path in sorted(FIXTURES.glob("*.jsonl"))
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines())
]


def test_there_are_fixtures() -> None:
    assert len(FIXTURE_LINES) > 150
    assert {name for name, _, _ in FIXTURE_LINES} >= {"audio_turn.jsonl", "tool_calls.jsonl", "errors.jsonl"}


@pytest.mark.parametrize(
    ("name", "number", "line"), FIXTURE_LINES, ids=[f"{n}:{i}" for n, i, _ in FIXTURE_LINES]
)
def test_every_fixture_event_parses_with_the_sdk_adapter_and_ours_agrees(
    name: str, number: int, line: str
) -> None:
    expected = SDK_ADAPTER.validate_json(line)
    parsed = parse_server_event(line)
    assert type(parsed) is type(expected)
    assert parsed == expected
    assert parsed == SERVER_EVENT_ADAPTER.validate_json(line.encode())


def test_server_event_types_cover_the_sdk_union() -> None:
    members = get_args(get_args(RealtimeServerEvent)[0])
    assert len(SERVER_EVENT_TYPES) == len(members) == 46
    assert {"response.output_audio.delta", "conversation.item.added", "error"} <= SERVER_EVENT_TYPES


def test_unknown_types_are_returned_not_raised() -> None:
    assert parse_server_event('{"type":"response.brand_new","x":1}') == UnknownEvent(
        "response.brand_new", '{"type":"response.brand_new","x":1}'
    )


@pytest.mark.parametrize(
    ("frame", "event_type", "message"),
    [
        ("{", None, "Invalid JSON"),
        (b"\xff\xfe", None, "not a server event"),
        ("[1, 2]", None, "object"),
        ('{"event_id": "e"}', None, "discriminator"),
        ('{"type": 5}', None, "must be a string"),
        ('{"type": null}', None, "must be a string"),
        (
            '{"type": "response.output_audio.delta", "event_id": "e"}',
            "response.output_audio.delta",
            "Field required",
        ),
    ],
)
def test_malformed_frames(frame: str | bytes, event_type: str | None, message: str) -> None:
    with pytest.raises(MalformedServerEvent, match=message) as caught:
        parse_server_event(frame)
    assert caught.value.event_type == event_type
    assert isinstance(caught.value, RemoteProtocolError)


def test_extra_fields_are_tolerated() -> None:
    frame: dict[str, object] = {"type": "response.output_audio.delta", "event_id": "e", "response_id": "r"}
    frame["item_id"] = "i"
    frame |= {"output_index": 0, "content_index": 0, "delta": "AAAA", "brand_new_field": [1, 2]}
    event = parse_server_event(json.dumps(frame))
    assert isinstance(event, ResponseAudioDeltaEvent) and event.delta == "AAAA"


@given(st.binary(max_size=4000))
def test_append_fast_path_equals_the_sdk_model_serialisation(pcm: bytes) -> None:
    audio = base64.b64encode(pcm).decode("ascii")
    model = InputAudioBufferAppendEvent(type="input_audio_buffer.append", audio=audio)
    assert append_audio_json(pcm) == encode_client_event(model)
    assert append_audio_json(pcm) == model.model_dump_json(exclude_unset=True)


def test_decode_audio() -> None:
    assert decode_audio(base64.b64encode(b"\x01\x02\x03").decode()) == b"\x01\x02\x03"
    assert decode_audio("") == b""
    with pytest.raises(MalformedServerEvent, match="base64") as caught:
        decode_audio("abc")
    assert caught.value.event_type == "response.output_audio.delta"
    with pytest.raises(MalformedServerEvent, match="base64"):
        decode_audio("äöü=")


def test_encode_keeps_explicit_nulls_and_leaves_out_unset_fields() -> None:
    event = build_session_update(SessionConfig(turn_detection=None))
    wire = json.loads(encode_client_event(event))
    assert wire["session"]["audio"]["input"]["turn_detection"] is None
    assert "model" not in wire["session"] and "event_id" not in wire
    assert SessionUpdateEvent.model_validate(wire) == event
