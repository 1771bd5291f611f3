"""The carrier interface: one small ABC every media-stream protocol core implements.

A carrier core is sans-I/O: the shell hands it each WebSocket frame that arrived (``receive_text``,
``receive_binary``) and gets :mod:`carrier-neutral events <rtvoice_gateway.carrier.events>` back; it asks
the core to render outbound audio, marks and clears, and gets the frames to write, in order. The core
never touches a socket or a clock.

Outbound frames are ``str`` (a text frame) or ``bytes`` (a binary frame). Twilio and its clones only use
text; a Vonage core would return ``bytes`` for audio. The shell writes each with the matching send call.

The audio timeline: every core counts the milliseconds of agent audio it has rendered (``sent_ms``) and,
from the carrier's playback reports (Twilio's mark echoes), the milliseconds known to have played
(``played_ms``). Both are positions on one monotonic timeline for the whole stream; audio dropped by a
``clear`` leaves a gap in it that was never heard.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence

from rtvoice_gateway.carrier.events import InboundEvent, ViolationKind

__all__ = ["CarrierProtocol", "OutboundFrame", "StreamState"]

OutboundFrame = str | bytes
"""One WebSocket frame to send: text (``str``) or binary (``bytes``)."""


class StreamState(enum.Enum):
    """Where a media stream is in its life (h11-style: one state per side, transitions in the core)."""

    AWAITING_CONNECTED = "awaiting_connected"
    """The socket is open; the carrier has not said hello yet."""
    AWAITING_START = "awaiting_start"
    """The carrier said hello; the stream's identity (``start``) has not arrived."""
    STREAMING = "streaming"
    """Audio flows both ways."""
    STOPPED = "stopped"
    """The carrier ended the stream; nothing more is accepted or sent."""


class CarrierProtocol(ABC):
    """A media-stream protocol core: wire frames in, carrier-neutral events out; audio, marks, clears out.

    Failure contract: ``receive_*`` never raise (bad input becomes a
    :class:`~rtvoice_gateway.carrier.events.ProtocolViolation`; a ``fatal`` one means the stream stopped
    and the shell must close the socket). The ``send_*`` methods raise
    :class:`~rtvoice.exceptions.LocalProtocolError` only when called before the stream started.
    """

    @property
    @abstractmethod
    def state(self) -> StreamState:
        """The stream's current state."""

    @property
    @abstractmethod
    def violations(self) -> Mapping[ViolationKind, int]:
        """How many inbound messages were refused, by kind (kinds never seen are absent)."""

    @property
    @abstractmethod
    def generation(self) -> int:
        """The current clear-generation: 0 at the start, one more after each :meth:`clear`."""

    @property
    @abstractmethod
    def sent_ms(self) -> int:
        """Milliseconds of agent audio rendered for sending on this stream (all generations)."""

    @property
    @abstractmethod
    def played_ms(self) -> int:
        """The furthest position on the audio timeline the carrier has confirmed as played."""

    @abstractmethod
    def receive_text(self, text: str) -> list[InboundEvent]:
        """Parse one text frame from the carrier into events (usually one; none for a greeting)."""

    @abstractmethod
    def receive_binary(self, data: bytes) -> list[InboundEvent]:
        """Handle one binary frame from the carrier."""

    @abstractmethod
    def send_audio(self, audio: bytes) -> Sequence[OutboundFrame]:
        """Render agent audio (in the stream's format) as whole 20 ms frames; a remainder waits."""

    @abstractmethod
    def flush(self) -> Sequence[OutboundFrame]:
        """Render the waiting remainder as one last frame padded with silence (end of a reply)."""

    @abstractmethod
    def send_mark(self) -> Sequence[OutboundFrame]:
        """Render a playback mark at the current ``sent_ms`` (nothing if no audio went out since the last)."""

    @abstractmethod
    def clear(self) -> Sequence[OutboundFrame]:
        """Render a request to drop every queued frame at the carrier, and start a new generation."""
