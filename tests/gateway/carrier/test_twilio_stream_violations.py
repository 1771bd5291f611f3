"""TwilioMediaStream: every malformed, unknown and out-of-order input is one counted violation, nothing more."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rtvoice.exceptions import ConfigurationError
from rtvoice_gateway.carrier import (
    AudioReceived,
    CallStarted,
    MarkPlayed,
    MediaFormat,
    ProtocolViolation,
    StreamState,
    TwilioMediaStream,
    ViolationKind,
)

SID = "MZ1"
START: dict[str, Any] = {
    "event": "start",
    "sequenceNumber": "1",
    "streamSid": SID,
    "start": {"streamSid": SID, "callSid": "CA1", "accountSid": "AC1"},
}
MEDIA: dict[str, Any] = {
    "event": "media",
    "streamSid": SID,
    "media": {"track": "inbound", "chunk": "1", "timestamp": "0", "payload": "//8="},
}


def text(message: dict[str, Any]) -> str:
    return json.dumps(message)


def with_field(message: dict[str, Any], path: str, value: Any) -> str:
    """``message`` with the field at the dotted ``path`` set to ``value`` (or removed for ``...``)."""
    copy = json.loads(json.dumps(message))
    *parents, last = path.split(".")
    target = copy
    for key in parents:
        target = target[key]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return json.dumps(copy)


def streaming() -> TwilioMediaStream:
    stream = TwilioMediaStream()
    stream.receive_text(text({"event": "connected"}))
    stream.receive_text(text(START))
    assert stream.state is StreamState.STREAMING
    return stream


def refused(stream: TwilioMediaStream, message: str) -> ViolationKind:
    """Feed a message that must be refused: one violation, counted once, the state unchanged."""
    state, before = stream.state, stream.violations
    events = stream.receive_text(message)
    assert len(events) == 1
    violation = events[0]
    assert isinstance(violation, ProtocolViolation)
    assert violation.detail
    assert stream.state is state
    assert stream.violations == {**before, violation.kind: before.get(violation.kind, 0) + 1}
    return violation.kind


MALFORMED_WHILE_STREAMING = [
    "",
    "not json",
    "[1, 2]",
    "null",
    '"media"',
    "[" * 5000 + "]" * 5000,  # deeper than the parser's recursion limit
    '{"event": "media", "x": ' + "9" * 5000 + "}",  # beyond int's digit limit
    text({"streamSid": SID}),
    text({"event": 5, "streamSid": SID}),
    text({"event": "media", "streamSid": SID}),
    with_field(MEDIA, "media", "payload"),
    with_field(MEDIA, "media.payload", ...),
    with_field(MEDIA, "media.payload", 12),
    with_field(MEDIA, "media.payload", "not base64!"),
    with_field(MEDIA, "media.payload", "//8"),
    with_field(MEDIA, "media.payload", "é"),
    with_field(MEDIA, "media.track", "outbound"),
    with_field(MEDIA, "media.chunk", ...),
    with_field(MEDIA, "media.chunk", "-1"),
    with_field(MEDIA, "media.chunk", "1.5"),
    with_field(MEDIA, "media.chunk", ""),
    with_field(MEDIA, "media.chunk", "٣"),
    with_field(MEDIA, "media.chunk", "1" * 19),
    with_field(MEDIA, "media.chunk", True),
    with_field(MEDIA, "media.chunk", -1),
    with_field(MEDIA, "media.chunk", 10**18),
    with_field(MEDIA, "media.chunk", 1.0),
    with_field(MEDIA, "media.timestamp", None),
    with_field(MEDIA, "sequenceNumber", "x"),
    text({"event": "dtmf", "streamSid": SID}),
    text({"event": "dtmf", "streamSid": SID, "dtmf": {"digit": "12"}}),
    text({"event": "dtmf", "streamSid": SID, "dtmf": {"digit": "e"}}),
    text({"event": "dtmf", "streamSid": SID, "dtmf": {"digit": 1}}),
    text({"event": "mark", "streamSid": SID, "mark": {}}),
    text({"event": "mark", "streamSid": SID, "mark": {"name": ""}}),
    text({"event": "mark", "streamSid": SID, "mark": ["g0:0"]}),
]


@pytest.mark.parametrize("message", MALFORMED_WHILE_STREAMING)
def test_malformed_messages(message: str) -> None:
    assert refused(streaming(), message) is ViolationKind.MALFORMED


@pytest.mark.parametrize("event", ["clear", "Media", "closed", "", "error"])
def test_unknown_events(event: str) -> None:
    assert refused(streaming(), text({"event": event, "streamSid": SID})) is ViolationKind.UNKNOWN_EVENT


@pytest.mark.parametrize("sid", [None, "", "MZ2", 1, ["MZ1"]])
def test_another_stream(sid: Any) -> None:
    stream = streaming()
    assert refused(stream, with_field(MEDIA, "streamSid", sid)) is ViolationKind.WRONG_STREAM
    assert refused(stream, text({"event": "stop", "streamSid": sid})) is ViolationKind.WRONG_STREAM
    assert refused(stream, with_field(MEDIA, "streamSid", ...)) is ViolationKind.WRONG_STREAM


def test_too_large() -> None:
    cap = len(text(START))
    stream = TwilioMediaStream(max_message_chars=cap)
    stream.receive_text(text(START))
    padded = text(MEDIA)[:-1] + " " * (cap - len(text(MEDIA))) + "}"
    assert stream.receive_text(padded) == [AudioReceived(b"\xff\xff", 0, 1)]
    assert refused(stream, padded + " ") is ViolationKind.TOO_LARGE


@pytest.mark.parametrize("cap", [0, -1, True, 1.5])
def test_a_cap_must_be_a_positive_integer(cap: object) -> None:
    with pytest.raises(ConfigurationError, match="max_message_chars"):
        TwilioMediaStream(max_message_chars=cap)  # type: ignore[arg-type]


def test_binary_frames() -> None:
    stream = streaming()
    assert stream.receive_binary(b"\x00" * 160) == [
        ProtocolViolation(ViolationKind.BINARY_FRAME, "binary frame of 160 bytes")
    ]
    assert stream.violations == {ViolationKind.BINARY_FRAME: 1}


@pytest.mark.parametrize(
    "message",
    [
        text(MEDIA),
        text({"event": "dtmf", "streamSid": SID, "dtmf": {"digit": "1"}}),
        text({"event": "mark", "streamSid": SID, "mark": {"name": "g0:0"}}),
        text({"event": "stop", "streamSid": SID}),
    ],
)
def test_everything_but_start_before_start(message: str) -> None:
    stream = TwilioMediaStream()
    assert refused(stream, message) is ViolationKind.OUT_OF_ORDER
    stream.receive_text(text({"event": "connected"}))
    assert refused(stream, message) is ViolationKind.OUT_OF_ORDER


def test_a_second_connected_or_start() -> None:
    stream = TwilioMediaStream()
    stream.receive_text(text({"event": "connected"}))
    assert refused(stream, text({"event": "connected"})) is ViolationKind.OUT_OF_ORDER
    stream.receive_text(text(START))
    assert refused(stream, text({"event": "connected"})) is ViolationKind.OUT_OF_ORDER
    assert refused(stream, with_field(START, "start.callSid", "CA2")) is ViolationKind.OUT_OF_ORDER


def test_anything_after_stop() -> None:
    stream = streaming()
    stream.receive_text(text({"event": "stop", "streamSid": SID}))
    for message in (
        text(MEDIA),
        text(START),
        text({"event": "connected"}),
        text({"event": "stop", "streamSid": SID}),
    ):
        assert refused(stream, message) is ViolationKind.OUT_OF_ORDER
    assert refused(stream, "{") is ViolationKind.MALFORMED


def test_start_without_connected_is_accepted_and_reported() -> None:
    stream = TwilioMediaStream()
    events = stream.receive_text(text(START))
    assert events == [
        ProtocolViolation(ViolationKind.OUT_OF_ORDER, "'start' before 'connected'"),
        CallStarted("CA1", SID, "AC1"),
    ]
    assert stream.state is StreamState.STREAMING
    assert stream.violations == {ViolationKind.OUT_OF_ORDER: 1}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("start", "CA1"),
        ("streamSid", ...),  # start.streamSid remains and is used: see the next test
        ("start.callSid", ...),
        ("start.callSid", ""),
        ("start.accountSid", 7),
        ("start.streamSid", "MZ2"),
        ("start.customParameters", ["a"]),
        ("start.customParameters", {"a": 1}),
        ("start.tracks", "inbound"),
        ("start.tracks", [1]),
        ("start.mediaFormat", "audio/x-mulaw"),
        ("start.mediaFormat", {"encoding": "audio/x-mulaw", "sampleRate": "8k", "channels": 1}),
        ("start.mediaFormat", {"sampleRate": 8000, "channels": 1}),
        ("start.mediaFormat", {"encoding": "audio/x-mulaw", "sampleRate": 8000}),
    ],
)
def test_malformed_start(path: str, value: Any) -> None:
    stream = TwilioMediaStream()
    stream.receive_text(text({"event": "connected"}))
    message = with_field(START, path, value)
    if path == "streamSid":
        assert stream.receive_text(message) == [CallStarted("CA1", SID, "AC1")]
        return
    assert refused(stream, message) is ViolationKind.MALFORMED
    assert stream.stream_sid is None


def test_start_fields_fall_back_and_numbers_may_be_strings() -> None:
    stream = TwilioMediaStream()
    message = {
        "event": "start",
        "start": {
            "streamSid": "MZ9",
            "callSid": "CA9",
            "accountSid": "AC9",
            "tracks": ["inbound", "outbound"],
            "mediaFormat": {"encoding": "audio/x-l16", "sampleRate": "24000", "channels": "1"},
            "customParameters": {"k": "v"},
        },
    }
    assert stream.receive_text(text(message))[-1] == CallStarted(
        "CA9", "MZ9", "AC9", {"k": "v"}, MediaFormat("audio/x-l16", 24000, 1), ("inbound", "outbound")
    )
    assert refused(streaming(), with_field(START, "streamSid", 5)) is ViolationKind.OUT_OF_ORDER
    fresh = TwilioMediaStream()
    assert refused(fresh, with_field(START, "streamSid", 5)) is ViolationKind.MALFORMED


def test_media_accepts_integers_and_an_absent_track() -> None:
    stream = streaming()
    message = {"event": "media", "streamSid": SID, "media": {"chunk": 3, "timestamp": 40, "payload": ""}}
    assert stream.receive_text(text(message)) == [AudioReceived(b"", 40, 3)]
    assert stream.violations == {}


def test_mark_echoes_we_cannot_have_caused() -> None:
    stream = streaming()
    stream.send_audio(bytes(320))
    stream.send_mark()

    def echo(name: str) -> str:
        return text({"event": "mark", "streamSid": SID, "mark": {"name": name}})

    for name in ("goodbye", "g1:0", "g0:60", "g0:-1"):
        assert refused(stream, echo(name)) is ViolationKind.UNKNOWN_MARK
    assert stream.receive_text(echo("g0:40")) == [MarkPlayed("g0:40", 0, 40)]
    assert refused(stream, echo("g0:20")) is ViolationKind.UNKNOWN_MARK  # behind what has played
    assert stream.receive_text(echo("g0:40")) == [MarkPlayed("g0:40", 0, 40)]  # a repeat says nothing new
    stream.clear()
    assert stream.receive_text(echo("g0:0")) == [MarkPlayed("g0:0", 0, 0, stale=True)]
    assert stream.violations == {ViolationKind.UNKNOWN_MARK: 5}


def test_a_start_for_another_call_is_fatal() -> None:
    stream = TwilioMediaStream(call_sid="CA2")
    stream.receive_text(text({"event": "connected"}))
    detail = "'start' names call 'CA1'; the stream token grants 'CA2'"
    assert stream.receive_text(text(START)) == [
        ProtocolViolation(ViolationKind.WRONG_CALL, detail, fatal=True)
    ]
    assert stream.state is StreamState.STOPPED
    assert stream.stream_sid is None
    assert stream.send_audio(bytes(160)) == []
    assert refused(stream, text(MEDIA)) is ViolationKind.OUT_OF_ORDER
    assert stream.violations == {ViolationKind.WRONG_CALL: 1, ViolationKind.OUT_OF_ORDER: 1}


def test_a_start_for_the_granted_call_is_accepted() -> None:
    stream = TwilioMediaStream(call_sid="CA1")
    assert stream.receive_text(text(START)) == [
        ProtocolViolation(ViolationKind.OUT_OF_ORDER, "'start' before 'connected'"),
        CallStarted("CA1", SID, "AC1"),
    ]
