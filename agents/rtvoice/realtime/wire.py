"""Parsing server events and encoding client events, with the openai SDK's own models.

Parsing
-------
``openai.types.realtime.RealtimeServerEvent`` is a union of 46 models, discriminated by ``type``, but the
SDK marks the discriminator with its own ``PropertyInfo`` metadata, which pydantic does not read: a plain
``TypeAdapter(RealtimeServerEvent)`` tries every member in turn (about 70 µs per audio delta, and an
unknown ``type`` yields 46 unrelated errors). :data:`SERVER_EVENT_ADAPTER` is the same union with
pydantic's ``Field(discriminator="type")``: it returns the very same SDK model classes, dispatches on
``type`` in one lookup (about 2 µs per delta) and names the failing type in its errors. A test checks
that both adapters agree on every recorded fixture.

:func:`parse_server_event` returns the SDK model, an :class:`UnknownEvent` for a ``type`` this SDK does
not know (the API adds events over time; they must not end a call), or raises
:class:`MalformedServerEvent` (a :class:`~rtvoice.exceptions.RemoteProtocolError`) for anything else.

Encoding
--------
:func:`encode_client_event` dumps an SDK client event with ``exclude_unset`` (an explicit ``null``, as in
``turn_detection: null``, must survive; ``exclude_none`` would drop it). The one hot path,
``input_audio_buffer.append`` (50 per second per call), skips pydantic: :func:`append_audio_json` formats
the exact text the SDK model would produce, which a test asserts.
"""

from __future__ import annotations

import binascii
import json
from dataclasses import dataclass
from typing import Annotated, Any, Union, cast, get_args

from openai.types.realtime import RealtimeClientEvent, RealtimeServerEvent
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError

from rtvoice.exceptions import RemoteProtocolError

__all__ = [
    "SERVER_EVENT_ADAPTER",
    "SERVER_EVENT_TYPES",
    "MalformedServerEvent",
    "UnknownEvent",
    "append_audio_json",
    "decode_audio",
    "encode_client_event",
    "parse_server_event",
]

_SERVER_EVENT_MODELS: tuple[type[Any], ...] = get_args(get_args(RealtimeServerEvent)[0])

SERVER_EVENT_TYPES: frozenset[str] = frozenset(
    tag for model in _SERVER_EVENT_MODELS for tag in get_args(model.model_fields["type"].annotation)
)
"""Every ``type`` of ``RealtimeServerEvent`` in the installed SDK."""

# Union[...] over a runtime tuple is not something a type checker can follow; the cast restores the
# SDK's own alias as the adapter's type.
_DISCRIMINATED: Any = Annotated[Union[_SERVER_EVENT_MODELS], Field(discriminator="type")]  # noqa: UP007
# cache_strings="keys": pydantic-core's JSON parser otherwise keeps up to 16,384 string values in a
# process-wide cache; every event id, item id and transcript is new, so the cache only grows (about 1 MB
# held for nothing, which also hides real leaks from the leak check) and parsing is no faster.
SERVER_EVENT_ADAPTER = cast(
    "TypeAdapter[RealtimeServerEvent]", TypeAdapter(_DISCRIMINATED, config=ConfigDict(cache_strings="keys"))
)
"""``RealtimeServerEvent`` with pydantic's discriminator on ``type`` (see the module docstring)."""

_APPEND_PREFIX = '{"audio":"'
_APPEND_SUFFIX = '","type":"input_audio_buffer.append"}'


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    """A server event whose ``type`` the installed SDK does not know."""

    type: str
    raw: str | bytes


class MalformedServerEvent(RemoteProtocolError):
    """The server sent something that is not a valid event.

    Args:
        message: what is wrong.
        event_type: the event's ``type`` when it had a known one (the payload did not fit its model),
            else None (not JSON, not an object, no ``type``).
    """

    def __init__(self, message: str, event_type: str | None = None) -> None:
        super().__init__(message)
        self.event_type = event_type


def parse_server_event(data: str | bytes) -> RealtimeServerEvent | UnknownEvent:
    """Parse one WebSocket text frame from the Realtime server.

    Unknown fields are kept (the SDK models allow extras) and ignored.

    Args:
        data: the frame, as text or UTF-8 bytes.

    Returns:
        The SDK model of the event, or :class:`UnknownEvent` for a ``type`` the SDK does not know.

    Raises:
        MalformedServerEvent: not JSON, not an object, no string ``type``, or a known type whose payload
            does not fit the SDK model.
    """
    try:
        return SERVER_EVENT_ADAPTER.validate_json(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        kind, loc = error["type"], error["loc"]
        if kind == "union_tag_invalid":
            # Only reached for a JSON object (nested less deeply than pydantic's limit, far below the
            # stdlib's), so json.loads succeeds; it tells an unknown string type from a non-string one.
            tag = json.loads(data).get("type")
            if isinstance(tag, str):
                return UnknownEvent(tag, data)
            raise MalformedServerEvent(f"event type must be a string, not {tag!r}") from None
        if loc and isinstance(loc[0], str) and loc[0] in SERVER_EVENT_TYPES:
            raise MalformedServerEvent(
                f"malformed {loc[0]} event: {error['msg']} at {loc[1:]}", loc[0]
            ) from None
        raise MalformedServerEvent(f"not a server event: {error['msg']}") from None


def encode_client_event(event: RealtimeClientEvent) -> str:
    """Serialise a client event as compact JSON, leaving out fields that were never set."""
    return event.model_dump_json(exclude_unset=True, by_alias=True)


def append_audio_json(pcm: bytes) -> str:
    """Return the ``input_audio_buffer.append`` frame for ``pcm``, byte-equal to the SDK model's JSON.

    Equal to ``encode_client_event(InputAudioBufferAppendEvent(type="input_audio_buffer.append",
    audio=base64(pcm)))``; base64 has no characters that JSON escapes, so plain formatting is exact.
    """
    return _APPEND_PREFIX + binascii.b2a_base64(pcm, newline=False).decode("ascii") + _APPEND_SUFFIX


def decode_audio(data: str) -> bytes:
    """Decode a base64 audio payload from the server.

    Raises:
        MalformedServerEvent: the payload is not valid base64.
    """
    try:
        return binascii.a2b_base64(data)
    except (binascii.Error, ValueError) as exc:
        raise MalformedServerEvent(
            f"audio delta is not base64: {exc}", "response.output_audio.delta"
        ) from None
