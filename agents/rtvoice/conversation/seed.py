"""Conversation seeds: synthetic history placed in the session before the microphone opens.

A seed is sent as one ``conversation.item.create`` per message (user messages as ``input_text``,
assistant messages as ``output_text``) right after ``session.update``, with no ``response.create``: the
model then behaves as if those exchanges already happened. Seeds never appear in
:class:`~rtvoice.conversation.ConversationHistory` or in the agent's result turns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from rtvoice.exceptions import ConfigurationError

__all__ = ["ConversationSeed", "SeedMessage"]


@dataclass(frozen=True, slots=True)
class SeedMessage:
    """One pre-filled message.

    Args:
        role: ``"user"`` or ``"assistant"``.
        text: what was said.

    Raises:
        ConfigurationError: an unknown role or a text that is not a string.
    """

    role: Literal["user", "assistant"]
    text: str

    def __post_init__(self) -> None:
        if self.role not in ("user", "assistant"):
            raise ConfigurationError(f"seed message role must be 'user' or 'assistant', not {self.role!r}")
        if not isinstance(self.text, str):
            raise ConfigurationError(f"seed message text must be a string, not {type(self.text).__name__}")

    @classmethod
    def user(cls, text: str) -> SeedMessage:
        """A message the user said."""
        return cls("user", text)

    @classmethod
    def assistant(cls, text: str) -> SeedMessage:
        """A message the assistant said."""
        return cls("assistant", text)


@dataclass(frozen=True, slots=True)
class ConversationSeed:
    """Messages to place in the conversation before it starts, in order.

    Args:
        messages: the messages; any iterable, stored as a tuple.

    Raises:
        ConfigurationError: an entry is not a :class:`SeedMessage`.
    """

    messages: tuple[SeedMessage, ...]

    def __init__(self, messages: Iterable[SeedMessage] = ()) -> None:
        stored = tuple(messages)
        for message in stored:
            if not isinstance(message, SeedMessage):
                raise ConfigurationError(f"seed messages must be SeedMessage, not {type(message).__name__}")
        object.__setattr__(self, "messages", stored)  # frozen dataclass: set once here

    @classmethod
    def from_pairs(cls, *pairs: tuple[str, str]) -> ConversationSeed:
        """Build a seed from ``(user text, assistant reply)`` pairs, in order."""
        messages: list[SeedMessage] = []
        for user_text, assistant_text in pairs:
            messages.append(SeedMessage.user(user_text))
            messages.append(SeedMessage.assistant(assistant_text))
        return cls(messages)
