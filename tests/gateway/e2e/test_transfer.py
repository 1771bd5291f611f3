"""A transfer requested by a tool: the carrier gets ``<Dial>`` to the named number and ends the stream."""

from __future__ import annotations

import asyncio

from rtvoice import Inject, RealtimeAgent, ServerVAD, Tools
from rtvoice.testing import CallFunction, RealtimeSimulator, Say, ScriptedBrain
from rtvoice_gateway.call_control import CallControl
from rtvoice_gateway.numbers import CallDetails
from support.agent import function_outputs
from support.gateway import live_gateway, mulaw_speech, open_call, quiet_spans, wait_until
from support.timing import seconds

MANAGER = "+15550109999"
tools = Tools()


@tools.action("Transfer the caller to the manager")
async def transfer_to_manager(call: Inject[CallControl]) -> str:
    return await call.transfer("manager")


def factory(details: CallDetails) -> RealtimeAgent:
    return RealtimeAgent(instructions="You answer the phone.", tools=tools, turn_detection=ServerVAD())


async def test_a_tool_transfers_the_call_to_a_named_target_after_its_announcement() -> None:
    brain = ScriptedBrain(
        [
            Say("Hello, thanks for calling."),
            [Say("Let me put you through to the manager."), CallFunction("transfer_to_manager", {})],
        ]
    )
    async with (
        RealtimeSimulator(brain=brain) as sim,
        live_gateway(
            factory, sim=sim, entry={"greeting": "Greet.", "transfer_targets": {"manager": MANAGER}}
        ) as live,
    ):
        call, runner = await open_call(live, speed=2)
        await wait_until(lambda: quiet_spans(call, 1), 20, "the greeting")
        call.say(mulaw_speech("Can I speak to the manager?"))
        async with asyncio.timeout(seconds(20)):
            await runner
        await wait_until(lambda: len(live.gateway.finished) == 1, 5, "the call's summary")

    assert [update.dialled for update in live.api.updates] == [MANAGER]
    assert not live.api.updates[0].hangup
    assert call.closed_by == "carrier"  # the new TwiML ended the stream, as on Twilio
    spans = list(call.heard_spans())
    assert len(spans) == 2, spans
    # The announcement was heard to its end before the carrier got the new TwiML.
    transferred_at = live.api.updates[0].at_call_ms
    assert transferred_at is not None and transferred_at >= spans[1][1]
    summary = live.gateway.finished[0]
    assert summary.ended_by == "agent"


async def test_a_transfer_to_an_unknown_target_is_refused_to_the_model_and_the_call_goes_on() -> None:
    brain = ScriptedBrain([CallFunction("transfer_to_manager", {}), Say("Sorry, I cannot transfer you.")])
    async with (
        RealtimeSimulator(brain=brain) as sim,
        live_gateway(factory, sim=sim, entry={"greeting": "Transfer."}) as live,  # no transfer_targets
    ):
        call, runner = await open_call(live, speed=2)
        await wait_until(lambda: quiet_spans(call, 1), 20, "the apology")
        call.hang_up()
        async with asyncio.timeout(seconds(5)):
            await runner

    assert live.api.updates == []
    outputs = [output for _, output in function_outputs(sim)]
    assert len(outputs) == 1 and outputs[0].startswith("Cannot transfer to 'manager'"), outputs
    assert call.closed_by == "caller"
