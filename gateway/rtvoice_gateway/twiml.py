"""TwiML for the voice webhook, built with :mod:`xml.etree.ElementTree` so every value is escaped.

* :func:`connect_stream` answers a call with a bidirectional media stream:
  ``<Response><Connect><Stream url="wss://…"><Parameter name=… value=…/>…</Stream></Connect></Response>``.
  The stream URL carries per-call data in its path only: Twilio drops a query string (error 31920).
* :func:`apology_and_hangup` answers a call nobody can take: ``<Say>`` then ``<Hangup/>``.

Text that XML 1.0 cannot carry (control characters other than tab, newline and carriage return; lone
surrogates) is refused with :class:`ValueError` rather than silently changed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final
from urllib.parse import urlsplit
from xml.etree import ElementTree

__all__ = ["TWIML_CONTENT_TYPE", "apology_and_hangup", "connect_stream"]

TWIML_CONTENT_TYPE: Final = "application/xml"
"""The ``Content-Type`` of a TwiML response."""

_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value: str, what: str) -> str:
    if _NOT_XML.search(value):
        raise ValueError(f"{what} contains characters XML cannot carry: {value!r:.80}")
    return value


def _render(response: ElementTree.Element) -> str:
    return _DECLARATION + ElementTree.tostring(response, encoding="unicode")


def connect_stream(
    stream_url: str,
    parameters: Mapping[str, str] | None = None,
    *,
    action: str | None = None,
    status_callback: str | None = None,
    allow_plain_ws: bool = False,
) -> str:
    """TwiML that connects the call to a bidirectional media stream.

    Args:
        stream_url: ``wss://host/path`` with no query string and no fragment.
        parameters: ``<Parameter>`` name/value pairs; they arrive as ``start.customParameters``.
        action: where Twilio asks for the next TwiML when our server closes the stream
            (``<Connect action=…>``); without it the call ends then.
        status_callback: where Twilio POSTs ``stream-started``/``stream-stopped``/``stream-error``.
        allow_plain_ws: accept ``ws://`` too (a gateway for local use only, dialled by
            ``rtvoice-gateway dial``; Twilio itself only connects to ``wss://``).

    Returns:
        The TwiML document.

    Raises:
        ValueError: for a stream URL that is not ``wss://`` or has a query or fragment, an empty
            parameter name, or text XML cannot carry.
    """
    parts = urlsplit(_text(stream_url, "the stream URL"))
    schemes = ("wss", "ws") if allow_plain_ws else ("wss",)
    if parts.scheme not in schemes or not parts.netloc or parts.query or parts.fragment or "?" in stream_url:
        raise ValueError(
            f"the stream URL must be wss://host/path with no query or fragment, got {stream_url!r}"
        )
    response = ElementTree.Element("Response")
    connect = ElementTree.SubElement(response, "Connect")
    if action is not None:
        connect.set("action", _text(action, "the action URL"))
    stream = ElementTree.SubElement(connect, "Stream", url=stream_url)
    if status_callback is not None:
        stream.set("statusCallback", _text(status_callback, "the status callback URL"))
    for name, value in (parameters or {}).items():
        if not name:
            raise ValueError("a <Parameter> needs a name")
        ElementTree.SubElement(
            stream, "Parameter", name=_text(name, "a parameter name"), value=_text(value, "a parameter value")
        )
    return _render(response)


def apology_and_hangup(message: str, *, voice: str | None = None, language: str | None = None) -> str:
    """TwiML that says ``message`` and hangs up (a number with no agent, a gateway that is draining).

    Args:
        message: what to say.
        voice: a ``<Say voice=…>`` (e.g. ``Polly.Joanna``); Twilio's default if None.
        language: a ``<Say language=…>`` (e.g. ``en-US``); Twilio's default if None.

    Returns:
        The TwiML document.

    Raises:
        ValueError: for text XML cannot carry.
    """
    response = ElementTree.Element("Response")
    say = ElementTree.SubElement(response, "Say")
    if voice is not None:
        say.set("voice", _text(voice, "the voice"))
    if language is not None:
        say.set("language", _text(language, "the language"))
    say.text = _text(message, "the message")
    ElementTree.SubElement(response, "Hangup")
    return _render(response)
