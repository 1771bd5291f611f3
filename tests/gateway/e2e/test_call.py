"""A phone call end to end over loopback: carrier simulator → gateway (uvicorn) → Realtime simulator."""

from __future__ import annotations

import asyncio

from rtvoice import Inject, RealtimeAgent, ServerVAD, Tools
from rtvoice.testing import CallFunction, RealtimeSimulator, Say, ScriptedBrain
from rtvoice_gateway.call_control import CallControl
from rtvoice_gateway.numbers import CallDetails
from support.gateway import live_gateway, mulaw_speech, open_call, quiet_spans, wait_until
from support.timing import seconds

tools = Tools()


@tools.action("End the call after saying goodbye")
async def end_call(call: Inject[CallControl]) -> str:
    await call.hang_up()
    return "The call has ended."


def factory(details: CallDetails) -> RealtimeAgent:
    return RealtimeAgent(instructions="You answer the phone.", tools=tools, turn_detection=ServerVAD())


async def test_greeting_a_reply_then_a_hangup_after_the_goodbye_played() -> None:
    brain = ScriptedBrain(
        [
            Say("Hello, thanks for calling."),
            [Say("Goodbye, have a nice day."), CallFunction("end_call", {})],
            Say("This should never be heard."),
        ]
    )
    async with (
        RealtimeSimulator(brain=brain) as sim,
        live_gateway(factory, sim=sim, entry={"greeting": "Greet."}) as live,
    ):
        call = live.call(speed=2)
        twiml = await call.dial()
        assert twiml.stream_url is not None and twiml.stream_url.startswith(
            "wss://voice.example.com/twilio/stream/"
        )
        await call.connect()
        runner = asyncio.create_task(call.run())
        # The caller answers once the whole greeting was heard (not over it: that would be a barge-in).
        await wait_until(lambda: quiet_spans(call, 1, quiet_ms=500), 30, "the greeting")
        call.say(mulaw_speech("I would like to say goodbye now."))
        async with asyncio.timeout(seconds(30)):
            await runner
    spans = list(call.heard_spans())
    assert len(spans) == 2, spans
    assert call.closed_by in ("carrier", "gateway")
    assert [u.hangup for u in live.api.updates] == [True]
    # The REST hang-up came only after the caller heard the goodbye's last frame (one clock: the call's),
    # and soon after it (under a second of real time; the call runs at twice real time).
    hung_up_at = live.api.updates[0].at_call_ms
    assert hung_up_at is not None
    assert spans[-1][1] <= hung_up_at < spans[-1][1] + 2000, (spans, hung_up_at)
    # Every mark the gateway placed was echoed as played (none flushed by a clear), the last one before
    # the hang-up.
    assert call.marks and not any(mark.cleared for mark in call.marks)
    assert call.marks[-1].at_ms <= hung_up_at
    assert live.gateway.calls_active == 0


async def test_without_prewarm_the_session_opens_with_the_stream_and_still_greets_first() -> None:
    brain = ScriptedBrain([Say("Hello, thanks for calling.")])
    async with (
        RealtimeSimulator(brain=brain) as sim,
        live_gateway(factory, sim=sim, entry={"greeting": "Greet."}, settings={"prewarm": False}) as live,
    ):
        call = live.call(speed=2)
        await call.dial()
        await asyncio.sleep(0.2)
        assert sim.sessions == []  # nothing opened while answering the webhook
        await call.connect()
        runner = asyncio.create_task(call.run())
        # Until the caller has *heard* the greeting (played on the carrier's clock), not merely received
        # its first media message: on a busy machine the hang-up could otherwise come before a frame
        # with sound was played, and the call would have heard nothing.
        await wait_until(lambda: any(True for _ in call.heard_spans()), 20, "the greeting, heard")
        call.hang_up()
        await runner
    assert len(sim.sessions) == 1 and len(list(call.heard_spans())) == 1


async def test_a_hangup_the_carrier_api_refuses_still_ends_the_call_after_the_goodbye() -> None:
    brain = ScriptedBrain([[Say("Goodbye, have a nice day."), CallFunction("end_call", {})]])
    async with (
        RealtimeSimulator(brain=brain) as sim,
        live_gateway(
            factory,
            sim=sim,
            entry={"greeting": "Say goodbye."},
            settings={"twilio_account_sid": "AC" + "1" * 32},  # not the fake API's account: 401
        ) as live,
    ):
        call, runner = await open_call(live, speed=2)
        async with asyncio.timeout(seconds(20)):
            await runner
        await wait_until(lambda: len(live.gateway.finished) == 1, 5, "the call's summary")

    assert live.api.refused == 1 and live.api.updates == []
    assert call.closed_by == "gateway"  # the gateway closed the stream itself
    spans = list(call.heard_spans())
    assert len(spans) == 1 and spans[0][1] - spans[0][0] > 1000, spans
    assert call.marks and not any(mark.cleared for mark in call.marks)
    assert live.gateway.finished[0].ended_by == "agent"
