"""Option types: enums cover the SDK's literals, validation raises ConfigurationError, wire dicts validate."""

from __future__ import annotations

import typing
import warnings

import pytest
from openai.types.realtime.audio_transcription import AudioTranscription
from openai.types.realtime.realtime_audio_config_input import RealtimeAudioConfigInput
from openai.types.realtime.realtime_audio_config_output import RealtimeAudioConfigOutput
from openai.types.realtime.realtime_audio_input_turn_detection import SemanticVad, ServerVad
from openai.types.realtime.realtime_session_create_request import RealtimeSessionCreateRequest

from rtvoice.exceptions import ConfigurationError
from rtvoice.options import (
    REALTIME_VOICES,
    AssistantVoice,
    NoiseReduction,
    RealtimeModel,
    SemanticEagerness,
    SemanticVAD,
    ServerVAD,
    TranscriptionModel,
    clip_speech_speed,
    validate_voice,
    voice_to_wire,
)


def _literal_strings(annotation: object) -> set[str]:
    """Every string inside the Literal types nested in ``annotation``."""
    found: set[str] = set()
    if typing.get_origin(annotation) is typing.Literal:
        found.update(a for a in typing.get_args(annotation) if isinstance(a, str))
    for arg in typing.get_args(annotation):
        found |= _literal_strings(arg)
    return found


def test_realtime_model_covers_every_sdk_model() -> None:
    sdk_models = _literal_strings(RealtimeSessionCreateRequest.model_fields["model"].annotation)
    assert "gpt-realtime" in sdk_models  # the helper really found the Literal
    assert sdk_models <= {m.value for m in RealtimeModel}


def test_realtime_model_readme_names() -> None:
    assert RealtimeModel.GPT_REALTIME.value == "gpt-realtime"
    assert RealtimeModel.GPT_REALTIME_MINI.value == "gpt-realtime-mini"
    assert RealtimeModel("gpt-realtime-1.5") is RealtimeModel.GPT_REALTIME_1_5
    assert isinstance(RealtimeModel.GPT_REALTIME_2, str)
    assert RealtimeModel.GPT_REALTIME_2_1_MINI.value == "gpt-realtime-2.1-mini"
    assert str(RealtimeModel.GPT_REALTIME_MINI_2025_10_06) == "gpt-realtime-mini-2025-10-06"


def test_transcription_model_covers_every_sdk_model() -> None:
    sdk_models = _literal_strings(AudioTranscription.model_fields["model"].annotation)
    assert "whisper-1" in sdk_models
    assert sdk_models <= {m.value for m in TranscriptionModel}
    assert TranscriptionModel.WHISPER_1.value == "whisper-1"


def test_realtime_voices_are_exactly_the_sdk_voices() -> None:
    sdk_voices = _literal_strings(RealtimeAudioConfigOutput.model_fields["voice"].annotation)
    assert sdk_voices == REALTIME_VOICES
    assert len(AssistantVoice) == 13


@pytest.mark.parametrize("voice", sorted(REALTIME_VOICES))
def test_validate_voice_accepts_realtime_voices(voice: str) -> None:
    assert validate_voice(AssistantVoice(voice)) == voice
    assert validate_voice(voice) == voice
    assert type(validate_voice(AssistantVoice(voice))) is str


