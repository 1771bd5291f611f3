"""Exceptions raised by rtvoice.

The whole tree, under one root::

    VoiceAgentError
    ├── ConfigurationError        bad arguments, caught at construction time
    ├── ProtocolError (abstract)
    │   ├── LocalProtocolError    we attempted something illegal in this state
    │   └── RemoteProtocolError   the peer sent malformed or out-of-order data
    ├── ConnectionClosed(code, reason)
    │   ├── ConnectionClosedOK
    │   └── ConnectionClosedError
    ├── UpstreamError(retryable)  OpenAI error events, HTTP failures, cannot connect
    ├── DeviceError               a microphone or speaker failed
    └── ToolError                 a tool could not be registered or run

Realtime ``error`` events are events, not exceptions: the session decides what to do with them.
``RealtimeAgent.run()`` returns how a session ended rather than raising; ``AgentResult.raise_for_error()``
turns an ending with an error into ``ConnectionClosed*``, ``UpstreamError`` or ``DeviceError``.
``RealtimeAgent.connect()`` raises ``UpstreamError`` when it cannot open the session.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ConfigurationError",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "DeviceError",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "ToolError",
    "UpstreamError",
    "VoiceAgentError",
]


class VoiceAgentError(Exception):
    """Root of every exception rtvoice raises on purpose."""


class ConfigurationError(VoiceAgentError, ValueError):
    """An argument or setting is invalid; raised before any I/O happens."""


class ProtocolError(VoiceAgentError):
    """A protocol rule was broken. Abstract: raise a subclass."""

    def __new__(cls, *args: Any, **kwargs: Any) -> ProtocolError:
        if cls is ProtocolError:
            raise TypeError("ProtocolError is abstract; raise LocalProtocolError or RemoteProtocolError")
        return super().__new__(cls, *args, **kwargs)


class LocalProtocolError(ProtocolError):
    """We attempted something the protocol forbids in the current state."""


class RemoteProtocolError(ProtocolError):
    """The peer sent malformed or out-of-order data."""


class ConnectionClosed(VoiceAgentError):
    """The upstream connection closed.

    Args:
        code: the WebSocket close code, or None when the connection dropped without one.
        reason: the close reason sent by the peer.
    """

    def __init__(self, code: int | None, reason: str = "") -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"connection closed (code={code}, reason={reason!r})")


class ConnectionClosedOK(ConnectionClosed):
    """The connection closed normally (1000 or 1001)."""


class ConnectionClosedError(ConnectionClosed):
    """The connection closed abnormally."""


class UpstreamError(VoiceAgentError):
    """The upstream API reported an error or could not be reached.

    Args:
        message: what went wrong.
        code: the API's error code, when it gave one.
        retryable: whether trying again may succeed.
    """

    def __init__(self, message: str, *, code: str | None = None, retryable: bool = False) -> None:
        self.code = code
        self.retryable = retryable
        super().__init__(message)


class DeviceError(VoiceAgentError):
    """An audio device failed (raised by :meth:`rtvoice.AgentResult.raise_for_error`)."""


class ToolError(VoiceAgentError):
    """A tool could not be registered or run."""
