"""Offline test doubles for the OpenAI Realtime API: a protocol-faithful simulator and its parts.

``RealtimeSimulator`` speaks the Realtime GA protocol over real WebSockets on loopback; the unmodified
openai SDK connects to it. See ``docs/simulator.md``.
"""

from rtvoice.testing.brain import (
    Brain,
    BrainContext,
    CallFunction,
    EchoBrain,
    Say,
    ScriptedBrain,
    Step,
    Turn,
)
from rtvoice.testing.chat import ChatCompletionsSimulator, ChatReply, ChatRequest, ErrorReply, ScriptedCall
from rtvoice.testing.simulator import (
    Faults,
    RealtimeSimulator,
    add_client_message_observer,
    remove_client_message_observer,
)
from rtvoice.testing.timing import Timing
from rtvoice.testing.validation import ApiError, parse_client_event

__all__ = [
    "ApiError",
    "Brain",
    "BrainContext",
    "CallFunction",
    "ChatCompletionsSimulator",
    "ChatReply",
    "ChatRequest",
    "ErrorReply",
    "EchoBrain",
    "Faults",
    "RealtimeSimulator",
    "Say",
    "ScriptedBrain",
    "ScriptedCall",
    "Step",
    "Timing",
    "Turn",
    "add_client_message_observer",
    "parse_client_event",
    "remove_client_message_observer",
]
