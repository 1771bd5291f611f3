"""Outbound calls end to end: ``POST /calls`` → the fake carrier's ``Calls.create`` → status callbacks, the
answer URL, the callee's media stream (a ``SimulatedCall``) → the agent talks to the callee; and the
answering-machine verdicts (hang up, leave a voicemail)."""

from __future__ import annotations

import asyncio

import httpx2
from openai.types.realtime import ResponseCreateEvent

from rtvoice import RealtimeAgent, ServerVAD
from rtvoice.testing import RealtimeSimulator, Say, ScriptedBrain
from rtvoice_gateway.numbers import CallDetails
from support.agent import received
from support.gateway import PUBLIC, LiveGateway, live_gateway, mulaw_speech, quiet_spans, wait_until
from support.timing import seconds

NUMBER = "+15550100001"  # the gateway's number (the config's entry), the caller ID of every call here
CALLEE = "+15550100777"
API_TOKEN = "test-api-token-0123456789abcdef"
STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]


class Factory:
    def __init__(self) -> None:
        self.calls: list[CallDetails] = []

    def __call__(self, details: CallDetails) -> RealtimeAgent:
        self.calls.append(details)
        return RealtimeAgent(instructions="You call customers back.", turn_detection=ServerVAD())


async def place(live: LiveGateway, **body: object) -> str:
    async with httpx2.AsyncClient(timeout=seconds(10)) as client:
        response = await client.post(
            f"{live.base_url}/calls",
            json={"to": CALLEE, "from": NUMBER, **body},
            headers={"Authorization": f"Bearer {API_TOKEN}"},
        )
    assert response.status_code == 201, response.text
    call_sid = response.json()["call_sid"]
    assert isinstance(call_sid, str)
    return call_sid


async def test_an_outbound_call_connects_the_agent_to_the_callee_and_records_every_status() -> None:
    brain = ScriptedBrain(
        [Say("Hello, this is Luigi's calling about your booking."), Say("Great, see you at eight then.")]
    )
    factory = Factory()
    async with (
        RealtimeSimulator(brain=brain) as sim,
        live_gateway(
            factory,
            sim=sim,
            entry={"greeting": "Say who you are and why you call."},
            settings={"gateway_api_token": API_TOKEN},
        ) as live,
    ):
        live.api.callee_speed = live.gateway.clock_speed = 2
        call_sid = await place(live)
        (placed,) = live.api.placed
        await asyncio.wait_for(placed.connected.wait(), seconds(10))
        callee = placed.callee
        assert callee is not None
        await wait_until(lambda: quiet_spans(callee, 1), 20, "the agent's opening")
        callee.say(mulaw_speech("Yes, that is right."))
        await wait_until(lambda: quiet_spans(callee, 2), 20, "the agent's answer")
        callee.hang_up()
        await asyncio.wait_for(placed.finished.wait(), seconds(10))
        await wait_until(lambda: len(live.gateway.finished) == 1, 5, "the call's summary")
        record = live.gateway.call_statuses[call_sid]

    assert placed.sid == call_sid and placed.error is None
    assert (placed.param("To"), placed.param("From")) == (CALLEE, NUMBER)
    assert (placed.param("Url") or "").startswith(f"{PUBLIC}/twilio/outbound/")
    assert placed.param("StatusCallback") == f"{PUBLIC}/twilio/status"
    assert placed.params("StatusCallbackEvent") == STATUS_EVENTS
    assert placed.param("MachineDetection") is None
    # Every callback was signed and accepted: the four statuses and the answer URL.
    assert [(cb.kind, cb.status_code) for cb in placed.callbacks] == [
        ("status", 204),
        ("status", 204),
        ("status", 204),
        ("answer", 200),
        ("status", 204),
    ]
    assert record.statuses == ["initiated", "ringing", "in-progress", "completed"]
    assert record.status == "completed" and record.ended
    assert (record.direction, record.from_number, record.to_number) == ("outbound-api", NUMBER, CALLEE)
    assert record.duration_s is not None and record.answered_by is None
    # The factory of the from number built the agent, told it is an outbound call to the callee.
    (details,) = factory.calls
    assert (details.call_sid, details.direction) == (call_sid, "outbound-api")
    assert (details.from_number, details.to_number) == (NUMBER, CALLEE)
    # The agent spoke first, heard the callee and answered: two stretches of speech reached the callee.
    assert len(list(callee.heard_spans())) == 2
    summary = live.gateway.finished[0]
    assert (summary.call_sid, summary.ended_by) == (call_sid, "caller")
    assert callee.violations == {}
    assert live.gateway.outbound_plans.by_call_sid(call_sid) is None  # forgotten once it ended


