"""What a session returns: :class:`AgentResult`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict

from rtvoice.conversation import ConversationTurn
from rtvoice.events import AgentError
from rtvoice.exceptions import ConnectionClosedError, ConnectionClosedOK, DeviceError, UpstreamError

__all__ = ["AgentResult", "StopReason"]

#: Why a session ended: ``stopped`` (``stop()``), ``interrupted`` (Ctrl+C), ``inactivity``,
#: ``upstream_closed`` (the server closed the socket), ``upstream_error`` (a fatal ``error`` event),
#: ``upstream_timeout`` (the server stayed silent for ``upstream_timeout_seconds`` while a response was
#: expected), ``device_error`` (a device failed) or ``error`` (it could not start: configuration or connection).
StopReason: TypeAlias = Literal[
    "stopped",
    "interrupted",
    "inactivity",
    "upstream_closed",
    "upstream_error",
    "upstream_timeout",
    "device_error",
    "error",
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

    def raise_for_error(self) -> None:
        """Raise the ending's error as an exception, if the session ended with one (else do nothing).

        ``upstream_closed``: :class:`~rtvoice.ConnectionClosedOK` (close code 1000/1001) or
        :class:`~rtvoice.ConnectionClosedError`; ``upstream_error`` and ``error`` (could not connect):
        :class:`~rtvoice.UpstreamError`; ``device_error``: :class:`~rtvoice.DeviceError`.
        """
        error = self.error
        if error is None:
            return
        if self.stop_reason == "upstream_closed":
            code = int(error.code) if error.code is not None and error.code.isdigit() else None
            closed = ConnectionClosedOK if code in (1000, 1001) else ConnectionClosedError
            raise closed(code, error.message)
        if self.stop_reason == "device_error":
            raise DeviceError(error.message)
        raise UpstreamError(
            error.message,
            code=error.code,
            retryable=self.stop_reason in ("error", "upstream_timeout")
            or error.type in ("server_error", "rate_limit_exceeded"),
        )
