"""Agent events: what a listener or an :class:`~rtvoice.event_bus.EventBus` subscriber can observe.

Every event is a frozen dataclass deriving from :class:`AgentEvent`, so subscribing to ``AgentEvent``
on the bus receives all of them, in the order they were dispatched. Each of the 15
:class:`~rtvoice.listener.AgentListener` callbacks corresponds to one event class here
(:class:`UserInactivityTimeout` has no callback; the agent stops right after it, and
:class:`AgentStopped` follows).

The ids (``item_id``, ``response_id``) are the Realtime API's, so an event can be matched with the
conversation history and the wire log; they default to None so tests and tools can build events briefly.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AgentError",
    "AgentErrorEvent",
    "AgentEvent",
    "AgentInterrupted",
    "AgentSessionConnected",
    "AgentStarting",
    "AgentStopped",
    "AssistantStartedResponding",
    "AssistantStoppedResponding",
    "AssistantTranscript",
    "AssistantTranscriptDelta",
    "SupervisorFinished",
    "SupervisorStarted",
    "ToolFinished",
    "ToolStarted",
    "UsageUpdated",
    "UserInactivityCountdown",
    "UserInactivityTimeout",
    "UserStartedSpeaking",
    "UserStoppedSpeaking",
    "UserTranscript",
]


@dataclass(frozen=True, slots=True)
class AgentError:
    """An error the agent reports to listeners (a value, not an exception).

    Args:
        type: the error's category: the Realtime API's ``error.type`` (e.g. ``"invalid_request_error"``)
            for server errors, or the agent's own (``"connection_error"``, ``"tool_error"``, ...).
        message: a human-readable description.
        code: the API's ``error.code`` (e.g. ``"response_cancel_not_active"``), when there is one.
        param: the request parameter the error is about, when the API names one.
        event_id: the ``event_id`` of the client event that caused it, when the API echoes one.
    """

    type: str
    message: str
    code: str | None = None
    param: str | None = None
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class AgentEvent:
    """Base class of every agent event; subscribe to it to receive them all."""


@dataclass(frozen=True, slots=True)
class AgentStarting(AgentEvent):
    """The agent is starting, before any I/O or WebSocket setup."""


@dataclass(frozen=True, slots=True)
class AgentSessionConnected(AgentEvent):
    """The Realtime session is established and configured (``session.updated`` received for our update).

    Args:
        session_id: the server's session id (``sess_...``), when known.
        model: the model the session runs.
    """

    session_id: str | None = None
    model: str | None = None


@dataclass(frozen=True, slots=True)
class AgentStopped(AgentEvent):
    """The agent has fully shut down; the last event of a session.

    Args:
        reason: why it stopped. The agent uses ``"stopped"`` (``stop()`` was called), ``"completed"`` (a
            stop tool or hangup ended the conversation), ``"inactivity_timeout"``, ``"connection_closed"``
            (the server or the caller went away) and ``"error"``.
        error: what went wrong, when ``reason`` is ``"error"`` or ``"connection_closed"``.
    """

    reason: str = "stopped"
    error: AgentError | None = None


@dataclass(frozen=True, slots=True)
class UserStartedSpeaking(AgentEvent):
    """Turn detection heard the user start speaking (``input_audio_buffer.speech_started``).

    Args:
        item_id: the user message item the speech will become.
        audio_start_ms: where the speech starts in the session's input audio.
    """

    item_id: str | None = None
    audio_start_ms: int | None = None


@dataclass(frozen=True, slots=True)
class UserStoppedSpeaking(AgentEvent):
    """Turn detection heard the user stop speaking (``input_audio_buffer.speech_stopped``).

    Args:
        item_id: the user message item.
        audio_end_ms: where the speech ends in the session's input audio.
    """

    item_id: str | None = None
    audio_end_ms: int | None = None


@dataclass(frozen=True, slots=True)
class UserTranscript(AgentEvent):
    """The final transcript of a user turn (needs a transcription model).

    Args:
        transcript: what the user said.
        item_id: the user message item it transcribes.
    """

    transcript: str
    item_id: str | None = None


@dataclass(frozen=True, slots=True)
class AssistantStartedResponding(AgentEvent):
    """The assistant began a response (``response.created``).

    Args:
        response_id: the response's id.
    """

    response_id: str | None = None


@dataclass(frozen=True, slots=True)
class AssistantStoppedResponding(AgentEvent):
    """The assistant's response is over: generated and, for audio, fully played or cut off.

    Args:
        response_id: the response's id.
        interrupted: True when the user cut it off (an :class:`AgentInterrupted` came first).
    """

    response_id: str | None = None
    interrupted: bool = False


@dataclass(frozen=True, slots=True)
class AssistantTranscript(AgentEvent):
    """The full text of an assistant reply (its audio transcript, or its text output).

    Args:
        transcript: the reply's text. When the reply was interrupted this is what the server generated,
            not what the user heard; see :class:`AgentInterrupted`.
        item_id: the assistant message item.
        response_id: the response it belongs to.
    """

    transcript: str
    item_id: str | None = None
    response_id: str | None = None


@dataclass(frozen=True, slots=True)
class AssistantTranscriptDelta(AgentEvent):
    """An incremental piece of assistant text (needs ``"text"`` in the output modalities).

    Args:
        delta: the new text.
        item_id: the assistant message item.
        response_id: the response it belongs to.
    """

    delta: str
    item_id: str | None = None
    response_id: str | None = None


@dataclass(frozen=True, slots=True)
class AgentInterrupted(AgentEvent):
    """The user interrupted the assistant; its audio was cut at ``played_ms``.

    Args:
        item_id: the assistant audio item that was cut, or None when nothing was playing.
        played_ms: how much of that item's audio the user heard (the truncate point).
        response_id: the interrupted response.
    """

    item_id: str | None
    played_ms: int
    response_id: str | None = None


@dataclass(frozen=True, slots=True)
class AgentErrorEvent(AgentEvent):
    """A session or API error.

    Args:
        error: what went wrong.
    """

    error: AgentError


@dataclass(frozen=True, slots=True)
class SupervisorStarted(AgentEvent):
    """The supervisor began working on a task.

    Args:
        task: the task the voice model handed over.
        call_id: the ``supervisor`` tool call that started it.
    """

    task: str | None = None
    call_id: str | None = None


@dataclass(frozen=True, slots=True)
class SupervisorFinished(AgentEvent):
    """The supervisor finished (done, failed or cancelled).

    Args:
        success: whether it completed the task; None when cancelled.
        message: its result or failure message.
        call_id: the ``supervisor`` tool call it answers.
    """

    success: bool | None = None
    message: str | None = None
    call_id: str | None = None


@dataclass(frozen=True, slots=True)
class UserInactivityCountdown(AgentEvent):
    """The user has been silent; the agent stops in ``remaining_seconds`` (fires at 5, 4, 3, 2, 1).

    Args:
        remaining_seconds: whole seconds left before :class:`UserInactivityTimeout`.
    """

    remaining_seconds: int


@dataclass(frozen=True, slots=True)
class UserInactivityTimeout(AgentEvent):
    """The user was silent for the whole inactivity timeout; the agent stops next.

    Args:
        timeout_seconds: the configured timeout.
    """

    timeout_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class ToolStarted(AgentEvent):
    """A tool call started running.

    Args:
        call_id: the model's call id.
        name: the tool called.
        status: the tool's rendered ``status`` text, when it has one (it is also spoken).
    """

    call_id: str
    name: str
    status: str | None = None


@dataclass(frozen=True, slots=True)
class ToolFinished(AgentEvent):
    """A tool call finished; its output went to the model.

    Args:
        call_id: the model's call id.
        name: the tool called.
        ok: whether it returned a result (False: the model got an error text).
        error: the error text, when it failed.
        duration_s: how long it ran.
    """

    call_id: str
    name: str
    ok: bool
    error: str | None = None
    duration_s: float = 0.0


@dataclass(frozen=True, slots=True)
class UsageUpdated(AgentEvent):
    """Token usage changed (a response, a transcription or a supervisor call was counted).

    Args:
        report: the :class:`~rtvoice.usage.UsageReport` so far, with its cost estimate.
    """

    report: object