async def test_a_machine_answering_is_hung_up_on_when_the_number_says_so() -> None:
    async with (
        RealtimeSimulator(brain=ScriptedBrain([Say("Hello, this is Luigi's calling.")])) as sim,
        live_gateway(
            Factory(),
            sim=sim,
            entry={"greeting": "Say who you are.", "on_machine": "hangup"},
            settings={"gateway_api_token": API_TOKEN},
        ) as live,
    ):
        live.api.callee_speed = live.gateway.clock_speed = 2
        live.api.answered_by, live.api.amd_after_ms = "machine_start", 400
        call_sid = await place(live, machine_detection=True)
        (placed,) = live.api.placed
        await asyncio.wait_for(placed.finished.wait(), seconds(15))
        await wait_until(lambda: live.gateway.call_statuses[call_sid].ended, 5, "the final status")
        record = live.gateway.call_statuses[call_sid]

    assert placed.param("MachineDetection") == "Enable"  # on_machine = hangup needs no end of greeting
    assert placed.param("AsyncAmd") == "true"
    assert placed.param("AsyncAmdStatusCallback") == f"{PUBLIC}/twilio/status"
    assert [cb.status_code for cb in placed.callbacks if cb.kind == "amd"] == [204]
    assert record.answered_by == "machine_start"
    assert [update.call_sid for update in live.api.updates if update.hangup] == [call_sid]
    assert placed.callee is not None and placed.callee.closed_by == "carrier"
    assert record.statuses[-1] == "completed"


async def test_a_machine_answering_gets_the_voicemail_then_the_call_is_hung_up() -> None:
    brain = ScriptedBrain(
        [Say("Hello, this is Luigi's calling."), Say("Hi, Luigi's here: your table is ready, call us back.")]
    )
    async with (
        RealtimeSimulator(brain=brain) as sim,
        live_gateway(
            Factory(),
            sim=sim,
            entry={
                "greeting": "Say who you are.",
                "on_machine": "voicemail",
                "voicemail": "Leave message 7.",
            },
            settings={"gateway_api_token": API_TOKEN},
        ) as live,
    ):
        live.api.callee_speed = live.gateway.clock_speed = 2
        live.api.answered_by, live.api.amd_after_ms = "machine_end_beep", 2500
        call_sid = await place(live, machine_detection=True)
        (placed,) = live.api.placed
        await asyncio.wait_for(placed.finished.wait(), seconds(30))
        await wait_until(lambda: len(live.gateway.finished) == 1, 5, "the call's summary")
        record = live.gateway.call_statuses[call_sid]

    assert placed.param("MachineDetection") == "DetectMessageEnd"  # the voicemail starts after the beep
    assert record.answered_by == "machine_end_beep"
    callee = placed.callee
    assert callee is not None
    spans = list(callee.heard_spans())
    assert len(spans) == 2, spans  # the greeting, then the voicemail
    instructions = [event.response.instructions for event in received(sim, ResponseCreateEvent)]
    assert any("Leave message 7." in (text or "") for text in instructions), instructions
    # Hung up by the gateway once the voicemail had played, not by the callee.
    (hangup,) = [update for update in live.api.updates if update.hangup]
    assert hangup.call_sid == call_sid
    assert hangup.at_call_ms is not None and hangup.at_call_ms >= spans[1][1]
    assert callee.closed_by == "carrier"
    assert live.gateway.finished[0].ended_by == "agent"


async def test_a_call_nobody_answers_records_no_answer_and_opens_no_session() -> None:
    async with (
        RealtimeSimulator() as sim,
        live_gateway(Factory(), sim=sim, settings={"gateway_api_token": API_TOKEN}) as live,
    ):
        live.api.outcome = "no-answer"
        call_sid = await place(live)
        (placed,) = live.api.placed
        await asyncio.wait_for(placed.finished.wait(), seconds(10))
        await wait_until(lambda: live.gateway.call_statuses[call_sid].ended, 5, "the final status")
        record = live.gateway.call_statuses[call_sid]
        plans = len(live.gateway.outbound_plans)

    assert record.statuses == ["initiated", "ringing", "no-answer"]
    assert placed.callee is None and not [cb for cb in placed.callbacks if cb.kind == "answer"]
    assert sim.sessions == []  # nobody answered: no Realtime session was opened
    assert plans == 0
