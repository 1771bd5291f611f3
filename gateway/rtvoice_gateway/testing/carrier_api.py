"""A fake of the carrier's REST API (Twilio's ``Calls`` resource), on loopback, that records every request.

What the gateway does to a live call through REST: hang up (``Status=completed``) and transfer (new
``Twiml`` with ``<Dial>``). Both end the media stream, as on Twilio: a call registered with
:meth:`FakeCarrierAPI.register` is ended (``stop``, then close) when such a request arrives. Requests must
carry HTTP Basic auth with the account SID and auth token; others get Twilio's 401 body. An unknown call
gets 404 with code 20404 (Twilio's "already ended"), so the gateway's tolerance of it can be tested.

Outbound calls (``POST .../Calls.json``, Twilio's ``Calls.create``): the parameters are checked as Twilio
does (no ``To`` → 400 code 21201, no ``From`` → 21213, no ``Url``/``Twiml``/``ApplicationSid`` or a bad
``Url`` → 21205, a ``To`` that is not a phone number → 21211, all in Twilio's error JSON); a good request
gets 201 with the new call (``sid``, ``status: queued``) and the fake then plays the call out, as a task
it owns (:class:`PlacedCall`):

1. status callbacks (signed form POSTs to ``StatusCallback`` for each ``StatusCallbackEvent``; only
   ``completed`` when none is named): ``initiated``, ``ringing``; then, by :attr:`FakeCarrierAPI.outcome`,
   either a final ``busy``/``no-answer``/``failed`` or ``answered`` (``CallStatus=in-progress``);
2. the callee answers: the TwiML comes from ``Url`` (a signed POST with ``Direction=outbound-api``; with
   synchronous detection it carries ``AnsweredBy``) or from ``Twiml``; a ``<Connect><Stream>`` is opened
   by a :class:`SimulatedCall` playing the callee (``placed.callee``; the test makes it speak);
3. with ``MachineDetection`` and ``AsyncAmd=true``: once the callee's clock reaches ``amd_after_ms``, the
   verdict (:attr:`FakeCarrierAPI.answered_by`) is POSTed, signed, to ``AsyncAmdStatusCallback``;
4. when the callee's side ends (it hangs up, or a REST hang-up ends the stream): ``completed`` with
   ``CallDuration`` (and ``AnsweredBy`` when detection ran).

Callback URLs name the gateway's public origin; :attr:`FakeCarrierAPI.gateway_url` says where that is on
loopback (signatures are computed over the URL as given, as Twilio does).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email.utils
import re
import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import httpx2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from rtvoice.testing.embedded_server import EmbeddedServer
from rtvoice_gateway.testing.carrier import SimulatedCall, TwiML, parse_twiml, twilio_signature

__all__ = ["CallUpdate", "Callback", "FakeCarrierAPI", "PlacedCall"]

_PHONE = re.compile(r"^\+?[0-9][0-9 ().-]{5,20}$|^(client|sip):.+")
_EVENTS = ("initiated", "ringing", "answered", "completed")


def _twilio_error(code: int, message: str, status: int = 400) -> JSONResponse:
    return JSONResponse(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status_code=status,
    )


@dataclass(frozen=True)
class Callback:
    """One request the fake carrier made to the gateway for a placed call."""

    kind: str
    """``status`` (a status callback), ``answer`` (the ``Url`` fetch) or ``amd`` (the async verdict)."""
    url: str
    form: dict[str, str]
    status_code: int


@dataclass
class PlacedCall:
    """An outbound call the gateway placed through ``Calls.create``, as the fake plays it out."""

    sid: str
    form: list[tuple[str, str]]
    callbacks: list[Callback] = field(default_factory=list)
    twiml: TwiML | None = None
    callee: SimulatedCall | None = None
    """The callee's side of the media stream, once it is open."""
    error: str | None = None
    """What went wrong (the TwiML could not be fetched, the stream was refused, ...)."""
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    def param(self, name: str) -> str | None:
        """The first value of a ``Calls.create`` parameter."""
        return next((value for key, value in self.form if key == name), None)

    def params(self, name: str) -> list[str]:
        """Every value of a parameter (``StatusCallbackEvent`` may repeat or be space-separated)."""
        return [part for key, value in self.form if key == name for part in value.split()]

    @property
    def statuses(self) -> list[str]:
        """The ``CallStatus`` of each status callback sent, in order."""
        return [cb.form["CallStatus"] for cb in self.callbacks if cb.kind == "status"]


@dataclass(frozen=True)
class CallUpdate:
    """One ``POST /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json`` the gateway made."""

    account_sid: str
    call_sid: str
    form: dict[str, str]
    at_call_ms: float | None = None
    """The registered call's clock (:attr:`SimulatedCall.now_ms`) when the request arrived."""

    @property
    def hangup(self) -> bool:
        """``Status=completed`` (or TwiML that hangs up)."""
        return self.form.get("Status") == "completed" or "<Hangup" in self.form.get("Twiml", "")

    @property
    def dialled(self) -> str | None:
        """The number a ``<Dial>`` in the new TwiML transfers to."""
        twiml = self.form.get("Twiml")
        if not twiml:
            return None
        dial = ET.fromstring(twiml).find("Dial")
        if dial is None:
            return None
        number = dial.find("Number")
        return ((number.text if number is not None else dial.text) or "").strip() or None


