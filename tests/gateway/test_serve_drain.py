"""SIGTERM to a real ``rtvoice-gateway serve`` process with two live calls from the carrier simulator: new
calls are refused with 503, both calls go on during the grace (one in the middle of an answer, the other
asks a question), then hear the goodbye and are hung up, and the process exits 0. (A reply still playing
when the grace ends is played whole before the goodbye: tests/gateway/e2e/test_drain.py.)"""

from __future__ import annotations

import asyncio
import signal

import httpx2
import pytest

from rtvoice_gateway.serve import render_apology
from rtvoice_gateway.settings import DRAIN_GOODBYE
from rtvoice_gateway.testing import SimulatedCall
from support.gateway import mulaw_speech, quiet_spans, sounding, wait_until
from support.serve import serve_process
from support.timing import seconds

pytestmark = pytest.mark.slow

GRACE_S = 5


@pytest.mark.serial  # the second call's question must be answered within the grace, in real time
async def test_sigterm_refuses_new_calls_and_ends_live_ones_with_a_goodbye() -> None:
    goodbye = render_apology(DRAIN_GOODBYE)  # what the server renders: espeak-ng is deterministic
    whole = len(goodbye) // 160 * 160
    head, tail, rest = goodbye[:1600], goodbye[whole - 1600 : whole], goodbye[whole:]
    runners: list[asyncio.Task[None]] = []
    try:
        async with serve_process("--drain-grace", str(GRACE_S)) as serve:
            server, url = serve.process, serve.url
            calls = [SimulatedCall(url, from_number=f"+1555010012{n}") for n in range(2)]
            for call in calls:
                await call.dial()
                await call.connect()
                runners.append(asyncio.create_task(call.run()))
            await wait_until(lambda: all(quiet_spans(call, 1) for call in calls), 30, "both greetings")
            greeted = [len(call.heard) for call in calls]
            first, second = calls
            first.say(mulaw_speech("Are you open tonight?"))
            await wait_until(lambda: bool(sounding(first, greeted[0])), 20, "the first caller's answer")

            server.send_signal(signal.SIGTERM)  # while the first call's answer plays
            async with httpx2.AsyncClient(timeout=seconds(5)) as client:
                await wait_until_draining(client, url)
            late = SimulatedCall(url, from_number="+15550100129")
            with pytest.raises(httpx2.HTTPStatusError) as refused:
                await late.dial()
            assert refused.value.response.status_code == 503
            second.say(mulaw_speech("Can I book a table?"))  # during the grace, calls go on as usual

            async with asyncio.timeout(seconds(GRACE_S + 40)):
                await asyncio.gather(*runners)
                _, log = await server.communicate()
    finally:
        for runner in runners:
            runner.cancel()
    assert server.returncode == 0, log.decode()[-3000:]
    for call, greeting_end in zip(calls, greeted, strict=True):
        heard = bytes(call.heard)
        assert call.closed_by == "gateway"  # the gateway hung up (no carrier credentials: by the stream)
        assert call.clears == []  # nobody was cut off
        assert head in heard and tail in heard.split(head, 1)[1], "the goodbye was not heard whole"
        after = heard[heard.index(tail) + len(tail) :]
        assert after.startswith(rest) and not after[len(rest) :].strip(b"\xff\x7f")  # then nothing
        # Between the greeting and the goodbye: the answer to the caller's question.
        answer = sounding(call, greeting_end, heard.index(head))
        assert len(answer) > 8 * 500, f"{len(answer) / 8:.0f} ms of answer"
    logged = log.decode()
    assert "draining" in logged and "ending 2 calls with a goodbye" in logged


async def test_a_second_signal_ends_at_once_without_the_goodbye() -> None:
    runner: asyncio.Task[None] | None = None
    try:
        async with serve_process("--drain-grace", "600") as serve:
            server, url = serve.process, serve.url
            call = SimulatedCall(url)
            await call.dial()
            await call.connect()
            runner = asyncio.create_task(call.run())
            await wait_until(lambda: quiet_spans(call, 1), 30, "the greeting")
            server.send_signal(signal.SIGTERM)
            async with httpx2.AsyncClient(timeout=seconds(5)) as client:
                await wait_until_draining(client, url)
            server.send_signal(signal.SIGINT)
            async with asyncio.timeout(seconds(20)):  # a hang guard: the drain's grace is 600 s
                _, log = await server.communicate()
                await runner
    finally:
        if runner is not None:
            runner.cancel()
    assert server.returncode == 1, log.decode()[-3000:]
    assert "second signal: ending at once; 1 calls are cut" in log.decode()
    assert call.closed_by == "gateway"
    assert len(list(call.heard_spans())) == 1  # the greeting only: no goodbye


async def wait_until_draining(client: httpx2.AsyncClient, url: str) -> None:
    for _ in range(200):  # the signal is handled within a loop turn or two
        ready = await client.get(f"{url}/readyz")
        if ready.status_code == 503:
            break
        await asyncio.sleep(0.02)
    assert (ready.status_code, ready.text) == (503, "not ready: draining")
