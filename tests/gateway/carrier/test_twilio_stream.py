"""TwilioMediaStream: a whole recorded-looking call, and the outbound messages on the wire."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rtvoice.exceptions import LocalProtocolError
from rtvoice_gateway.carrier import (
    AudioReceived,
    CallStarted,
    CallStopped,
    DigitPressed,
    MarkPlayed,
    MediaFormat,
    StreamState,
    TwilioMediaStream,
    mark_name,
    parse_mark_name,
)

CALL = (Path(__file__).resolve().parents[2] / "fixtures" / "twilio" / "call.jsonl").read_text().splitlines()
STREAM_SID = "MZ18ad3ab5a668481ce02b83e7395059f0"
CALL_SID = "CA5d1b2bd6a6ec3b9c1f9bbd5a0b7c1f42"
ACCOUNT_SID = "AC25e16e9a716a4a1786a7c83f58e30482"


def caller_chunk(k: int) -> bytes:
    """The audio the fixture's k-th media message carries (how the fixture was made)."""
    return bytes((k * 7 + i) % 256 for i in range(160))


def wire(messages: list[str]) -> list[dict[str, Any]]:
    return [json.loads(message) for message in messages]


def media(payload: bytes) -> dict[str, Any]:
    return {
        "event": "media",
        "streamSid": STREAM_SID,
        "media": {"payload": base64.b64encode(payload).decode()},
    }


def mark(name: str) -> dict[str, Any]:
    return {"event": "mark", "streamSid": STREAM_SID, "mark": {"name": name}}


def state(stream: TwilioMediaStream) -> StreamState:
    """The stream's state, read through a call so that mypy does not narrow it between steps."""
    return stream.state


def started() -> TwilioMediaStream:
    stream = TwilioMediaStream()
    stream.receive_text(CALL[0])
    stream.receive_text(CALL[1])
    assert stream.state is StreamState.STREAMING
    return stream


def test_a_whole_call() -> None:
    stream = TwilioMediaStream()
    assert state(stream) is StreamState.AWAITING_CONNECTED
    assert stream.receive_text(CALL[0]) == []
    assert state(stream) is StreamState.AWAITING_START
    assert stream.receive_text(CALL[1]) == [
        CallStarted(
            call_sid=CALL_SID,
            stream_sid=STREAM_SID,
            account_sid=ACCOUNT_SID,
            custom_parameters={"CallSid": CALL_SID, "From": "+15550100", "To": "+15550199"},
            media_format=MediaFormat("audio/x-mulaw", 8000, 1),
            tracks=("inbound",),
        )
    ]
    assert stream.stream_sid == STREAM_SID
    agent = bytes(range(256)) * 4
    assert wire(stream.send_audio(agent[:400])) == [media(agent[:160]), media(agent[160:320])]
    assert wire(stream.send_mark()) == [mark("g0:40")]
    assert [stream.receive_text(line) for line in CALL[2:5]] == [
        [AudioReceived(caller_chunk(1), timestamp_ms=5, chunk=1)],
        [AudioReceived(caller_chunk(2), timestamp_ms=25, chunk=2)],
        [AudioReceived(caller_chunk(3), timestamp_ms=45, chunk=3)],
    ]
    assert stream.receive_text(CALL[5]) == [DigitPressed("7")]
    assert stream.receive_text(CALL[6]) == [MarkPlayed("g0:40", generation=0, position_ms=40)]
    assert (stream.played_ms, stream.sent_ms) == (40, 40)
    assert wire(stream.send_audio(agent[400:800])) == [
        media(agent[320:480]),
        media(agent[480:640]),
        media(agent[640:800]),
    ]
    assert wire(stream.send_mark()) == [mark("g0:100")]
    assert [stream.receive_text(line) for line in CALL[7:9]] == [
        [AudioReceived(caller_chunk(4), timestamp_ms=65, chunk=4)],
        [AudioReceived(caller_chunk(5), timestamp_ms=85, chunk=5)],
    ]
    # The caller barges in: clear; Twilio echoes the pending mark at once, which played nothing.
    assert wire(stream.clear()) == [{"event": "clear", "streamSid": STREAM_SID}]
    assert stream.generation == 1
    assert stream.receive_text(CALL[9]) == [MarkPlayed("g0:100", generation=0, position_ms=100, stale=True)]
    assert stream.played_ms == 40  # a stale echo never moves the position
    assert wire(stream.send_audio(agent[:100]) + stream.flush() + stream.send_mark()) == [
        media(agent[:100] + b"\xff" * 60),
        mark("g1:120"),
    ]
    assert stream.receive_text(CALL[10]) == [MarkPlayed("g1:120", generation=1, position_ms=120)]
    assert stream.played_ms == 120
    assert stream.receive_text(CALL[11]) == [CallStopped()]
    assert stream.state is StreamState.STOPPED
    assert stream.violations == {}


