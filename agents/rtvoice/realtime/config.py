"""The session configuration the protocol sends in ``session.update``, in the GA shape.

:class:`SessionConfig` is validated eagerly (``ConfigurationError`` at construction), and
:func:`build_session_update` turns it into the SDK's :class:`~openai.types.realtime.SessionUpdateEvent`.
The update is *complete*: fields that are off are sent as explicit ``null`` (``turn_detection`` for
manual turns, ``noise_reduction``, ``transcription``), which survives serialisation because the SDK
models are dumped with ``exclude_unset`` (not ``exclude_none``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from openai.types.realtime import (
    AudioTranscription,
    RealtimeAudioConfig,
    RealtimeAudioConfigInput,
    RealtimeAudioConfigOutput,
    RealtimeFunctionTool,
    RealtimeSessionCreateRequest,
    RealtimeToolChoiceConfig,
    SessionUpdateEvent,
)
from openai.types.realtime.realtime_audio_config_input import NoiseReduction as NoiseReductionModel
from openai.types.realtime.realtime_audio_config_output import VoiceID
from openai.types.realtime.realtime_audio_formats import AudioPCM, AudioPCMA, AudioPCMU, RealtimeAudioFormats
from openai.types.realtime.realtime_audio_input_turn_detection import SemanticVad, ServerVad

from rtvoice.audio.format import AudioFormat
from rtvoice.exceptions import ConfigurationError
from rtvoice.options import (
    MAX_SPEECH_SPEED,
    MIN_SPEECH_SPEED,
    NoiseReduction,
    SemanticVAD,
    ServerVAD,
    TurnDetection,
    validate_voice,
    voice_to_wire,
)

__all__ = ["SessionConfig", "build_session_update", "format_to_wire", "speed_update", "tools_update"]


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """Everything the protocol configures on the server at session start.

    Args:
        instructions: the system prompt.
        model: sent as ``session.model`` when set (the URL already fixes the model; this is informative).
        voice: a realtime voice name or a custom voice id (``"voice_..."``).
        speech_speed: 0.25 to 1.5.
        output_modalities: ``"audio"`` (audio plus its transcript) or ``"text"``.
        input_format: the format the microphone produces (``audio.input.format``).
        output_format: the format the speaker plays (``audio.output.format``); sets the bytes-per-ms
            used to measure playback (48 for PCM16 at 24 kHz, 8 for G.711).
        transcription_model: input transcription model, or None for no user transcripts.
        transcription_language: ISO-639-1 hint for the transcription model.
        noise_reduction: input noise reduction, or None for off.
        turn_detection: server or semantic VAD, or None for manual turns (sent as ``null``).
        tools: function tools, as the SDK's models.
        tool_choice: ``"auto"``, ``"none"``, ``"required"`` or a forced tool.
        max_output_tokens: per-response cap, ``"inf"``, or None to leave the server default.

    Raises:
        ConfigurationError: a voice that is not a realtime voice, a speed outside 0.25..1.5, an unknown
            modality, or an empty transcription model.
    """

    instructions: str = ""
    model: str | None = None
    voice: str = "marin"
    speech_speed: float = 1.0
    output_modalities: Literal["audio", "text"] = "audio"
    input_format: AudioFormat = AudioFormat.PCM16_24K
    output_format: AudioFormat = AudioFormat.PCM16_24K
    transcription_model: str | None = "whisper-1"
    transcription_language: str | None = None
    noise_reduction: NoiseReduction | None = NoiseReduction.FAR_FIELD
    turn_detection: TurnDetection | None = SemanticVAD()
    tools: Sequence[RealtimeFunctionTool] = ()
    tool_choice: RealtimeToolChoiceConfig = "auto"
    max_output_tokens: int | Literal["inf"] | None = None

    def __post_init__(self) -> None:
        validate_voice(self.voice)
        _check_speed(self.speech_speed)
        if self.output_modalities not in ("audio", "text"):
            raise ConfigurationError(
                f"output_modalities must be 'audio' or 'text', not {self.output_modalities!r}"
            )
        if self.transcription_model == "":
            raise ConfigurationError("transcription_model must be a model name or None, not ''")
        object.__setattr__(self, "tools", tuple(self.tools))  # frozen: keep an immutable copy

    @property
    def interrupt_response(self) -> bool:
        """Whether the server cancels the active response itself when the user starts speaking."""
        return self.turn_detection is not None and self.turn_detection.interrupt_response


def _check_speed(speed: float) -> None:
    if isinstance(speed, bool) or not isinstance(speed, int | float) or not math.isfinite(speed):
        raise ConfigurationError(f"speech_speed must be a finite number, not {speed!r}")
    if not MIN_SPEECH_SPEED <= speed <= MAX_SPEECH_SPEED:
        raise ConfigurationError(
            f"speech_speed must be within {MIN_SPEECH_SPEED}..{MAX_SPEECH_SPEED}, not {speed}"
        )


def format_to_wire(audio_format: AudioFormat) -> RealtimeAudioFormats:
    """Return the SDK model of ``audio_format`` (``{"type": "audio/pcm", "rate": 24000}`` and so on)."""
    if audio_format is AudioFormat.PCM16_24K:
        return AudioPCM(type="audio/pcm", rate=24000)
    if audio_format is AudioFormat.PCMU_8K:
        return AudioPCMU(type="audio/pcmu")
    return AudioPCMA(type="audio/pcma")


def _turn_detection(turn_detection: TurnDetection | None) -> ServerVad | SemanticVad | None:
    if turn_detection is None:
        return None
    if isinstance(turn_detection, ServerVAD):
        return ServerVad.model_validate(turn_detection.to_wire())
    return SemanticVad.model_validate(turn_detection.to_wire())


def build_session_update(config: SessionConfig) -> SessionUpdateEvent:
    """Build the complete ``session.update`` for ``config``.

    Args:
        config: the session configuration.

    Returns:
        The SDK event; ``turn_detection``, ``noise_reduction`` and ``transcription`` are always set,
        to ``null`` when off.
    """
    voice = voice_to_wire(config.voice)
    transcription = None
    if config.transcription_model is not None:
        transcription = AudioTranscription(model=config.transcription_model)
        if config.transcription_language is not None:
            transcription.language = config.transcription_language
    noise_reduction = None
    if config.noise_reduction is not None:
        noise_reduction = NoiseReductionModel(type=config.noise_reduction.value)
    session = RealtimeSessionCreateRequest(
        type="realtime",
        instructions=config.instructions,
        output_modalities=[config.output_modalities],
        audio=RealtimeAudioConfig(
            input=RealtimeAudioConfigInput(
                format=format_to_wire(config.input_format),
                transcription=transcription,
                noise_reduction=noise_reduction,
                turn_detection=_turn_detection(config.turn_detection),
            ),
            output=RealtimeAudioConfigOutput(
                format=format_to_wire(config.output_format),
                voice=voice if isinstance(voice, str) else VoiceID(id=voice["id"]),
                speed=float(config.speech_speed),
            ),
        ),
        tools=list(config.tools),
        tool_choice=config.tool_choice,
    )
    # Assigning marks a field as set, so these appear only when configured (exclude_unset).
    if config.model is not None:
        session.model = config.model
    if config.max_output_tokens is not None:
        session.max_output_tokens = config.max_output_tokens
    return SessionUpdateEvent(type="session.update", session=session)


def speed_update(speed: float) -> SessionUpdateEvent:
    """Build a speed-only ``session.update`` (takes effect from the next response).

    Raises:
        ConfigurationError: ``speed`` outside 0.25..1.5.
    """
    _check_speed(speed)
    output = RealtimeAudioConfigOutput(speed=float(speed))
    return SessionUpdateEvent(
        type="session.update",
        session=RealtimeSessionCreateRequest(type="realtime", audio=RealtimeAudioConfig(output=output)),
    )


def tools_update(
    tools: Sequence[RealtimeFunctionTool],
    tool_choice: RealtimeToolChoiceConfig,
) -> SessionUpdateEvent:
    """Build a tools-only ``session.update`` (an empty list removes every tool)."""
    session = RealtimeSessionCreateRequest(type="realtime", tools=list(tools), tool_choice=tool_choice)
    return SessionUpdateEvent(type="session.update", session=session)
