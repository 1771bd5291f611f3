"""The dashboard and the softphone in a real browser (Debian's headless chromium).

Chromium's fake microphone plays an espeak-ng WAV; the softphone page calls the test number through
``/phone`` as a carrier would (μ-law media stream, marks, clear), against a gateway on loopback with the
embedded Realtime simulator; the dashboard, in another window of the same browser, shows the call and
its transcript as they happen. Screenshots go to ``tests/artifacts/`` and are checked to be non-blank.
"""

from __future__ import annotations

import wave
from collections.abc import Awaitable
from pathlib import Path

import numpy as np
import pytest

from rtvoice import RealtimeAgent, ServerVAD, Tools
from rtvoice.testing import CallFunction, RealtimeSimulator, Say, ScriptedBrain, speech
from rtvoice_gateway.numbers import CallDetails
from rtvoice_gateway.web import Dashboard
from support.browser import ARTIFACTS, Browser, chromium_missing, eventually, png_pixels, write_wav
from support.gateway import NUMBER, live_gateway, wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.serial,
    pytest.mark.skipif(chromium_missing() is not None, reason=chromium_missing() or ""),
]

DASHBOARD_TOKEN = "browser-test-dashboard-token"
CALLER_SAYS = "Where is my order?"
GREETING = (
    "Hello, thanks for calling the web desk. We are open every day from nine in the morning to six in the "
    "evening, and we are happy to help you with orders, returns, deliveries and anything else."
)
ANSWER = "Order 42 arrives on Friday."  # the tool's result, read back by the simulator


tools = Tools()


@tools.action("Look up an order's delivery date")
async def order_status(order: str) -> str:
    return f"Order {order} arrives on Friday."


def factory(details: CallDetails) -> RealtimeAgent:
    return RealtimeAgent(instructions="You answer the phone.", tools=tools, turn_detection=ServerVAD())


def microphone_wav(folder: Path) -> Path:
    """The caller: four seconds of silence (the greeting starts), the question (it cuts the greeting off),
    then silence (chromium loops the file)."""
    rate = 24000
    words = speech.trim_silence(speech.synthesize(CALLER_SAYS, sample_rate=rate), sample_rate=rate)
    silence = bytes(rate * 2)  # one second
    path = folder / "caller.wav"
    write_wav(path, silence * 4 + words + silence * 12, rate)
    return path


def assert_not_blank(png: bytes) -> None:
    pixels = png_pixels(png).astype(np.float64)
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100, pixels.shape
    assert pixels[..., :3].var() > 0, "the screenshot is a single colour"


