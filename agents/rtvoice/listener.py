"""The lifecycle listener: override the callbacks you care about, the rest are async no-ops.

:class:`AgentListener` has the 15 callbacks of the 0.7.0 README. :func:`attach_listener` connects one
to an :class:`~rtvoice.event_bus.EventBus`: it subscribes a single bridge to
:class:`~rtvoice.events.AgentEvent`, so the listener gets its callbacks in exactly the order the events
were dispatched (one queue, one worker), without ever delaying the agent. A callback that raises is
logged and counted by the bus; the next callback still runs.

=====================================  =======================================================
callback                               event
=====================================  =======================================================
``on_agent_starting()``                :class:`~rtvoice.events.AgentStarting`
``on_agent_session_connected()``       :class:`~rtvoice.events.AgentSessionConnected`
``on_agent_stopped()``                 :class:`~rtvoice.events.AgentStopped`
``on_user_started_speaking()``         :class:`~rtvoice.events.UserStartedSpeaking`
``on_user_stopped_speaking()``         :class:`~rtvoice.events.UserStoppedSpeaking`
``on_user_transcript(transcript)``     :class:`~rtvoice.events.UserTranscript`
``on_assistant_started_responding()``  :class:`~rtvoice.events.AssistantStartedResponding`
``on_assistant_stopped_responding()``  :class:`~rtvoice.events.AssistantStoppedResponding`
``on_assistant_transcript(t)``         :class:`~rtvoice.events.AssistantTranscript`
``on_assistant_transcript_delta(d)``   :class:`~rtvoice.events.AssistantTranscriptDelta`
``on_agent_interrupted()``             :class:`~rtvoice.events.AgentInterrupted`
``on_agent_error(error)``              :class:`~rtvoice.events.AgentErrorEvent`
``on_supervisor_started()``            :class:`~rtvoice.events.SupervisorStarted`
``on_supervisor_finished()``           :class:`~rtvoice.events.SupervisorFinished`
``on_user_inactivity_countdown(s)``    :class:`~rtvoice.events.UserInactivityCountdown`
``on_tool_status(name, status)``       :class:`~rtvoice.events.ToolStarted` (tools with a ``status``)
``on_usage_updated(report)``           :class:`~rtvoice.events.UsageUpdated`
=====================================  =======================================================

The last two go beyond the 0.7.0 README: 0.7.0 rendered ``status`` texts but never delivered them, and
had no token tracking.

Events without a callback (:class:`~rtvoice.events.UserInactivityTimeout`, or your own ``AgentEvent``
subclasses) are ignored by the bridge; subscribe to them on the bus directly. A subclass of one of the
events above reaches the same callback as its base.
"""

from __future__ import annotations

from typing import Any

from rtvoice.event_bus import EventBus, Subscription
from rtvoice.events import (
    AgentError,
    AgentErrorEvent,
    AgentEvent,
    AgentInterrupted,
    AgentSessionConnected,
    AgentStarting,
    AgentStopped,
    AssistantStartedResponding,
    AssistantStoppedResponding,
    AssistantTranscript,
    AssistantTranscriptDelta,
    SupervisorFinished,
    SupervisorStarted,
    ToolStarted,
    UsageUpdated,
    UserInactivityCountdown,
    UserStartedSpeaking,
    UserStoppedSpeaking,
    UserTranscript,
)

__all__ = ["AgentListener", "ListenerBridge", "attach_listener", "detach_listener"]


