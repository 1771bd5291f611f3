"""Builders for the client events the protocol sends, all as the openai SDK's models.

(The audio append, sent 50 times a second, has its own pydantic-free fast path:
:func:`rtvoice.realtime.wire.append_audio_json`.)
"""

from __future__ import annotations

from typing import Literal

from openai.types.realtime import (
    ConversationItemCreateEvent,
    ConversationItemTruncateEvent,
    RealtimeConversationItemAssistantMessage,
    RealtimeConversationItemFunctionCallOutput,
    RealtimeConversationItemUserMessage,
    ResponseCancelEvent,
)
from openai.types.realtime.realtime_conversation_item_assistant_message import Content as AssistantContent
from openai.types.realtime.realtime_conversation_item_user_message import Content as UserContent

__all__ = [
    "assistant_text_item",
    "cancel_response",
    "function_output",
    "seed_item",
    "truncate_item",
    "user_message_item",
]


def truncate_item(item_id: str, audio_end_ms: int) -> ConversationItemTruncateEvent:
    """``conversation.item.truncate`` of an assistant audio item's first content part at ``audio_end_ms``."""
    return ConversationItemTruncateEvent(
        type="conversation.item.truncate", item_id=item_id, content_index=0, audio_end_ms=audio_end_ms
    )


def cancel_response(response_id: str) -> ResponseCancelEvent:
    """``response.cancel`` naming the response, so it cannot hit a different one."""
    return ResponseCancelEvent(type="response.cancel", response_id=response_id)


def function_output(call_id: str, output: str, *, after: str | None = None) -> ConversationItemCreateEvent:
    """``conversation.item.create`` of a ``function_call_output``, placed after item ``after`` if given."""
    item = RealtimeConversationItemFunctionCallOutput(
        type="function_call_output", call_id=call_id, output=output
    )
    if after is None:
        return ConversationItemCreateEvent(type="conversation.item.create", item=item)
    return ConversationItemCreateEvent(type="conversation.item.create", item=item, previous_item_id=after)


def user_message_item(text: str, *, image_url: str | None = None) -> ConversationItemCreateEvent:
    """``conversation.item.create`` of a user message: ``input_text``, plus ``input_image`` if given."""
    content = [UserContent(type="input_text", text=text)]
    if image_url is not None:
        content.append(UserContent(type="input_image", image_url=image_url))
    item = RealtimeConversationItemUserMessage(type="message", role="user", content=content)
    return ConversationItemCreateEvent(type="conversation.item.create", item=item)


def assistant_text_item(text: str) -> ConversationItemCreateEvent:
    """``conversation.item.create`` of an assistant message with ``output_text`` (assistant audio cannot
    be created)."""
    item = RealtimeConversationItemAssistantMessage(
        type="message", role="assistant", content=[AssistantContent(type="output_text", text=text)]
    )
    return ConversationItemCreateEvent(type="conversation.item.create", item=item)


def seed_item(role: Literal["user", "assistant"], text: str) -> ConversationItemCreateEvent:
    """The ``conversation.item.create`` of one seed message."""
    return user_message_item(text) if role == "user" else assistant_text_item(text)
