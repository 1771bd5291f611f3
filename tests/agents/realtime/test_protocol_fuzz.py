"""Fuzzing the protocol: nothing but ProtocolError subclasses may leave its public methods.

* arbitrary text and bytes, arbitrary JSON, and recorded events with one field mutated, fed to
  ``receive_json``: only ``RemoteProtocolError``;
* recorded events in random order, interleaved with random device reports and commands: only
  ``LocalProtocolError`` (a command illegal in that state) or ``RemoteProtocolError``, and every client
  event the protocol emits is a valid ``RealtimeClientEvent``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.types.realtime import RealtimeClientEvent
from pydantic import TypeAdapter

from rtvoice.exceptions import LocalProtocolError, RemoteProtocolError
from rtvoice.realtime import (
    Action,
    ClearPlayback,
    Interrupted,
    RealtimeProtocol,
    SendEvent,
    SendJSON,
    SessionConfig,
    encode_client_event,
)
from rtvoice.realtime.protocol import HANDLED_EVENT_TYPES

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "realtime"
LINES = [
    line
    for path in sorted(FIXTURES.glob("*.jsonl"))
    for line in path.read_text(encoding="utf-8").splitlines()
]
# The small events (no audio payload) keep the mutation search fast; audio deltas are covered below.
SMALL_LINES = [line for line in LINES if len(line) < 4000]
CLIENT_EVENT = TypeAdapter(RealtimeClientEvent)
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=150)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def ready_protocol() -> RealtimeProtocol:
    protocol = RealtimeProtocol(SessionConfig())
    protocol.receive_json(next(line for line in LINES if '"session.created"' in line[:40]), 0.0)
    protocol.receive_json(next(line for line in LINES if '"session.updated"' in line[:40]), 0.0)
    assert protocol.session_ready
    return protocol


def feed_remote(protocol: RealtimeProtocol, data: str | bytes) -> None:
    try:
        protocol.receive_json(data, 1.0)
    except RemoteProtocolError:
        pass


@FUZZ
@given(st.text())
def test_arbitrary_text(text: str) -> None:
    feed_remote(ready_protocol(), text)


@FUZZ
@given(st.binary())
def test_arbitrary_bytes(data: bytes) -> None:
    feed_remote(ready_protocol(), data)


@FUZZ
@given(
    st.sampled_from(sorted(HANDLED_EVENT_TYPES)),
    st.dictionaries(st.text(max_size=12), json_values, max_size=6),
)
def test_arbitrary_json_with_a_handled_type(event_type: str, fields: dict[str, Any]) -> None:
    feed_remote(ready_protocol(), json.dumps({**fields, "type": event_type}))


def paths(value: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every path to a value inside ``value`` (dict keys and list indexes)."""
    found: list[tuple[str | int, ...]] = []
    if isinstance(value, dict):
        for key, child in value.items():
            found.append((*prefix, key))
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.append((*prefix, index))
            found += paths(child, (*prefix, index))
    return found


@FUZZ
@given(st.sampled_from(SMALL_LINES), st.data())
def test_recorded_events_with_one_field_mutated(line: str, data: st.DataObject) -> None:
    event = json.loads(line)
    path = data.draw(st.sampled_from(paths(event)))
    parent: Any = event
    for key in path[:-1]:
        parent = parent[key]
    if data.draw(st.booleans()) and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(json_values)
    protocol = ready_protocol()
    feed_remote(protocol, json.dumps(event))


operations = st.lists(
    st.one_of(
        st.tuples(st.just("event"), st.integers(0, len(LINES) - 1)),
        st.tuples(st.just("playback"), st.integers(0, 600)),
        st.tuples(st.just("cleared"), st.integers(0, 50)),
        st.tuples(st.just("request"), st.integers(0, 2)),
        st.tuples(st.just("interrupt"), st.just(0)),
        st.tuples(st.just("timer"), st.just(0)),
        st.tuples(st.just("output"), st.integers(0, 3)),
        st.tuples(st.just("audio"), st.integers(0, 3)),
        st.tuples(st.just("tick"), st.integers(0, 2000)),
    ),
    max_size=60,
)


def check(actions: list[Action]) -> None:
    for action in actions:
        if isinstance(action, SendEvent):
            CLIENT_EVENT.validate_json(encode_client_event(action.event))
            assert action.event.type != "conversation.item.truncate" or action.event.audio_end_ms > 0
        elif isinstance(action, SendJSON):
            CLIENT_EVENT.validate_json(action.text)
    # A clear always comes with the Interrupted that explains it.
    assert sum(isinstance(a, ClearPlayback) for a in actions) == sum(
        isinstance(a, Interrupted) for a in actions
    )


@FUZZ
@given(operations, st.booleans())
def test_random_sequences_of_recorded_events_and_commands(ops: list[tuple[str, int]], reports: bool) -> None:
    protocol = RealtimeProtocol(SessionConfig())
    now, played = 0.0, 0.0
    for kind, value in ops:
        try:
            if kind == "event":
                check(protocol.receive_json(LINES[value], now))
            elif kind == "playback" and reports:
                played += value
                check(protocol.receive_playback(played, now))
            elif kind == "cleared" and reports:
                played += value
                check(protocol.receive_playback_cleared(played))
            elif kind == "request":
                check(protocol.request_response())
            elif kind == "interrupt":
                check(protocol.interrupt(now))
            elif kind == "timer":
                check(protocol.on_timer(now))
            elif kind == "output" and protocol.outstanding_calls:
                calls = sorted(protocol.outstanding_calls)
                check(protocol.send_function_output(calls[value % len(calls)], "ok", respond=value != 0))
            elif kind == "audio":
                check(protocol.send_audio(bytes(960 + value)))
            elif kind == "tick":
                now += value / 1000
        except LocalProtocolError:
            pass  # an illegal command in this state, or a bad report: the caller's fault, said so
    protocol.history.format()
