"""Every client event the project sent during this test run is accepted by the openai SDK's own models.

The simulators of every test report the raw client messages they receive (``conftest.py``), except in
tests marked ``sends_invalid_events``, which send malformed events on purpose. This test runs last.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from openai.types.realtime import RealtimeClientEvent
from pydantic import TypeAdapter

from rtvoice.testing.validation import find_unknown_parameters
from support.client_events import CLIENT_MESSAGES

CLIENT_EVENTS: TypeAdapter[RealtimeClientEvent] = TypeAdapter(RealtimeClientEvent)


@pytest.mark.runs_last
def test_every_client_event_sent_in_this_run_is_valid() -> None:
    if not CLIENT_MESSAGES:
        pytest.skip("no test that talks to a simulator ran in this session")
    kinds: Counter[str] = Counter()
    for nodeid, message in CLIENT_MESSAGES:
        event = CLIENT_EVENTS.validate_python(json.loads(message))
        assert find_unknown_parameters(event) == [], (nodeid, message[:200])
        kinds[event.type] += 1
    # The run exercised the events the project relies on.
    assert {"session.update", "input_audio_buffer.append", "response.create"} <= set(kinds)
