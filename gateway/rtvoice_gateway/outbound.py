"""Outbound calls and the carrier's call status callbacks (see ``docs/outbound-calls.md``).

``POST /calls`` (``Authorization: Bearer GATEWAY_API_TOKEN``)
    JSON ``{"to": "+1...", "from": "+1...", "agent": "module:factory"?, "machine_detection": bool?}``.
    Places the call through the carrier's ``Calls.create`` with ``Url`` pointing back at
    ``/twilio/outbound/{ref}`` and status callbacks to ``/twilio/status``; answers ``201
    {"call_sid": "CA..."}``. Without ``GATEWAY_API_TOKEN`` the endpoint does not exist (404); a missing or
    wrong token is 401 (compared in constant time, never logged); bad input 400; no carrier credentials
    (or no ``PUBLIC_URL`` for the real carrier) 503; a carrier refusal 502 with the carrier's message.

``GET /calls/{CallSid}`` (same token)
    What the carrier reported about the call so far (:meth:`CallStatusRecord.as_json`).

``POST /twilio/outbound/{ref}`` (signed like the voice webhook)
    The carrier asks what to do once the callee answered: the gateway builds the agent, mints the
    single-use stream token bound to the ``CallSid`` and answers ``<Connect><Stream>``, exactly as for an
    inbound call. The TwiML is fetched at answer time, not sent inline with ``Calls.create``, because the
    token must be bound to a ``CallSid`` the carrier only assigns in its answer, and because the token's
    30 s must start when the callee picks up, not when the phone starts ringing (up to a minute).

``POST /twilio/status`` (signed)
    Status callbacks (``initiated``, ``ringing``, ``in-progress``, ``completed``, ``busy``, ...) and the
    asynchronous answering-machine verdict (``AnsweredBy``), recorded in
    :attr:`Gateway.call_statuses <rtvoice_gateway.app.Gateway.call_statuses>` and logged. A final status
    for a call whose stream never came closes its pre-warmed session at once. A machine verdict for a call
    we placed does what the ``--from`` number's ``on_machine`` says: ``continue``, ``hangup``, or
    ``voicemail`` (the agent leaves the number's ``voicemail`` message, then the call is hung up).

The agent of an outbound call is the ``from`` number's (the config's entry for it, or ``[default]``),
unless ``agent`` names another factory of the number config; references are never imported on request.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import secrets
import time
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from rtvoice import RealtimeAgent
from rtvoice.events import AgentEvent, AssistantStartedResponding, AssistantStoppedResponding
from rtvoice.logcontext import log_context
from rtvoice_gateway.app import Gateway
from rtvoice_gateway.call_control import CallControl
from rtvoice_gateway.call_status import (
    TERMINAL_STATUSES,
    MachineDetection,
    OutboundPlan,
    is_machine,
)
from rtvoice_gateway.carrier_rest import CarrierRESTError
from rtvoice_gateway.numbers import E164, CallDetails, NumberEntry
from rtvoice_gateway.security import SIGNATURE_HEADER, validate_signature
from rtvoice_gateway.settings import Settings
from rtvoice_gateway.twiml import TWIML_CONTENT_TYPE, connect_stream

__all__ = ["STATUS_EVENTS", "OutboundRequest", "outbound_routes"]

log = logging.getLogger("rtvoice_gateway.outbound")

STATUS_EVENTS: Final = ("initiated", "ringing", "answered", "completed")
"""The status callbacks asked for on every call placed."""
MAX_BODY_BYTES: Final = 16 * 1024
#: How long a voicemail waits for the call's stream and session, and for its message to play.
VOICEMAIL_START_LIMIT_S: Final = 30.0
VOICEMAIL_LIMIT_S: Final = 90.0
HANGUP_TWIML: Final = '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>'
_DEFAULT_API_BASE = Settings.model_fields["twilio_api_base"].default


class OutboundRequest(BaseModel):
    """The JSON body of ``POST /calls``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    to: str = Field(description="the number to call (E.164)")
    from_: str = Field(alias="from", description="the caller ID: one of your carrier numbers (E.164)")
    agent: str | None = Field(default=None, description="a factory of the number config (module:function)")
    machine_detection: bool | MachineDetection = Field(
        default=False,
        description="answering-machine detection: true picks DetectMessageEnd for a number whose "
        'on_machine is "voicemail", Enable otherwise; or name the carrier\'s mode',
    )

    @field_validator("machine_detection", mode="before")
    @classmethod
    def _mode(cls, value: object) -> object:
        if not isinstance(value, bool) and value not in ("Enable", "DetectMessageEnd"):
            raise ValueError(f'must be true, false, "Enable" or "DetectMessageEnd", not {value!r:.40}')
        return value

    @field_validator("to", "from_")
    @classmethod
    def _e164(cls, value: str) -> str:
        if not E164.match(value):
            raise ValueError(f"{value!r:.40} is not an E.164 number (a + and 7 to 15 digits)")
        return value


