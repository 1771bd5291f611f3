"""A phone call end to end over loopback: carrier simulator → gateway (uvicorn) → Realtime simulator."""

from __future__ import annotations

import asyncio

from rtvoice import Inject, RealtimeAgent, ServerVAD, Tools
from rtvoice.testing import CallFunction, RealtimeSimulator, Say, ScriptedBrain
from rtvoice_gateway.call_control import CallControl
from rtvoice_gateway.numbers import CallDetails
from support.gateway import live_gateway, mulaw_speech
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
        async with asyncio.timeout(seconds(30)):
            while len(list(call.heard_spans())) < 1 or call.saying:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)
            call.say(mulaw_speech("I would like to say goodbye now."))
            await runner
    spans = list(call.heard_spans())
    assert len(spans) == 2, spans
    assert call.closed_by in ("carrier", "gateway")
    assert [u.hangup for u in live.api.updates] == [True]
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
        async with asyncio.timeout(seconds(20)):
            while call.first_audio_at is None:  # noqa: ASYNC110 - the call's state
                await asyncio.sleep(0.02)
        call.hang_up()
        await runner
    assert len(sim.sessions) == 1 and len(list(call.heard_spans())) == 1
