"""Carrier media-stream protocols: sans-I/O cores behind one interface, and outbound pacing.

* :mod:`~rtvoice_gateway.carrier.events`: the carrier-neutral inbound events.
* :mod:`~rtvoice_gateway.carrier.base`: :class:`CarrierProtocol`, the interface, and :class:`StreamState`.
* :mod:`~rtvoice_gateway.carrier.twilio`: :class:`TwilioMediaStream` (also SignalWire, see ``docs/carriers.md``).
* :mod:`~rtvoice_gateway.carrier.pacing`: :class:`OutboundPacer`, the bounded lead of queued audio.
"""

from rtvoice_gateway.carrier.base import CarrierProtocol, OutboundFrame, StreamState
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
from rtvoice_gateway.carrier.pacing import (
    DEFAULT_LEAD_MS,
    DEFAULT_RELEASE_MS,
    MAX_LEAD_MS,
    MIN_LEAD_MS,
    Cleared,
    OutboundPacer,
    Release,
)
from rtvoice_gateway.carrier.twilio import (
    DEFAULT_MAX_MESSAGE_CHARS,
    TwilioMediaStream,
    mark_name,
    parse_mark_name,
)

__all__ = [
    "DEFAULT_LEAD_MS",
    "DEFAULT_MAX_MESSAGE_CHARS",
    "DEFAULT_RELEASE_MS",
    "MAX_LEAD_MS",
    "MIN_LEAD_MS",
    "AudioReceived",
    "CallStarted",
    "CallStopped",
    "CarrierProtocol",
    "Cleared",
    "DigitPressed",
    "InboundEvent",
    "MarkPlayed",
    "MediaFormat",
    "OutboundFrame",
    "OutboundPacer",
    "ProtocolViolation",
    "Release",
    "StreamState",
    "TwilioMediaStream",
    "ViolationKind",
    "mark_name",
    "parse_mark_name",
]
