"""Chat simulator script and replies: what the simulated model says, and the completion bodies it sends.

A script is made of :class:`ChatReply` (text, :class:`ScriptedCall` function calls, or both) and
:class:`ErrorReply` (an API error instead of a completion); a scripted callable sees each accepted
request as a :class:`ChatRequest`. :class:`CompletionWriter` turns a reply into the ``chat.completion``
body the API would send.

Usage is estimated (4 characters a token, a few tokens of overhead per message) and prompt caching
follows the API's rule: from 1024 prompt tokens on, the longest prefix shared with an earlier request is
reported as ``prompt_tokens_details.cached_tokens``, in blocks of 128 tokens.
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

__all__ = ["ChatReply", "ChatRequest", "CompletionWriter", "ErrorReply", "Reply", "ScriptedCall"]

_CACHE_MIN_TOKENS = 1024
_CACHE_BLOCK_TOKENS = 128


# -- script ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScriptedCall:
    """A function call the simulated model makes.

    Attributes:
        name: the function; it must be one of the request's tools (unless the simulator allows others).
        arguments: a dict (sent as JSON) or the exact arguments text (to send invalid JSON on purpose).
        id: the call id; default a fresh ``call_...`` id.
    """

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True)
class ChatReply:
    """One assistant turn: text, function calls, or both.

    Attributes:
        text: the assistant text (None: only calls).
        tool_calls: the calls, in order.
        finish_reason: default ``tool_calls`` when there are calls, else ``stop``.
    """

    text: str | None = None
    tool_calls: Sequence[ScriptedCall] = ()
    finish_reason: str | None = None


@dataclass(frozen=True)
class ErrorReply:
    """Answer a request with an API error instead of a completion.

    Attributes:
        status: the HTTP status.
        message: the error message.
        type: the error type (``server_error``, ``rate_limit_exceeded``, ``invalid_request_error``, ...).
        code: the error code, when any.
        should_retry: sent as ``x-should-retry`` (the SDK obeys it); None sends no header, so the SDK
            applies its own rule (it retries 408, 409, 429 and 5xx).
    """

    status: int = 500
    message: str = "The server had an error while processing your request. Sorry about that!"
    type: str = "server_error"
    code: str | None = None
    should_retry: bool | None = False


Reply: TypeAlias = ChatReply | ErrorReply


@dataclass(frozen=True)
class ChatRequest:
    """A request the simulator received.

    Attributes:
        path: the URL path.
        body: the parsed JSON body.
        headers: the request headers (lower-case names).
        deployment: the Azure deployment from the path, or None on the OpenAI path.
        api_version: Azure's ``api-version`` query parameter, or None.
    """

    path: str
    body: Mapping[str, Any]
    headers: Mapping[str, str]
    deployment: str | None = None
    api_version: str | None = None

    @property
    def model(self) -> str:
        """The model asked for (on Azure, the deployment when the body names none)."""
        return str(self.body.get("model") or self.deployment or "")

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The messages, as sent."""
        return list(self.body.get("messages") or [])

    @property
    def tools(self) -> list[dict[str, Any]]:
        """The tool definitions, as sent."""
        return list(self.body.get("tools") or [])

    @property
    def tool_names(self) -> list[str]:
        """The names of the offered functions."""
        return [tool["function"]["name"] for tool in self.tools if tool.get("type") == "function"]


# -- usage -------------------------------------------------------------------------------------------


def _tokens(text: str) -> int:
    # About 4 characters a token for English text, as OpenAI's own rule of thumb says.
    return (len(text) + 3) // 4


def _prompt_text(body: Mapping[str, Any]) -> str:
    # Tools come first: the API renders them into the prompt ahead of the messages, so a changed tool
    # list breaks the cached prefix just as it does on the real service.
    parts = [json.dumps(body.get("tools") or [], sort_keys=True)]
    parts.extend(json.dumps(message, sort_keys=True) for message in body.get("messages") or [])
    return "\n".join(parts)


def _common_prefix(a: str, b: str) -> int:
    limit = min(len(a), len(b))
    index = 0
    while index < limit and a[index] == b[index]:
        index += 1
    return index


class CompletionWriter:
    """Writes the ``chat.completion`` bodies of one simulator, with its ids and its prompt-cache memory.

    Args:
        seed: seeds the generated ids, so a run can be replayed.
    """

    def __init__(self, seed: int | None = None) -> None:
        self._random = random.Random(seed)
        self._prompts: list[tuple[str, str]] = []  # (model, prompt text) of answered requests

    def new_id(self, prefix: str, length: int) -> str:
        """A new API-looking id: ``prefix`` and ``length`` random letters and digits."""
        return prefix + "".join(self._random.choices(string.ascii_letters + string.digits, k=length))

    def completion(self, request: ChatRequest, reply: ChatReply, *, created: int) -> dict[str, Any]:
        """The ``chat.completion`` body answering ``request`` with ``reply``.

        Args:
            request: the accepted request; its prompt is remembered for prompt caching.
            reply: the scripted reply.
            created: the ``created`` timestamp (seconds since the epoch).

        Returns:
            The JSON body, usage included.
        """
        calls: list[dict[str, Any]] = [
            {
                "id": call.id or self.new_id("call_", 24),
                "type": "function",
                "function": {
                    "name": call.name,
                    "arguments": call.arguments
                    if isinstance(call.arguments, str)
                    else json.dumps(call.arguments),
                },
            }
            for call in reply.tool_calls
        ]
        message: dict[str, Any] = {
            "role": "assistant",
            "content": reply.text,
            "refusal": None,
            "annotations": [],
        }
        if calls:
            message["tool_calls"] = calls
        completion_tokens = max(
            1,
            _tokens(reply.text or "")
            + sum(3 + _tokens(c["function"]["name"]) + _tokens(c["function"]["arguments"]) for c in calls),
        )
        prompt_text = _prompt_text(request.body)
        # 3 more: the reply is primed with <|start|>assistant<|message|>.
        prompt_tokens = 3 + _tokens(prompt_text)
        return {
            "id": self.new_id("chatcmpl-", 29),
            "object": "chat.completion",
            "created": created,
            "model": request.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": reply.finish_reason or ("tool_calls" if calls else "stop"),
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "prompt_tokens_details": {
                    "cached_tokens": self._cached(request.model, prompt_text, prompt_tokens),
                    "audio_tokens": 0,
                },
                "completion_tokens_details": {
                    "reasoning_tokens": 0,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            },
            "service_tier": "default",
            "system_fingerprint": "fp_simulator",
        }

    def _cached(self, model: str, text: str, prompt_tokens: int) -> int:
        shared = max(
            (_common_prefix(text, earlier) for used, earlier in self._prompts if used == model), default=0
        )
        self._prompts.append((model, text))
        if prompt_tokens < _CACHE_MIN_TOKENS:
            return 0
        cached = min(_tokens(text[:shared]), prompt_tokens)
        return cached // _CACHE_BLOCK_TOKENS * _CACHE_BLOCK_TOKENS
