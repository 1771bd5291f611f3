"""The simulated conversation: its items and the client's item events (create, truncate, delete, retrieve).

The conversation is a plain list of items, in order, owned by the session (``session.py``). Assistant
output lives in :class:`~rtvoice.testing.responses.AudioItem` and
:class:`~rtvoice.testing.responses.FunctionCallItem` (made by responses); everything else, user and
system messages and function outputs, is a :class:`UserItem` that keeps its wire form. Assistant audio
items keep their duration (for truncation) and transcript; audio bytes are not kept, so memory stays flat
over long sessions.

The functions here check a client's item event the way the server does and raise
:class:`~rtvoice.testing.validation.ApiError` with the API's code, message and ``param``; the session
turns the error into an ``error`` event and sends the ``conversation.item.*`` events of a success. No I/O
here, and ids come in from the caller.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

from openai.types.realtime import ConversationItemCreateEvent, ConversationItemTruncateEvent

from rtvoice.testing.responses import (
    AUDIO_INPUT_TOKENS_PER_SECOND,
    AudioItem,
    FunctionCallItem,
    Usage,
    count_text_tokens,
)
from rtvoice.testing.validation import ApiError

__all__ = [
    "CreatedItem",
    "Item",
    "UserItem",
    "conversation_usage",
    "create_item",
    "find_item",
    "input_audio_item",
    "insert_item",
    "require_item",
    "transcription_usage",
    "truncate_item",
]


@dataclass
class UserItem:
    """Any item that is not an assistant output: user/system messages, function outputs."""

    id: str
    wire: dict[str, Any]
    text: str = ""
    audio_ms: float = 0.0

    @property
    def type(self) -> str:
        """The item's ``type``."""
        return str(self.wire.get("type"))

    def to_wire(self) -> dict[str, Any]:
        """The item as the wire carries it."""
        return self.wire


Item: TypeAlias = UserItem | AudioItem | FunctionCallItem


def find_item(items: list[Item], item_id: str) -> Item | None:
    """The item with ``item_id``, or None."""
    for item in items:
        if item.id == item_id:
            return item
    return None


def require_item(items: list[Item], item_id: str, param: str) -> Item:
    """The item with ``item_id``.

    Raises:
        ApiError: no such item (``invalid_value`` on ``param``).
    """
    item = find_item(items, item_id)
    if item is None:
        raise ApiError("invalid_value", f"Item with item_id '{item_id}' not found.", param)
    return item


def insert_item(items: list[Item], item: Item, previous_item_id: str | None) -> None:
    """Insert ``item`` after ``previous_item_id`` (``"root"``: first; None or an unknown id: last)."""
    if previous_item_id == "root":
        items.insert(0, item)
        return
    if previous_item_id is None:
        items.append(item)
        return
    for index, existing in enumerate(items):
        if existing.id == previous_item_id:
            items.insert(index + 1, item)
            return
    items.append(item)


def input_audio_item(item_id: str, transcript: str, audio_ms: float) -> UserItem:
    """The user message a committed input audio buffer becomes (its transcript arrives separately)."""
    wire = {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "status": "completed",
        "role": "user",
        "content": [{"type": "input_audio", "transcript": None}],
    }
    return UserItem(item_id, wire, text=transcript, audio_ms=audio_ms)


def transcription_usage(model: str, audio_ms: float, transcript: str) -> dict[str, Any]:
    """The ``usage`` of ``conversation.item.input_audio_transcription.completed``.

    Args:
        model: the transcription model; ``whisper-1`` bills by duration, the others by tokens.
        audio_ms: the transcribed audio.
        transcript: the transcript.
    """
    if model == "whisper-1":
        return {"type": "duration", "seconds": round(audio_ms / 1000, 3)}
    audio_tokens = math.ceil(audio_ms / 1000 * AUDIO_INPUT_TOKENS_PER_SECOND)
    out = count_text_tokens(transcript)
    return {
        "type": "tokens",
        "input_tokens": audio_tokens,
        "output_tokens": out,
        "total_tokens": audio_tokens + out,
        "input_token_details": {"audio_tokens": audio_tokens, "text_tokens": 0},
    }


def conversation_usage(items: list[Item], instructions: str) -> Usage:
    """The input tokens a response over ``items`` with ``instructions`` costs (nothing cached yet)."""
    usage = Usage(input_text=count_text_tokens(instructions))
    for item in items:
        if isinstance(item, AudioItem):
            usage.input_text += count_text_tokens(item.transcript)
            usage.input_audio += math.ceil(item.audio_ms / 1000 * 20)
        elif isinstance(item, FunctionCallItem):
            usage.input_text += count_text_tokens(item.name + item.arguments)
        else:
            usage.input_text += count_text_tokens(item.text or str(item.wire.get("output", "")))
            usage.input_audio += math.ceil(item.audio_ms / 1000 * AUDIO_INPUT_TOKENS_PER_SECOND)
    return usage