class AgentListener:
    """Hooks into a session's lifecycle. Subclass it and override any of these async methods."""

    async def on_agent_starting(self) -> None:
        """Before any I/O or WebSocket setup."""

    async def on_agent_session_connected(self) -> None:
        """The WebSocket session is established."""

    async def on_agent_stopped(self) -> None:
        """The agent has fully shut down."""

    async def on_user_started_speaking(self) -> None:
        """Turn detection heard the user start speaking."""

    async def on_user_stopped_speaking(self) -> None:
        """Turn detection heard the user stop speaking."""

    async def on_user_transcript(self, transcript: str) -> None:
        """The final transcript of a user turn (needs a transcription model)."""

    async def on_assistant_started_responding(self) -> None:
        """The assistant began a response."""

    async def on_assistant_stopped_responding(self) -> None:
        """The assistant's response is over (generated and played, or cut off)."""

    async def on_assistant_transcript(self, transcript: str) -> None:
        """The full text of an assistant reply."""

    async def on_assistant_transcript_delta(self, delta: str) -> None:
        """An incremental piece of assistant text (needs ``"text"`` in the output modalities)."""

    async def on_agent_interrupted(self) -> None:
        """The user interrupted the assistant mid-response."""

    async def on_agent_error(self, error: AgentError) -> None:
        """A session or API error."""

    async def on_supervisor_started(self) -> None:
        """The supervisor began running."""

    async def on_supervisor_finished(self) -> None:
        """The supervisor finished."""

    async def on_user_inactivity_countdown(self, remaining_seconds: int) -> None:
        """Fires each second (5 down to 1) before the inactivity timeout stops the agent."""

    async def on_tool_status(self, name: str, status: str) -> None:
        """A tool with a ``status`` started; ``status`` is its rendered text (also spoken)."""

    async def on_usage_updated(self, report: Any) -> None:
        """Token usage changed; ``report`` is a :class:`~rtvoice.usage.UsageReport` with its cost."""


class ListenerBridge:
    """An event handler that calls the matching :class:`AgentListener` callback.

    Two bridges for the same listener compare equal, so the bus never subscribes a listener twice.
    """

    def __init__(self, listener: AgentListener) -> None:
        self.listener = listener

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ListenerBridge) and other.listener is self.listener

    def __hash__(self) -> int:
        return id(self.listener)

    def __repr__(self) -> str:
        return f"ListenerBridge({self.listener!r})"

    async def __call__(self, event: AgentEvent) -> None:
        """Call the listener's callback for ``event``; events without a callback are ignored."""
        listener = self.listener
        match event:
            case AgentStarting():
                await listener.on_agent_starting()
            case AgentSessionConnected():
                await listener.on_agent_session_connected()
            case AgentStopped():
                await listener.on_agent_stopped()
            case UserStartedSpeaking():
                await listener.on_user_started_speaking()
            case UserStoppedSpeaking():
                await listener.on_user_stopped_speaking()
            case UserTranscript(transcript=transcript):
                await listener.on_user_transcript(transcript)
            case AssistantStartedResponding():
                await listener.on_assistant_started_responding()
            case AssistantStoppedResponding():
                await listener.on_assistant_stopped_responding()
            case AssistantTranscript(transcript=transcript):
                await listener.on_assistant_transcript(transcript)
            case AssistantTranscriptDelta(delta=delta):
                await listener.on_assistant_transcript_delta(delta)
            case AgentInterrupted():
                await listener.on_agent_interrupted()
            case AgentErrorEvent(error=error):
                await listener.on_agent_error(error)
            case SupervisorStarted():
                await listener.on_supervisor_started()
            case SupervisorFinished():
                await listener.on_supervisor_finished()
            case UserInactivityCountdown(remaining_seconds=remaining):
                await listener.on_user_inactivity_countdown(remaining)
            case ToolStarted(name=name, status=status) if status is not None:
                await listener.on_tool_status(name, status)
            case UsageUpdated(report=report):
                await listener.on_usage_updated(report)
            case _:
                pass  # no callback for this event (UserInactivityTimeout, custom events)


def attach_listener(
    bus: EventBus, listener: AgentListener, *, queue_size: int | None = None
) -> Subscription[AgentEvent]:
    """Subscribe ``listener``'s callbacks to ``bus``, in dispatch order. Attaching it again is a no-op.

    Args:
        bus: the agent's event bus.
        listener: the listener to call.
        queue_size: events the listener may lag behind before it loses some (the bus default if None).

    Returns:
        The subscription; its counters show callbacks delivered, dropped and failed.

    Raises:
        RuntimeError: the bus is closed.
    """
    return bus.subscribe(AgentEvent, ListenerBridge(listener), queue_size=queue_size)


def detach_listener(bus: EventBus, listener: AgentListener) -> bool:
    """Stop calling ``listener``; callbacks still queued for it are dropped.

    Returns:
        True if it was attached.
    """
    return bus.unsubscribe(AgentEvent, ListenerBridge(listener))
