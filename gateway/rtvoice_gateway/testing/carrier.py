"""A carrier simulator: Twilio's part of a phone call, over loopback, for ``dial``, tests and load tests.

It is written from Twilio's documented behaviour, independently of the gateway's own protocol core, so
that the two check each other. One :class:`SimulatedCall`:

1. POSTs the voice webhook (``CallSid``, ``AccountSid``, ``From``, ``To``, ...) as a form, signed with
   ``X-Twilio-Signature`` when an auth token is given, and reads the TwiML;
2. for ``<Connect><Stream url>``: opens the WebSocket (the upgrade signed over the ``wss://`` URL with no
   parameters), sends ``connected`` and ``start`` (with the ``<Parameter>`` values as
   ``customParameters``), then one 160-byte μ-law ``media`` frame every 20 ms (numbers as strings);
3. plays the agent's audio like Twilio does: it queues what arrives and plays 20 ms per tick, echoes a
   ``mark`` once the audio queued before it has played, and on ``clear`` drops the queue and echoes every
   pending mark at once;
4. ends with ``stop`` (:meth:`SimulatedCall.hang_up`), or drops the socket without one, or is ended by
   the carrier (:meth:`SimulatedCall.end_by_carrier`, what a REST hang-up or transfer does).

Everything heard and said is kept on the call's clock (one μ-law byte per 1/8000 s): ``heard`` and
``said`` line up sample for sample, so a test can read what the caller heard at any moment. Messages
from the gateway that Twilio would reject (binary frames, an unknown event, a wrong ``streamSid``, media
that is not whole 20 ms frames) are counted in ``violations``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import secrets
import time
import xml.etree.ElementTree as ET
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import httpx2
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from rtvoice.testing.arrivals import arrival_of
from rtvoice.websocket_send import send_now

__all__ = ["MarkEcho", "SimulatedCall", "TwiML", "parse_twiml", "twilio_signature"]

FRAME_BYTES = 160  # 20 ms of μ-law at 8 kHz
FRAME_MS = 20
SILENCE = b"\xff" * FRAME_BYTES  # μ-law silence


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str] | None = None) -> str:
    """``X-Twilio-Signature``: base64(HMAC-SHA1(token, url + name1 + value1 + ... sorted by name))."""
    fields = params or {}
    data = url + "".join(f"{name}{fields[name]}" for name in sorted(fields))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


@dataclass(frozen=True)
class TwiML:
    """What the webhook answered."""

    stream_url: str | None
    parameters: dict[str, str]
    says: list[str]
    hangup: bool
    raw: str


def parse_twiml(text: str) -> TwiML:
    """Read the verbs the simulator understands (``Connect/Stream/Parameter``, ``Say``, ``Hangup``).

    Raises:
        ValueError: not a TwiML ``<Response>``.
    """
    root = ET.fromstring(text)
    if root.tag != "Response":
        raise ValueError(f"TwiML must be a <Response>, got <{root.tag}>")
    stream = root.find("./Connect/Stream")
    parameters = (
        {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")}
        if stream is not None
        else {}
    )
    return TwiML(
        stream_url=stream.get("url") if stream is not None else None,
        parameters=parameters,
        says=[(say.text or "").strip() for say in root.findall("Say")],
        hangup=root.find("Hangup") is not None,
        raw=text,
    )


@dataclass(frozen=True)
class MarkEcho:
    """A mark the simulator echoed: its name, when (call ms), and whether a ``clear`` flushed it."""

    name: str
    at_ms: float
    cleared: bool


@dataclass
class _Queued:
    audio: bytearray = field(default_factory=bytearray)
    marks: deque[tuple[int, str]] = field(default_factory=deque)  # (position in bytes ever queued, name)
    queued_total: int = 0  # bytes ever queued (less cleared)
    played_total: int = 0


class SimulatedCall:
    """One simulated phone call to the gateway at ``base_url`` (``http://127.0.0.1:PORT``).

    Args:
        base_url: where the gateway listens (plain HTTP on loopback).
        to_number: the dialled number (``To``).
        from_number: the caller (``From``).
        auth_token: sign the webhook and the upgrade with it (None: unsigned, for a local-only gateway).
        public_url: the origin the gateway believes it is reached at (signatures are computed over it);
            default ``base_url``.
        account_sid: ``AccountSid``.
        speed: play the call this many times faster than real time (tests); 1 for a real-time call.
        on_heard: called with each 20 ms μ-law frame the caller hears (agent audio or silence).

    A subclass may set :attr:`connection_class` (for example
    :class:`~rtvoice.testing.arrivals.StampedClientConnection`, then :attr:`arrived_at` is when each
    message came off the socket).
    """

    connection_class: ClassVar[type[ClientConnection]] = ClientConnection

    def __init__(
        self,
        base_url: str,
        *,
        to_number: str = "+15550100001",
        from_number: str = "+15550100123",
        auth_token: str | None = None,
        public_url: str | None = None,
        account_sid: str = "AC" + "0" * 32,
        speed: float = 1.0,
        on_heard: Callable[[bytes], None] | None = None,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be positive, not {speed!r}")
        self.base_url = base_url.rstrip("/")
        self.public_url = (public_url or base_url).rstrip("/")
        self.to_number = to_number
        self.from_number = from_number
        self.auth_token = auth_token
        self.account_sid = account_sid
        self.speed = speed
        self.on_heard = on_heard
        self.call_sid = "CA" + secrets.token_hex(16)
        self.stream_sid = "MZ" + secrets.token_hex(16)
        self.twiml: TwiML | None = None
        self.said = bytearray()  # what the caller sent, one byte per sample
        self.heard = bytearray()  # what the caller heard, aligned with said
        self.marks: list[MarkEcho] = []
        self.clears: list[float] = []  # call ms of each clear received
        self.clears_heard_to: list[float] = []
        """For each clear: the call ms the caller had really heard to, inside the frame in progress (a
        phone plays a frame over 20 ms; ``heard`` holds it whole from its tick)."""
        self._frame_started = 0.0
        self.tick_due = 0.0
        """When the current tick was due (``time.monotonic()``); a late tick runs after it."""
        self.arrived_at = 0.0
        """When the message being handled arrived (see :attr:`connection_class`)."""
        self.digits_sent: list[tuple[str, float]] = []
        self.violations: Counter[str] = Counter()
        self.dialled_at: float | None = None  # monotonic time of the webhook POST
        self.first_audio_at: float | None = None  # monotonic time the first agent media message arrived
        self.closed_by: str | None = None  # "caller", "gateway", "carrier", "drop"
        self.close_code: int | None = None
        self.ended = asyncio.Event()
        self._ws: ClientConnection | None = None
        self._queue = _Queued()
        self._outbox: deque[bytes] = deque()  # caller audio frames waiting for their tick
        self._sequence = 0
        self._chunk = 0
        self._stop_sent = False
        self._end_requested: str | None = None
        self._started_at = 0.0

    # -- the call -------------------------------------------------------------------------------------

    @property
    def now_ms(self) -> float:
        """The call's clock: ms of audio exchanged so far (20 ms per tick)."""
        return len(self.said) / 8

    @property
    def extensions(self) -> tuple[str, ...]:
        """The WebSocket extensions the gateway accepted on the media stream (the simulator offers
        permessage-deflate, as a generic client does); empty before :meth:`connect`."""
        return () if self._ws is None else tuple(ext.name for ext in self._ws.protocol.extensions)

    async def dial(self, **webhook_fields: str) -> TwiML:
        """POST the voice webhook and read its TwiML.

        Raises:
            httpx2.HTTPStatusError: the webhook did not answer 200.
        """
        form = {
            "CallSid": self.call_sid,
            "AccountSid": self.account_sid,
            "From": self.from_number,
            "To": self.to_number,
            "CallStatus": "ringing",
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
            **webhook_fields,
        }
        headers = {}
        if self.auth_token is not None:
            headers["X-Twilio-Signature"] = twilio_signature(
                self.auth_token, f"{self.public_url}/twilio/voice", form
            )
        async with httpx2.AsyncClient(timeout=10) as client:
            self.dialled_at = time.monotonic()
            response = await client.post(f"{self.base_url}/twilio/voice", data=form, headers=headers)
        response.raise_for_status()
        self.twiml = parse_twiml(response.text)
        return self.twiml

    async def connect(self, *, stream_url: str | None = None, signature: str | None = None) -> None:
        """Open the media stream of the TwiML (or ``stream_url``) and send ``connected`` and ``start``.

        The URL's origin is replaced by ``base_url``'s (the TwiML names the public ``wss://`` origin);
        the upgrade is signed over the URL exactly as the TwiML gave it, as Twilio does.
        """
        await self.open_stream(stream_url=stream_url, signature=signature)
        await self.send_start()

    async def open_stream(self, *, stream_url: str | None = None, signature: str | None = None) -> None:
        """:meth:`connect` without ``start``: only ``connected`` is sent (tests of messages before
        ``start``); call :meth:`send_start` later."""
        url = stream_url or (self.twiml.stream_url if self.twiml else None)
        if url is None:
            raise ValueError("no stream URL: the TwiML has no <Connect><Stream>")
        headers = {}
        if self.auth_token is not None or signature is not None:
            headers["X-Twilio-Signature"] = signature or twilio_signature(self.auth_token or "", url)
        self._ws = await connect(
            self._local(url),
            additional_headers=headers,
            max_size=2**20,
            create_connection=self.connection_class,
        )
        await self._send({"event": "connected", "protocol": "Call", "version": "1.0.0"})

    async def send_start(self) -> None:
        """Send ``start`` (:meth:`connect` does; after :meth:`open_stream`, the test does)."""
        parameters = self.twiml.parameters if self.twiml else {}
        await self._send(
            {
                "event": "start",
                "sequenceNumber": self._next_sequence(),
                "streamSid": self.stream_sid,
                "start": {
                    "streamSid": self.stream_sid,
                    "accountSid": self.account_sid,
                    "callSid": self.call_sid,
                    "tracks": ["inbound"],
                    "customParameters": parameters,
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                },
            }
        )
        self._started_at = time.monotonic()

    def say(self, mulaw: bytes) -> None:
        """Queue caller audio (μ-law 8 kHz); it goes out 160 bytes per 20 ms tick, silence in between."""
        for start in range(0, len(mulaw), FRAME_BYTES):
            self._outbox.append(mulaw[start : start + FRAME_BYTES].ljust(FRAME_BYTES, b"\xff"))

    @property
    def saying(self) -> bool:
        """Caller audio is still waiting to be sent."""
        return bool(self._outbox)

    async def press(self, digit: str) -> None:
        """Send a DTMF digit."""
        self.digits_sent.append((digit, self.now_ms))
        await self._send(
            {
                "event": "dtmf",
                "streamSid": self.stream_sid,
                "sequenceNumber": self._next_sequence(),
                "dtmf": {"track": "inbound_track", "digit": digit},
            }
        )

    async def send_raw(self, message: str | bytes) -> None:
        """Send anything on the media stream as is (tests of malformed carrier messages)."""
        assert self._ws is not None, "connect() first"
        await self._ws.send(message)

    async def run(self) -> None:
        """Exchange audio at the call's pace until it ends (hang-up, the gateway closing, the carrier)."""
        ws = self._ws
        assert ws is not None, "connect() first"
        async with asyncio.TaskGroup() as tasks:
            receiver = tasks.create_task(self._receive(ws))
            await self._tick(ws, receiver)
            receiver.cancel()
        # The close code is read from the protocol, not by the receiver: the tick can see the gateway's
        # close first (a send refused once the close frame is parsed) and cancel the receiver before it
        # gets to it. None: no close frame had come (a reset, or the caller ended first).
        rcvd = ws.protocol.close_rcvd
        self.close_code = rcvd.code if rcvd is not None else None
        with contextlib.suppress(Exception):
            await ws.close()
        self.ended.set()

    def hang_up(self) -> None:
        """The caller hangs up: ``stop`` is sent at the next tick and the socket closed."""
        self._end_requested = self._end_requested or "caller"

    def drop(self) -> None:
        """The line drops: the socket closes with no ``stop``."""
        self._end_requested = self._end_requested or "drop"

    def end_by_carrier(self) -> None:
        """The carrier ends the stream (REST hang-up or new TwiML): ``stop``, then close."""
        self._end_requested = self._end_requested or "carrier"

    # -- the wire -------------------------------------------------------------------------------------

    def _local(self, url: str) -> str:
        parts = urlsplit(url)
        base = urlsplit(self.base_url)
        scheme = "ws" if base.scheme == "http" else "wss"
        return urlunsplit((scheme, base.netloc, parts.path, parts.query, ""))

    def _next_sequence(self) -> str:
        self._sequence += 1
        return str(self._sequence)

    async def _send(self, message: dict[str, Any]) -> None:
        assert self._ws is not None
        text = json.dumps(message)
        if not send_now(self._ws, text):  # (50 media frames a second per call: the direct write first)
            await self._ws.send(text)

    def _frame_out(self, frame: bytes) -> bytes:
        """The caller's next 20 ms frame, as it goes on the wire (a subclass may mark or time it)."""
        return frame

    async def _tick(self, ws: ClientConnection, receiver: asyncio.Task[None]) -> None:
        period = FRAME_MS / 1000 / self.speed
        deadline = time.monotonic()
        while True:
            if self._end_requested is not None:
                await self._finish(ws, self._end_requested)
                return
            if receiver.done():
                self.closed_by = self.closed_by or "gateway"
                return
            frame = self._outbox.popleft() if self._outbox else SILENCE
            sent = self._frame_out(frame)
            self._chunk += 1
            try:
                await self._send(
                    {
                        "event": "media",
                        "sequenceNumber": self._next_sequence(),
                        "streamSid": self.stream_sid,
                        "media": {
                            "track": "inbound",
                            "chunk": str(self._chunk),
                            "timestamp": str(int(self.now_ms)),
                            "payload": base64.b64encode(sent).decode(),
                        },
                    }
                )
            except ConnectionClosed:
                self.closed_by = self.closed_by or "gateway"
                return
            self.said += frame
            self.tick_due = deadline
            await self._play_one()
            deadline += period
            await asyncio.sleep(max(0.0, deadline - time.monotonic()))

    async def _finish(self, ws: ClientConnection, how: str) -> None:
        self.closed_by = how
        if how == "drop":
            ws.transport.abort()
            return
        with contextlib.suppress(ConnectionClosed):
            await self._send(
                {
                    "event": "stop",
                    "sequenceNumber": self._next_sequence(),
                    "streamSid": self.stream_sid,
                    "stop": {"accountSid": self.account_sid, "callSid": self.call_sid},
                }
            )
        self._stop_sent = True

    async def _play_one(self) -> None:
        self._frame_started = time.monotonic()
        queue = self._queue
        frame = bytes(queue.audio[:FRAME_BYTES])
        del queue.audio[:FRAME_BYTES]
        queue.played_total += len(frame)
        heard = frame.ljust(FRAME_BYTES, b"\xff")
        self.heard += heard
        if self.on_heard is not None:
            self.on_heard(heard)
        await self._echo_marks(cleared=False)

    async def _echo_marks(self, *, cleared: bool) -> None:
        queue = self._queue
        while queue.marks and (cleared or queue.marks[0][0] <= queue.played_total):
            _, name = queue.marks.popleft()
            self.marks.append(MarkEcho(name, self.now_ms, cleared))
            with contextlib.suppress(ConnectionClosed):
                await self._send(
                    {
                        "event": "mark",
                        "sequenceNumber": self._next_sequence(),
                        "streamSid": self.stream_sid,
                        "mark": {"name": name},
                    }
                )

    async def _receive(self, ws: ClientConnection) -> None:
        try:
            async for message in ws:
                self.arrived_at = arrival_of(ws)
                if isinstance(message, bytes):
                    self.violations["binary frame"] += 1  # Twilio: warning 31950
                    continue
                await self._handle(message)
        except ConnectionClosed:  # (a normal close, 1000 or 1001, ends the iteration without one)
            pass
        if self.closed_by is None and not self._stop_sent:
            self.closed_by = "gateway"

    async def _handle(self, text: str) -> None:
        try:
            message = json.loads(text)
            event = message["event"]
        except (ValueError, KeyError, TypeError):
            self.violations["not a JSON event"] += 1
            return
        if message.get("streamSid") != self.stream_sid:
            self.violations["wrong streamSid"] += 1  # Twilio: error 31951
            return
        queue = self._queue
        if event == "media":
            try:
                audio = base64.b64decode(message["media"]["payload"], validate=True)
            except (KeyError, TypeError, ValueError):
                self.violations["bad media payload"] += 1
                return
            if len(audio) % FRAME_BYTES:
                self.violations["media not whole 20 ms frames"] += 1
            if self.first_audio_at is None and audio.strip(b"\xff\x7f"):
                self.first_audio_at = time.monotonic()
            queue.audio += audio
            queue.queued_total += len(audio)
        elif event == "mark":
            name = (message.get("mark") or {}).get("name")
            if not isinstance(name, str) or not name:
                self.violations["mark without a name"] += 1
                return
            queue.marks.append((queue.queued_total, name))
            if queue.queued_total <= queue.played_total:
                await self._echo_marks(cleared=False)
        elif event == "clear":
            self.clears.append(self.now_ms)
            into_frame_ms = (time.monotonic() - self._frame_started) * 1000 * self.speed
            self.clears_heard_to.append(self.now_ms - FRAME_MS + min(FRAME_MS, into_frame_ms))
            queue.queued_total -= len(queue.audio)
            queue.audio.clear()
            await self._echo_marks(cleared=True)  # Twilio echoes every pending mark at once
        else:
            self.violations[f"unknown event {event!r}"] += 1

    # -- reading what happened ------------------------------------------------------------------------

    def heard_spans(self, *, min_gap_ms: float = 200) -> Iterator[tuple[float, float]]:
        """(start ms, end ms) of each stretch of agent audio the caller heard (silence shorter than
        ``min_gap_ms`` joins two stretches)."""
        start: float | None = None
        last_sound = 0.0
        for index in range(0, len(self.heard), FRAME_BYTES):
            frame = self.heard[index : index + FRAME_BYTES]
            at = index / 8
            if any(b not in (0xFF, 0x7F) for b in frame):
                if start is None:
                    start = at
                last_sound = at + FRAME_MS
            elif start is not None and at - last_sound >= min_gap_ms:
                yield start, last_sound
                start = None
        if start is not None:
            yield start, last_sound
