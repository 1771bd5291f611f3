"""One phone call, from the accepted media stream to its end: one ``asyncio.TaskGroup`` per call.

Tasks: the line's **reader** (carrier messages), the line's **sender** (paced agent audio), and the
**agent** (``RealtimeAgent.run()`` on the phone devices, with the session pre-warmed during the webhook),
and with ``dtmf = "model"`` the **DTMF relay** (:class:`DigitRelay`: the keys pressed, told to the model).
The call waits for whichever ends first:

* the caller's side (``stop``, or the socket dropped): the agent is stopped, its upstream closed within
  a second, the recording finalised;
* the agent: a tool hung up or transferred (the line is closed or the carrier ends it), or the upstream
  was lost (the caller hears a short apology, then the line is closed: never silence);
* the gateway's drain (``wind_down`` set once the shutdown grace is over): the agent's reply in progress
  is played to its end, the agent stopped, the goodbye played, and the call hung up (never cut silently).

Whatever ends it, every task is ended and the socket closed before :func:`run_call` returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from starlette.websockets import WebSocket

from rtvoice import AgentResult, RealtimeAgent
from rtvoice_gateway.call_control import CallControl
from rtvoice_gateway.carrier.twilio import TwilioMediaStream
from rtvoice_gateway.carrier_rest import CarrierREST
from rtvoice_gateway.metrics import CallMetrics
from rtvoice_gateway.numbers import CallDetails, NumberEntry
from rtvoice_gateway.phone import PhoneLine
from rtvoice_gateway.settings import Settings

__all__ = ["START_TIMEOUT_S", "CallResources", "CallSummary", "DigitRelay", "run_call"]

log = logging.getLogger("rtvoice_gateway.call")

#: How long the carrier may take between accepting the socket and sending ``start``.
START_TIMEOUT_S = 10.0
#: How long the apology may take to play before the line is closed anyway.
APOLOGY_LIMIT_S = 8.0
UPSTREAM_LOST = ("upstream_closed", "upstream_error", "upstream_timeout", "error")
#: With ``dtmf = "model"``: the pause after a key that ends an entry (``#`` ends it at once).
DTMF_PAUSE_S = 1.0
#: At a drain: how long the agent's reply in progress may take to finish before the goodbye.
REPLY_LIMIT_S = 20.0


@dataclass
class CallResources:
    """What the app hands a call."""

    details: CallDetails
    entry: NumberEntry
    agent: RealtimeAgent
    prewarm: asyncio.Task[None] | None
    settings: Settings
    rest: CarrierREST | None
    apology_audio: bytes
    clock_speed: float = 1.0
    observer: CallMetrics | None = None
    """The call's metrics."""
    wind_down: asyncio.Event | None = None
    """Set when the gateway's drain ends the calls still running (see the module docstring)."""
    goodbye_audio: bytes = b""
    """μ-law played before a drain hangs up."""


@dataclass
class CallSummary:
    """How a call went (returned by :func:`run_call`)."""

    ended_by: str
    """``caller`` (stop or socket dropped), ``agent`` (a tool hung up or transferred), ``upstream`` (lost:
    apology played), ``refused`` (no valid ``start``), ``drain`` (the gateway shut down: goodbye played)."""
    result: AgentResult | None
    line_end: str | None
    frames_in: int
    violations: dict[str, int]
    call_sid: str = ""


async def run_call(ws: WebSocket, call: CallResources) -> CallSummary:
    """Hold one accepted media stream until the call ends (see the module docstring)."""
    settings, agent = call.settings, call.agent
    stream = TwilioMediaStream(call_sid=call.details.call_sid, max_message_chars=settings.max_message_bytes)
    line = PhoneLine(
        ws,
        stream,
        mode=call.entry.audio,
        lead_ms=settings.outbound_lead_ms,
        release_ms=settings.outbound_release_ms,
        clock_speed=call.clock_speed,
    )
    control = CallControl(call.details, line, call.rest, call.entry.transfer_targets, bus=agent.event_bus)
    relay = DigitRelay(agent) if call.entry.dtmf == "model" else None

    def digit_pressed(digit: str) -> None:
        control.digit_pressed(digit)
        if relay is not None:
            relay.press(digit)

    line.on_digit = digit_pressed
    if call.observer is not None:
        line.on_sent, line.on_dropped = call.observer.audio_sent, call.observer.dropped
        line.on_underrun = call.observer.underrun
    result: AgentResult | None = None
    ended_by = "caller"
    async with asyncio.TaskGroup() as tasks:
        reader = tasks.create_task(line.read(), name="call-reader")
        started = await _first(line.started.wait(), line.ended.wait(), limit_s=START_TIMEOUT_S)
        if not started or line.call is None:
            log.warning("no valid start on the media stream (%s): closing", line.end_reason or "timeout")
            await line.close(1008)
            reader.cancel()
            await agent.aclose()
            return CallSummary(
                "refused", None, line.end_reason, line.frames_in, _violations(stream), call.details.call_sid
            )
        call_started = line.call
        agent.audio_input, agent.audio_output = line.microphone, line.speaker
        agent.injectables[CallControl] = control
        sender = tasks.create_task(line.send_paced(), name="call-sender")
        if call.prewarm is not None:
            await _first(asyncio.shield(call.prewarm), line.ended.wait(), limit_s=15)
            if call.prewarm.done() and not agent.connected and call.observer is not None:
                call.observer.metrics.upstream_reconnects.inc()  # run() opens the session again
        greeted = False
        if call.entry.greeting and agent.connected:  # pre-warmed: the greeting is asked for at once
            await agent.request_response(call.entry.greeting)
            greeted = True
        log.info(
            "call started: stream %s, %s -> %s",
            call_started.stream_sid,
            call.details.from_number,
            call.details.to_number,
        )
        run = tasks.create_task(agent.run(), name="call-agent")
        relaying = tasks.create_task(relay.run(), name="call-dtmf") if relay is not None else None
        if call.entry.greeting and not greeted:  # not pre-warmed: greet as soon as the session is ready
            while not (agent.connected or run.done() or line.ended.is_set()):  # noqa: ASYNC110 - the agent's state
                await asyncio.sleep(0.005)
            if agent.connected:
                await agent.request_response(call.entry.greeting)
        wind_down = call.wind_down.wait() if call.wind_down is not None else None
        await _first(run, line.ended.wait(), *([wind_down] if wind_down is not None else []))
        if not run.done() and not line.ended.is_set():  # the gateway is shutting down
            ended_by = "drain"
            result = await _wind_down(call, run, line, control)
        elif not run.done():  # the caller's side ended first
            await agent.stop()
            result = await run
            ended_by = "agent" if control.ended_by else "caller"
        else:
            result = run.result()
            if control.ended_by:
                ended_by = "agent"
            elif result.stop_reason in UPSTREAM_LOST and not line.ended.is_set():
                ended_by = "upstream"
                log.error(
                    "the Realtime session was lost (%s): apologising and hanging up", result.stop_reason
                )
                if call.apology_audio:
                    await line.play_and_wait(call.apology_audio, limit_s=APOLOGY_LIMIT_S)
            else:
                ended_by = "agent"
        await line.close()
        sender.cancel()
        reader.cancel()
        if relaying is not None:
            relaying.cancel()
    log.info("call ended by %s (%s)", ended_by, result.stop_reason if result else "-")
    if call.observer is not None and result is not None and result.usage is not None:
        call.observer.usage(result.usage)
    return CallSummary(
        ended_by, result, line.end_reason, line.frames_in, _violations(stream), call.details.call_sid
    )


