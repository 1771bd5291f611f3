"""Test doubles for the carrier's side: a simulated phone call (Twilio's media-stream client) and a fake
of the carrier's REST API. Used by ``rtvoice-gateway dial``, the tests and the load tests."""

from rtvoice_gateway.testing.carrier import MarkEcho, SimulatedCall, TwiML, parse_twiml, twilio_signature
from rtvoice_gateway.testing.carrier_api import CallUpdate, FakeCarrierAPI

__all__ = [
    "CallUpdate",
    "FakeCarrierAPI",
    "MarkEcho",
    "SimulatedCall",
    "TwiML",
    "parse_twiml",
    "twilio_signature",
]