def _error(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers or None)


def _denied(gateway: Gateway, request: Request) -> Response | None:
    """404 when the API is off, 401 without the right bearer token; None when allowed."""
    expected = gateway.settings.gateway_api_token
    if expected is None:
        return PlainTextResponse("Not Found", status_code=404)
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), expected.get_secret_value().encode()
    ):
        gateway.refuse("bad API token")
        return _error(
            401, "a valid bearer token (GATEWAY_API_TOKEN) is required", **{"WWW-Authenticate": "Bearer"}
        )
    return None


async def _signed_form(gateway: Gateway, request: Request, what: str) -> dict[str, str] | None:
    """The carrier's form, or None when ``X-Twilio-Signature`` does not match (counted and logged)."""
    form = await request.form()
    token = gateway.settings.twilio_auth_token
    if token is not None:
        url = gateway.public_for(request).http(request.url.path, request.url.query)
        pairs = [(key, str(value)) for key, value in form.multi_items()]
        if not validate_signature(
            token.get_secret_value(), url, pairs, request.headers.get(SIGNATURE_HEADER, "")
        ):
            gateway.refuse(f"bad {what} signature")
            return None
    return {key: str(value) for key, value in form.items()}


def _plan_for(gateway: Gateway, body: OutboundRequest) -> tuple[NumberEntry, MachineDetection | None] | str:
    """The entry that answers for ``from`` (with ``agent`` applied), or why there is none."""
    entry = gateway.numbers.entry_for(body.from_)
    if body.agent is not None:
        if body.agent not in gateway.factories:
            known = ", ".join(sorted(gateway.factories)) or "none"
            return f"unknown agent {body.agent!r:.120}: it must be a factory of the number config ({known})"
        entry = (entry or NumberEntry(agent=body.agent)).model_copy(update={"agent": body.agent})
    elif entry is None:
        return f"no agent for {body.from_}: the number config has no entry for it and no [default]"
    mode: MachineDetection | None
    if body.machine_detection is True:
        mode = "DetectMessageEnd" if entry.on_machine == "voicemail" else "Enable"
    elif body.machine_detection is False:
        mode = None
    else:
        mode = body.machine_detection
    return entry, mode


async def place_call(gateway: Gateway, request: Request) -> Response:
    """``POST /calls``."""
    denied = _denied(gateway, request)
    if denied is not None:
        return denied
    if gateway.draining:
        gateway.refuse("draining")
        return _error(503, "draining: this gateway is shutting down and places no new calls")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            return _error(413, f"the body is over {MAX_BODY_BYTES} bytes")
    try:
        body = OutboundRequest.model_validate_json(bytes(raw))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        message = first["msg"].removeprefix("Value error, ")
        return _error(400, f"{where}: {message}")
    planned = _plan_for(gateway, body)
    if isinstance(planned, str):
        return _error(400, planned)
    entry, mode = planned
    if gateway.rest is None:
        return _error(503, "outbound calls need TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN on the gateway")
    if gateway.public is None and gateway.settings.twilio_api_base == _DEFAULT_API_BASE:
        return _error(503, "outbound calls need PUBLIC_URL: the carrier fetches the call's TwiML from it")
    plan = OutboundPlan(
        ref=secrets.token_urlsafe(18),
        to_number=body.to,
        from_number=body.from_,
        entry=entry,
        factory=gateway.factories[entry.agent],
        created_at=time.time(),
        machine_detection=mode,
    )
    gateway.outbound_plans.add(plan, plan.created_at)
    public = gateway.public_for(request)
    status_url = public.http("/twilio/status")
    form = [
        ("To", body.to),
        ("From", body.from_),
        ("Url", public.http(f"/twilio/outbound/{plan.ref}")),
        ("Method", "POST"),
        ("StatusCallback", status_url),
        ("StatusCallbackMethod", "POST"),
        *[("StatusCallbackEvent", event) for event in STATUS_EVENTS],
    ]
    if mode is not None:
        # Asynchronous detection: the callee hears the agent at once, the verdict comes to /twilio/status.
        form += [
            ("MachineDetection", mode),
            ("AsyncAmd", "true"),
            ("AsyncAmdStatusCallback", status_url),
            ("AsyncAmdStatusCallbackMethod", "POST"),
        ]
    try:
        call_sid = await gateway.rest.create_call(form)
    except CarrierRESTError as exc:
        gateway.outbound_plans.discard(plan)
        log.error("placing a call %s -> %s failed: %s", body.from_, body.to, exc)
        return _error(502, str(exc))
    plan.call_sid = plan.call_sid or call_sid
    gateway.call_statuses.open(call_sid, direction="outbound-api", from_number=body.from_, to_number=body.to)
    with log_context(call_sid=call_sid):
        log.info(
            "placed a call %s -> %s with agent %s%s",
            body.from_,
            body.to,
            entry.agent,
            f" (machine detection {mode})" if mode else "",
        )
    return JSONResponse(
        {"call_sid": call_sid, "agent": entry.agent, "machine_detection": mode}, status_code=201
    )


