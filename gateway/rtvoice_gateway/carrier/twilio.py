"""The Twilio Media Streams protocol (bidirectional ``<Connect><Stream>``): :class:`TwilioMediaStream`.

Theory of operation
-------------------
Twilio sends JSON text frames: ``connected`` once, ``start`` once (the stream's identity, our TwiML
``<Parameter>``\\s, the media format), then ``media`` every 20 ms (160 bytes of 8 kHz μ-law, base64),
``dtmf`` key presses, ``mark`` echoes, and ``stop`` last. Numbers (``sequenceNumber``, ``chunk``,
``timestamp``) arrive as strings; plain JSON integers are accepted too (Twilio-compatible carriers).

States::

    AWAITING_CONNECTED --connected--> AWAITING_START --start--> STREAMING --stop--> STOPPED
            \\______________________start (reported as out of order too)____/

Every inbound message is checked in this order: size cap, JSON object with a string ``event``, known
event, state, ``streamSid``, then the fields of that event. The first failure becomes one
:class:`~rtvoice_gateway.carrier.events.ProtocolViolation`, counted in :attr:`TwilioMediaStream.violations`,
and the message changes nothing. Unknown *fields* are ignored (Twilio adds fields over time). One
violation is fatal: a ``start`` for another call than the stream token grants (``call_sid``) stops the
stream, and the shell closes the socket.

Outbound, we send ``media`` (always exactly 160 bytes = 20 ms: irregular chunks stutter at word starts),
``mark`` and ``clear``. Audio is re-chunked here; a remainder waits for more audio or for :meth:`flush`,
which pads it with μ-law silence (``0xFF``).

Marks carry state in their name: ``g{generation}:{position_ms}``. ``position_ms`` is :attr:`sent_ms`
when the mark was rendered, so a current echo means the timeline up to there has played. ``clear``
makes Twilio drop its queue and echo every pending mark *at once* (reference: openai-agents-js #1608);
:meth:`clear` therefore starts a new generation, and echoes of older generations are reported as
``stale`` and never move :attr:`played_ms`. An echo of a mark we cannot have sent (a foreign name, a
future generation, a position beyond :attr:`sent_ms` or behind :attr:`played_ms`) is a violation.

Driving it (the shell's side)::

    stream = TwilioMediaStream()
    on a text frame:    for event in stream.receive_text(text): ...
    on a binary frame:  stream.receive_binary(data)       # a counted violation
    to send audio:      frames = stream.send_audio(mulaw) + stream.send_mark()
    end of a reply:     frames = stream.flush() + stream.send_mark()
    barge-in:           frames = stream.clear()           # send before anything else queued
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any, Final

from rtvoice.exceptions import ConfigurationError, LocalProtocolError
from rtvoice_codecs.constants import FRAME_BYTES_ULAW_8K, FRAME_MS, SILENCE_ULAW
from rtvoice_codecs.frames import FrameChunker
from rtvoice_gateway.carrier.base import CarrierProtocol, StreamState
from rtvoice_gateway.carrier.events import (
    AudioReceived,
    CallStarted,
    CallStopped,
    DigitPressed,
    InboundEvent,
    MarkPlayed,
    MediaFormat,
    ProtocolViolation,
    ViolationKind,
)

__all__ = ["DEFAULT_MAX_MESSAGE_CHARS", "DTMF_DIGITS", "TwilioMediaStream", "mark_name", "parse_mark_name"]

DEFAULT_MAX_MESSAGE_CHARS: Final = 64 * 1024
"""The inbound size cap. A Twilio ``media`` message is about 400 characters; ``start`` grows with the
``<Parameter>``\\s. Also cap the WebSocket server's frame size in the shell, so nothing larger is read."""

DTMF_DIGITS: Final = frozenset("0123456789*#ABCD")
"""The keys a ``dtmf`` message can report."""

_MARK_NAME = re.compile(r"g(0|[1-9][0-9]{0,17}):(0|[1-9][0-9]{0,17})")
_MAX_COUNT_DIGITS = 18  # numbers in messages: up to 10^18, far beyond any call

_EVENTS = frozenset({"connected", "start", "media", "dtmf", "mark", "stop"})


def mark_name(generation: int, position_ms: int) -> str:
    """The name of a mark placed at ``position_ms`` in ``generation``: ``g{generation}:{position_ms}``."""
    return f"g{generation}:{position_ms}"


def parse_mark_name(name: str) -> tuple[int, int] | None:
    """``(generation, position_ms)`` from a name made by :func:`mark_name`; None for any other string."""
    match = _MARK_NAME.fullmatch(name)
    if match is None:
        return None
    return int(match[1]), int(match[2])


