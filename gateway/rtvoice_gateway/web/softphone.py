"""The browser softphone: the page plays the carrier's part of a call to one of the configured numbers.

``GET /phone``
    The page (or the login form with HTTP 401, as for the dashboard; the same token and cookie).
``GET /phone/numbers``
    The numbers the page may call (JSON).
``POST /phone/call``
    ``{"number": "+1555..."}``: answers a call to that number as the voice webhook does (the number's
    agent is built, its Realtime session pre-warmed, a single-use stream token minted for a fresh
    ``CallSid``) and returns the stream's path, the ``CallSid`` and the ``AccountSid`` for ``start``.
``WS /phone/stream/{token}``
    The call's media stream, in the Twilio media-stream protocol (``connected``, ``start``, ``media``,
    ``mark``, ``dtmf``, ``stop`` in; ``media``, ``mark``, ``clear`` out), held by the same
    :func:`~rtvoice_gateway.call.run_call` as a carrier's. A browser cannot sign the upgrade the way the
    carrier does, so this route takes the dashboard session (and a same-origin page) instead of
    ``X-Twilio-Signature``; the stream token is checked and claimed exactly as on ``/twilio/stream``.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from rtvoice.logcontext import log_context
from rtvoice_gateway.numbers import CallDetails, NumberEntry
from rtvoice_gateway.web.auth import same_origin
from rtvoice_gateway.web.dashboard import PAGE_HEADERS, STATIC, Dashboard

if TYPE_CHECKING:
    from rtvoice_gateway.app import Gateway

__all__ = ["BROWSER_CALLER", "DEFAULT_NUMBER", "Softphone"]

log = logging.getLogger("rtvoice_gateway.web")

#: The caller's "number" on a browser call.
BROWSER_CALLER = "browser"
#: What the page calls when only a default agent is configured.
DEFAULT_NUMBER = "default"
#: The account a browser call's ``start`` names when no carrier account is configured.
NO_ACCOUNT = "AC" + "0" * 32


class Softphone:
    """The softphone's routes (see the module docstring)."""

    def __init__(self, gateway: Gateway, dashboard: Dashboard) -> None:
        self.gateway = gateway
        self.dashboard = dashboard
        self._page = (STATIC / "phone.html").read_text(encoding="utf-8")

    def routes(self) -> list[BaseRoute]:
        """The softphone's routes."""
        return [
            Route("/phone", self.page),
            Route("/phone/numbers", self.numbers),
            Route("/phone/call", self.call, methods=["POST"]),
            WebSocketRoute("/phone/stream/{token}", self.stream),
        ]

    def entries(self) -> dict[str, NumberEntry]:
        """The numbers the page may call and their entries."""
        config = self.gateway.numbers
        found = dict(config.numbers)
        if config.default is not None:
            found[DEFAULT_NUMBER] = config.default
        return found

    async def page(self, request: Request) -> Response:
        if not self.dashboard.auth.allowed(request, time.time()):
            return self.dashboard.login_page("/phone")
        return HTMLResponse(self._page, headers=PAGE_HEADERS)

    async def numbers(self, request: Request) -> Response:
        if not self.dashboard.auth.allowed(request, time.time()):
            return JSONResponse({"error": "log in first"}, status_code=401)
        return JSONResponse(
            [
                {"number": number, "agent": entry.agent.rpartition("/")[2]}
                for number, entry in self.entries().items()
            ]
        )

    async def call(self, request: Request) -> Response:
        gateway = self.gateway
        if not self.dashboard.auth.allowed(request, time.time()):
            return JSONResponse({"error": "log in first"}, status_code=401)
        if "origin" in request.headers and not same_origin(request):
            gateway.refuse("softphone call from another origin")
            return JSONResponse({"error": "cross-origin request"}, status_code=403)
        try:
            number = json.loads(await request.body()).get("number")
        except (ValueError, AttributeError):
            number = None
        entry = self.entries().get(number) if isinstance(number, str) else None
        if entry is None or not isinstance(number, str):
            return JSONResponse({"error": "pick one of the configured numbers"}, status_code=400)
        if gateway.draining:
            gateway.refuse("draining")
            return JSONResponse({"error": "draining: this gateway is shutting down"}, status_code=503)
        call_sid = "WB" + secrets.token_hex(16)
        account_sid = gateway.settings.twilio_account_sid or NO_ACCOUNT
        details = CallDetails(
            call_sid=call_sid, from_number=BROWSER_CALLER, to_number=number, account_sid=account_sid
        )
        with log_context(call_sid=call_sid):
            try:
                agent = gateway.build_call_agent(gateway.factories[entry.agent], entry, details)
            except Exception:
                log.exception("building the agent for %s failed", number)
                return JSONResponse({"error": "the number's agent could not be built"}, status_code=500)
            token = gateway.open_call(details, entry, agent, time.monotonic())
            log.info("browser call to %s with agent %s", number, entry.agent)
        return JSONResponse(
            {"path": f"/phone/stream/{token}", "call_sid": call_sid, "account_sid": account_sid},
            headers={"Cache-Control": "no-store"},
        )

    async def stream(self, ws: WebSocket) -> None:
        gateway = self.gateway
        if not (self.dashboard.auth.allowed(ws, time.time()) and same_origin(ws)):
            gateway.refuse("softphone stream without a session")
            await ws.close(1008)
            return
        pending = await gateway.claim_stream(ws, ws.path_params["token"])
        if pending is not None:
            # As /twilio/stream holds a carrier's call, except that there is no carrier call to redirect
            # (transfers are refused) and a browser plays in real time.
            await gateway.hold(ws, pending, rest=None, clock_speed=1.0)
