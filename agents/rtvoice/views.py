"""What a session returns: :class:`AgentResult`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict

from rtvoice.conversation import ConversationTurn
from rtvoice.events import AgentError

__all__ = ["AgentResult", "StopReason"]

#: Why a session ended: ``stopped`` (``stop()``), ``interrupted`` (Ctrl+C), ``inactivity``,
#: ``upstream_closed`` (the server closed the socket), ``upstream_error`` (a fatal ``error`` event),
#: ``device_error`` (a device failed) or ``error`` (it could not start: configuration or connection).
StopReason: TypeAlias = Literal[
    "stopped", "interrupted", "inactivity", "upstream_closed", "upstream_error", "device_error", "error"
]


class AgentResult(BaseModel):
    """The outcome of :meth:`RealtimeAgent.run`.

    Attributes:
        turns: user and assistant turns in conversation order; interrupted assistant turns are marked and
            cut to what was heard. Seed messages are not included.
        recording_path: the recording, when one was written (None otherwise).
        stop_reason: why the session ended.
        error: the error that ended it, if one did.
        duration_seconds: how long ``run()`` took.
        usage: token usage and cost (filled in by the complete agent).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    turns: list[ConversationTurn]
    recording_path: Path | None = None
    stop_reason: StopReason = "stopped"
    error: AgentError | None = None
    duration_seconds: float = 0.0
    usage: Any = None
