"""The sans-I/O core of a Realtime API session.

:class:`RealtimeProtocol` takes server events (and the time) in and returns :mod:`actions
<rtvoice.realtime.actions>`; an asyncio shell does the I/O. See :mod:`rtvoice.realtime.protocol` for the
rules it enforces and for how a shell drives it.
"""

from rtvoice.realtime.actions import (
    Action,
    ArmTimer,
    AssistantAudioDone,
    AssistantResponseStarted,
    AssistantTranscript,
    AssistantTranscriptDelta,
    ClearPlayback,
    Interrupted,
    PlayAudio,
    PlaybackFinished,
    ResponseFinished,
    SendEvent,
    SendJSON,
    SessionReady,
    ToolCall,
    UpstreamErrorReceived,
    UserSpeechStarted,
    UserSpeechStopped,
    UserTranscript,
)
from rtvoice.realtime.config import SessionConfig, build_session_update
from rtvoice.realtime.protocol import (
    DEFAULT_INPUT_BATCH_MS,
    FATAL_ERROR_CODES,
    FATAL_ERROR_TYPES,
    MAX_INPUT_BATCH_MS,
    RealtimeProtocol,
)
from rtvoice.realtime.responses import MAX_QUEUED_RESPONSES
from rtvoice.realtime.wire import (
    SERVER_EVENT_ADAPTER,
    MalformedServerEvent,
    UnknownEvent,
    append_audio_json,
    encode_client_event,
    parse_server_event,
)

__all__ = [
    "DEFAULT_INPUT_BATCH_MS",
    "FATAL_ERROR_CODES",
    "FATAL_ERROR_TYPES",
    "MAX_INPUT_BATCH_MS",
    "MAX_QUEUED_RESPONSES",
    "SERVER_EVENT_ADAPTER",
    "Action",
    "ArmTimer",
    "AssistantAudioDone",
    "AssistantResponseStarted",
    "AssistantTranscript",
    "AssistantTranscriptDelta",
    "ClearPlayback",
    "Interrupted",
    "MalformedServerEvent",
    "PlayAudio",
    "PlaybackFinished",
    "RealtimeProtocol",
    "ResponseFinished",
    "SendEvent",
    "SendJSON",
    "SessionConfig",
    "SessionReady",
    "ToolCall",
    "UnknownEvent",
    "UpstreamErrorReceived",
    "UserSpeechStarted",
    "UserSpeechStopped",
    "UserTranscript",
    "append_audio_json",
    "build_session_update",
    "encode_client_event",
    "parse_server_event",
]