async def call_status(gateway: Gateway, request: Request) -> Response:
    """``GET /calls/{CallSid}``."""
    denied = _denied(gateway, request)
    if denied is not None:
        return denied
    record = gateway.call_statuses.get(request.path_params["call_sid"])
    if record is None:
        return _error(404, "no such call")
    return JSONResponse(record.as_json())


async def answer(gateway: Gateway, request: Request) -> Response:
    """``POST /twilio/outbound/{ref}``: the callee answered a call we placed."""
    fields = await _signed_form(gateway, request, "outbound answer")
    if fields is None:
        return PlainTextResponse("invalid signature", status_code=403)
    plan = gateway.outbound_plans.by_ref(request.path_params["ref"])
    call_sid = fields.get("CallSid", "")
    if plan is None or not call_sid or plan.agent is not None or plan.call_sid not in (None, call_sid):
        gateway.refuse("outbound answer for no call we placed")
        return Response(HANGUP_TWIML, media_type=TWIML_CONTENT_TYPE)
    plan.call_sid = call_sid
    with log_context(call_sid=call_sid):
        answered_by = fields.get("AnsweredBy") or None  # synchronous detection reports it here
        if answered_by is not None:
            gateway.call_statuses.record(fields, time.time())
            if is_machine(answered_by) and plan.entry.on_machine == "hangup":
                plan.machine_handled = True
                log.info("answered by %s: hanging up (on_machine = hangup)", answered_by)
                return Response(HANGUP_TWIML, media_type=TWIML_CONTENT_TYPE)
        details = CallDetails(
            call_sid=call_sid,
            from_number=plan.from_number,
            to_number=plan.to_number,
            account_sid=fields.get("AccountSid", ""),
            direction=fields.get("Direction") or "outbound-api",
        )
        try:
            agent = gateway.build_call_agent(plan.factory, plan.entry, details)
        except Exception:
            log.exception("building the agent for the call to %s failed: hanging up", plan.to_number)
            gateway.outbound_plans.discard(plan)
            return Response(HANGUP_TWIML, media_type=TWIML_CONTENT_TYPE)
        plan.agent = agent
        stream_token = gateway.open_call(details, plan.entry, agent, time.monotonic())
        twiml = connect_stream(
            gateway.public_for(request).websocket(f"/twilio/stream/{stream_token}"),
            {
                "CallSid": call_sid,
                "From": plan.from_number,
                "To": plan.to_number,
                "Direction": "outbound-api",
            },
            allow_plain_ws=gateway.public is None,
        )
        log.info("the callee %s answered: agent %s", plan.to_number, plan.entry.agent)
        if answered_by is not None and is_machine(answered_by):
            _machine_answered(gateway, plan, answered_by)
        return Response(twiml, media_type=TWIML_CONTENT_TYPE)


async def status_callback(gateway: Gateway, request: Request) -> Response:
    """``POST /twilio/status``: a status callback or an answering-machine verdict."""
    fields = await _signed_form(gateway, request, "status callback")
    if fields is None:
        return PlainTextResponse("invalid signature", status_code=403)
    call_sid = fields.get("CallSid", "")
    if not call_sid:
        gateway.refuse("status callback without CallSid")
        return PlainTextResponse("CallSid is required", status_code=400)
    record, event = gateway.call_statuses.record(fields, time.time())
    with log_context(call_sid=call_sid):
        if event.status is not None:
            log.info(
                "call status %s%s%s",
                event.status,
                f" (answered by {event.answered_by})" if event.answered_by else "",
                f" after {event.duration_s} s" if event.duration_s is not None else "",
            )
        else:
            log.info("answered by %s", event.answered_by or "?")
        plan = gateway.outbound_plans.by_call_sid(call_sid)
        if plan is not None and is_machine(event.answered_by):
            _machine_answered(gateway, plan, event.answered_by or "")
        if event.status in TERMINAL_STATUSES:
            if call_sid in gateway.pending:  # the stream never came: close its pre-warmed session now
                gateway.drop_pending(call_sid)
            if plan is not None:
                plan.ended = True
                gateway.outbound_plans.discard(plan)
    return Response(status_code=204)


