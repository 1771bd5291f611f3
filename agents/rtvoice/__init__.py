"""rtvoice: real-time voice agents on the OpenAI Realtime API.

A re-implementation of the public API of rtvoice 0.7.0 (its README is the spec), without its known
defects. Start with :class:`RealtimeAgent`.
"""

from rtvoice.agent import RealtimeAgent
from rtvoice.audio import (
    AudioFormat,
    AudioInputDevice,
    AudioOutputDevice,
    NullOutputDevice,
    WavInputDevice,
    WavOutputDevice,
)
from rtvoice.conversation import ConversationHistory, ConversationSeed, ConversationTurn, SeedMessage
from rtvoice.event_bus import EventBus
from rtvoice.events import AgentError
from rtvoice.exceptions import (
    ConfigurationError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    DeviceError,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    ToolError,
    UpstreamError,
    VoiceAgentError,
)
from rtvoice.listener import AgentListener
from rtvoice.options import (
    AssistantVoice,
    NoiseReduction,
    RealtimeModel,
    SemanticEagerness,
    SemanticVAD,
    ServerVAD,
    TranscriptionModel,
)
from rtvoice.providers import AzureOpenAIProvider, OpenAIProvider, RealtimeProvider
from rtvoice.recording import CallRecorder
from rtvoice.supervisor import Supervisor, SupervisorSession
from rtvoice.tools import Inject, ToolContext, ToolResult, Tools
from rtvoice.usage import CostEstimate, PricingCatalog, UsageReport, UsageTracker
from rtvoice.views import AgentResult

__all__ = [
    "AgentError",
    "AgentListener",
    "AgentResult",
    "AssistantVoice",
    "AudioFormat",
    "AudioInputDevice",
    "AudioOutputDevice",
    "AzureOpenAIProvider",
    "CallRecorder",
    "ConfigurationError",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "ConversationHistory",
    "ConversationSeed",
    "ConversationTurn",
    "CostEstimate",
    "DeviceError",
    "EventBus",
    "Inject",
    "LocalProtocolError",
    "NoiseReduction",
    "NullOutputDevice",
    "OpenAIProvider",
    "PricingCatalog",
    "ProtocolError",
    "RealtimeAgent",
    "RealtimeModel",
    "RealtimeProvider",
    "RemoteProtocolError",
    "SeedMessage",
    "SemanticEagerness",
    "SemanticVAD",
    "ServerVAD",
    "Supervisor",
    "SupervisorSession",
    "ToolContext",
    "ToolError",
    "ToolResult",
    "Tools",
    "TranscriptionModel",
    "UpstreamError",
    "UsageReport",
    "UsageTracker",
    "VoiceAgentError",
    "WavInputDevice",
    "WavOutputDevice",
]
