"""The client events every simulator received during this test run (filled by ``conftest.py``)."""

from __future__ import annotations

import json

from openai.types.realtime import RealtimeClientEvent
from pydantic import TypeAdapter

from rtvoice.testing.validation import find_unknown_parameters

__all__ = ["CLIENT_MESSAGES", "check_client_message"]

#: ``(test node id, event type)`` of every valid client event received, in tests that send only what the
#: project itself would send.
CLIENT_MESSAGES: list[tuple[str, str]] = []

CLIENT_EVENTS: TypeAdapter[RealtimeClientEvent] = TypeAdapter(RealtimeClientEvent)


def check_client_message(message: str) -> str:
    """The type of ``message``, which must be a client event the SDK's models accept with no unknown field.

    Raises ``pydantic.ValidationError`` or ``AssertionError`` (with the start of the message) otherwise.
    """
    event = CLIENT_EVENTS.validate_python(json.loads(message))
    unknown = find_unknown_parameters(event)
    assert unknown == [], (unknown, message[:200])
    return event.type