class _Refused(Exception):
    """Internal: this message is refused; becomes one ProtocolViolation."""

    def __init__(self, kind: ViolationKind, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


def _malformed(detail: str) -> _Refused:
    return _Refused(ViolationKind.MALFORMED, detail)


def _object(message: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = message.get(key)
    if not isinstance(value, dict):
        raise _malformed(f"{key!r} must be an object")
    return value


def _string(message: Mapping[str, Any], key: str) -> str:
    value = message.get(key)
    if not isinstance(value, str) or not value:
        raise _malformed(f"{key!r} must be a non-empty string")
    return value


def _count(message: Mapping[str, Any], key: str) -> int:
    """A non-negative number sent as a digit string (Twilio) or a JSON integer (compatible carriers)."""
    value = message.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**_MAX_COUNT_DIGITS:
        return value
    if isinstance(value, str) and 0 < len(value) <= _MAX_COUNT_DIGITS and value.isascii() and value.isdigit():
        return int(value)
    raise _malformed(f"{key!r} must be a non-negative number (a digit string), got {value!r:.40}")


class TwilioMediaStream(CarrierProtocol):
    """The sans-I/O core of one Twilio bidirectional media stream (see the module docstring).

    Args:
        call_sid: the call this stream must belong to (the stream token's). A ``start`` naming another
            call is a *fatal* violation: the stream stops at once and the shell closes the socket (1008).
            None accepts any call (tests, a trusted simulator).
        max_message_chars: inbound messages longer than this are refused unread.

    Raises:
        ConfigurationError: for a cap that is not a positive integer.
    """

    def __init__(
        self, *, call_sid: str | None = None, max_message_chars: int = DEFAULT_MAX_MESSAGE_CHARS
    ) -> None:
        if (
            isinstance(max_message_chars, bool)
            or not isinstance(max_message_chars, int)
            or max_message_chars <= 0
        ):
            raise ConfigurationError(
                f"max_message_chars must be a positive integer, got {max_message_chars!r}"
            )
        self._max_message_chars = max_message_chars
        self._call_sid = call_sid
        self._state = StreamState.AWAITING_CONNECTED
        self._violations: Counter[ViolationKind] = Counter()
        self._stream_sid: str | None = None
        self._media_prefix = ""
        self._mark_prefix = ""
        self._chunker = FrameChunker(FRAME_BYTES_ULAW_8K, SILENCE_ULAW)
        self._generation = 0
        self._sent_ms = 0
        self._marked_ms = 0  # sent_ms at the last mark
        self._played_ms = 0

    # -- state -------------------------------------------------------------------------------------------

    @property
    def state(self) -> StreamState:
        """The stream's current state."""
        return self._state

    @property
    def violations(self) -> Mapping[ViolationKind, int]:
        """How many inbound messages were refused, by kind (a read-only copy)."""
        return dict(self._violations)

    @property
    def stream_sid(self) -> str | None:
        """The ``streamSid`` from ``start``; None before it."""
        return self._stream_sid

    @property
    def generation(self) -> int:
        """The current clear-generation: 0 at the start, one more after each :meth:`clear`."""
        return self._generation

    @property
    def sent_ms(self) -> int:
        """Milliseconds of agent audio rendered as ``media`` messages (all generations)."""
        return self._sent_ms

    @property
    def played_ms(self) -> int:
        """The highest ``position_ms`` of a current (non-stale) mark echo: audio up to there has played."""
        return self._played_ms

    @property
    def pending_bytes(self) -> int:
        """Audio bytes waiting for the rest of their 20 ms frame (less than 160)."""
        return self._chunker.pending

    # -- inbound -----------------------------------------------------------------------------------------

    def receive_text(self, text: str) -> list[InboundEvent]:
        """Parse one text frame from Twilio.

        Returns:
            ``[]`` for ``connected``; one event otherwise, or two for a ``start`` that skipped
            ``connected`` (the violation, then :class:`CallStarted`). Never raises.
        """
        try:
            return self._receive(text)
        except _Refused as refused:
            return [self._violation(refused.kind, refused.detail)]

    def receive_binary(self, data: bytes) -> list[InboundEvent]:
        """A binary frame: Twilio sends text only, so this is always a counted violation."""
        return [self._violation(ViolationKind.BINARY_FRAME, f"binary frame of {len(data)} bytes")]

    def _violation(self, kind: ViolationKind, detail: str, *, fatal: bool = False) -> ProtocolViolation:
        self._violations[kind] += 1
        return ProtocolViolation(kind, detail, fatal=fatal)

    def _receive(self, text: str) -> list[InboundEvent]:
        if len(text) > self._max_message_chars:
            raise _Refused(ViolationKind.TOO_LARGE, f"{len(text)} characters (cap {self._max_message_chars})")
        try:
            message = json.loads(text)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
            raise _malformed(f"not JSON: {exc}"[:200]) from None
        if not isinstance(message, dict):
            raise _malformed("not a JSON object")
        event = message.get("event")
        if not isinstance(event, str):
            raise _malformed("'event' must be a string")
        if event not in _EVENTS:
            raise _Refused(ViolationKind.UNKNOWN_EVENT, f"unknown event {event!r:.60}")
        if "sequenceNumber" in message:
            _count(message, "sequenceNumber")
        if self._state is StreamState.STOPPED:
            raise _Refused(ViolationKind.OUT_OF_ORDER, f"{event!r} after 'stop'")
        if event == "connected":
            if self._state is not StreamState.AWAITING_CONNECTED:
                raise _Refused(ViolationKind.OUT_OF_ORDER, "a second 'connected'")
            self._state = StreamState.AWAITING_START
            return []
        if event == "start":
            return self._receive_start(message)
        if self._state is not StreamState.STREAMING:
            raise _Refused(ViolationKind.OUT_OF_ORDER, f"{event!r} before 'start'")
        sid = message.get("streamSid")
        if sid != self._stream_sid:
            raise _Refused(ViolationKind.WRONG_STREAM, f"streamSid {sid!r:.60} is not {self._stream_sid!r}")
        if event == "media":
            return [self._receive_media(_object(message, "media"))]
        if event == "dtmf":
            digit = _object(message, "dtmf").get("digit")
            if not isinstance(digit, str) or digit not in DTMF_DIGITS:
                raise _malformed(f"'dtmf.digit' must be one of 0-9 * # A-D, got {digit!r:.20}")
            return [DigitPressed(digit)]
        if event == "mark":
            return [self._receive_mark(_string(_object(message, "mark"), "name"))]
        self._state = StreamState.STOPPED  # event == "stop"
        return [CallStopped()]

    def _receive_start(self, message: Mapping[str, Any]) -> list[InboundEvent]:
        if self._state is StreamState.STREAMING:
            raise _Refused(ViolationKind.OUT_OF_ORDER, "a second 'start'")
        start = _object(message, "start")
        stream_sid = message.get("streamSid", start.get("streamSid"))
        if not isinstance(stream_sid, str) or not stream_sid:
            raise _malformed("'streamSid' must be a non-empty string")
        if start.get("streamSid", stream_sid) != stream_sid:
            raise _malformed("'streamSid' and 'start.streamSid' differ")
        parameters = start.get("customParameters", {})
        if not isinstance(parameters, dict) or not all(isinstance(v, str) for v in parameters.values()):
            raise _malformed("'start.customParameters' must map names to strings")
        tracks = start.get("tracks", ["inbound"])
        if not isinstance(tracks, list) or not all(isinstance(t, str) for t in tracks):
            raise _malformed("'start.tracks' must be a list of strings")
        started = CallStarted(
            call_sid=_string(start, "callSid"),
            stream_sid=stream_sid,
            account_sid=_string(start, "accountSid"),
            custom_parameters=dict(parameters),
            media_format=self._media_format(start),
            tracks=tuple(tracks),
        )
        if self._call_sid is not None and started.call_sid != self._call_sid:
            self._state = StreamState.STOPPED
            detail = (
                f"'start' names call {started.call_sid!r:.60}; the stream token grants {self._call_sid!r}"
            )
            return [self._violation(ViolationKind.WRONG_CALL, detail, fatal=True)]
        events: list[InboundEvent] = []
        if self._state is StreamState.AWAITING_CONNECTED:
            events.append(self._violation(ViolationKind.OUT_OF_ORDER, "'start' before 'connected'"))
        self._state = StreamState.STREAMING
        self._stream_sid = stream_sid
        self._media_prefix = (
            '{"event":"media","streamSid":' + json.dumps(stream_sid) + ',"media":{"payload":"'
        )
        # A mark's name is ours (g<int>:<int>): nothing in it needs escaping.
        self._mark_prefix = '{"event":"mark","streamSid":' + json.dumps(stream_sid) + ',"mark":{"name":"'
        events.append(started)
        return events

    @staticmethod
    def _media_format(start: Mapping[str, Any]) -> MediaFormat:
        if "mediaFormat" not in start:
            return MediaFormat()
        fmt = _object(start, "mediaFormat")
        return MediaFormat(
            encoding=_string(fmt, "encoding"),
            sample_rate=_count(fmt, "sampleRate"),
            channels=_count(fmt, "channels"),
        )

    def _receive_media(self, media: Mapping[str, Any]) -> AudioReceived:
        track = media.get("track", "inbound")
        if track != "inbound":
            raise _malformed(f"'media.track' must be 'inbound', got {track!r:.40}")
        payload = media.get("payload")
        if not isinstance(payload, str):
            raise _malformed("'media.payload' must be a base64 string")
        try:
            audio = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise _malformed("'media.payload' is not valid base64") from None
        return AudioReceived(audio, _count(media, "timestamp"), _count(media, "chunk"))

    def _receive_mark(self, name: str) -> MarkPlayed:
        parsed = parse_mark_name(name)
        if parsed is None:
            raise _Refused(ViolationKind.UNKNOWN_MARK, f"mark {name!r:.60} is not one of ours")
        generation, position = parsed
        if generation < self._generation:
            return MarkPlayed(name, generation, position, stale=True)
        if generation > self._generation or not self._played_ms <= position <= self._sent_ms:
            raise _Refused(
                ViolationKind.UNKNOWN_MARK,
                f"mark {name!r} does not fit generation {self._generation}, "
                f"played {self._played_ms} ms, sent {self._sent_ms} ms",
            )
        self._played_ms = position
        return MarkPlayed(name, generation, position)

    # -- outbound ----------------------------------------------------------------------------------------

    def _check_can_send(self) -> bool:
        if self._state is StreamState.STOPPED:
            return False
        if self._state is not StreamState.STREAMING:
            raise LocalProtocolError(f"cannot send in state {self._state.name}: wait for 'start'")
        return True

    def _media(self, frames: list[bytes], per_message: int = 1) -> list[str]:
        self._sent_ms += FRAME_MS * len(frames)
        prefix = self._media_prefix
        if per_message > 1 and len(frames) > 1:
            frames = [b"".join(frames[i : i + per_message]) for i in range(0, len(frames), per_message)]
        return [prefix + base64.b64encode(frame).decode("ascii") + '"}}' for frame in frames]

    def send_audio(self, audio: bytes, *, frames_per_message: int = 1) -> list[str]:
        """Render 8 kHz μ-law agent audio as ``media`` messages of whole 160-byte (20 ms) frames.

        A remainder shorter than a frame waits for the next call or for :meth:`flush`. Twilio sets no
        size for outbound media; a whole number of frames per message keeps every carrier's player
        fed evenly (Tata Smartflo requires multiples of 160 bytes).

        Args:
            audio: μ-law bytes, any length.
            frames_per_message: put up to this many frames in one message (fewer messages, fewer
                wake-ups on both sides); 1 sends one message per 20 ms frame.

        Returns:
            Zero or more ``media`` messages, in order; ``[]`` once the stream stopped.

        Raises:
            LocalProtocolError: before ``start`` (there is no ``streamSid`` to send to yet).
            ValueError: ``frames_per_message`` is below 1.
        """
        if frames_per_message < 1:
            raise ValueError(f"frames_per_message must be at least 1, not {frames_per_message!r}")
        if not self._check_can_send():
            return []
        return self._media(self._chunker.push(audio), frames_per_message)

    def flush(self) -> list[str]:
        """Render the waiting remainder as one last 160-byte frame padded with μ-law silence (``0xFF``).

        Returns:
            ``[]`` or one ``media`` message; ``[]`` once the stream stopped.

        Raises:
            LocalProtocolError: before ``start``.
        """
        if not self._check_can_send():
            return []
        return self._media(self._chunker.flush())

    def send_mark(self) -> list[str]:
        """Render a ``mark`` named ``g{generation}:{sent_ms}`` (see :func:`mark_name`).

        Returns:
            ``[]`` when no audio went out since the last mark (its echo would say nothing new) or once the
            stream stopped; otherwise one ``mark`` message.

        Raises:
            LocalProtocolError: before ``start``.
        """
        if not self._check_can_send() or self._marked_ms == self._sent_ms:
            return []
        self._marked_ms = self._sent_ms
        return [self._mark_prefix + mark_name(self._generation, self._sent_ms) + '"}}']

    def clear(self) -> list[str]:
        """Render ``clear``: Twilio drops all audio queued for the caller and echoes every pending mark.

        Starts a new generation (so those echoes come back ``stale``) and drops the waiting remainder.

        Returns:
            One ``clear`` message; ``[]`` once the stream stopped.

        Raises:
            LocalProtocolError: before ``start``.
        """
        if not self._check_can_send():
            return []
        self._chunker.reset()
        self._generation += 1
        return [json.dumps({"event": "clear", "streamSid": self._stream_sid}, separators=(",", ":"))]
