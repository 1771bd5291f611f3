"""Fault matrix, the carrier's side (the media stream): hang-ups at bad moments and bad input. Each row runs
beside a healthy call that must complete its turn; nothing may be left behind and every recording must be
a valid WAV (``support.faults.fault_row``)."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import pytest

from rtvoice import Tools
from rtvoice.testing import CallFunction
from rtvoice_gateway.testing import SimulatedCall
from support.faults import caller_speech, fault_row, phone_agent
from support.gateway import sounding, wait_until

mid_tool = Tools()
tool_started = asyncio.Event()
tool_cancelled: list[bool] = []


@mid_tool.action("Look the booking up (slow)")
async def slow_lookup() -> str:
    tool_started.set()
    try:
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        tool_cancelled.append(True)
        raise
    return "found"


async def test_caller_hangs_up_mid_tool(tmp_path: Path) -> None:
    """The caller hangs up while a tool runs: the call ends (``caller``, ``stop``), the tool's task is
    cancelled (not left running for a minute) and the upstream closed."""
    tool_started.clear()
    tool_cancelled.clear()
    factory = phone_agent(tools=mid_tool, tool_timeout=120)
    async with fault_row(tmp_path, factory=factory, script=[CallFunction("slow_lookup")]) as row:
        await row.healthy()
        call = await row.faulty()
        await wait_until(lambda: bool(list(call.heard_spans())), 15, "the greeting")
        call.say(caller_speech())
        await asyncio.wait_for(tool_started.wait(), 15)
        await row.hang_up("faulty")
        summary = row.summary("faulty")
        assert summary is not None and summary.ended_by == "caller" and summary.line_end == "stop"
    assert tool_cancelled == [True]


async def test_carrier_socket_drops_without_stop(tmp_path: Path) -> None:
    """The carrier's socket drops in the middle of the greeting with no ``stop``: the call ends as the
    caller's (``disconnect``), the agent is stopped and its upstream closed; nothing is sent to a dead
    line."""
    async with fault_row(tmp_path) as row:
        await row.healthy()
        call = await row.faulty()
        await wait_until(lambda: len(sounding(call)) > 8 * 200, 15, "the greeting to start")
        call.drop()
        await row.ended("faulty")
        summary = row.summary("faulty")
        assert summary is not None and summary.ended_by == "caller" and summary.line_end == "disconnect"
        await wait_until(lambda: len(row.sim.close_times) >= 1, 5, "the faulty upstream's close")


def bad_messages(call: SimulatedCall) -> dict[str, str | bytes]:
    sid = call.stream_sid
    return {
        "malformed": "{not json",
        "binary_frame": b"\x00\x01 a binary frame",
        "bad_base64": json.dumps(
            {"event": "media", "streamSid": sid, "media": {"payload": "!!not base64!!"}}
        ),
        "wrong_stream": json.dumps(
            {"event": "media", "streamSid": "MZ" + "0" * 32, "media": {"payload": "//8="}}
        ),
        "too_large": json.dumps({"event": "media", "streamSid": sid, "media": {"payload": "A" * 8000}}),
    }


EXPECTED_KIND = {
    "malformed": "malformed",
    "binary_frame": "binary_frame",
    "bad_base64": "malformed",
    "wrong_stream": "wrong_stream",
    "too_large": "too_large",
}


@pytest.mark.parametrize("kind", list(EXPECTED_KIND))
async def test_bad_carrier_message_is_counted_and_the_call_goes_on(tmp_path: Path, kind: str) -> None:
    """Malformed JSON, a binary frame, bad base64, a wrong ``streamSid``, a message over ``MAX_MESSAGE_BYTES``
    (4096 here; still under the WebSocket limit): each is refused and counted as its kind, and the call goes
    on (the caller is answered, then hangs up normally)."""
    async with fault_row(tmp_path, settings={"max_message_bytes": 4096}) as row:
        await row.healthy()
        call = await row.faulty()
        await call.send_raw(bad_messages(call)[kind])
        await row.converse("faulty")
        await row.hang_up("faulty")
        summary = row.summary("faulty")
        assert summary is not None and summary.ended_by == "caller"
        assert summary.violations == {EXPECTED_KIND[kind]: 1}


async def test_message_over_the_websocket_limit_ends_only_that_call(tmp_path: Path) -> None:
    """A message over the server's WebSocket frame limit (64 KiB here, ``MAX_MESSAGE_BYTES`` in ``serve``)
    never reaches the gateway: the server closes that socket (message too big) and the call ends as a dropped line
    (``caller``, ``disconnect``), cleanly; the other call goes on."""
    async with fault_row(tmp_path) as row:
        await row.healthy()
        call = await row.faulty()
        await wait_until(lambda: bool(sounding(call)), 15, "the greeting to start")
        await call.send_raw(
            json.dumps({"event": "media", "streamSid": call.stream_sid, "media": {"payload": "A" * 100_000}})
        )
        await row.ended("faulty")
        summary = row.summary("faulty")
        assert summary is not None and summary.ended_by == "caller" and summary.line_end == "disconnect"
        assert call.closed_by == "gateway"


async def test_media_before_start_is_refused_and_the_call_starts_normally(tmp_path: Path) -> None:
    """``media`` before ``start`` is refused (``out_of_order``, counted); the ``start`` that follows opens
    the call as usual and the caller is answered."""
    async with fault_row(tmp_path) as row:
        await row.healthy()
        call = await row.faulty(connect=False)
        await call.open_stream()
        payload = base64.b64encode(b"\xff" * 160).decode()
        media = {"event": "media", "streamSid": call.stream_sid, "media": {"payload": payload}}
        for _ in range(3):
            await call.send_raw(json.dumps(media))
        await call.send_start()
        row.runners["faulty"] = asyncio.create_task(call.run())
        await row.converse("faulty")
        await row.hang_up("faulty")
        summary = row.summary("faulty")
        assert summary is not None and summary.ended_by == "caller"
        assert summary.violations == {"out_of_order": 3}


FLOOD = 3000


@pytest.mark.parametrize("what", ["unknown_events", "media"])
async def test_a_flood_of_messages_is_absorbed(tmp_path: Path, what: str) -> None:
    """A flood from the carrier (3,000 unknown events, or 3,000 media frames = 60 s of audio at once) is
    counted or bounded (the microphone keeps 2 s and counts the frames it drops), never logged line by line,
    and the call goes on: the caller is answered, the other call untouched."""
    async with fault_row(tmp_path) as row:
        await row.healthy()
        call = await row.faulty()
        await wait_until(lambda: bool(list(call.heard_spans())), 15, "the greeting")
        sid = call.stream_sid
        if what == "media":
            payload = base64.b64encode(b"\xff" * 160).decode()
            media = {"track": "inbound", "chunk": "1", "timestamp": "0", "payload": payload}
            message = json.dumps({"event": "media", "streamSid": sid, "media": media})
        else:
            message = json.dumps({"event": "party", "streamSid": sid})
        for _ in range(FLOOD):
            await call.send_raw(message)
        await row.converse("faulty")
        await row.hang_up("faulty")
        summary = row.summary("faulty")
        assert summary is not None and summary.ended_by == "caller"
        if what == "media":
            assert summary.violations == {}
            assert summary.frames_in >= FLOOD
        else:
            assert summary.violations == {"unknown_event": FLOOD}
