"""Garbage from the carrier's side does not end the call: each message is refused, counted, and the agent
still answers."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from rtvoice import RealtimeAgent, ServerVAD
from rtvoice.testing import RealtimeSimulator, Say, ScriptedBrain
from rtvoice_gateway.numbers import CallDetails
from support.gateway import live_gateway, mulaw_speech, open_call, quiet_spans, wait_until
from support.timing import seconds

FLOOD = 2000


def factory(details: CallDetails) -> RealtimeAgent:
    return RealtimeAgent(instructions="You answer the phone.", turn_detection=ServerVAD())


async def test_garbage_frames_are_counted_and_the_call_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    brain = ScriptedBrain([Say("Hello, thanks for calling."), Say("Yes, I can still hear you.")])
    async with (
        RealtimeSimulator(brain=brain) as sim,
        live_gateway(
            factory, sim=sim, entry={"greeting": "Greet."}, settings={"max_message_bytes": 4096}
        ) as live,
    ):
        caplog.set_level(logging.WARNING, logger="rtvoice_gateway.phone")
        call, runner = await open_call(live, speed=2)
        await wait_until(lambda: quiet_spans(call, 1), 20, "the greeting")
        sid = call.stream_sid
        garbage: list[str | bytes] = [
            "{not json",
            "[1, 2, 3]",
            b"\x00\x01 a binary frame",
            json.dumps({"event": "media", "streamSid": sid, "media": {"payload": "!!! not base64 !!!"}}),
            json.dumps({"event": "media", "streamSid": "MZ" + "0" * 32, "media": {"payload": "//8="}}),
            json.dumps({"event": "party", "streamSid": sid}),
            json.dumps({"event": "mark", "streamSid": sid, "mark": {"name": "g99:1000000"}}),
            json.dumps({"event": "media", "streamSid": sid, "media": {"payload": "A" * 8000}}),
        ]
        for message in garbage:
            await call.send_raw(message)
        for _ in range(FLOOD):
            await call.send_raw(json.dumps({"event": "party", "streamSid": sid}))
        call.say(mulaw_speech("Can you still hear me?"))
        await wait_until(lambda: quiet_spans(call, 2), 20, "the answer after the garbage")
        call.hang_up()
        async with asyncio.timeout(seconds(5)):
            await runner
        await wait_until(lambda: len(live.gateway.finished) == 1, 5, "the call's summary")

    assert len(list(call.heard_spans())) == 2
    summary = live.gateway.finished[0]
    assert summary.ended_by == "caller" and summary.line_end == "stop"
    assert summary.violations == {
        "malformed": 3,
        "binary_frame": 1,
        "wrong_stream": 1,
        "unknown_event": 1 + FLOOD,
        "unknown_mark": 1,
        "too_large": 1,
    }
    # The flood was counted, not logged message by message.
    refused = [
        r for r in caplog.records if r.name == "rtvoice_gateway.phone" and r.levelno == logging.WARNING
    ]
    assert 6 <= len(refused) <= 6 * 5 + 2, len(refused)
    assert call.violations == {}  # and the gateway sent nothing Twilio would refuse
