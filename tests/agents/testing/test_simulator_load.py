"""The simulator under load: speech is synthesised off the event loop, shared, and memory stays bounded.

The bound: with 50 concurrent sessions whose replies each take a blocking 50 ms to synthesise (as an
espeak-ng subprocess does), the event loop serving them is never late by more than 250 ms (scaled by
RTVOICE_TEST_TIME_SCALE), and no session waits longer than that between two events of its reply. Run on
the event loop, the same syntheses would block it for 50 x 50 ms = 2.5 s.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest
from websockets.asyncio.client import connect as ws_connect

from rtvoice.testing import RealtimeSimulator, Say, ScriptedBrain
from rtvoice.testing.speech_cache import SpeechCache
from rtvoice.testing.timing import Timing
from support.realtime import connect
from support.timing import seconds

# Fifty sessions at real time: a measure of stalls that a busy machine would spoil.
pytestmark = pytest.mark.serial

SESSIONS = 50
SYNTHESIS_S = 0.05
BOUND_S = 0.25


def tone(text: str, rate: int, speed: float) -> bytes:
    """100 ms of audio per word."""
    return b"\x01\x00" * (rate // 10 * len(text.split()))


async def test_fifty_concurrent_sessions_get_their_replies_without_stalling_each_other() -> None:
    loop_thread = threading.get_ident()
    synth_threads: set[int] = set()

    def slow_voice(text: str, rate: int, speed: float) -> bytes:
        synth_threads.add(threading.get_ident())
        time.sleep(SYNTHESIS_S)  # blocking, like waiting for the espeak-ng subprocess
        return tone(text, rate, speed)

    lateness: list[float] = []

    async def probe(stop: asyncio.Event) -> None:
        while not stop.is_set():
            before = time.monotonic()
            await asyncio.sleep(0.01)
            lateness.append(time.monotonic() - before - 0.01)

    async def call(sim: RealtimeSimulator, index: int) -> tuple[str, float]:
        text = f"caller {index} says hello"  # every reply differs: no cache hit hides a synthesis
        # A bare WebSocket client: 50 SDK clients would each build a TLS context on this loop first.
        async with ws_connect(f"{sim.url}/realtime?model=gpt-realtime", compression=None) as ws:
            item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
            await ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
            await ws.send(json.dumps({"type": "response.create"}))
            audio_arrivals: list[float] = []
            async with asyncio.timeout(seconds(30)):
                while True:
                    event = json.loads(await ws.recv())
                    if event["type"] == "response.output_audio.delta" or audio_arrivals:
                        audio_arrivals.append(time.monotonic())
                    if event["type"] == "response.done":
                        break
            done = event["response"]
            assert done["status"] == "completed"
            pairs = zip(audio_arrivals, audio_arrivals[1:], strict=False)
            worst_gap = max((b - a for a, b in pairs), default=0.0)
            return str(done["output"][0]["content"][0]["transcript"]), worst_gap

    stop = asyncio.Event()
    async with RealtimeSimulator(
        synthesize=slow_voice, timing=Timing.realistic(scale=0.2), speech_threads=4
    ) as sim:
        watcher = asyncio.create_task(probe(stop))
        try:
            results = await asyncio.gather(*(call(sim, i) for i in range(SESSIONS)))
        finally:
            stop.set()
            await watcher
        assert sim.speech.syntheses == SESSIONS

    assert [transcript for transcript, _ in results] == [f"caller {i} says hello" for i in range(SESSIONS)]
    assert loop_thread not in synth_threads
    assert lateness and max(lateness) < seconds(BOUND_S)
    assert max(gap for _, gap in results) < seconds(BOUND_S)


async def test_the_same_reply_is_synthesised_once_for_every_connection() -> None:
    calls: list[str] = []

    def counting_voice(text: str, rate: int, speed: float) -> bytes:
        calls.append(text)
        return tone(text, rate, speed)

    brain = Say("Thank you for calling.")
    async with RealtimeSimulator(
        brain_factory=lambda: ScriptedBrain([brain]), synthesize=counting_voice
    ) as sim:

        async def call() -> None:
            async with connect(sim) as client:
                await client.send({"type": "response.create"})
                await client.until("response.done")

        await asyncio.gather(*(call() for _ in range(10)))
        assert len(sim.speech) == 1
    assert calls == ["Thank you for calling."]


async def test_the_speech_cache_is_bounded_in_bytes() -> None:
    texts = [f"reply {i} " + "word " * 9 for i in range(6)]  # 1.1 s each = 52,800 bytes at 24 kHz
    brain = ScriptedBrain([Say(t) for t in texts])
    async with (
        RealtimeSimulator(
            brain=brain, synthesize=tone, speech_cache_bytes=120_000, generation_speed=1000
        ) as sim,
        connect(sim) as client,
    ):
        for _ in texts:
            await client.send({"type": "response.create"})
            await client.until("response.done")
        assert sim.speech.size_bytes <= 120_000
        assert len(sim.speech) == 2


async def test_past_sessions_and_close_codes_are_bounded() -> None:
    async with RealtimeSimulator(history=3) as sim:
        for _ in range(7):
            async with connect(sim):
                pass
            await sim.wait_idle()
        assert len(sim.sessions) == len(sim.close_codes) == len(sim.close_times) == 3
        assert list(sim.close_codes) == [1000, 1000, 1000]


async def test_appended_audio_is_not_kept_and_events_are_bounded() -> None:
    chunk = "AAAA" * 200
    async with RealtimeSimulator() as sim, connect(sim) as client:
        session = sim.sessions[0]
        session.history = 40
        for _ in range(100):
            await client.send({"type": "input_audio_buffer.append", "audio": chunk})
        await client.send({"type": "input_audio_buffer.clear"})
        await client.until("input_audio_buffer.cleared")
        assert 40 <= len(session.received) <= 40 + 40 // 8 + 1
        appends = [e for e in session.received if e.type == "input_audio_buffer.append"]
        assert appends and all(getattr(e, "audio", None) == "" for e in appends)
        assert session.received[-1].type == "input_audio_buffer.clear"


async def test_the_speech_cache_dedupes_syntheses_in_flight_and_survives_failures() -> None:
    started = threading.Event()
    release = threading.Event()
    calls: list[str] = []

    def gated(text: str, rate: int, speed: float) -> bytes:
        calls.append(text)
        if text == "fails":
            raise RuntimeError("espeak-ng exited with status 1")
        started.set()
        release.wait(10)
        return tone(text, rate, speed)

    cache = SpeechCache(gated, max_bytes=1_000_000, threads=2)
    cache.open()
    try:
        first = asyncio.create_task(cache.prepare([("hello there", 24000, 1.0)]))
        second = asyncio.create_task(cache.prepare([("hello there", 24000, 1.0), ("fails", 24000, 1.0)]))
        await asyncio.to_thread(started.wait, 10)
        release.set()
        await asyncio.gather(first, second)  # a failure ahead of time is not raised here
        assert calls.count("hello there") == 1
        assert cache.get("hello there", 24000, 1.0) == tone("hello there", 24000, 1.0)
        assert len(cache) == 1
        with pytest.raises(RuntimeError, match="espeak-ng"):  # ...but where the audio is needed
            cache.get("fails", 24000, 1.0)
    finally:
        release.set()
        cache.close()
    assert len(cache) == 0
