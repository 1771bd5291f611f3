"""TwiML: the documents twilio's own VoiceResponse builds, with every value escaped."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twilio.twiml.voice_response import VoiceResponse

from rtvoice_gateway.twiml import TWIML_CONTENT_TYPE, apology_and_hangup, connect_stream

STREAM_URL = "wss://voice.example.com/twilio/stream/abc.def"


def tree(document: str) -> object:
    """An element tree as nested tuples (tag, attributes, text, children), for comparing documents."""

    def walk(element: ElementTree.Element) -> object:
        return (element.tag, element.attrib, (element.text or "").strip(), [walk(child) for child in element])

    return walk(ElementTree.fromstring(document))


def test_connect_stream_is_what_twilio_builds() -> None:
    params = {"CallSid": "CA1", "From": "+15550100", "To": "+15550199"}
    document = connect_stream(
        STREAM_URL,
        params,
        action="https://voice.example.com/twilio/after",
        status_callback="https://voice.example.com/twilio/status",
    )
    expected = VoiceResponse()
    connect = expected.connect(action="https://voice.example.com/twilio/after")
    stream = connect.stream(url=STREAM_URL, status_callback="https://voice.example.com/twilio/status")
    for name, value in params.items():
        stream.parameter(name=name, value=value)
    assert tree(document) == tree(str(expected))
    assert document.startswith('<?xml version="1.0" encoding="UTF-8"?><Response><Connect action=')
    assert TWIML_CONTENT_TYPE == "application/xml"


def test_connect_stream_without_options() -> None:
    assert connect_stream(STREAM_URL) == (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<Response><Connect><Stream url="{STREAM_URL}" /></Connect></Response>'
    )


def test_apology_and_hangup_is_what_twilio_builds() -> None:
    expected = VoiceResponse()
    expected.say(
        'Sorry, nobody can take your call. <Goodbye> & "bye"', voice="Polly.Joanna", language="en-US"
    )
    expected.hangup()
    document = apology_and_hangup(
        'Sorry, nobody can take your call. <Goodbye> & "bye"', voice="Polly.Joanna", language="en-US"
    )
    assert tree(document) == tree(str(expected))
    assert "&lt;Goodbye&gt; &amp;" in document
    assert tree(apology_and_hangup("Sorry.")) == (
        "Response",
        {},
        "",
        [("Say", {}, "Sorry.", []), ("Hangup", {}, "", [])],
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://voice.example.com/s",
        "ws://voice.example.com/s",
        "wss://voice.example.com/s?token=1",
        "wss://voice.example.com/s?",
        "wss://voice.example.com/s#f",
        "wss:///s",
        "voice.example.com/s",
    ],
)
def test_the_stream_url_is_wss_without_a_query(url: str) -> None:
    with pytest.raises(ValueError, match="wss://"):
        connect_stream(url)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: connect_stream(STREAM_URL, {"": "x"}), "name"),
        (lambda: connect_stream(STREAM_URL, {"a": "\x00"}), "parameter value"),
        (lambda: connect_stream(STREAM_URL, {"\x1b": "x"}), "parameter name"),
        (lambda: connect_stream(STREAM_URL + "\x07"), "stream URL"),
        (lambda: connect_stream(STREAM_URL, action="https://x/\ufffe"), "action"),
        (lambda: connect_stream(STREAM_URL, status_callback="\udc80"), "status callback"),
        (lambda: apology_and_hangup("bye\x0c"), "message"),
        (lambda: apology_and_hangup("bye", voice="\x01"), "voice"),
        (lambda: apology_and_hangup("bye", language="\x02"), "language"),
    ],
)
def test_text_xml_cannot_carry_is_refused(call: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()  # type: ignore[operator]


xml_text = st.text(
    st.characters(codec="utf-8", exclude_characters="\ufffe\uffff", min_codepoint=0x20)
    | st.sampled_from("\t\n\r"),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(xml_text.filter(bool), xml_text, max_size=5), xml_text)
def test_any_text_round_trips(params: dict[str, str], message: str) -> None:
    stream = ElementTree.fromstring(connect_stream(STREAM_URL, params)).find("Connect/Stream")
    assert stream is not None
    assert {p.get("name"): p.get("value") for p in stream.iter("Parameter")} == params
    say = ElementTree.fromstring(apology_and_hangup(message)).find("Say")
    assert say is not None
    # XML parsers normalise line ends in text (XML 1.0, section 2.11); speech does not care.
    assert (say.text or "") == message.replace("\r\n", "\n").replace("\r", "\n")


def test_plain_ws_only_when_allowed_for_local_use() -> None:
    import pytest

    from rtvoice_gateway.twiml import connect_stream

    with pytest.raises(ValueError, match="wss://"):
        connect_stream("ws://127.0.0.1:8080/twilio/stream/t")
    assert 'url="ws://127.0.0.1:8080/twilio/stream/t"' in connect_stream(
        "ws://127.0.0.1:8080/twilio/stream/t", allow_plain_ws=True
    )
