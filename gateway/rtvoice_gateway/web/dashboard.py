"""The dashboard's HTTP shell: the page, its login, the live updates over a WebSocket, the recordings.

``GET /dashboard``
    The page (or, without a session, the login form with HTTP 401).
``POST /dashboard/login`` / ``POST /dashboard/logout``
    The token in a form field, once; the answer sets (or clears) the session cookie (see :mod:`.auth`).
``WS /dashboard/events``
    The board's updates as JSON text frames: a ``snapshot`` first, then changes (see :mod:`.board`).
``GET /dashboard/recordings/{call_sid}``
    A finished call's recording (WAV), only for calls on the board whose number records.

:class:`Dashboard` is also the gateway's :class:`~rtvoice_gateway.app.CallObserver`: it subscribes to
each call's agent event bus and feeds the :class:`~.board.CallBoard`, whose updates go out through the
:class:`~.hub.Hub` (a bounded queue per browser: a slow one loses updates, never delays a call).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from rtvoice.events import AgentEvent
from rtvoice_gateway.call import CallSummary
from rtvoice_gateway.call_control import DigitPressed
from rtvoice_gateway.web.auth import COOKIE, SESSION_S, DashboardAuth, same_origin
from rtvoice_gateway.web.board import CallBoard
from rtvoice_gateway.web.hub import Hub, Subscriber

if TYPE_CHECKING:
    from rtvoice_gateway.app import Gateway, PendingCall

__all__ = ["PAGE_HEADERS", "STATIC", "Dashboard"]

log = logging.getLogger("rtvoice_gateway.web")

STATIC = Path(__file__).parent / "static"
#: Headers of every page: not cached, not framed (no clickjacking of the softphone), scripts and
#: connections to this origin only.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; connect-src 'self'; media-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
#: Where a login may send the browser next.
LANDING = ("/dashboard", "/phone")


class Dashboard:
    """The board, its subscribers and the routes (see the module docstring)."""

    def __init__(self, gateway: Gateway, token: str) -> None:
        self.gateway = gateway
        self.auth = DashboardAuth(token)
        self.board = CallBoard()
        self.hub = Hub()
        self.recordings: dict[str, Path] = {}
        self._calls: dict[str, PendingCall] = {}
        self._pages = {
            name: (STATIC / f"{name}.html").read_text(encoding="utf-8") for name in ("dashboard", "login")
        }

    # -- the call observer -------------------------------------------------------------------------------

    def call_started(self, pending: PendingCall) -> None:
        """A media stream was accepted: show the call and follow its agent's events."""
        details, call_sid = pending.details, pending.details.call_sid
        agent_name = pending.entry.agent.rpartition("/")[2]
        self.hub.publish(
            self.board.call_started(
                call_sid,
                number=details.to_number,
                from_number=details.from_number,
                agent=agent_name,
                now=time.time(),
            )
        )

        def on_event(event: AgentEvent | DigitPressed) -> None:
            self.hub.publish(self.board.agent_event(call_sid, event, time.time()))

        try:
            pending.agent.event_bus.subscribe(AgentEvent, on_event)
            pending.agent.event_bus.subscribe(DigitPressed, on_event)
        except RuntimeError:  # the agent's bus is already closed: the call is ending
            log.warning("the call's agent has stopped; the dashboard shows no events for it")

    def call_ended(self, pending: PendingCall, summary: CallSummary | None) -> None:
        """The call is over: move it to the finished calls, with its recording if one was written."""
        call_sid = pending.details.call_sid
        path = pending.agent.recording_path
        recorded = path is not None and path.is_file()
        if path is not None and recorded:
            self.recordings[call_sid] = path
        ended_by = summary.ended_by if summary is not None else "error"
        self.hub.publish(
            self.board.call_ended(call_sid, ended_by=ended_by, recording=recorded, now=time.time())
        )
        for sid in [sid for sid in self.recordings if sid not in self.board.finished]:
            del self.recordings[sid]  # only calls still on the board are served

    # -- routes -------------------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        """The dashboard's routes."""
        return [
            Route("/dashboard", self.page),
            Route("/dashboard/login", self.login, methods=["POST"]),
            Route("/dashboard/logout", self.logout, methods=["POST"]),
            WebSocketRoute("/dashboard/events", self.events),
            Route("/dashboard/recordings/{call_sid}", self.recording),
            Route("/dashboard/static/{name}", self.static),
        ]

    def login_page(self, landing: str, *, failed: bool = False) -> Response:
        """The login form (HTTP 401: the request was not authenticated)."""
        message = "That is not the dashboard token." if failed else ""
        body = self._pages["login"].replace("{{next}}", html.escape(landing)).replace("{{message}}", message)
        return HTMLResponse(body, status_code=401, headers=PAGE_HEADERS)

    async def page(self, request: Request) -> Response:
        if not self.auth.allowed(request, time.time()):
            return self.login_page("/dashboard")
        return HTMLResponse(self._pages["dashboard"], headers=PAGE_HEADERS)

    async def login(self, request: Request) -> Response:
        form = await request.form()
        token, landing = str(form.get("token", "")), str(form.get("next", "/dashboard"))
        landing = landing if landing in LANDING else "/dashboard"
        if not self.auth.token_matches(token):
            self.gateway.refuse("dashboard login with a wrong token")
            return self.login_page(landing, failed=True)
        response = RedirectResponse(landing, status_code=303)
        response.set_cookie(
            COOKIE,
            self.auth.session_cookie(time.time()),
            max_age=SESSION_S,
            path="/",
            httponly=True,
            samesite="strict",
            secure=self._secure(request),
        )
        return response

    async def logout(self, request: Request) -> Response:
        response = RedirectResponse("/dashboard", status_code=303)
        response.delete_cookie(
            COOKIE, path="/", httponly=True, samesite="strict", secure=self._secure(request)
        )
        return response

    async def recording(self, request: Request) -> Response:
        if not self.auth.allowed(request, time.time()):
            return PlainTextResponse("log in first", status_code=401)
        path = self.recordings.get(request.path_params["call_sid"])
        if path is None or not path.is_file():
            return PlainTextResponse("no recording for that call", status_code=404)
        return FileResponse(path, media_type="audio/wav", headers={"Cache-Control": "no-store"})

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        kinds = {".js": "text/javascript", ".css": "text/css"}
        path = STATIC / name
        if "/" in name or path.suffix not in kinds or not path.is_file():
            return PlainTextResponse("not found", status_code=404)
        return FileResponse(path, media_type=kinds[path.suffix])

    async def events(self, ws: WebSocket) -> None:
        if not (self.auth.allowed(ws, time.time()) and same_origin(ws)):
            self.gateway.refuse("dashboard events without a session")
            await ws.close(1008)
            return
        await ws.accept()
        subscriber = self.hub.subscribe()
        sender = asyncio.create_task(self._send(ws, subscriber), name="dashboard-sender")
        try:
            while (await ws.receive())["type"] != "websocket.disconnect":
                pass  # the page sends nothing; reading notices when it goes
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            self.hub.unsubscribe(subscriber)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender

    async def _send(self, ws: WebSocket, subscriber: Subscriber) -> None:
        """A snapshot, then the updates; a snapshot again whenever updates were dropped."""
        try:
            await ws.send_text(await self._snapshot())
            while True:
                update = await subscriber.queue.get()
                if subscriber.behind:
                    subscriber.take_backlog()
                    await ws.send_text(await self._snapshot())
                else:
                    await ws.send_text(json.dumps(update))
        except (WebSocketDisconnect, RuntimeError, OSError):
            return  # the page went away; the reader ends the connection

    async def _snapshot(self) -> str:
        """The whole board as JSON: serialised in a worker thread (a full board is megabytes at most, more
        than the event loop may spend at once)."""
        return await asyncio.to_thread(json.dumps, self.board.snapshot(time.time()))

    def _secure(self, request: Request) -> bool:
        """Mark the cookie Secure when the browser reached us over https (directly or through PUBLIC_URL)."""
        public = urlsplit(self.gateway.settings.public_url or "")
        return request.url.scheme == "https" or (
            public.scheme == "https" and public.hostname == request.url.hostname
        )
