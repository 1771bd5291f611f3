"""rtvoice: real-time voice agents on the OpenAI Realtime API (a re-implementation of rtvoice 0.7.0)."""

from rtvoice.exceptions import (
    ConfigurationError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    ToolError,
    UpstreamError,
    VoiceAgentError,
)

__all__ = [
    "ConfigurationError",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "ToolError",
    "UpstreamError",
    "VoiceAgentError",
]
