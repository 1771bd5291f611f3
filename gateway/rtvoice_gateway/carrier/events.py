"""Carrier-neutral inbound events: what a media-stream protocol core reports to its shell.

Every carrier module (:mod:`rtvoice_gateway.carrier.twilio` first) parses its own wire messages into these
frozen dataclasses, so the call logic above never sees a carrier's field names. They compare with ``==``,
which lets tests assert on whole lists.

A :class:`ProtocolViolation` is an event, not an exception: malformed, unknown and out-of-order input is
reported (and counted by the core, see :class:`ViolationKind`) and the call goes on; the one exception, a
stream for another call, is marked ``fatal``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TypeAlias

__all__ = [
    "AudioReceived",
    "CallStarted",
    "CallStopped",
    "DigitPressed",
    "InboundEvent",
    "MarkPlayed",
    "MediaFormat",
    "ProtocolViolation",
    "ViolationKind",
]


@dataclass(frozen=True, slots=True)
class MediaFormat:
    """The audio format the carrier announced for the stream (both directions).

    Twilio always announces ``audio/x-mulaw`` at 8000 Hz, mono; SignalWire may announce others (L16). The
    shell refuses a format it cannot carry.
    """

    encoding: str = "audio/x-mulaw"
    sample_rate: int = 8000
    channels: int = 1


@dataclass(frozen=True, slots=True)
class CallStarted:
    """The stream started: the call it belongs to and the parameters we put in the TwiML.

    Attributes:
        call_sid: the carrier's call id (Twilio ``CA…``); the shell checks it against the stream token.
        stream_sid: the stream id (Twilio ``MZ…``); every later message must carry it.
        account_sid: the carrier account (Twilio ``AC…``).
        custom_parameters: the ``<Parameter>`` name/value pairs of the TwiML, as strings.
        media_format: the announced audio format.
        tracks: the tracks streamed to us (``("inbound",)`` for a bidirectional Twilio stream).
    """

    call_sid: str
    stream_sid: str
    account_sid: str
    custom_parameters: dict[str, str] = field(default_factory=dict)
    media_format: MediaFormat = MediaFormat()
    tracks: tuple[str, ...] = ("inbound",)


@dataclass(frozen=True, slots=True)
class AudioReceived:
    """A chunk of caller audio.

    Attributes:
        payload: the audio, decoded from base64 (8 kHz μ-law for Twilio, normally 160 bytes = 20 ms).
        timestamp_ms: milliseconds since the stream started, per the carrier.
        chunk: the chunk number (Twilio counts from 1).
    """

    payload: bytes
    timestamp_ms: int
    chunk: int


@dataclass(frozen=True, slots=True)
class DigitPressed:
    """The caller pressed a key: ``digit`` is one of ``0-9``, ``*``, ``#``, ``A-D``."""

    digit: str


@dataclass(frozen=True, slots=True)
class MarkPlayed:
    """The carrier echoed one of our marks.

    Attributes:
        name: the mark's name as echoed.
        generation: the clear-generation the mark was sent in.
        position_ms: the outbound audio position (ms of agent audio sent on this stream, all generations)
            at which the mark was placed.
        stale: True when the mark belongs to a generation a ``clear`` has ended: the carrier echoes every
            pending mark at once on ``clear``, so a stale echo does *not* mean its audio played, and it
            never moves the played position.
    """

    name: str
    generation: int
    position_ms: int
    stale: bool = False


@dataclass(frozen=True, slots=True)
class CallStopped:
    """The carrier ended the stream (the call hung up, or its TwiML was replaced). Nothing follows."""


class ViolationKind(enum.StrEnum):
    """Why an inbound message was refused; the core counts violations by kind."""

    TOO_LARGE = "too_large"
    """The message is longer than the core's cap."""
    BINARY_FRAME = "binary_frame"
    """A binary WebSocket frame (the protocol is JSON text only)."""
    MALFORMED = "malformed"
    """Not JSON, not an object, a missing or mistyped field, a bad number, bad base64."""
    UNKNOWN_EVENT = "unknown_event"
    """An event name the protocol does not define."""
    OUT_OF_ORDER = "out_of_order"
    """A valid message at the wrong time: media before ``start``, a second ``start``, anything after ``stop``."""
    WRONG_STREAM = "wrong_stream"
    """The message names another stream than the one ``start`` opened."""
    UNKNOWN_MARK = "unknown_mark"
    """A mark echo we cannot have caused: a foreign name, a future generation, a position not sent yet."""
    WRONG_CALL = "wrong_call"
    """``start`` names another call than the stream token grants (fatal: the stream stops)."""


@dataclass(frozen=True, slots=True)
class ProtocolViolation:
    """An inbound message was refused. ``detail`` says what was wrong, for the log.

    A violation changes nothing and the call goes on, unless it is ``fatal``: then the stream has stopped
    (a stream that is not the call's must not carry audio) and the shell closes the socket with 1008.
    """

    kind: ViolationKind
    detail: str
    fatal: bool = False


InboundEvent: TypeAlias = (
    CallStarted | AudioReceived | DigitPressed | MarkPlayed | CallStopped | ProtocolViolation
)
"""Everything a carrier core's ``receive_*`` methods can return."""
