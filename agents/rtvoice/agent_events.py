"""What the listener hears: the agent event for each notification of the protocol core (pure)."""

from __future__ import annotations

from rtvoice import events as ev
from rtvoice.realtime import (
    Action,
    AssistantResponseStarted,
    AssistantTranscript,
    AssistantTranscriptDelta,
    Interrupted,
    PlaybackFinished,
    SessionReady,
    UpstreamErrorReceived,
    UserSpeechStarted,
    UserSpeechStopped,
    UserTranscript,
)

__all__ = ["agent_event", "agent_error"]


def agent_error(action: UpstreamErrorReceived) -> ev.AgentError:
    """The listener's view of an upstream error."""
    return ev.AgentError(
        type=action.type,
        message=action.message,
        code=action.code,
        param=action.param,
        event_id=action.event_id,
    )


def agent_event(action: Action, *, model: str) -> ev.AgentEvent | None:
    """The event to dispatch for ``action``, or None for commands and bookkeeping actions.

    Args:
        action: an action returned by :class:`~rtvoice.realtime.RealtimeProtocol`.
        model: the session's model, for :class:`~rtvoice.events.AgentSessionConnected`.
    """
    match action:
        case SessionReady():
            return ev.AgentSessionConnected(model=model)
        case UserSpeechStarted(item_id=item_id, audio_start_ms=start):
            return ev.UserStartedSpeaking(item_id=item_id, audio_start_ms=start)
        case UserSpeechStopped(item_id=item_id, audio_end_ms=end):
            return ev.UserStoppedSpeaking(item_id=item_id, audio_end_ms=end)
        case UserTranscript(item_id=item_id, text=text):
            return ev.UserTranscript(transcript=text, item_id=item_id)
        case AssistantResponseStarted(response_id=response_id):
            return ev.AssistantStartedResponding(response_id=response_id)
        case AssistantTranscriptDelta(item_id=item_id, delta=delta):
            return ev.AssistantTranscriptDelta(delta=delta, item_id=item_id)
        case AssistantTranscript(item_id=item_id, text=text):
            return ev.AssistantTranscript(transcript=text, item_id=item_id)
        case Interrupted(item_id=item_id, played_ms=played_ms):
            return ev.AgentInterrupted(item_id=item_id, played_ms=played_ms)
        case PlaybackFinished(interrupted=interrupted):
            return ev.AssistantStoppedResponding(interrupted=interrupted)
        case UpstreamErrorReceived():
            return ev.AgentErrorEvent(error=agent_error(action))
        case _:
            return None
