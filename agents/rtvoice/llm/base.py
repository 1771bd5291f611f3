"""The chat model interface the supervisor drives, and the one error it raises."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from types import TracebackType
from typing import Self

from rtvoice.exceptions import UpstreamError
from rtvoice.llm.messages import ChatMessage, ChatResult, ToolSpec

__all__ = ["ChatModel", "ChatModelError"]


class ChatModelError(UpstreamError):
    """A chat completion failed: the API refused it, or it could not be reached.

    Args:
        message: what went wrong, including the API's own message when there is one.
        status_code: the HTTP status, or None when no response arrived.
        code: the API's error code (``invalid_api_key``, ``rate_limit_exceeded``, ...), when it gave one.
        retryable: whether trying again may succeed (timeouts, connection errors, 408/409/429/5xx).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        retryable: bool = False,
    ) -> None:
        self.status_code = status_code
        super().__init__(message, code=code, retryable=retryable)


class ChatModel(ABC):
    """A chat model: messages and tools in, one assistant turn out.

    Implement :meth:`complete` to plug in another provider; override :meth:`aclose` when the model holds
    connections. Use a model as an async context manager to close it on exit.

    One model serves every session of a shared :class:`~rtvoice.supervisor.Supervisor`, so
    :meth:`complete` must allow concurrent calls and keep no per-conversation state; only the owner
    calls :meth:`aclose`.

    Attributes:
        model: the model (or deployment) name requests are sent with.
    """

    model: str

    @abstractmethod
    async def complete(self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] = ()) -> ChatResult:
        """Ask the model for the next assistant turn.

        Args:
            messages: the conversation so far; every assistant tool call must already be answered.
            tools: the functions the model may call (none: it can only answer in text).

        Returns:
            The assistant's text and tool calls, with token usage.

        Raises:
            ChatModelError: the request failed.
        """

    async def aclose(self) -> None:
        """Release connections; the model must not be used afterwards. The default does nothing."""
        return None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
