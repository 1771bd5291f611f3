"""Actions: what :class:`~rtvoice.realtime.RealtimeProtocol` asks its shell to do, or tells it happened.

Every public method of the protocol returns a ``list`` of these frozen dataclasses. The shell executes
them **in order** (order matters: :class:`ClearPlayback` comes before the truncate it justifies, and a
:class:`PlayAudio` must reach the device in the order given). They compare with ``==``, so tests can
assert on whole lists.

Two kinds:

* **Commands** the shell must carry out: :class:`SendEvent`, :class:`SendJSON`, :class:`PlayAudio`,
  :class:`ClearPlayback`, :class:`ArmTimer`.
* **Notifications** the shell turns into listener callbacks, event-bus events or tool runs:
  everything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from openai.types.realtime import RealtimeClientEvent, RealtimeResponseUsage
from openai.types.realtime.conversation_item_input_audio_transcription_completed_event import (
    Usage as TranscriptionUsage,
)

__all__ = [
    "Action",
    "ArmTimer",
    "AssistantAudioDone",
    "AssistantResponseStarted",
    "AssistantTranscript",
    "AssistantTranscriptDelta",
    "ClearPlayback",
    "Interrupted",
    "PlayAudio",
    "PlaybackFinished",
    "ResponseFinished",
    "SendEvent",
    "SendJSON",
    "SessionReady",
    "ToolCall",
    "UpstreamErrorReceived",
    "UserSpeechStarted",
    "UserSpeechStopped",
    "UserTranscript",
]


# -- commands ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendEvent:
    """Send a client event to the Realtime server.

    Serialise it with :func:`rtvoice.realtime.encode_client_event` (``exclude_unset``, so an explicit
    ``turn_detection: null`` survives), or hand it to the SDK connection's ``send()``, which does the same.
    """

    event: RealtimeClientEvent


@dataclass(frozen=True, slots=True)
class SendJSON:
    """Send this text frame to the Realtime server as is (the ``input_audio_buffer.append`` fast path)."""

    text: str


@dataclass(frozen=True, slots=True)
class PlayAudio:
    """Queue assistant audio on the output device, after everything queued before.

    ``audio`` is in the session's output format (decoded from base64 already).
    """

    item_id: str
    audio: bytes


@dataclass(frozen=True, slots=True)
class ClearPlayback:
    """Drop all queued, unplayed assistant audio now (barge-in).

    When the device can tell exactly how much it had played at the cut, report it afterwards with
    :meth:`~rtvoice.realtime.RealtimeProtocol.receive_playback_cleared`.
    """


@dataclass(frozen=True, slots=True)
class ArmTimer:
    """Call :meth:`~rtvoice.realtime.RealtimeProtocol.on_timer` at (or soon after) ``deadline``.

    Only emitted when the device does not report playback (wall-clock estimate), to learn when the
    queued audio has finished playing. A later ``ArmTimer`` replaces an earlier one.
    """

    deadline: float


# -- notifications -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionReady:
    """The server applied our ``session.update``: open the microphone now. Emitted exactly once."""


@dataclass(frozen=True, slots=True)
class UserSpeechStarted:
    """Server VAD heard the user start speaking (``input_audio_buffer.speech_started``).

    ``audio_start_ms`` is on the *input* timeline (audio appended so far), not the playback one.
    """

    item_id: str
    audio_start_ms: int


@dataclass(frozen=True, slots=True)
class UserSpeechStopped:
    """Server VAD heard the user stop speaking (``input_audio_buffer.speech_stopped``)."""

    item_id: str
    audio_end_ms: int


@dataclass(frozen=True, slots=True)
class UserTranscript:
    """The final transcript of a user item; ``usage`` is what the transcription model billed."""

    item_id: str
    text: str
    usage: TranscriptionUsage | None = None


@dataclass(frozen=True, slots=True)
class AssistantResponseStarted:
    """A response started (``response.created``), ours or one the server's VAD created."""

    response_id: str


@dataclass(frozen=True, slots=True)
class AssistantTranscriptDelta:
    """A piece of assistant text (audio transcript or text output). Not sent for interrupted responses."""

    item_id: str
    delta: str


@dataclass(frozen=True, slots=True)
class AssistantAudioDone:
    """The server finished generating an assistant audio item (it may still be playing)."""

    response_id: str
    item_id: str


@dataclass(frozen=True, slots=True)
class AssistantTranscript:
    """The complete text of an assistant item, once generated.

    When the item was already cut off by then, ``interrupted`` is True and ``text`` is only the part
    estimated to have been heard. An interruption that comes later (the item was still playing) is
    reported by :class:`Interrupted`, and the history is corrected then.
    """

    item_id: str
    text: str
    interrupted: bool


@dataclass(frozen=True, slots=True)
class Interrupted:
    """The user cut the assistant off while ``item_id`` was playing, after ``played_ms`` of it."""

    item_id: str
    played_ms: int


@dataclass(frozen=True, slots=True)
class PlaybackFinished:
    """The assistant stopped being audible: its queued audio finished playing, or was cleared.

    Emitted once per stretch of assistant speech, after the last response feeding it is done; the
    0.7 ``on_assistant_stopped_responding`` callback and the inactivity timer hang off this.
    """

    interrupted: bool


@dataclass(frozen=True, slots=True)
class ToolCall:
    """The model called a function: run it, then answer with
    :meth:`~rtvoice.realtime.RealtimeProtocol.send_function_output`.

    Reported once per call, after its response completed (see the protocol's docstring for why not
    earlier, and what happens to calls of a cancelled response).
    """

    call_id: str
    name: str
    arguments_json: str
    response_id: str


@dataclass(frozen=True, slots=True)
class ResponseFinished:
    """A response ended (``response.done``).

    Args:
        status: ``completed``, ``cancelled``, ``failed`` or ``incomplete``.
        reason: ``status_details.reason`` (``turn_detected``, ``client_cancelled``, ``max_output_tokens``,
            ``content_filter``), when given.
        usage: the tokens the response used, when given.
    """

    response_id: str | None
    status: str | None
    usage: RealtimeResponseUsage | None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class UpstreamErrorReceived:
    """The server reported an error (an ``error`` event, or a failed user transcription).

    ``fatal`` errors end the session: the shell should close it (see ``FATAL_ERROR_CODES`` and
    ``FATAL_ERROR_TYPES`` in :mod:`rtvoice.realtime.protocol`). The others are worth a log line.
    """

    type: str
    code: str | None
    message: str
    param: str | None
    event_id: str | None
    fatal: bool


Action: TypeAlias = (
    SendEvent
    | SendJSON
    | PlayAudio
    | ClearPlayback
    | ArmTimer
    | SessionReady
    | UserSpeechStarted
    | UserSpeechStopped
    | UserTranscript
    | AssistantResponseStarted
    | AssistantTranscriptDelta
    | AssistantAudioDone
    | AssistantTranscript
    | Interrupted
    | PlaybackFinished
    | ToolCall
    | ResponseFinished
    | UpstreamErrorReceived
)
"""Anything a :class:`~rtvoice.realtime.RealtimeProtocol` method can return."""
