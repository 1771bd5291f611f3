"""The carrier simulator behaves like Twilio: checked against a small scripted gateway over loopback."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from rtvoice.testing.embedded_server import EmbeddedServer
from rtvoice_gateway.testing import FakeCarrierAPI, SimulatedCall, parse_twiml, twilio_signature
from support.timing import seconds

TOKEN = "test-token"
TONE = bytes([0x10, 0x90] * 80)  # one 20 ms μ-law frame that is not silence


class ScriptedGateway:
    """Answers the webhook, then runs ``script`` on the media stream; keeps what it received."""

    def __init__(self) -> None:
        self.forms: list[dict[str, str]] = []
        self.headers: list[dict[str, str]] = []
        self.received: list[dict[str, Any]] = []
        self.marks: asyncio.Queue[str] = asyncio.Queue()
        self.script: Any = None
        self.app = Starlette(
            routes=[
                Route("/twilio/voice", self.voice, methods=["POST"]),
                WebSocketRoute("/twilio/stream/{token}", self.stream),
            ]
        )

    async def voice(self, request: Request) -> Response:
        self.forms.append({k: str(v) for k, v in (await request.form()).items()})
        self.headers.append(dict(request.headers))
        twiml = (
            '<?xml version="1.0" encoding="UTF-8"?><Response><Connect>'
            f'<Stream url="wss://voice.example.com/twilio/stream/{TOKEN}">'
            '<Parameter name="CallSid" value="x"/><Parameter name="mood" value="good &amp; calm"/>'
            "</Stream></Connect></Response>"
        )
        return Response(twiml, media_type="application/xml")

    async def stream(self, ws: WebSocket) -> None:
        self.headers.append(dict(ws.headers))
        await ws.accept()
        start: dict[str, Any] = {}
        while not start:
            message = json.loads(await ws.receive_text())
            self.received.append(message)
            if message["event"] == "start":
                start = message
        reader = asyncio.create_task(self._read(ws))
        try:
            await self.script(ws, start["streamSid"])
        finally:
            reader.cancel()

    async def _read(self, ws: WebSocket) -> None:
        while True:
            message = json.loads(await ws.receive_text())
            self.received.append(message)
            if message["event"] == "mark":
                await self.marks.put(message["mark"]["name"])


def media(stream_sid: str, audio: bytes) -> str:
    return json.dumps(
        {"event": "media", "streamSid": stream_sid, "media": {"payload": base64.b64encode(audio).decode()}}
    )


def mark(stream_sid: str, name: str) -> str:
    return json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


@pytest.fixture
async def gateway() -> Any:
    scripted = ScriptedGateway()
    server = EmbeddedServer(scripted.app)
    await server.start()
    scripted.base_url = f"http://127.0.0.1:{server.port}"  # type: ignore[attr-defined]
    yield scripted
    await server.aclose()


async def test_a_call_plays_marks_at_playout_and_clear_flushes_pending_marks(gateway: Any) -> None:
    async def script(ws: WebSocket, sid: str) -> None:
        await ws.send_text(media(sid, TONE * 10))  # 200 ms
        await ws.send_text(mark(sid, "first"))
        await ws.send_text(media(sid, TONE * 50))  # 1 s more
        await ws.send_text(mark(sid, "second"))
        assert await gateway.marks.get() == "first"
        await ws.send_text(json.dumps({"event": "clear", "streamSid": sid}))
        assert await gateway.marks.get() == "second"  # echoed at once by the clear
        await ws.send_text(json.dumps({"event": "media", "streamSid": "MZwrong", "media": {"payload": ""}}))
        await ws.send_bytes(b"\x00")
        await asyncio.sleep(0.1)
        await ws.close()

    gateway.script = script
    call = SimulatedCall(gateway.base_url, auth_token="tok", public_url="https://voice.example.com", speed=5)
    twiml = await call.dial()
    assert twiml.stream_url == f"wss://voice.example.com/twilio/stream/{TOKEN}"
    assert twiml.parameters == {"CallSid": "x", "mood": "good & calm"}
    await call.connect()
    call.say(TONE * 5)
    async with asyncio.timeout(seconds(20)):
        await call.run()

    form = gateway.forms[0]
    assert form["To"] == "+15550100001" and form["CallSid"] == call.call_sid
    assert gateway.headers[0]["x-twilio-signature"] == twilio_signature(
        "tok", "https://voice.example.com/twilio/voice", form
    )
    assert gateway.headers[1]["x-twilio-signature"] == twilio_signature("tok", twiml.stream_url)
    events = [m["event"] for m in gateway.received]
    assert events[:2] == ["connected", "start"]
    start = gateway.received[1]["start"]
    assert start["customParameters"] == {"CallSid": "x", "mood": "good & calm"}
    media_in = [m for m in gateway.received if m["event"] == "media"]
    assert [m["media"]["chunk"] for m in media_in[:3]] == ["1", "2", "3"]  # numbers as strings
    assert base64.b64decode(media_in[0]["media"]["payload"]) == TONE  # what the caller said first

    first, second = call.marks
    assert (first.name, first.cleared) == ("first", False)
    assert first.at_ms >= 200  # after its audio played
    assert (second.name, second.cleared) == ("second", True)
    assert len(call.clears) == 1
    heard = bytes(call.heard)
    began = heard.index(TONE)
    assert began % 160 == 0 and heard[began : began + 1600] == TONE * 10  # one message: whole frames, no gap
    frames = [heard[i : i + 160] for i in range(0, len(heard), 160)]
    assert 10 <= frames.count(TONE) < 20  # the first mark played, the clear (sent at its echo) cut the rest
    assert TONE not in heard[int(call.clears[0] * 8) + 160 :]  # nothing after the clear (one tick of slack)
    assert call.violations == {"wrong streamSid": 1, "binary frame": 1}
    assert call.closed_by == "gateway"
    assert len(call.said) == len(call.heard)
    assert call.extensions == ("permessage-deflate",)  # offered, and a default uvicorn accepts it


async def test_hang_up_sends_stop_and_the_rest_api_ends_registered_calls(gateway: Any) -> None:
    stopped = asyncio.Event()

    async def script(ws: WebSocket, sid: str) -> None:
        while not [m for m in gateway.received if m["event"] == "stop"]:  # noqa: ASYNC110 - the reader's list
            await asyncio.sleep(0.01)
        stopped.set()

    gateway.script = script
    async with FakeCarrierAPI() as api:
        call = SimulatedCall(gateway.base_url, speed=5)
        await call.dial()
        await call.connect()
        api.register(call)
        import httpx2

        async with httpx2.AsyncClient() as client:
            url = f"{api.base_url}/2010-04-01/Accounts/{api.account_sid}/Calls/{call.call_sid}.json"
            refused = await client.post(url, data={"Status": "completed"}, auth=("AC-wrong", "x"))
            transfer = await client.post(
                url,
                data={"Twiml": "<Response><Dial>+15550100099</Dial></Response>"},
                auth=(api.account_sid, api.auth_token),
            )
            again = await client.post(
                url, data={"Status": "completed"}, auth=(api.account_sid, api.auth_token)
            )
        async with asyncio.timeout(seconds(10)):
            await call.run()
            await stopped.wait()
    assert refused.status_code == 401 and api.refused == 1
    assert transfer.status_code == 200 and api.updates[0].dialled == "+15550100099"
    assert again.status_code == 404 and again.json()["code"] == 20404  # the call is already over
    assert call.closed_by == "carrier"
    stop = [m for m in gateway.received if m["event"] == "stop"][0]
    assert stop["stop"]["callSid"] == call.call_sid


def test_parse_twiml_reads_say_and_hangup() -> None:
    twiml = parse_twiml("<Response><Say>Sorry, nobody answers this number.</Say><Hangup/></Response>")
    assert twiml.stream_url is None and twiml.hangup and twiml.says == ["Sorry, nobody answers this number."]
    with pytest.raises(ValueError, match="Response"):
        parse_twiml("<Other/>")