async def _wind_down(
    call: CallResources, run: asyncio.Task[AgentResult], line: PhoneLine, control: CallControl
) -> AgentResult:
    """End a running call for the drain: the reply in progress finishes, then the goodbye and the hang-up."""
    agent = call.agent
    log.info("the gateway is shutting down: ending the call with a goodbye once the agent's turn is over")
    deadline = asyncio.get_running_loop().time() + REPLY_LIMIT_S
    while _agent_busy(agent, line) and not (run.done() or line.ended.is_set()):
        if asyncio.get_running_loop().time() > deadline:
            log.warning(
                "the agent's reply did not finish within %.0f s: saying goodbye anyway", REPLY_LIMIT_S
            )
            break
        await asyncio.sleep(0.02 / call.clock_speed)
    await agent.stop()
    result = await run
    if call.goodbye_audio and not line.ended.is_set():
        await line.play_and_wait(call.goodbye_audio, limit_s=APOLOGY_LIMIT_S)
    if not line.ended.is_set():
        await control.hang_up()
    return result


def _agent_busy(agent: RealtimeAgent, line: PhoneLine) -> bool:
    """A response is requested or under way, a tool call is open, or agent audio is still to be heard."""
    session = agent.session
    if session is not None and session.connected:
        core = session.core
        if core.response_active or core.queued_responses or core.outstanding_calls:
            return True
    return line.speaker.is_playing or line.pacer.waiting_ms > 0


class DigitRelay:
    """Tells the model the keys the caller pressed (a number's ``dtmf = "model"``): one user message per
    entry, sent once the caller presses ``#`` or pauses for ``pause_s``, and answered."""

    def __init__(self, agent: RealtimeAgent, *, pause_s: float = DTMF_PAUSE_S) -> None:
        self.agent = agent
        self.pause_s = pause_s
        self._keys: list[str] = []
        self._pressed = asyncio.Event()

    def press(self, digit: str) -> None:
        """A key the caller pressed."""
        self._keys.append(digit)
        self._pressed.set()

    async def run(self) -> None:
        """Relay entries until cancelled."""
        while True:
            await self._pressed.wait()
            self._pressed.clear()
            if self._keys[-1] != "#":
                try:
                    async with asyncio.timeout(self.pause_s):
                        await self._pressed.wait()
                    continue  # another key: the entry goes on
                except TimeoutError:
                    pass
            keys, self._keys = self._keys, []
            await self._tell(f"[The caller pressed {' '.join(keys)}]")

    async def _tell(self, text: str) -> None:
        session = self.agent.session
        if session is None or not session.connected:
            log.warning("keys pressed while no session is connected: %s", text)
            return
        try:
            await session.execute(session.core.send_user_message(text))
        except Exception as exc:  # the call goes on without it (e.g. the response queue is full)
            log.error("could not tell the model %s: %s", text, exc)


def _violations(stream: TwilioMediaStream) -> dict[str, int]:
    return {str(kind): count for kind, count in stream.violations.items()}


async def _first(*waits: object, limit_s: float | None = None) -> bool:
    """Wait until the first of ``waits`` (coroutines or tasks) is done; False on the time limit.

    Coroutines this function wrapped in tasks are cancelled and awaited; tasks it was given are left alone.
    """
    owned = [asyncio.ensure_future(w) for w in waits if asyncio.iscoroutine(w)]
    given = [w for w in waits if isinstance(w, asyncio.Future)]
    done, _ = await asyncio.wait([*owned, *given], timeout=limit_s, return_when=asyncio.FIRST_COMPLETED)
    for task in owned:
        task.cancel()
    for task in owned:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return bool(done)