@dataclass
class FakeCarrierAPI:
    """The fake; ``base_url`` is what the gateway's ``TWILIO_API_BASE`` should be."""

    account_sid: str = "AC" + "0" * 32
    auth_token: str = "test-auth-token"
    updates: list[CallUpdate] = field(default_factory=list)
    refused: int = 0
    # -- outbound calls (Calls.create) --
    gateway_url: str | None = None
    """Where the gateway listens (``http://127.0.0.1:PORT``): callbacks go there, whatever origin their
    URL names. None: to the URL as given."""
    outcome: Literal["answer", "busy", "no-answer", "failed"] = "answer"
    """What the next placed calls do."""
    answered_by: str = "human"
    """The answering-machine verdict, when detection is asked for."""
    amd_after_ms: float = 1000.0
    """The callee's call time at which the asynchronous verdict is sent."""
    callee_speed: float = 1.0
    """How much faster than real time the callee's media stream runs."""
    placed: list[PlacedCall] = field(default_factory=list)
    _calls: dict[str, SimulatedCall] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _server: EmbeddedServer | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.port}"

    def register(self, call: SimulatedCall) -> None:
        """Let REST requests about ``call`` end it as the carrier would."""
        self._calls[call.call_sid] = call

    async def start(self) -> None:
        """Listen on a free loopback port."""
        app = Starlette(
            routes=[
                Route("/2010-04-01/Accounts/{account}/Calls.json", self._create, methods=["POST"]),
                Route("/2010-04-01/Accounts/{account}/Calls/{call}.json", self._update, methods=["POST"]),
            ]
        )
        self._server = EmbeddedServer(app)
        await self._server.start()

    async def aclose(self) -> None:
        """End every placed call still going (the callee hangs up; cut after 2 s), and stop listening."""
        for placed in self.placed:
            if placed.callee is not None:
                placed.callee.hang_up()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2)
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._server is not None:
            await self._server.aclose()
            self._server = None

    async def __aenter__(self) -> FakeCarrierAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _authenticated(self, request: Request) -> bool:
        auth = request.headers.get("authorization", "")
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if auth != expected or request.path_params["account"] != self.account_sid:
            self.refused += 1
            return False
        return True

    async def _update(self, request: Request) -> JSONResponse:
        account = request.path_params["account"]
        call_sid = request.path_params["call"]
        if not self._authenticated(request):
            return _twilio_error(20003, "Authenticate", 401)
        form = {key: str(value) for key, value in (await request.form()).items()}
        call = self._calls.pop(call_sid, None)
        update = CallUpdate(account, call_sid, form, call.now_ms if call is not None else None)
        self.updates.append(update)
        if call is None:
            return JSONResponse(
                {
                    "code": 20404,
                    "message": f"The requested resource {request.url.path} was not found",
                    "status": 404,
                },
                status_code=404,
            )
        if update.hangup or update.dialled is not None:
            call.end_by_carrier()
        else:
            self._calls[call_sid] = call
        body: dict[str, Any] = {
            "sid": call_sid,
            "account_sid": account,
            "status": "completed" if update.hangup else "in-progress",
        }
        return JSONResponse(body)

    # -- outbound calls -------------------------------------------------------------------------------

    async def _create(self, request: Request) -> JSONResponse:
        if not self._authenticated(request):
            return _twilio_error(20003, "Authenticate", 401)
        form = [(key, str(value)) for key, value in (await request.form()).multi_items()]
        given = dict(form)
        to, from_ = given.get("To", ""), given.get("From", "")
        if not to:
            return _twilio_error(21201, "No 'To' number is specified")
        if not from_:
            return _twilio_error(21213, "No 'From' number is specified")
        if not _PHONE.match(to):
            return _twilio_error(21211, f"Invalid 'To' Phone Number: {to}")
        if not any(given.get(name) for name in ("Url", "Twiml", "ApplicationSid")):
            return _twilio_error(21205, "Url parameter is required. Either Url, Twiml or ApplicationSid.")
        url = given.get("Url")
        if url is not None and (urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc):
            return _twilio_error(21205, f"Url is not a valid URL: {url}")
        placed = PlacedCall("CA" + secrets.token_hex(16), form)
        self.placed.append(placed)
        task = asyncio.create_task(self._play_out(placed), name=f"fake-carrier-{placed.sid}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return JSONResponse(
            {
                "sid": placed.sid,
                "account_sid": self.account_sid,
                "to": to,
                "from": from_,
                "status": "queued",
                "direction": "outbound-api",
                "api_version": "2010-04-01",
                "answered_by": None,
                "uri": f"/2010-04-01/Accounts/{self.account_sid}/Calls/{placed.sid}.json",
            },
            status_code=201,
        )

    def _local(self, url: str) -> str:
        if self.gateway_url is None:
            return url
        parts, base = urlsplit(url), urlsplit(self.gateway_url)
        return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))

    async def _post(
        self, client: httpx2.AsyncClient, placed: PlacedCall, kind: str, url: str, form: dict[str, str]
    ) -> httpx2.Response:
        headers = {"X-Twilio-Signature": twilio_signature(self.auth_token, url, form)}
        response = await client.post(self._local(url), data=form, headers=headers)
        placed.callbacks.append(Callback(kind, url, form, response.status_code))
        return response

    def _fields(self, placed: PlacedCall, status: str) -> dict[str, str]:
        return {
            "CallSid": placed.sid,
            "AccountSid": self.account_sid,
            "From": placed.param("From") or "",
            "To": placed.param("To") or "",
            "CallStatus": status,
            "Direction": "outbound-api",
            "ApiVersion": "2010-04-01",
        }

    async def _play_out(self, placed: PlacedCall) -> None:
        events = placed.params("StatusCallbackEvent") or ["completed"]
        status_url = placed.param("StatusCallback")
        detection = placed.param("MachineDetection")
        asynchronous = (placed.param("AsyncAmd") or "").lower() == "true"
        sequence = 0

        async def status(client: httpx2.AsyncClient, event: str, call_status: str, **extra: str) -> None:
            nonlocal sequence
            if status_url is None or event not in events:
                return
            form = self._fields(placed, call_status) | {
                "CallbackSource": "call-progress-events",
                "Timestamp": email.utils.format_datetime(datetime.now(UTC)),
                "SequenceNumber": str(sequence),
                **extra,
            }
            sequence += 1
            with contextlib.suppress(httpx2.HTTPError):
                await self._post(client, placed, "status", status_url, form)

        final = "completed"
        async with httpx2.AsyncClient(timeout=10) as client:
            try:
                await status(client, "initiated", "initiated")
                await status(client, "ringing", "ringing")
                if self.outcome != "answer":
                    final = self.outcome
                else:
                    await status(client, "answered", "in-progress")
                    await self._answer(client, placed, detection, asynchronous=asynchronous)
            except Exception as exc:  # the call fails as on Twilio ("an application error has occurred")
                placed.error = f"{type(exc).__name__}: {exc}"
            except asyncio.CancelledError:  # the fake is closing: no more callbacks
                placed.finished.set()
                raise
            self._calls.pop(placed.sid, None)
            extra = {"AnsweredBy": self.answered_by} if detection and final == "completed" else {}
            if placed.callee is not None:
                extra["CallDuration"] = str(round(placed.callee.now_ms / 1000))
            elif final == "completed":
                extra["CallDuration"] = "0"
            await status(client, "completed", final, **extra)
            placed.finished.set()

    async def _answer(
        self, client: httpx2.AsyncClient, placed: PlacedCall, detection: str | None, *, asynchronous: bool
    ) -> None:
        """The callee picked up: fetch the TwiML, open its stream, send the asynchronous verdict."""
        placed.twiml = await self._twiml(client, placed, None if asynchronous else detection)
        if placed.twiml.stream_url is None:
            return
        callee = SimulatedCall(
            self.gateway_url or _origin(placed.twiml.stream_url),
            to_number=placed.param("To") or "",
            from_number=placed.param("From") or "",
            auth_token=self.auth_token,
            account_sid=self.account_sid,
            speed=self.callee_speed,
        )
        callee.call_sid = placed.sid
        callee.twiml = placed.twiml
        await callee.connect()
        placed.callee = callee
        self.register(callee)
        placed.connected.set()
        async with asyncio.TaskGroup() as tasks:
            runner = tasks.create_task(callee.run())
            if detection and asynchronous:
                while callee.now_ms < self.amd_after_ms and not runner.done():  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
                if not runner.done():
                    await self._verdict(client, placed)

    async def _twiml(self, client: httpx2.AsyncClient, placed: PlacedCall, detection: str | None) -> TwiML:
        inline = placed.param("Twiml")
        url = placed.param("Url")
        if url is None:
            return parse_twiml(inline or "<Response/>")
        form = self._fields(placed, "in-progress")
        if detection:  # synchronous detection: the verdict comes with the TwiML request
            form["AnsweredBy"] = self.answered_by
        response = await self._post(client, placed, "answer", url, form)
        response.raise_for_status()
        return parse_twiml(response.text)

    async def _verdict(self, client: httpx2.AsyncClient, placed: PlacedCall) -> None:
        url = placed.param("AsyncAmdStatusCallback")
        if url is None:
            return  # Twilio: warning 21262, the verdict is only on the Call resource
        form = {
            "CallSid": placed.sid,
            "AccountSid": self.account_sid,
            "AnsweredBy": self.answered_by,
            "MachineDetectionDuration": str(round(self.amd_after_ms)),
        }
        with contextlib.suppress(httpx2.HTTPError):
            await self._post(client, placed, "amd", url, form)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    scheme = "https" if parts.scheme in ("wss", "https") else "http"
    return f"{scheme}://{parts.netloc}"
