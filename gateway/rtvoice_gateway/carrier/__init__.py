"""Carrier media-stream protocols: sans-I/O cores behind one interface.

* :mod:`~rtvoice_gateway.carrier.events`: the carrier-neutral inbound events.
* :mod:`~rtvoice_gateway.carrier.base`: :class:`CarrierProtocol`, the interface, and :class:`StreamState`.
* :mod:`~rtvoice_gateway.carrier.twilio`: :class:`TwilioMediaStream` (also SignalWire, see ``docs/carriers.md``).
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
from rtvoice_gateway.carrier.twilio import (
    DEFAULT_MAX_MESSAGE_CHARS,
    TwilioMediaStream,
    mark_name,
    parse_mark_name,
)

__all__ = [
    "DEFAULT_MAX_MESSAGE_CHARS",
    "AudioReceived",
    "CallStarted",
    "CallStopped",
    "CarrierProtocol",
    "DigitPressed",
    "InboundEvent",
    "MarkPlayed",
    "MediaFormat",
    "OutboundFrame",
    "ProtocolViolation",
    "StreamState",
    "TwilioMediaStream",
    "ViolationKind",
    "mark_name",
    "parse_mark_name",
]