def test_audio_is_rechunked_into_exact_frames_and_a_remainder_waits() -> None:
    stream = started()
    assert stream.send_audio(b"\x01" * 100) == []
    assert stream.pending_bytes == 100
    assert wire(stream.send_audio(b"\x02" * 250)) == [
        media(b"\x01" * 100 + b"\x02" * 60),
        media(b"\x02" * 160),
    ]
    assert (stream.pending_bytes, stream.sent_ms) == (30, 40)
    assert wire(stream.flush()) == [media(b"\x02" * 30 + b"\xff" * 130)]
    assert (stream.pending_bytes, stream.sent_ms) == (0, 60)
    assert stream.flush() == []


def test_several_frames_per_message_keep_whole_frames() -> None:
    stream = started()
    assert wire(stream.send_audio(b"\x01" * 500, frames_per_message=2)) == [
        media(b"\x01" * 320),
        media(b"\x01" * 160),
    ]
    assert (stream.pending_bytes, stream.sent_ms) == (20, 60)
    assert wire(stream.send_audio(b"\x02" * 460, frames_per_message=3)) == [
        media(b"\x01" * 20 + b"\x02" * 460)
    ]
    assert (stream.pending_bytes, stream.sent_ms) == (0, 120)
    assert wire(stream.send_mark()) == [mark("g0:120")]
    with pytest.raises(ValueError, match="frames_per_message"):
        stream.send_audio(b"\x01" * 160, frames_per_message=0)


def test_a_mark_only_after_new_audio() -> None:
    stream = started()
    assert stream.send_mark() == []
    stream.send_audio(bytes(160))
    assert wire(stream.send_mark()) == [mark("g0:20")]
    assert stream.send_mark() == []
    assert stream.clear() != []
    assert stream.send_mark() == []  # nothing new went out in generation 1 yet
    stream.send_audio(bytes(160))
    assert wire(stream.send_mark()) == [mark("g1:40")]


def test_clear_drops_the_waiting_remainder() -> None:
    stream = started()
    stream.send_audio(bytes(100))
    stream.clear()
    assert (stream.pending_bytes, stream.flush()) == (0, [])


def test_a_stream_sid_that_needs_escaping_is_escaped_on_the_wire() -> None:
    stream = TwilioMediaStream()
    sid = 'MZ"\\\u2028'
    start = {"event": "start", "streamSid": sid, "start": {"callSid": "CA1", "accountSid": "AC1"}}
    stream.receive_text(json.dumps({"event": "connected"}))
    assert stream.receive_text(json.dumps(start)) == [CallStarted("CA1", sid, "AC1")]
    stream.send_audio(bytes(160))
    assert [
        m["streamSid"] for m in wire(stream.send_audio(bytes(160)) + stream.send_mark() + stream.clear())
    ] == [sid] * 3


def test_sending_before_start_is_our_error() -> None:
    stream = TwilioMediaStream()
    sends: list[Callable[[], list[str]]] = [
        lambda: stream.send_audio(bytes(160)),
        stream.flush,
        stream.send_mark,
        stream.clear,
    ]
    for send in sends:
        with pytest.raises(LocalProtocolError):
            send()
    stream.receive_text(CALL[0])
    with pytest.raises(LocalProtocolError):
        stream.send_audio(bytes(160))


def test_after_stop_nothing_is_sent() -> None:
    stream = started()
    stream.send_audio(bytes(100))
    stream.receive_text(CALL[-1])
    assert stream.send_audio(bytes(400)) == []
    assert stream.flush() == []
    assert stream.send_mark() == []
    assert stream.clear() == []
    assert stream.sent_ms == 0


@pytest.mark.parametrize(("generation", "position"), [(0, 0), (1, 20), (7, 123456), (10**17, 10**17)])
def test_mark_names_round_trip(generation: int, position: int) -> None:
    name = mark_name(generation, position)
    assert name == f"g{generation}:{position}"
    assert parse_mark_name(name) == (generation, position)


@pytest.mark.parametrize(
    "name", ["", "g1", "g:1", "g1:", "x1:2", "g01:2", "g1:02", "g-1:2", "g1:2:3", "g1:2\n", "g١:2"]
)
def test_foreign_mark_names_do_not_parse(name: str) -> None:
    assert parse_mark_name(name) is None