async def test_a_browser_call_through_the_softphone_shows_live_on_the_dashboard(tmp_path: Path) -> None:
    brain = ScriptedBrain(
        [Say(GREETING), [Say("Let me check."), CallFunction("order_status", {"order": "42"})]]
    )
    async with (
        RealtimeSimulator(brain=brain, user_transcripts=[CALLER_SAYS] * 10) as sim,
        live_gateway(
            factory,
            sim=sim,
            entry={"greeting": "Greet.", "recording_dir": str(tmp_path)},
            settings={"dashboard_token": DASHBOARD_TOKEN},
        ) as live,
        Browser(microphone=microphone_wav(tmp_path)) as browser,
    ):
        dashboard = next(o for o in live.gateway.observers if isinstance(o, Dashboard))
        base = live.base_url

        # Log in on the dashboard (the token goes in a form POST, never in a URL).
        await browser.get(f"{base}/dashboard")
        assert await browser.text("#login-button") == "Log in"
        await browser.js(
            "document.getElementById('token').value = arguments[0]; document.getElementById('login').submit()",
            DASHBOARD_TOKEN,
        )
        await eventually(
            lambda: _equals(browser.text("#connection"), "live"), 10, "the dashboard's live connection"
        )
        assert await browser.js("return document.cookie") == "", "the session cookie must be HttpOnly"
        dashboard_window = browser.driver.current_window_handle

        # Call the test number from the softphone, in a second window.
        await browser.call(browser.driver.switch_to.new_window, "window")
        phone_window = browser.driver.current_window_handle
        await browser.get(f"{base}/phone")
        await eventually(
            lambda: _equals(browser.js("return document.getElementById('number').value"), NUMBER),
            10,
            "the numbers",
        )
        await browser.js("document.getElementById('call').click()")
        await eventually(lambda: _equals(browser.js("return window.phone.state"), "in call"), 10, "the call")

        # The agent's greeting plays in the page, and the page echoes the gateway's marks as it plays...
        await eventually(
            lambda: _holds(
                browser.js("return window.phone.playedSamples > 8000 && window.phone.marksEchoed > 5")
            ),
            15,
            "the greeting played and its marks echoed",
        )
        # ... until the caller's question (the fake microphone) cuts it off: the gateway sends clear.
        await eventually(
            lambda: _holds(browser.js("return window.phone.clears >= 1")), 15, "the barge-in's clear"
        )
        call_sid = await browser.js("return window.phone.callSid")

        def caller_line() -> bool:
            call = dashboard.board.live.get(call_sid)
            return call is not None and any(
                line["role"] == "caller" and line["text"] == CALLER_SAYS for line in call.lines.values()
            )

        await wait_until(caller_line, 20, "the caller's words on the board")
        await wait_until(
            lambda: any(line["text"] == ANSWER for line in dashboard.board.live[call_sid].lines.values()),
            20,
            "the answer on the board",
        )
        played_before = await browser.js("return window.phone.playedSamples")
        await eventually(
            lambda: _holds(
                browser.js("return window.phone.playedSamples > arguments[0] + 4000", played_before)
            ),
            15,
            "the answer played",
        )
        # Keys pressed on the dial pad reach the call as DTMF.
        await browser.js("for (const key of '42') document.querySelector(`[data-digit='${key}']`).click()")
        await wait_until(
            lambda: any(
                line["text"] == "pressed 42" for line in dashboard.board.live[call_sid].lines.values()
            ),
            10,
            "the keys on the board",
        )
        phone_png = await browser.screenshot(ARTIFACTS / "browser" / "phone-in-call.png")

        # The dashboard shows the call and its transcript, live.
        await browser.call(browser.driver.switch_to.window, dashboard_window)
        card = f'.call[data-sid="{call_sid}"]'
        await eventually(lambda: _contains(browser.text(f"{card} .transcript"), ANSWER), 10, "the transcript")
        transcript = await browser.text(f"{card} .transcript")
        assert "Hello, thanks" in transcript and CALLER_SAYS in transcript and "pressed 42" in transcript, (
            transcript
        )
        assert "caller interrupted at" in await browser.text(f"{card} .transcript .barge-in")
        assert "barge-ins 1" in await browser.text(f"{card} .head")
        assert NUMBER in await browser.text(f"{card} .number")
        tool_row = await browser.text(f"{card} tr.tool")
        assert "order_status" in tool_row and "ok" in tool_row and " ms" in tool_row, tool_row
        assert await browser.text("#live-count") == "1"
        assert (
            int(await browser.js(f"return document.querySelectorAll('{card} svg.latency rect').length")) >= 1
        )
        dashboard_png = await browser.screenshot(ARTIFACTS / "browser" / "dashboard-in-call.png")

        # Hang up from the phone: the call ends on the gateway and moves to the finished calls.
        await browser.call(browser.driver.switch_to.window, phone_window)
        await browser.js("document.getElementById('hangup').click()")
        await eventually(lambda: _equals(browser.js("return window.phone.state"), "ended"), 10, "the hang-up")
        sent_frames = await browser.js("return window.phone.sentFrames")
        await wait_until(lambda: len(live.gateway.finished) == 1, 10, "the call's summary")
        await browser.call(browser.driver.switch_to.window, dashboard_window)
        await eventually(
            lambda: _contains(browser.text(f'#finished tr[data-sid="{call_sid}"]'), "caller"),
            10,
            "the finished row",
        )
        assert await browser.text("#live-count") == "0"
        # Its recording plays in the page, from the authenticated route.
        row = f'#finished tr[data-sid="{call_sid}"]'
        assert await browser.js(f"return document.querySelector('{row} audio').getAttribute('src')") == (
            f"/dashboard/recordings/{call_sid}"
        )
        fetched = await browser.call(
            browser.driver.execute_async_script,
            f"const done = arguments[0]; const src = document.querySelector('{row} audio').src;"
            "fetch(src).then(r => r.arrayBuffer().then(b => done([r.status, r.headers.get('content-type'), b.byteLength])))",
        )
        assert fetched[0] == 200 and fetched[1] == "audio/wav" and fetched[2] > 44 * 1000, fetched
        await browser.screenshot(ARTIFACTS / "browser" / "dashboard-after-call.png")

    summary = live.gateway.finished[0]
    assert summary.call_sid == call_sid and summary.ended_by == "caller"
    assert summary.line_end == "stop" and summary.violations == {}, summary
    assert summary.frames_in > 100 and sent_frames >= summary.frames_in - 5
    assert summary.result is not None
    said = [(turn.role, turn.transcript) for turn in summary.result.turns]
    assert ("user", CALLER_SAYS) in said and ("assistant", ANSWER) in said, said
    greeting = summary.result.turns[0]
    assert greeting.role == "assistant" and greeting.interrupted, greeting
    assert GREETING.startswith(greeting.transcript[:20]) and len(greeting.transcript) < len(GREETING)
    for png in (phone_png, dashboard_png):
        assert_not_blank(png)