@dataclass(frozen=True)
class CreatedItem:
    """What ``conversation.item.create`` added.

    Attributes:
        item: the new item (already in the conversation).
        wire: the item as ``conversation.item.added`` / ``.done`` carry it.
        previous_item_id: the ``previous_item_id`` those events announce.
        user_text: the text of a user message, else None.
        function_output: ``(call_id, output)`` of a function call output, else None.
    """

    item: Item
    wire: dict[str, Any]
    previous_item_id: str | None
    user_text: str | None = None
    function_output: tuple[str, str] | None = None


def create_item(
    items: list[Item], event: ConversationItemCreateEvent, new_id: Callable[[str], str]
) -> CreatedItem:
    """Check a ``conversation.item.create`` and add its item to ``items``.

    Args:
        items: the conversation, changed only when the event is valid.
        event: the client event.
        new_id: mints the item id when the client sent none.

    Raises:
        ApiError: the server would refuse the event (the conversation is left unchanged).
    """
    wire = event.item.model_dump(mode="json", exclude_unset=True)
    previous = event.previous_item_id
    if previous is not None and previous != "root" and find_item(items, previous) is None:
        raise ApiError(
            "invalid_value", f"Previous item with item_id '{previous}' not found.", "previous_item_id"
        )
    item_id = wire.get("id") or new_id("item")
    if find_item(items, item_id) is not None:
        raise ApiError("invalid_value", f"Item with item_id '{item_id}' already exists.", "item.id")
    kind = wire.get("type")
    text = ""
    user_text: str | None = None
    function_output: tuple[str, str] | None = None
    if kind == "message":
        role = wire.get("role")
        for part in wire.get("content") or []:
            if role == "assistant" and part.get("type") == "output_audio":
                raise ApiError(
                    "invalid_value",
                    "Assistant messages can only contain output_text content: assistant audio cannot be "
                    "created by the client.",
                    "item.content",
                )
            text += str(part.get("text") or part.get("transcript") or "")
        if role == "user":
            user_text = text
    elif kind == "function_call_output":
        call_id = wire.get("call_id")
        if not any(isinstance(i, FunctionCallItem) and i.call_id == call_id for i in items):
            raise ApiError(
                "invalid_tool_call_id",
                f"Tool call ID '{call_id}' not found in conversation.",
                "item.call_id",
            )
        function_output = (str(call_id), str(wire.get("output", "")))
    elif kind != "function_call":
        raise ApiError(
            "invalid_value",
            f"Invalid value: '{kind}'. The simulator supports message, function_call and "
            "function_call_output items.",
            "item.type",
        )
    wire = {"object": "realtime.item", "status": "completed", **wire, "id": item_id}
    if kind == "function_call":
        item: Item = FunctionCallItem(
            item_id,
            str(wire.get("call_id")),
            str(wire.get("name")),
            str(wire.get("arguments")),
            "completed",
        )
    else:
        item = UserItem(item_id, wire, text=text)
    last_id = items[-1].id if items else None
    prev_id = last_id if previous is None else (None if previous == "root" else previous)
    insert_item(items, item, previous)
    return CreatedItem(item, wire, prev_id, user_text=user_text, function_output=function_output)


def truncate_item(items: list[Item], event: ConversationItemTruncateEvent) -> AudioItem:
    """Check a ``conversation.item.truncate`` and cut the item's audio (and drop its transcript).

    The item keeps the cut from then on, even while its response is still streaming: audio generated
    after the truncate is sent but not stored, so a later truncate is checked against the cut.

    Raises:
        ApiError: the server would refuse the event (the item is left unchanged).
    """
    item = find_item(items, event.item_id)
    if item is None:
        # The code public clients special-case for this race (truncating an item the server dropped).
        raise ApiError(
            "item_truncate_invalid_item_id",
            f"Item with item_id '{event.item_id}' not found.",
            "item_id",
        )
    if not isinstance(item, AudioItem) or item.modality != "audio":
        raise ApiError(
            "unsupported_content_type", "Only model output audio messages can be truncated", "item_id"
        )
    if event.content_index != 0:
        raise ApiError(
            "invalid_value",
            f"Invalid value: {event.content_index}. The item has no content part at that index.",
            "content_index",
        )
    if event.audio_end_ms > item.audio_ms:
        raise ApiError(
            "invalid_value",
            f"Audio content of {item.audio_ms:.0f}ms is already shorter than {event.audio_end_ms}ms",
            "audio_end_ms",
        )
    item.audio_ms = float(event.audio_end_ms)
    # The server deletes the transcript of a truncated item (reference §3). An item still streaming keeps
    # the cut: audio generated afterwards is still sent but no longer added (docs/simulator.md).
    item.transcript = ""
    item.truncated = True
    return item
