"""Fuzzing TwilioMediaStream: no input escapes as an exception; only documented events come out.

* arbitrary text, arbitrary JSON, and recorded messages with one field replaced: never raises, returns
  only the documented event types, and every violation is counted exactly once;
* recorded messages in random order, mixed with outbound calls: the state only moves forward, the played
  position only grows and never passes the sent position, and sends raise only LocalProtocolError.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtvoice.exceptions import LocalProtocolError
from rtvoice_gateway.carrier import (
    AudioReceived,
    CallStarted,
    CallStopped,
    DigitPressed,
    InboundEvent,
    MarkPlayed,
    ProtocolViolation,
    StreamState,
    TwilioMediaStream,
)

LINES = (Path(__file__).resolve().parents[2] / "fixtures" / "twilio" / "call.jsonl").read_text().splitlines()
EVENT_TYPES = (CallStarted, AudioReceived, DigitPressed, MarkPlayed, CallStopped, ProtocolViolation)
ORDER = [
    StreamState.AWAITING_CONNECTED,
    StreamState.AWAITING_START,
    StreamState.STREAMING,
    StreamState.STOPPED,
]
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=300)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
event_names = st.sampled_from(["connected", "start", "media", "dtmf", "mark", "stop", "clear", "x"])


def streaming() -> TwilioMediaStream:
    stream = TwilioMediaStream()
    stream.receive_text(LINES[0])
    stream.receive_text(LINES[1])
    return stream


def check(stream: TwilioMediaStream, text: str) -> list[InboundEvent]:
    before = sum(stream.violations.values())
    events = stream.receive_text(text)
    assert all(isinstance(event, EVENT_TYPES) for event in events)
    violations = [event for event in events if isinstance(event, ProtocolViolation)]
    assert sum(stream.violations.values()) == before + len(violations)
    assert len(events) <= 2
    return events


@FUZZ
@given(st.text(max_size=300))
def test_arbitrary_text(text: str) -> None:
    check(TwilioMediaStream(), text)
    check(streaming(), text)


@FUZZ
@given(json_values)
def test_arbitrary_json(value: Any) -> None:
    check(streaming(), json.dumps(value))


@FUZZ
@given(
    event_names,
    st.dictionaries(
        st.sampled_from(["streamSid", "media", "start", "mark", "dtmf", "stop", "sequenceNumber"]),
        json_values,
        max_size=4,
    ),
)
def test_arbitrary_json_with_a_known_event(event: str, fields: dict[str, Any]) -> None:
    check(streaming(), json.dumps({**fields, "event": event}))
    check(TwilioMediaStream(), json.dumps({**fields, "event": event}))


def paths(value: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if not isinstance(value, dict):
        return [prefix]
    found = [prefix] if prefix else []
    for key, child in value.items():
        found.extend(paths(child, (*prefix, key)))
    return found


@FUZZ
@given(st.data(), json_values)
def test_recorded_messages_with_one_field_replaced(data: st.DataObject, replacement: Any) -> None:
    index = data.draw(st.integers(0, len(LINES) - 1))
    message = json.loads(LINES[index])
    path = data.draw(st.sampled_from(paths(message)))
    target = message
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = replacement
    stream = TwilioMediaStream()
    for line in LINES[:index]:
        stream.receive_text(line)
    if stream.state is StreamState.STREAMING:
        stream.send_audio(bytes(2000))  # so that the fixture's mark echoes can be current
        stream.send_mark()
    check(stream, json.dumps(message))


@FUZZ
@given(
    st.lists(
        st.one_of(st.sampled_from(LINES), st.sampled_from(["send", "mark", "flush", "clear"])), max_size=40
    ),
    st.sampled_from([None, "CA5d1b2bd6a6ec3b9c1f9bbd5a0b7c1f42", "CA0"]),
)
def test_random_order_and_sends(steps: list[str], call_sid: str | None) -> None:
    stream = TwilioMediaStream(call_sid=call_sid)
    played = 0
    for step in steps:
        state = stream.state
        if step in ("send", "mark", "flush", "clear"):
            action = {
                "send": lambda: stream.send_audio(bytes(100)),
                "mark": stream.send_mark,
                "flush": stream.flush,
                "clear": stream.clear,
            }[step]
            try:
                action()
            except LocalProtocolError:
                assert state in (StreamState.AWAITING_CONNECTED, StreamState.AWAITING_START)
        else:
            events = check(stream, step)
            if any(isinstance(event, ProtocolViolation) and event.fatal for event in events):
                assert call_sid == "CA0" and stream.state is StreamState.STOPPED
            if any(isinstance(event, CallStarted) for event in events):
                assert call_sid != "CA0"
        assert ORDER.index(stream.state) >= ORDER.index(state)
        assert played <= stream.played_ms <= stream.sent_ms
        played = stream.played_ms
