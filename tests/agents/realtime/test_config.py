"""SessionConfig validation and the session.update payloads built from it."""

from __future__ import annotations

import json

import pytest
from openai.types.realtime import RealtimeFunctionTool

from rtvoice.audio.format import AudioFormat
from rtvoice.exceptions import ConfigurationError
from rtvoice.options import NoiseReduction, SemanticEagerness, SemanticVAD, ServerVAD
from rtvoice.realtime import SessionConfig, build_session_update, encode_client_event
from rtvoice.realtime.config import format_to_wire, speed_update, tools_update


def session_of(config: SessionConfig) -> dict[str, object]:
    wire = json.loads(encode_client_event(build_session_update(config)))
    assert wire["type"] == "session.update"
    session: dict[str, object] = wire["session"]
    return session


def test_defaults_follow_rtvoice_0_7() -> None:
    assert session_of(SessionConfig()) == {
        "type": "realtime",
        "instructions": "",
        "output_modalities": ["audio"],
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "transcription": {"model": "whisper-1"},
                "noise_reduction": {"type": "far_field"},
                "turn_detection": {
                    "type": "semantic_vad",
                    "eagerness": "auto",
                    "create_response": True,
                    "interrupt_response": True,
                },
            },
            "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin", "speed": 1.0},
        },
        "tools": [],
        "tool_choice": "auto",
    }


def test_every_option_reaches_the_wire() -> None:
    tool = RealtimeFunctionTool(
        type="function",
        name="get_weather",
        description="Get the weather",
        parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    )
    config = SessionConfig(
        instructions="Be brief.",
        voice="voice_1234",
        speech_speed=1.2,
        output_modalities="text",
        input_format=AudioFormat.PCMA_8K,
        output_format=AudioFormat.PCMA_8K,
        transcription_model="gpt-4o-transcribe",
        transcription_language="de",
        noise_reduction=NoiseReduction.NEAR_FIELD,
        turn_detection=ServerVAD(threshold=0.6, silence_duration_ms=400, idle_timeout_ms=6000),
        tools=[tool],  # any sequence; stored as a tuple
        tool_choice="required",
        max_output_tokens=512,
    )
    assert config.tools == (tool,)
    session = session_of(config)
    assert session["output_modalities"] == ["text"]
    assert session["max_output_tokens"] == 512
    assert session["tool_choice"] == "required"
    assert session["tools"] == [tool.model_dump(exclude_unset=True)]
    assert session["audio"] == {
        "input": {
            "format": {"type": "audio/pcma"},
            "transcription": {"model": "gpt-4o-transcribe", "language": "de"},
            "noise_reduction": {"type": "near_field"},
            "turn_detection": {
                "type": "server_vad",
                "threshold": 0.6,
                "prefix_padding_ms": 300,
                "silence_duration_ms": 400,
                "idle_timeout_ms": 6000,
                "create_response": True,
                "interrupt_response": True,
            },
        },
        "output": {"format": {"type": "audio/pcma"}, "voice": {"id": "voice_1234"}, "speed": 1.2},
    }


def test_interrupt_response() -> None:
    assert SessionConfig().interrupt_response
    assert not SessionConfig(turn_detection=None).interrupt_response
    low = SemanticVAD(eagerness=SemanticEagerness.LOW, interrupt_response=False)
    assert not SessionConfig(turn_detection=low).interrupt_response


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"voice": "fable"}, "not a realtime voice"),
        ({"speech_speed": 2.0}, "within"),
        ({"speech_speed": float("nan")}, "finite"),
        ({"speech_speed": True}, "finite"),
        ({"output_modalities": "video"}, "output_modalities"),
        ({"transcription_model": ""}, "transcription_model"),
    ],
)
def test_invalid_configs(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        SessionConfig(**kwargs)  # type: ignore[arg-type]


def test_partial_updates() -> None:
    assert json.loads(encode_client_event(speed_update(0.25))) == {
        "type": "session.update",
        "session": {"type": "realtime", "audio": {"output": {"speed": 0.25}}},
    }
    with pytest.raises(ConfigurationError):
        speed_update(0.1)
    assert json.loads(encode_client_event(tools_update([], "none"))) == {
        "type": "session.update",
        "session": {"type": "realtime", "tools": [], "tool_choice": "none"},
    }


def test_formats() -> None:
    assert format_to_wire(AudioFormat.PCM16_24K).model_dump(exclude_unset=True) == {
        "type": "audio/pcm",
        "rate": 24000,
    }
    assert format_to_wire(AudioFormat.PCMU_8K).model_dump(exclude_unset=True) == {"type": "audio/pcmu"}
    assert format_to_wire(AudioFormat.PCMA_8K).model_dump(exclude_unset=True) == {"type": "audio/pcma"}
