"""A fake of the carrier's REST API (Twilio's ``Calls`` resource), on loopback, that records every request.

What the gateway does to a live call through REST: hang up (``Status=completed``) and transfer (new
``Twiml`` with ``<Dial>``). Both end the media stream, as on Twilio: a call registered with
:meth:`FakeCarrierAPI.register` is ended (``stop``, then close) when such a request arrives. Requests must
carry HTTP Basic auth with the account SID and auth token; others get Twilio's 401 body. An unknown call
gets 404 with code 20404 (Twilio's "already ended"), so the gateway's tolerance of it can be tested.
"""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from rtvoice.testing.embedded_server import EmbeddedServer
from rtvoice_gateway.testing.carrier import SimulatedCall

__all__ = ["CallUpdate", "FakeCarrierAPI"]


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
    _calls: dict[str, SimulatedCall] = field(default_factory=dict)
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
            routes=[Route("/2010-04-01/Accounts/{account}/Calls/{call}.json", self._update, methods=["POST"])]
        )
        self._server = EmbeddedServer(app)
        await self._server.start()

    async def aclose(self) -> None:
        """Stop listening."""
        if self._server is not None:
            await self._server.aclose()
            self._server = None

    async def __aenter__(self) -> FakeCarrierAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _update(self, request: Request) -> JSONResponse:
        account = request.path_params["account"]
        call_sid = request.path_params["call"]
        auth = request.headers.get("authorization", "")
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if auth != expected or account != self.account_sid:
            self.refused += 1
            return JSONResponse(
                {
                    "code": 20003,
                    "message": "Authenticate",
                    "more_info": "https://www.twilio.com/docs/errors/20003",
                    "status": 401,
                },
                status_code=401,
            )
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