def _machine_answered(gateway: Gateway, plan: OutboundPlan, answered_by: str) -> None:
    """Act once on a machine verdict, as the number's ``on_machine`` says."""
    if plan.machine_handled or plan.call_sid is None:
        return
    plan.machine_handled = True
    action = plan.entry.on_machine
    log.info("answered by %s: on_machine = %s", answered_by, action)
    if action == "hangup":
        gateway.spawn(_hang_up(gateway, plan.call_sid), f"machine-hangup-{plan.call_sid}")
    elif action == "voicemail":
        gateway.spawn(_leave_voicemail(gateway, plan), f"voicemail-{plan.call_sid}")


async def _hang_up(gateway: Gateway, call_sid: str) -> None:
    with log_context(call_sid=call_sid):
        gateway.drop_pending(call_sid)
        if gateway.rest is None:
            return
        try:
            await gateway.rest.hang_up(call_sid)
        except CarrierRESTError as exc:
            log.error("hanging up on the machine failed: %s", exc)


async def _leave_voicemail(gateway: Gateway, plan: OutboundPlan) -> None:
    """Ask the agent for the voicemail once its call runs, wait until it has played, then hang up."""
    call_sid = plan.call_sid or ""
    with log_context(call_sid=call_sid):
        control = await _running_control(plan)
        agent = plan.agent
        if agent is None or control is None:
            log.warning("no running call to leave the voicemail on: hanging up")
            await _hang_up(gateway, call_sid)
            return
        responses = _ResponseWatch()
        agent.event_bus.subscribe(AgentEvent, responses.see)
        try:
            await agent.request_response(plan.entry.voicemail)
            ended = asyncio.ensure_future(control.line.ended.wait())
            played = asyncio.ensure_future(responses.done.wait())
            try:
                await asyncio.wait(
                    {ended, played}, timeout=VOICEMAIL_LIMIT_S, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                for waiter in (ended, played):
                    waiter.cancel()
                await asyncio.gather(ended, played, return_exceptions=True)
        except RuntimeError as exc:  # the session ended before the request
            log.warning("could not ask for the voicemail: %s", exc)
        finally:
            agent.event_bus.unsubscribe(AgentEvent, responses.see)
        if not control.line.ended.is_set():
            log.info("voicemail left: hanging up")
            await control.hang_up()


class _ResponseWatch:
    """Sees the agent's events in order (one subscription, one queue): done once a response that started
    after it subscribed is over (the one in progress then, if any, ends first and is not counted)."""

    def __init__(self) -> None:
        self.started = False
        self.done = asyncio.Event()

    def see(self, event: Any) -> None:
        if isinstance(event, AssistantStartedResponding):
            self.started = True
        elif isinstance(event, AssistantStoppedResponding) and self.started:
            self.done.set()


async def _running_control(plan: OutboundPlan) -> CallControl | None:
    """The call's controls once the callee answered, its stream started and its session is connected
    (None after 30 s, or when the call ended first)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(VOICEMAIL_START_LIMIT_S):
            while not _started(plan.agent):  # the agent has no event for it: poll
                if plan.ended:
                    return None
                await asyncio.sleep(0.02)
            assert plan.agent is not None
            control = plan.agent.injectables[CallControl]
            return control if isinstance(control, CallControl) else None
    return None


def _started(agent: RealtimeAgent | None) -> bool:
    return agent is not None and agent.connected and CallControl in agent.injectables


def outbound_routes(gateway: Gateway) -> list[BaseRoute]:
    """The routes of this module, bound to ``gateway`` (added by :func:`rtvoice_gateway.app.create_app`)."""

    async def calls(request: Request) -> Response:
        return await place_call(gateway, request)

    async def one_call(request: Request) -> Response:
        return await call_status(gateway, request)

    async def outbound_answer(request: Request) -> Response:
        return await answer(gateway, request)

    async def status(request: Request) -> Response:
        return await status_callback(gateway, request)

    return [
        Route("/calls", calls, methods=["POST"]),
        Route("/calls/{call_sid}", one_call, methods=["GET"]),
        Route("/twilio/outbound/{ref}", outbound_answer, methods=["POST"]),
        Route("/twilio/status", status, methods=["POST"]),
    ]