@pytest.mark.parametrize("voice", [AssistantVoice.FABLE, AssistantVoice.ONYX, "nova"])
def test_validate_voice_rejects_tts_voices_naming_the_accepted_ones(voice: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        validate_voice(voice)
    message = str(info.value)
    assert str(voice) in message
    assert "text-to-speech" in message
    for accepted in REALTIME_VOICES:
        assert accepted in message


@pytest.mark.parametrize("voice", ["Coral", "robot", "voice_", "", 7])
def test_validate_voice_rejects_unknown(voice: object) -> None:
    with pytest.raises(ConfigurationError, match="voice"):
        validate_voice(voice)  # type: ignore[arg-type]


def test_custom_voice_ids_are_accepted_and_sent_as_objects() -> None:
    assert validate_voice("voice_1234") == "voice_1234"
    assert voice_to_wire("voice_1234") == {"id": "voice_1234"}
    assert voice_to_wire(AssistantVoice.MARIN) == "marin"
    for voice in ("voice_1234", AssistantVoice.CEDAR):
        parsed = RealtimeAudioConfigOutput.model_validate({"voice": voice_to_wire(voice)})
        assert parsed.voice is not None


def test_noise_reduction_wire() -> None:
    assert NoiseReduction.NEAR_FIELD.to_wire() == {"type": "near_field"}
    parsed = RealtimeAudioConfigInput.model_validate({"noise_reduction": NoiseReduction.FAR_FIELD.to_wire()})
    assert parsed.noise_reduction is not None
    assert parsed.noise_reduction.type == "far_field"


def test_semantic_vad_defaults_and_wire() -> None:
    vad = SemanticVAD()
    assert vad.eagerness is SemanticEagerness.AUTO
    wire = vad.to_wire()
    assert wire == {
        "type": "semantic_vad",
        "eagerness": "auto",
        "create_response": True,
        "interrupt_response": True,
    }
    model = SemanticVad.model_validate(wire)
    assert model.model_dump(exclude_unset=True) == wire
    assert not model.model_extra


def test_semantic_vad_accepts_eagerness_strings_and_rejects_others() -> None:
    assert SemanticVAD(eagerness="low").eagerness is SemanticEagerness.LOW  # type: ignore[arg-type]
    assert SemanticVAD(eagerness=SemanticEagerness.HIGH).to_wire()["eagerness"] == "high"
    with pytest.raises(ConfigurationError, match="eagerness"):
        SemanticVAD(eagerness="eager")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="create_response"):
        SemanticVAD(create_response="yes")  # type: ignore[arg-type]


def test_server_vad_defaults_and_wire() -> None:
    wire = ServerVAD().to_wire()
    assert wire == {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 500,
        "create_response": True,
        "interrupt_response": True,
    }
    model = ServerVad.model_validate(wire)
    assert model.model_dump(exclude_unset=True) == wire
    assert not model.model_extra


def test_server_vad_idle_timeout_on_the_wire() -> None:
    vad = ServerVAD(threshold=1, silence_duration_ms=200, idle_timeout_ms=6000, interrupt_response=False)
    wire = vad.to_wire()
    assert wire["idle_timeout_ms"] == 6000
    assert wire["threshold"] == 1.0 and isinstance(wire["threshold"], float)
    model = ServerVad.model_validate(wire)
    assert model.idle_timeout_ms == 6000
    assert model.interrupt_response is False
    assert RealtimeAudioConfigInput.model_validate({"turn_detection": wire}).turn_detection == model


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"threshold": 1.5}, "threshold"),
        ({"threshold": -0.1}, "threshold"),
        ({"threshold": float("nan")}, "threshold"),
        ({"threshold": "0.5"}, "threshold"),
        ({"threshold": True}, "threshold"),
        ({"prefix_padding_ms": -1}, "prefix_padding_ms"),
        ({"silence_duration_ms": -500}, "silence_duration_ms"),
        ({"silence_duration_ms": 2.5}, "silence_duration_ms"),
        ({"idle_timeout_ms": -1}, "idle_timeout_ms"),
        ({"create_response": 1}, "create_response"),
    ],
)
def test_server_vad_validation(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigurationError, match=field):
        ServerVAD(**kwargs)  # type: ignore[arg-type]


def test_server_vad_zero_values_are_valid() -> None:
    vad = ServerVAD(threshold=0.0, prefix_padding_ms=0, silence_duration_ms=0, idle_timeout_ms=0)
    assert ServerVad.model_validate(vad.to_wire()).silence_duration_ms == 0


def test_options_are_frozen() -> None:
    vad = ServerVAD()
    with pytest.raises(AttributeError):
        vad.threshold = 0.9  # type: ignore[misc]


@pytest.mark.parametrize("speed", [0.25, 1.0, 1.2, 1.5, 1])
def test_clip_speech_speed_in_range_is_silent(speed: float) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert clip_speech_speed(speed) == speed


@pytest.mark.parametrize(("speed", "clipped"), [(12.0, 1.5), (1.51, 1.5), (0.1, 0.25), (0, 0.25), (-3, 0.25)])
def test_clip_speech_speed_warns_naming_the_value(speed: float, clipped: float) -> None:
    with pytest.warns(UserWarning, match=f"speech speed {speed} ") as record:
        assert clip_speech_speed(speed) == clipped
    assert record[0].filename == __file__  # stacklevel points at the caller


@pytest.mark.parametrize("speed", [float("nan"), float("inf"), "fast", None, True])
def test_clip_speech_speed_rejects_non_numbers(speed: object) -> None:
    with pytest.raises(ConfigurationError, match="speech speed"):
        clip_speech_speed(speed)  # type: ignore[arg-type]
