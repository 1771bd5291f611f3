"""Chat messages, tool specs and completion results: plain values, independent of any SDK.

A :class:`ChatModel <rtvoice.llm.ChatModel>` takes a sequence of :data:`ChatMessage` and a sequence of
:class:`ToolSpec` and returns a :class:`ChatResult`. Each type converts itself to the Chat Completions
wire shape (``to_wire()``), so a model implementation stays a thin shell and tests can compare what a
server received with what was sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeAlias

from pydantic import BaseModel

__all__ = [
    "AssistantMessage",
    "ChatMessage",
    "ChatResult",
    "ChatUsage",
    "SystemMessage",
    "ToolCall",
    "ToolMessage",
    "ToolSpec",
    "UserMessage",
]

# A function without arguments gets an explicit empty object schema: clearer to the model than none.
_NO_PARAMETERS: Mapping[str, Any] = {"type": "object", "properties": {}, "required": []}


class ToolCall(NamedTuple):
    """One function call the model asked for: ``(id, name, arguments_json)``.

    Attributes:
        id: the call id; the tool result message must quote it.
        name: the function name.
        arguments: the arguments as the model wrote them (a JSON object, as text; may be invalid).
    """

    id: str
    name: str
    arguments: str

    def to_wire(self) -> dict[str, Any]:
        """The ``tool_calls[]`` entry of an assistant message."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


@dataclass(frozen=True)
class SystemMessage:
    """The system prompt."""

    content: str

    def to_wire(self) -> dict[str, Any]:
        """``{"role": "system", "content": ...}``."""
        return {"role": "system", "content": self.content}


@dataclass(frozen=True)
class UserMessage:
    """A user message (text only)."""

    content: str

    def to_wire(self) -> dict[str, Any]:
        """``{"role": "user", "content": ...}``."""
        return {"role": "user", "content": self.content}


@dataclass(frozen=True)
class AssistantMessage:
    """An assistant message: text, tool calls, or both.

    Every tool call must be answered by a :class:`ToolMessage` before the next non-tool message, or the
    API refuses the whole request with HTTP 400.
    """

    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()

    def to_wire(self) -> dict[str, Any]:
        """The assistant message; ``content`` is null when there is only a tool call (as the API sends it)."""
        wire: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            wire["tool_calls"] = [call.to_wire() for call in self.tool_calls]
        return wire


@dataclass(frozen=True)
class ToolMessage:
    """The result of one tool call."""

    tool_call_id: str
    content: str

    def to_wire(self) -> dict[str, Any]:
        """``{"role": "tool", "tool_call_id": ..., "content": ...}``."""
        return {"role": "tool", "tool_call_id": self.tool_call_id, "content": self.content}


ChatMessage: TypeAlias = SystemMessage | UserMessage | AssistantMessage | ToolMessage


@dataclass(frozen=True)
class ToolSpec:
    """A function the model may call.

    Attributes:
        name: the function name (``^[a-zA-Z0-9_-]{1,64}$``).
        description: what it does, for the model.
        parameters: a JSON Schema object describing the arguments.
    """

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=lambda: dict(_NO_PARAMETERS))

    def to_wire(self) -> dict[str, Any]:
        """The Chat Completions ``tools[]`` entry: ``{"type": "function", "function": {...}}``."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": dict(self.parameters),
            },
        }

    @classmethod
    def from_definition(cls, definition: Mapping[str, Any] | BaseModel) -> ToolSpec:
        """Read a tool definition in either wire shape.

        Realtime sessions take flat function tools (``{"type": "function", "name", "description",
        "parameters"}``, the SDK's ``RealtimeFunctionTool``); Chat Completions nests them under
        ``"function"``. A ``Tools`` registry emits the Realtime shape, and the supervisor offers the same
        tools to a chat model, so both shapes (as dicts or SDK models) are accepted.

        Args:
            definition: a tool definition in the Realtime or the Chat Completions shape.

        Returns:
            The spec.

        Raises:
            ValueError: the definition has no function name.
        """
        if isinstance(definition, BaseModel):
            definition = definition.model_dump(exclude_none=True)
        inner = definition.get("function")
        source: Mapping[str, Any] = inner if isinstance(inner, Mapping) else definition
        name = source.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"tool definition without a function name: {dict(definition)!r}")
        parameters = source.get("parameters")
        return cls(
            name=name,
            description=str(source.get("description") or ""),
            parameters=dict(parameters) if isinstance(parameters, Mapping) else dict(_NO_PARAMETERS),
        )


@dataclass(frozen=True)
class ChatUsage:
    """Tokens billed for one completion.

    Attributes:
        model: the model that answered (as the API reported it).
        prompt_tokens: input tokens, cached ones included.
        completion_tokens: output tokens.
        cached_tokens: the part of ``prompt_tokens`` served from the prompt cache (billed lower).
        completion_id: the completion's id (``chatcmpl-...``), which identifies the call for
            de-duplicated usage tracking; None when the model reported none.
    """

    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    completion_id: str | None = None

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class ChatResult:
    """What one completion returned.

    Attributes:
        text: the assistant text, or None when it only called tools.
        tool_calls: the calls, in the order the model issued them.
        usage: tokens billed for this completion.
        model: the model that answered.
        finish_reason: why generation stopped (``stop``, ``tool_calls``, ``length``, ...).
        id: the completion id, when the API gave one.
    """

    text: str | None
    tool_calls: tuple[ToolCall, ...] = ()
    usage: ChatUsage = ChatUsage()
    model: str = ""
    finish_reason: str | None = None
    id: str | None = None

    def to_message(self) -> AssistantMessage:
        """The assistant message to append to the history before answering its tool calls."""
        return AssistantMessage(content=self.text, tool_calls=self.tool_calls)
