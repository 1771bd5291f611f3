"""Chat models for the supervisor: an SDK-independent interface and the OpenAI / Azure implementations.

:class:`ChatModel` is the interface (messages and tools in, a :class:`ChatResult` out);
:class:`ChatOpenAI` and :class:`ChatAzureOpenAI` implement it on the openai SDK's Chat Completions API.
Failures surface as :class:`ChatModelError`.
"""

from rtvoice.llm.base import ChatModel, ChatModelError
from rtvoice.llm.messages import (
    AssistantMessage,
    ChatMessage,
    ChatResult,
    ChatUsage,
    SystemMessage,
    ToolCall,
    ToolMessage,
    ToolSpec,
    UserMessage,
)
from rtvoice.llm.openai_chat import DEFAULT_AZURE_API_VERSION, ChatAzureOpenAI, ChatOpenAI

__all__ = [
    "DEFAULT_AZURE_API_VERSION",
    "AssistantMessage",
    "ChatAzureOpenAI",
    "ChatMessage",
    "ChatModel",
    "ChatModelError",
    "ChatOpenAI",
    "ChatResult",
    "ChatUsage",
    "SystemMessage",
    "ToolCall",
    "ToolMessage",
    "ToolSpec",
    "UserMessage",
]
