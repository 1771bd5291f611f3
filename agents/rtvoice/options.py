"""Public option types: models, voices, transcription, noise reduction, turn detection, speech speed.

The names follow the rtvoice 0.7.0 README (``RealtimeModel.GPT_REALTIME``, ``AssistantVoice.CORAL``,
``SemanticVAD(eagerness=SemanticEagerness.LOW)``, ``ServerVAD(threshold=0.5, ...)``). Values are the GA
Realtime API's wire strings, so an enum member can go straight into a ``session.update`` payload.

Everything here validates eagerly and raises :class:`~rtvoice.exceptions.ConfigurationError`, so a bad
option fails when the agent is built, not minutes later when the server answers with an ``error`` event.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeAlias

from openai.types.realtime.realtime_audio_config_input_param import NoiseReduction as NoiseReductionParam
from openai.types.realtime.realtime_audio_input_turn_detection_param import (
    SemanticVad as SemanticVadParam,
)
from openai.types.realtime.realtime_audio_input_turn_detection_param import (
    ServerVad as ServerVadParam,
)

from rtvoice.exceptions import ConfigurationError

__all__ = [
    "MAX_SPEECH_SPEED",
    "MIN_SPEECH_SPEED",
    "REALTIME_VOICES",
    "AssistantVoice",
    "NoiseReduction",
    "RealtimeModel",
    "SemanticEagerness",
    "SemanticVAD",
    "ServerVAD",
    "TranscriptionModel",
    "TurnDetection",
    "clip_speech_speed",
    "validate_voice",
    "voice_to_wire",
]


class RealtimeModel(StrEnum):
    """Realtime models, one member per model the openai SDK's ``RealtimeSessionCreateRequest`` lists.

    ``model`` also accepts any string, so a model newer than this enum still works when passed as ``str``.
    """

    GPT_REALTIME = "gpt-realtime"
    GPT_REALTIME_MINI = "gpt-realtime-mini"
    GPT_REALTIME_1_5 = "gpt-realtime-1.5"
    GPT_REALTIME_2 = "gpt-realtime-2"
    GPT_REALTIME_2_1 = "gpt-realtime-2.1"
    GPT_REALTIME_2_1_MINI = "gpt-realtime-2.1-mini"
    GPT_REALTIME_2025_08_28 = "gpt-realtime-2025-08-28"
    GPT_REALTIME_MINI_2025_10_06 = "gpt-realtime-mini-2025-10-06"
    GPT_REALTIME_MINI_2025_12_15 = "gpt-realtime-mini-2025-12-15"
    GPT_AUDIO_1_5 = "gpt-audio-1.5"
    GPT_AUDIO_MINI = "gpt-audio-mini"
    GPT_AUDIO_MINI_2025_10_06 = "gpt-audio-mini-2025-10-06"
    GPT_AUDIO_MINI_2025_12_15 = "gpt-audio-mini-2025-12-15"
    GPT_4O_REALTIME_PREVIEW = "gpt-4o-realtime-preview"
    GPT_4O_REALTIME_PREVIEW_2024_10_01 = "gpt-4o-realtime-preview-2024-10-01"
    GPT_4O_REALTIME_PREVIEW_2024_12_17 = "gpt-4o-realtime-preview-2024-12-17"
    GPT_4O_REALTIME_PREVIEW_2025_06_03 = "gpt-4o-realtime-preview-2025-06-03"
    GPT_4O_MINI_REALTIME_PREVIEW = "gpt-4o-mini-realtime-preview"
    GPT_4O_MINI_REALTIME_PREVIEW_2024_12_17 = "gpt-4o-mini-realtime-preview-2024-12-17"


class AssistantVoice(StrEnum):
    """The voices the 0.7.0 README lists.

    ``FABLE``, ``ONYX`` and ``NOVA`` are kept for source compatibility, but they are text-to-speech
    voices, not realtime voices: the Realtime API produces garbage with them (openai-agents #1941).
    :func:`validate_voice` rejects them; see :data:`REALTIME_VOICES` for the accepted ones.
    """

    ALLOY = "alloy"
    ASH = "ash"
    BALLAD = "ballad"
    CORAL = "coral"
    ECHO = "echo"
    FABLE = "fable"
    ONYX = "onyx"
    NOVA = "nova"
    SAGE = "sage"
    SHIMMER = "shimmer"
    VERSE = "verse"
    CEDAR = "cedar"
    MARIN = "marin"


_TTS_ONLY_VOICES = frozenset({AssistantVoice.FABLE, AssistantVoice.ONYX, AssistantVoice.NOVA})

REALTIME_VOICES: frozenset[str] = frozenset(v.value for v in AssistantVoice if v not in _TTS_ONLY_VOICES)
"""Built-in voices the Realtime API accepts (``audio.output.voice``); ``marin`` and ``cedar`` sound best."""

_CUSTOM_VOICE_PREFIX = "voice_"


def validate_voice(voice: AssistantVoice | str) -> str:
    """Check that ``voice`` is a realtime voice and return its wire string.

    Args:
        voice: an :class:`AssistantVoice`, its string value, or a custom voice id (``"voice_..."``).

    Returns:
        The voice as the API spells it, e.g. ``"coral"`` or ``"voice_1234"``.

    Raises:
        ConfigurationError: the voice is not a realtime voice (for example ``FABLE``) or not a string.
    """
    if not isinstance(voice, str):
        raise ConfigurationError(f"voice must be an AssistantVoice or a string, not {type(voice).__name__}")
    value = str(voice)  # an AssistantVoice member becomes its plain value
    if value in REALTIME_VOICES:
        return value
    if value.startswith(_CUSTOM_VOICE_PREFIX) and len(value) > len(_CUSTOM_VOICE_PREFIX):
        return value
    accepted = ", ".join(sorted(REALTIME_VOICES))
    hint = ""
    if value in _TTS_ONLY_VOICES:
        hint = f" ({value!r} is a text-to-speech voice; the Realtime API does not support it)"
    raise ConfigurationError(
        f"voice {value!r} is not a realtime voice{hint}; use one of: {accepted}, "
        f"or a custom voice id starting with {_CUSTOM_VOICE_PREFIX!r}"
    )


def voice_to_wire(voice: AssistantVoice | str) -> str | dict[str, str]:
    """Return the ``audio.output.voice`` value for ``voice``: a name, or ``{"id": ...}`` for a custom voice.

    Raises:
        ConfigurationError: as :func:`validate_voice`.
    """
    value = validate_voice(voice)
    if value in REALTIME_VOICES:
        return value
    return {"id": value}


class TranscriptionModel(StrEnum):
    """Input transcription models, one member per model the SDK's ``AudioTranscription`` lists."""

    WHISPER_1 = "whisper-1"
    GPT_TRANSCRIBE = "gpt-transcribe"
    GPT_LIVE_TRANSCRIBE = "gpt-live-transcribe"
    GPT_4O_TRANSCRIBE = "gpt-4o-transcribe"
    GPT_4O_TRANSCRIBE_DIARIZE = "gpt-4o-transcribe-diarize"
    GPT_4O_MINI_TRANSCRIBE = "gpt-4o-mini-transcribe"
    GPT_4O_MINI_TRANSCRIBE_2025_12_15 = "gpt-4o-mini-transcribe-2025-12-15"
    GPT_REALTIME_WHISPER = "gpt-realtime-whisper"


class NoiseReduction(StrEnum):
    """Input noise reduction (``audio.input.noise_reduction.type``)."""

    NEAR_FIELD = "near_field"
    """Close-talking microphones: headsets, phones."""
    FAR_FIELD = "far_field"
    """Laptop or conference-room microphones."""

    def to_wire(self) -> NoiseReductionParam:
        """Return the GA ``audio.input.noise_reduction`` object, e.g. ``{"type": "near_field"}``."""
        return {"type": self.value}


class SemanticEagerness(StrEnum):
    """How eagerly semantic VAD ends the user's turn.

    ``AUTO`` equals ``MEDIUM``; ``LOW``, ``MEDIUM`` and ``HIGH`` wait at most 8 s, 4 s and 2 s.
    """

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    AUTO = "auto"


def _require_bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be True or False, not {value!r}")


def _require_ms(name: str, value: object) -> None:
    # bool is an int subclass; True milliseconds is almost certainly a mistake.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(f"{name} must be a whole number of milliseconds, not {value!r}")
    if value < 0:
        raise ConfigurationError(f"{name} must be >= 0, not {value}")


@dataclass(frozen=True, slots=True)
class SemanticVAD:
    """Semantic turn detection: the server ends the turn when the thought sounds complete (the default).

    Args:
        eagerness: how quickly to end the turn; a :class:`SemanticEagerness` or its string value.
        create_response: let the server start a response when the user stops speaking.
        interrupt_response: let the server cancel the current response when the user starts speaking.

    Raises:
        ConfigurationError: an unknown eagerness or a non-bool flag.
    """

    eagerness: SemanticEagerness = SemanticEagerness.AUTO
    create_response: bool = True
    interrupt_response: bool = True

    def __post_init__(self) -> None:
        try:
            eagerness = SemanticEagerness(self.eagerness)
        except ValueError:
            choices = ", ".join(e.value for e in SemanticEagerness)
            raise ConfigurationError(f"eagerness must be one of {choices}, not {self.eagerness!r}") from None
        object.__setattr__(self, "eagerness", eagerness)  # frozen: normalise "low" to the enum member
        _require_bool("create_response", self.create_response)
        _require_bool("interrupt_response", self.interrupt_response)

    def to_wire(self) -> SemanticVadParam:
        """Return the GA ``audio.input.turn_detection`` object for semantic VAD."""
        return {
            "type": "semantic_vad",
            "eagerness": self.eagerness.value,
            "create_response": self.create_response,
            "interrupt_response": self.interrupt_response,
        }


@dataclass(frozen=True, slots=True)
class ServerVAD:
    """Energy-based turn detection: the turn ends after ``silence_duration_ms`` of silence.

    Args:
        threshold: activation threshold, 0.0 to 1.0; higher needs louder speech.
        prefix_padding_ms: audio kept from before the detected speech onset.
        silence_duration_ms: silence that ends the turn.
        idle_timeout_ms: when set, the server prompts the user itself after this much silence following
            the end of the assistant's playback (``input_audio_buffer.timeout_triggered``). None: off.
        create_response: let the server start a response when the user stops speaking.
        interrupt_response: let the server cancel the current response when the user starts speaking.

    Raises:
        ConfigurationError: threshold outside 0..1, negative or fractional milliseconds, non-bool flags.
    """

    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500
    idle_timeout_ms: int | None = None
    create_response: bool = True
    interrupt_response: bool = True

    def __post_init__(self) -> None:
        threshold = self.threshold
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise ConfigurationError(f"threshold must be a number between 0 and 1, not {threshold!r}")
        if not 0.0 <= threshold <= 1.0:  # also rejects NaN
            raise ConfigurationError(f"threshold must be between 0 and 1, not {threshold}")
        object.__setattr__(self, "threshold", float(threshold))
        _require_ms("prefix_padding_ms", self.prefix_padding_ms)
        _require_ms("silence_duration_ms", self.silence_duration_ms)
        if self.idle_timeout_ms is not None:
            _require_ms("idle_timeout_ms", self.idle_timeout_ms)
        _require_bool("create_response", self.create_response)
        _require_bool("interrupt_response", self.interrupt_response)

    def to_wire(self) -> ServerVadParam:
        """Return the GA ``audio.input.turn_detection`` object for server VAD.

        ``idle_timeout_ms`` is left out when None rather than sent as null, so the server default (off)
        applies and an older server that lacks the field is not confused by it.
        """
        wire: ServerVadParam = {
            "type": "server_vad",
            "threshold": self.threshold,
            "prefix_padding_ms": self.prefix_padding_ms,
            "silence_duration_ms": self.silence_duration_ms,
            "create_response": self.create_response,
            "interrupt_response": self.interrupt_response,
        }
        if self.idle_timeout_ms is not None:
            wire["idle_timeout_ms"] = self.idle_timeout_ms
        return wire


TurnDetection: TypeAlias = SemanticVAD | ServerVAD
"""Either kind of turn detection; ``None`` where accepted means manual turns (``turn_detection: null``)."""

MIN_SPEECH_SPEED = 0.25
MAX_SPEECH_SPEED = 1.5


def clip_speech_speed(speed: float) -> float:
    """Clip ``speed`` to the API's range, warning when it had to.

    The Realtime API rejects ``audio.output.speed`` outside 0.25..1.5; 0.7.0 clipped silently, which hid
    typos such as ``speech_speed=12``. This clips too (a running agent keeps working) but says so.

    Args:
        speed: the requested speech speed, 1.0 being normal.

    Returns:
        ``speed`` as a float, clipped to [0.25, 1.5].

    Raises:
        ConfigurationError: ``speed`` is not a finite number.
    """
    if isinstance(speed, bool) or not isinstance(speed, int | float) or not math.isfinite(speed):
        raise ConfigurationError(f"speech speed must be a finite number, not {speed!r}")
    clipped = min(max(float(speed), MIN_SPEECH_SPEED), MAX_SPEECH_SPEED)
    if clipped != speed:
        warnings.warn(
            f"speech speed {speed} is outside {MIN_SPEECH_SPEED}..{MAX_SPEECH_SPEED}; using {clipped}",
            UserWarning,
            stacklevel=2,
        )
    return clipped
