"""The simulated session's configuration: its defaults and the rules of ``session.update`` (pure).

The session object starts as :func:`default_config` (what ``session.created`` carries) and changes only by
valid ``session.update`` events, merged field by field by :func:`deep_merge` (``null`` clears; a typed
object that changes its ``type`` is replaced). :func:`check_session_update` refuses what the API refuses,
with the API's code, message and ``param``: a changed session type, an unsupported modality
combination, a voice change once assistant audio exists, a speed outside 0.25–1.5 and a VAD threshold
outside 0–1. :func:`audio_format` and :func:`vad_settings` read the audio parts of a config.
"""

from __future__ import annotations

from typing import Any, Literal

from rtvoice.testing.vad import ServerVadSettings
from rtvoice.testing.validation import ApiError

__all__ = [
    "DEFAULT_INSTRUCTIONS",
    "audio_format",
    "check_output_modalities",
    "check_session_update",
    "deep_merge",
    "default_config",
    "normalize_turn_detection",
    "vad_settings",
]

DEFAULT_INSTRUCTIONS = (
    "Your knowledge cutoff is 2023-10. You are a helpful, witty, and friendly AI. Act like a human, but "
    "remember that you aren't a human and that you can't do human things in the real world."
)
_MIN_SPEED, _MAX_SPEED = 0.25, 1.5


def default_config(*, session_id: str, model: str, expires_at: int) -> dict[str, Any]:
    """The session object of a new connection, as ``session.created`` carries it."""
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": session_id,
        "model": model,
        "output_modalities": ["audio"],
        "instructions": DEFAULT_INSTRUCTIONS,
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "truncation": "auto",
        "prompt": None,
        "expires_at": expires_at,
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": {
                    "type": "server_vad",
                    "threshold": 0.5,
                    "prefix_padding_ms": 300,
                    "silence_duration_ms": 200,
                    "idle_timeout_ms": None,
                    "create_response": True,
                    "interrupt_response": True,
                },
            },
            "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy", "speed": 1.0},
        },
    }


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``update`` merged in, field by field (a new dict; neither argument changes)."""
    out = dict(base)
    for key, value in update.items():
        same_kind = isinstance(value, dict) and value.get("type", (out.get(key) or {}).get("type")) == (
            out.get(key) or {}
        ).get("type")
        # A typed object (an audio format, a turn detection) that changes its type is replaced, not merged:
        # switching to audio/pcmu must not keep the pcm rate, semantic_vad must not keep a threshold.
        if isinstance(value, dict) and isinstance(out.get(key), dict) and same_kind:
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


_SERVER_VAD_DEFAULTS: dict[str, Any] = {
    "threshold": 0.5,
    "prefix_padding_ms": 300,
    "silence_duration_ms": 200,
    "idle_timeout_ms": None,
    "create_response": True,
    "interrupt_response": True,
}
_SEMANTIC_VAD_DEFAULTS: dict[str, Any] = {
    "eagerness": "auto",
    "create_response": True,
    "interrupt_response": True,
}


def normalize_turn_detection(td: Any) -> Any:
    """A ``turn_detection`` object with the defaults the API fills in (as ``session.updated`` echoes it).

    ``server_vad`` gets threshold, padding, silence, idle timeout, ``create_response`` and
    ``interrupt_response``; ``semantic_vad`` gets ``eagerness: "auto"``, ``create_response`` and
    ``interrupt_response``. Anything else (``None``) is returned as is.
    """
    if not isinstance(td, dict):
        return td
    defaults = _SEMANTIC_VAD_DEFAULTS if td.get("type") == "semantic_vad" else _SERVER_VAD_DEFAULTS
    out = dict(td)
    for key, value in defaults.items():
        if out.get(key) is None:
            out[key] = value
    return out


def audio_format(fmt: dict[str, Any] | None) -> tuple[Literal["pcm", "pcmu", "pcma"], int, int]:
    """(codec, sample rate, bytes per ms) of a GA audio format object."""
    kind = (fmt or {}).get("type", "audio/pcm")
    if kind == "audio/pcmu":
        return "pcmu", 8000, 8
    if kind == "audio/pcma":
        return "pcma", 8000, 8
    return "pcm", 24000, 48


def vad_settings(turn_detection: dict[str, Any]) -> ServerVadSettings:
    """The VAD settings of a ``turn_detection`` object (server_vad defaults fill what it leaves out)."""
    td = turn_detection
    if td.get("type") == "semantic_vad":
        return ServerVadSettings.semantic(str(td.get("eagerness") or "auto"))
    threshold, padding, silence = (
        td.get("threshold"),
        td.get("prefix_padding_ms"),
        td.get("silence_duration_ms"),
    )
    return ServerVadSettings(
        threshold=0.5 if threshold is None else float(threshold),
        prefix_padding_ms=300 if padding is None else int(padding),
        silence_duration_ms=200 if silence is None else int(silence),
    )


def check_output_modalities(modalities: list[str] | None, param: str) -> None:
    """Refuse an ``output_modalities`` value other than ``["audio"]`` or ``["text"]`` (None: not sent).

    Raises:
        ApiError: an unsupported combination (``invalid_value`` on ``param``).
    """
    if modalities is not None and sorted(modalities) not in (["audio"], ["text"]):
        raise ApiError(
            "invalid_value",
            f"Invalid modalities: {modalities}. Supported combinations are: ['text'] and ['audio'].",
            param,
        )


def check_session_update(
    config: dict[str, Any], update: dict[str, Any], *, model: str, assistant_audio_sent: bool
) -> None:
    """Check a ``session.update`` against the current session, as the API does.

    Args:
        config: the current session object.
        update: the event's ``session``, as sent (unset fields left out).
        model: the model named in the connection URL.
        assistant_audio_sent: the conversation holds assistant audio (the voice is then fixed).

    Raises:
        ApiError: the API would refuse the update.
    """
    if update.get("type") != config["type"]:
        raise ApiError(
            "invalid_value",
            f"Invalid value: '{update.get('type')}'. This session was created as a "
            f"'{config['type']}' session, and its type cannot change.",
            "session.type",
        )
    # A "model" is accepted and ignored (the session keeps the URL's model): see SimulatedSession.
    check_output_modalities(update.get("output_modalities"), "session.output_modalities")
    output = (update.get("audio") or {}).get("output") or {}
    if "voice" in output and output["voice"] != config["audio"]["output"]["voice"]:
        if assistant_audio_sent:
            raise ApiError(
                "cannot_update_voice",
                "Cannot update a conversation's voice if assistant audio is present.",
                "session.audio.output.voice",
            )
    speed = output.get("speed")
    if speed is not None and not _MIN_SPEED <= float(speed) <= _MAX_SPEED:
        above = float(speed) > _MAX_SPEED
        side, bound = (
            ("above maximum", f"<= {_MAX_SPEED}") if above else ("below minimum", f">= {_MIN_SPEED}")
        )
        raise ApiError(
            "decimal_above_max_value" if above else "decimal_below_min_value",
            f"Invalid 'session.audio.output.speed': decimal {side} value. "
            f"Expected a value {bound}, but got {speed} instead.",
            "session.audio.output.speed",
        )
    td = ((update.get("audio") or {}).get("input") or {}).get("turn_detection")
    if isinstance(td, dict) and td.get("threshold") is not None and not 0.0 <= float(td["threshold"]) <= 1.0:
        raise ApiError(
            "invalid_value",
            f"Invalid 'session.audio.input.turn_detection.threshold': expected a value between 0 and 1, "
            f"but got {td['threshold']} instead.",
            "session.audio.input.turn_detection.threshold",
        )
