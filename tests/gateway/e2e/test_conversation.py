"""A whole conversation through the gateway: greeting, two caller turns spoken by espeak-ng, a tool call."""

from __future__ import annotations

import asyncio

from rtvoice import RealtimeAgent, ServerVAD, Tools
from rtvoice.testing import CallFunction, RealtimeSimulator, Say, ScriptedBrain
from rtvoice_gateway.numbers import CallDetails
from support.agent import function_outputs
from support.gateway import live_gateway, mulaw_speech, open_call, quiet_spans, wait_until

tools = Tools()


@tools.action("Look up an order's delivery date")
async def order_status(order: str) -> str:
    return f"Order {order} arrives on Friday."


def factory(details: CallDetails) -> RealtimeAgent:
    return RealtimeAgent(instructions="You answer the phone.", tools=tools, turn_detection=ServerVAD())


async def test_greeting_two_caller_turns_and_a_tool_result_spoken() -> None:
    brain = ScriptedBrain(
        [
            Say("Hello, thanks for calling."),
            Say("Sure, what is the order number?"),
            CallFunction("order_status", {"order": "42"}),
        ]
    )  # then the default brain reads the tool's output back
    async with (
        RealtimeSimulator(brain=brain, user_transcripts=["Where is my order?", "It is forty-two."]) as sim,
        live_gateway(factory, sim=sim, entry={"greeting": "Greet."}) as live,
    ):
        call, runner = await open_call(live, speed=2)
        await wait_until(lambda: quiet_spans(call, 1), 20, "the greeting")
        call.say(mulaw_speech("Where is my order?"))
        await wait_until(lambda: quiet_spans(call, 2), 20, "the first answer")
        call.say(mulaw_speech("It is forty-two."))
        await wait_until(lambda: quiet_spans(call, 3, quiet_ms=600), 20, "the tool's result")
        call.hang_up()
        async with asyncio.timeout(5):
            await runner
        await wait_until(lambda: len(live.gateway.finished) == 1, 5, "the call's summary")

    assert [output for _, output in function_outputs(sim)] == ["Order 42 arrives on Friday."]
    spans = list(call.heard_spans())
    assert len(spans) == 3, spans
    summary = live.gateway.finished[0]
    assert summary.ended_by == "caller" and summary.call_sid == call.call_sid
    assert summary.result is not None
    said = [(turn.role, turn.transcript) for turn in summary.result.turns]
    assert said == [
        ("assistant", "Hello, thanks for calling."),
        ("user", "Where is my order?"),
        ("assistant", "Sure, what is the order number?"),
        ("user", "It is forty-two."),
        ("assistant", "Order 42 arrives on Friday."),
    ], said
    # The tool's result was played whole: its span lasts about as long as its synthesised speech.
    assert spans[2][1] - spans[2][0] > 500
