"""The gateway's Starlette app: the carrier's voice webhook and the media-stream WebSocket.

``POST /twilio/voice``
    Checks ``X-Twilio-Signature`` (over ``PUBLIC_URL`` + path, with the form), looks up the agent for
    ``To``, builds it, mints a single-use stream token bound to the ``CallSid``, starts opening the
    Realtime session (pre-warm) and answers ``<Connect><Stream url=".../twilio/stream/{token}">``. A number
    with no agent (and no default) gets a spoken apology and ``<Hangup/>``.

``WS /twilio/stream/{token}``
    Before accepting: the upgrade's signature (over the ``wss://`` URL), the token (signature, expiry,
    single use) and a pre-warmed call for it; anything else is refused with HTTP 403 before any upstream
    session opens. Then :func:`rtvoice_gateway.call.run_call` holds the call.

``GET /healthz``
    ``ok`` while the process serves (alive).

``GET /readyz``
    ``ready`` (200), or 503 with the reason while the gateway drains or its number config cannot answer
    calls (see :meth:`Gateway.config_problem`).

``GET /metrics``
    The gateway's Prometheus metrics (:mod:`rtvoice_gateway.metrics`, listed in docs/operations.md).

:meth:`Gateway.drain` (the ``serve`` command calls it on SIGTERM) stops taking calls (the webhook answers
503, so the carrier tries the number's fallback URL), lets live calls finish for a grace period, then ends
the rest with a goodbye.

Outbound calls (``POST /calls``, ``/twilio/outbound/{ref}``) and status callbacks (``/twilio/status``):
:mod:`rtvoice_gateway.outbound`.

The :class:`Gateway` owns what outlives a call: the settings, the number config, the shared Realtime
provider, the token minting and store, the carrier REST client and the pre-warmed calls (each a task it
owns, closed when its stream never comes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from rtvoice import ConfigurationError, RealtimeAgent, RealtimeProvider, UpstreamError
from rtvoice import events as ev
from rtvoice.audio import AudioFormat
from rtvoice.logcontext import log_context
from rtvoice_codecs import StreamResampler
from rtvoice_gateway.call import CallResources, CallSummary, run_call
from rtvoice_gateway.call_status import CallStatuses, OutboundPlans
from rtvoice_gateway.carrier_rest import CarrierREST
from rtvoice_gateway.handoff import AnsweredCalls
from rtvoice_gateway.metrics import CallMetrics, GatewayMetrics
from rtvoice_gateway.numbers import AgentFactory, CallDetails, NumberConfig, NumberEntry, build_agent
from rtvoice_gateway.redis_token_store import token_store_for
from rtvoice_gateway.security import (
    SIGNATURE_HEADER,
    PublicURL,
    StreamTokenError,
    StreamTokens,
    TokenStore,
    validate_signature,
)
from rtvoice_gateway.settings import Settings
from rtvoice_gateway.twiml import TWIML_CONTENT_TYPE, apology_and_hangup, connect_stream

__all__ = ["NO_AGENT_MESSAGE", "CallObserver", "Gateway", "PendingCall", "create_app"]

log = logging.getLogger("rtvoice_gateway.app")

NO_AGENT_MESSAGE = "Sorry, nobody can take your call at this number. Goodbye."
#: How many finished calls' summaries :attr:`Gateway.finished` keeps.
FINISHED_KEPT = 100
BROKEN_AGENT_MESSAGE = "Sorry, we cannot take your call right now. Please try again later. Goodbye."
#: How long a drain waits for the calls it ended to hang up (reply in progress, goodbye, hang-up).
DRAIN_FINISH_S = 45.0
#: ``CallSummary.ended_by`` → ``rtvoice_calls_total{outcome}``.
OUTCOME = {
    "caller": "caller_hung_up",
    "agent": "completed",
    "upstream": "upstream_lost",
    "refused": "refused",
    "drain": "drained",
}


@dataclass
class PendingCall:
    """A call whose webhook was answered and whose media stream has not arrived yet."""

    details: CallDetails
    entry: NumberEntry
    agent: RealtimeAgent
    claimed: asyncio.Event = field(default_factory=asyncio.Event)
    prewarm: asyncio.Task[None] | None = None
    connect_error: BaseException | None = None
    observer: CallMetrics | None = None


class CallObserver(Protocol):
    """Told when a call's media stream is accepted and when the call is over (the dashboard is one).
    Both run on the event loop: they must return at once and never raise."""

    def call_started(self, pending: PendingCall) -> None: ...

    def call_ended(self, pending: PendingCall, summary: CallSummary | None) -> None: ...


class Gateway:
    """Everything a call needs that outlives it (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        numbers: NumberConfig,
        factories: Mapping[str, AgentFactory],
        provider: RealtimeProvider,
        *,
        token_store: TokenStore | None = None,
        apology_audio: bytes = b"",
        goodbye_audio: bytes = b"",
        clock_speed: float = 1.0,
    ) -> None:
        self.settings = settings
        self.numbers = numbers
        self.factories = factories
        self.provider = provider
        self.public = PublicURL(settings.public_url) if settings.public_url else None
        self.tokens = StreamTokens(
            settings.stream_token_secret.get_secret_value().encode(),
            ttl_seconds=max(1, round(settings.stream_token_ttl_s)),
        )
        self.token_store = token_store or token_store_for(settings)  # Redis with REDIS_URL
        # Replicas: a stream that reaches another pod than its webhook is taken over there (handoff.py).
        self.answered = (
            AnsweredCalls.from_url(settings.redis_url.get_secret_value()) if settings.redis_url else None
        )
        self.rest = (
            CarrierREST(
                settings.twilio_account_sid,
                settings.twilio_auth_token.get_secret_value(),
                base_url=settings.twilio_api_base,
            )
            if settings.twilio_account_sid and settings.twilio_auth_token
            else None
        )
        self.apology_audio = apology_audio
        self.clock_speed = clock_speed
        """How much faster than real time the carrier plays: 1, except for a simulated carrier."""
        self.pending: dict[str, PendingCall] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.calls_active = 0
        self.calls_total = 0
        self.refused: dict[str, int] = {}
        self.finished: deque[CallSummary] = deque(maxlen=FINISHED_KEPT)
        """How the most recent calls went (newest last; for monitoring and tests)."""
        self.observers: list[CallObserver] = []
        """Told of every call's start and end (see :class:`CallObserver`)."""
        # -- outbound calls and status callbacks (rtvoice_gateway.outbound) --
        self.call_statuses = CallStatuses()
        """What the carrier reported per CallSid: status callbacks and answering-machine verdicts."""
        self.outbound_plans = OutboundPlans()
        """Calls placed by ``POST /calls`` that have not ended."""
        self.metrics = GatewayMetrics(numbers.numbers)
        self.goodbye_audio = goodbye_audio
        """μ-law played to each call a drain ends."""
        self.draining = False
        """Set by :meth:`drain`: the webhook refuses new calls and ``/readyz`` answers 503."""
        self.wind_down = asyncio.Event()
        """Set by :meth:`drain` once its grace is over: every running call says goodbye and hangs up."""

    # -- owned tasks ------------------------------------------------------------------------------------

    def spawn(
        self, coro: asyncio.Future[None] | asyncio.Task[None] | object, name: str
    ) -> asyncio.Task[None]:
        """Start a task the gateway owns (cancelled and awaited at shutdown)."""
        task: asyncio.Task[None] = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        task.set_name(name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def warm_up(self) -> float:
        """Do the first call's one-time work now, before taking calls; returns the milliseconds it took.

        The provider's SDK client and the models a session builds (:meth:`RealtimeProvider.warm_up`), and
        the resampler's filters: without it the first call blocks the event loop for ~150 ms. A provider
        that cannot make a client (no key) is logged, not raised: the first call reports it as its error.
        """
        started = time.perf_counter()
        for rates in ((8000, 24000), (24000, 8000)):
            StreamResampler(*rates)  # the filter is designed once per pair of rates, then cached
        try:
            self.provider.warm_up()
        except Exception as exc:
            log.warning("could not warm up the Realtime provider (%s); the first call will try again", exc)
        return (time.perf_counter() - started) * 1000

    async def aclose(self) -> None:
        """Cancel every owned task, close every pre-warmed session and the shared clients."""
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(BaseException):
                await task
        for pending in list(self.pending.values()):
            await pending.agent.aclose()
        self.pending.clear()
        if self.rest is not None:
            await self.rest.aclose()
        await self.token_store.aclose()
        if self.answered is not None:
            await self.answered.aclose()
        await self.provider.aclose()

    def refuse(self, why: str) -> None:
        """Count a refused request by reason."""
        self.refused[why] = self.refused.get(why, 0) + 1
        self.metrics.requests_refused.labels(why).inc()
        log.warning("refused: %s", why)

    # -- readiness and drain ----------------------------------------------------------------------------

    def config_problem(self) -> str | None:
        """Why the number config cannot answer calls (no number answered, a factory missing), or None."""
        config = self.numbers
        entries = ([config.default] if config.default is not None else []) + list(config.numbers.values())
        if not entries:
            return "the number config answers no number"
        missing = sorted({entry.agent for entry in entries if entry.agent not in self.factories})
        if missing:
            return f"no agent factory loaded for {', '.join(missing)}"
        return None

    async def drain(self, grace_s: float, *, finish_s: float = DRAIN_FINISH_S) -> int:
        """Stop taking calls; let live calls finish for up to ``grace_s``; then end the rest with a goodbye.

        Calls whose webhook was answered before the drain may still connect during the grace. Once it is
        over, each running call finishes the agent's reply in progress, hears the goodbye and is hung up;
        this waits up to ``finish_s`` for them.

        Returns:
            How many calls the drain ended (0: every call finished by itself).
        """
        self.draining = True
        loop = asyncio.get_running_loop()
        log.warning(
            "draining: new calls are refused (503); %d live calls have %.0f s to finish",
            self.calls_active,
            grace_s,
        )
        deadline = loop.time() + grace_s
        while (self.calls_active or self.pending) and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        ended = self.calls_active
        if ended:
            log.warning("the drain's grace is over: ending %d calls with a goodbye", ended)
            self.wind_down.set()
            deadline = loop.time() + finish_s
            while self.calls_active and loop.time() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        return ended

    def drop_pending(self, call_sid: str) -> None:
        """A refused stream for an answered call: its pre-warmed session is closed now, not at the TTL."""
        pending = self.pending.pop(call_sid, None)
        if pending is not None:
            pending.claimed.set()
            self.spawn(pending.agent.aclose(), f"close-{call_sid}")

    async def take_over(self, call_sid: str) -> PendingCall | None:
        """A call another replica answered (its details left in Redis): its agent built here, not pre-warmed.

        None when no replica left it (or another took it), or its number has no agent here (logged).
        """
        if self.answered is None:
            return None
        details = await self.answered.take(call_sid)
        if details is None:
            return None
        with log_context(call_sid=call_sid):
            entry = self.numbers.entry_for(details.to_number)
            if entry is None:
                log.error("a call answered by another replica for %s: no agent here", details.to_number)
                return None
            try:
                agent = self.build_call_agent(self.factories[entry.agent], entry, details)
            except Exception:
                log.exception("building the agent for %s failed", details.to_number)
                return None
            log.info(
                "taking over a call another replica answered (%s -> %s)",
                details.from_number,
                details.to_number,
            )
            return self.track(details, entry, agent, time.monotonic())

    # -- answering and holding a call (the webhook, outbound answers, the softphone, a take-over) --------

    def build_call_agent(
        self, factory: AgentFactory, entry: NumberEntry, details: CallDetails
    ) -> RealtimeAgent:
        """The call's agent from its number's factory, on the gateway's provider, SIGINT left to the host.

        Raises whatever the factory raises (the caller answers with an apology)."""
        agent = build_agent(factory, entry, details)
        agent.handle_sigint = False
        if agent.provider is None:
            with contextlib.suppress(ConfigurationError):  # an agent with its own api_key keeps it
                agent.provider = self.provider
        return agent

    def track(
        self, details: CallDetails, entry: NumberEntry, agent: RealtimeAgent, answered_at: float
    ) -> PendingCall:
        """A call with its metrics recorder subscribed to its agent's events (``answered_at``: monotonic)."""
        number = self.metrics.number(details.to_number)
        tools = [d.name for d in agent.tool_calls.definitions() if d.name]
        observer = CallMetrics(self.metrics, number, tools, answered_at)
        agent.event_bus.subscribe(ev.AgentEvent, observer.on_event)
        return PendingCall(details, entry, agent, observer=observer)

    def open_call(
        self, details: CallDetails, entry: NumberEntry, agent: RealtimeAgent, answered_at: float
    ) -> str:
        """Wait for an answered call's stream: pre-warm its session (or expire it); the stream token.

        A call answered again (the carrier retried its webhook) replaces the older answer."""
        call_sid = details.call_sid
        stream_token = self.tokens.mint(call_sid, time.time())
        pending = self.track(details, entry, agent, answered_at)
        old = self.pending.pop(call_sid, None)
        if old is not None:  # the carrier retried the webhook: the newer answer wins
            old.claimed.set()
            self.spawn(old.agent.aclose(), f"close-{call_sid}")
        self.pending[call_sid] = pending
        if self.settings.prewarm:
            pending.prewarm = self.spawn(self.prewarm(pending), f"prewarm-{call_sid}")
        else:
            self.spawn(self.expire(pending), f"expire-{call_sid}")
        return stream_token

    async def claim_stream(self, ws: WebSocket, token: str) -> PendingCall | None:
        """The answered call a stream token opens, its token used up; None (the socket closed) if refused."""
        try:
            grant = self.tokens.verify(token, time.time())
        except StreamTokenError as exc:
            self.refuse(f"stream token: {type(exc).__name__}")
            await ws.close(1008)
            return None
        try:
            first_use = await self.token_store.claim(grant.token_id, grant.expires_at, time.time())
        except StreamTokenError as exc:  # the store is full or (Redis) unreachable: fail closed
            self.refuse(f"token store: {type(exc).__name__}")
            await ws.close(1008)
            return None
        if not first_use:
            self.refuse("stream token used twice")
            await ws.close(1008)
            return None
        pending = self.pending.pop(grant.call_sid, None) or await self.take_over(grant.call_sid)
        if pending is None:
            self.refuse("no answered call for this stream")
            await ws.close(1008)
            return None
        pending.claimed.set()
        return pending

    async def hold(
        self, ws: WebSocket, pending: PendingCall, *, rest: CarrierREST | None, clock_speed: float
    ) -> None:
        """Accept a claimed stream and run the call on it to its end (metrics, observers, summary).

        ``rest``: the carrier's call control (None: transfers are refused); ``clock_speed``: how much
        faster than real time the far end plays."""
        await ws.accept()
        self.calls_active += 1
        self.calls_total += 1
        summary: CallSummary | None = None
        for observer in self.observers:
            observer.call_started(pending)
        number = self.metrics.number(pending.details.to_number)
        self.metrics.calls_active.labels(number).inc()
        started, outcome = time.monotonic(), "error"
        try:
            with log_context(call_sid=pending.details.call_sid):
                summary = await run_call(
                    ws,
                    CallResources(
                        details=pending.details,
                        entry=pending.entry,
                        agent=pending.agent,
                        prewarm=pending.prewarm,
                        settings=self.settings,
                        rest=rest,
                        apology_audio=self.apology_audio,
                        clock_speed=clock_speed,
                        observer=pending.observer,
                        wind_down=self.wind_down,
                        goodbye_audio=self.goodbye_audio,
                    ),
                )
            self.finished.append(summary)
            outcome = OUTCOME.get(summary.ended_by, "error")
        finally:
            self.calls_active -= 1
            self.metrics.calls_active.labels(number).dec()
            self.metrics.call_ended(number, outcome, time.monotonic() - started)
            for observer in self.observers:
                observer.call_ended(pending, summary)

    # -- URLs -------------------------------------------------------------------------------------------

    def public_for(self, request: Request | WebSocket) -> PublicURL:
        """``PUBLIC_URL``, or (a local gateway) the origin the request came to."""
        if self.public is not None:
            return self.public
        return PublicURL(f"{request.url.scheme.replace('ws', 'http')}://{request.url.netloc}")

    # -- pre-warm ---------------------------------------------------------------------------------------

    async def expire(self, pending: PendingCall) -> None:
        """Forget an answered call whose stream never came (no pre-warm: nothing is open yet)."""
        try:
            async with asyncio.timeout(self.settings.stream_token_ttl_s + 5):
                await pending.claimed.wait()
        except TimeoutError:
            if self.pending.get(pending.details.call_sid) is pending:
                del self.pending[pending.details.call_sid]

    async def prewarm(self, pending: PendingCall) -> None:
        """Open the call's Realtime session now; close it if the stream never claims it."""
        mode = pending.entry.audio
        fmt = AudioFormat.PCM16_24K if mode == "transcode" else AudioFormat.PCMU_8K
        call_sid = pending.details.call_sid
        with log_context(call_sid=call_sid):
            try:
                await pending.agent.connect(input_format=fmt, output_format=fmt)
            except (UpstreamError, OSError) as exc:
                log.error("pre-warming the Realtime session failed: %s", exc)
                pending.connect_error = exc
            try:
                async with asyncio.timeout(self.settings.stream_token_ttl_s + 5):
                    await pending.claimed.wait()
            except TimeoutError:
                log.warning("the media stream never came; closing the pre-warmed session")
                if self.pending.get(call_sid) is pending:
                    del self.pending[call_sid]
                await pending.agent.aclose()


def create_app(gateway: Gateway) -> Starlette:
    """The ASGI app for ``gateway`` (served by uvicorn; closes the gateway at shutdown)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        log.info("warmed up for calls in %.0f ms", gateway.warm_up())
        try:
            yield
        finally:
            await gateway.aclose()

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(request: Request) -> Response:
        problem = "draining" if gateway.draining else gateway.config_problem()
        if problem is not None:
            return PlainTextResponse(f"not ready: {problem}", status_code=503)
        return PlainTextResponse("ready")

    async def metrics(request: Request) -> Response:
        return Response(gateway.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    async def voice(request: Request) -> Response:
        webhook_at = time.monotonic()
        form = await request.form()
        fields = {key: str(value) for key, value in form.items()}
        token = gateway.settings.twilio_auth_token
        if token is not None:
            url = gateway.public_for(request).http("/twilio/voice", request.url.query)
            signature = request.headers.get(SIGNATURE_HEADER, "")
            pairs = [(key, str(value)) for key, value in form.multi_items()]
            if not validate_signature(token.get_secret_value(), url, pairs, signature):
                gateway.refuse("bad webhook signature")
                return PlainTextResponse("invalid signature", status_code=403)
        call_sid, to_number = fields.get("CallSid", ""), fields.get("To", "")
        if not call_sid or not to_number:
            gateway.refuse("webhook without CallSid or To")
            return PlainTextResponse("CallSid and To are required", status_code=400)
        number = gateway.metrics.number(to_number)
        if gateway.draining:  # a non-2xx answer: the carrier tries the number's fallback URL
            gateway.refuse("draining")
            gateway.metrics.call_refused(number)
            return PlainTextResponse("draining: not taking calls", status_code=503)
        with log_context(call_sid=call_sid):
            entry = gateway.numbers.entry_for(to_number)
            if entry is None:
                gateway.metrics.call_refused(number)
                log.info("no agent for %s: apology and hang-up", to_number)
                return Response(apology_and_hangup(NO_AGENT_MESSAGE), media_type=TWIML_CONTENT_TYPE)
            details = CallDetails(
                call_sid=call_sid,
                from_number=fields.get("From", ""),
                to_number=to_number,
                account_sid=fields.get("AccountSid", ""),
                direction=fields.get("Direction", "inbound"),
            )
            try:
                agent = gateway.build_call_agent(gateway.factories[entry.agent], entry, details)
            except Exception:
                log.exception("building the agent for %s failed", to_number)
                gateway.metrics.call_refused(number)
                return Response(apology_and_hangup(BROKEN_AGENT_MESSAGE), media_type=TWIML_CONTENT_TYPE)
            stream_token = gateway.open_call(details, entry, agent, webhook_at)
            if gateway.answered is not None:  # the stream may reach another replica (handoff.py)
                await gateway.answered.put(details, gateway.settings.stream_token_ttl_s + 5)
            public = gateway.public_for(request)
            twiml = connect_stream(
                public.websocket(f"/twilio/stream/{stream_token}"),
                {"CallSid": call_sid, "From": details.from_number, "To": to_number},
                allow_plain_ws=gateway.public is None,
            )
            log.info("answering %s -> %s with agent %s", details.from_number, to_number, entry.agent)
            return Response(twiml, media_type=TWIML_CONTENT_TYPE)

    async def stream(ws: WebSocket) -> None:
        token = ws.path_params["token"]
        auth = gateway.settings.twilio_auth_token
        if auth is not None:
            url = gateway.public_for(ws).websocket(ws.url.path)
            if not validate_signature(auth.get_secret_value(), url, (), ws.headers.get(SIGNATURE_HEADER, "")):
                gateway.refuse("bad upgrade signature")
                with contextlib.suppress(StreamTokenError):
                    refused = gateway.tokens.verify(token, time.time())
                    # The stream of a call we answered cannot be trusted any more: end its pre-warm now.
                    await gateway.token_store.claim(refused.token_id, refused.expires_at, time.time())
                    gateway.drop_pending(refused.call_sid)
                await ws.close(1008)
                return
        pending = await gateway.claim_stream(ws, token)
        if pending is not None:
            await gateway.hold(ws, pending, rest=gateway.rest, clock_speed=gateway.clock_speed)

    from rtvoice_gateway.outbound import outbound_routes  # it builds on this module (PendingCall)
    from rtvoice_gateway.web import web_routes  # here: the web package uses this module's classes

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            Route("/twilio/voice", voice, methods=["POST"]),
            WebSocketRoute("/twilio/stream/{token}", stream),
            *web_routes(gateway),  # /dashboard and /phone (only with DASHBOARD_TOKEN)
            *outbound_routes(
                gateway
            ),  # POST /calls, GET /calls/{sid}, /twilio/outbound/{ref}, /twilio/status
        ],
        lifespan=lifespan,
    )