async def _equals(value: Awaitable[object], expected: object) -> bool:
    return await value == expected


async def _holds(value: Awaitable[object]) -> bool:
    return bool(await value)


async def _contains(value: Awaitable[object], part: str) -> bool:
    return part in str(await value)


def silent_factory(details: CallDetails) -> RealtimeAgent:
    return RealtimeAgent(instructions="You listen.", turn_detection=None)  # never answers: only the caller


async def test_the_softphone_sends_the_microphone_at_its_true_pitch(tmp_path: Path) -> None:
    """A 440 Hz tone on the microphone arrives at the agent as 440 Hz: the page's resampling to 8 kHz and its
    μ-law encoding are right (a wrong rate would shift the pitch, a wrong codec would bury it in noise)."""
    rate = 24000
    tone = (np.sin(2 * np.pi * 440 * np.arange(rate * 8) / rate) * 12000).astype("<i2").tobytes()
    write_wav(tmp_path / "tone.wav", tone, rate)
    async with (
        RealtimeSimulator() as sim,
        live_gateway(
            silent_factory,
            sim=sim,
            entry={"recording_dir": str(tmp_path)},
            settings={"dashboard_token": DASHBOARD_TOKEN},
        ) as live,
        Browser(microphone=tmp_path / "tone.wav") as browser,
    ):
        await browser.get(f"{live.base_url}/phone")
        await browser.js(
            "document.getElementById('token').value = arguments[0]; document.getElementById('login').submit()",
            DASHBOARD_TOKEN,
        )
        await eventually(
            lambda: _equals(browser.js("return document.getElementById('number').value"), NUMBER),
            10,
            "numbers",
        )
        await browser.js("document.getElementById('call').click()")
        await eventually(
            lambda: _holds(browser.js("return window.phone.sentFrames >= 150")), 15, "3 s of tone"
        )
        await browser.js("document.getElementById('hangup').click()")
        await wait_until(lambda: len(live.gateway.finished) == 1, 10, "the call's end")

    summary = live.gateway.finished[0]
    assert summary.result is not None and summary.result.recording_path is not None
    with wave.open(str(summary.result.recording_path)) as wav:
        recorded = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float64)
        recorded_rate = wav.getframerate()
    middle = recorded[len(recorded) // 4 : 3 * len(recorded) // 4]  # away from the start and the hang-up
    assert np.sqrt(np.mean(middle**2)) > 1000, "the tone did not arrive"
    spectrum = np.abs(np.fft.rfft(middle * np.hanning(len(middle))))
    peak_hz = float(np.fft.rfftfreq(len(middle), 1 / recorded_rate)[int(np.argmax(spectrum))])
    assert abs(peak_hz - 440) < 5, peak_hz
