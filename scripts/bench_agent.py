"""Benchmark: the agent's own CPU per call-second over a simulated conversation.

The Realtime simulator runs in another process (``rtvoice-gateway simulator``), so only the agent's side
is measured. A 60-second caller WAV (espeak-ng lines with pauses) streams through ``WavInputDevice`` at
real time; the model's replies play on ``WavOutputDevice`` (a real-time simulated speaker). For each
upstream append size (20 ms and 100 ms) it runs:

* **agent**: ``RealtimeAgent.run()``, the whole runtime (core, shell, listener bus, devices);
* **baseline**: the floor any openai-SDK client pays for the same traffic in the same process: the same
  WAV paced the same way, appended with the SDK, every server event received and parsed with the SDK's
  own ``parse_event``, nothing else.

CPU is ``time.process_time()`` sampled every wall second; the table reports CPU ms per call-second as the
mean over the call and the median and p99 of the one-second windows. Compare rows within one run.

Usage: ``scripts/bench agent [--seconds 60] [--speed 1.0]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from openai import AsyncOpenAI

from rtvoice import (
    NullOutputDevice,
    OpenAIProvider,
    RealtimeAgent,
    ServerVAD,
    WavInputDevice,
    WavOutputDevice,
)
from rtvoice.testing import speech

LINES = [
    "Hi, I would like to book a table for two tonight.",
    "Around seven thirty, please.",
    "Do you have a table by the window?",
    "Great. Can I also order a birthday cake?",
    "Chocolate, please. With candles.",
    "No, that is all. Thank you very much, goodbye.",
]
RATE = 24000


def caller_wav(path: Path, seconds: float) -> None:
    """Caller lines with pauses long enough for the replies, repeated to fill ``seconds``."""
    pcm = speech.silence(500)
    index = 0
    while len(pcm) / 2 / RATE < seconds - 6:
        line = LINES[index % len(LINES)]
        pcm += speech.trim_silence(speech.synthesize(line), sample_rate=RATE) + speech.silence(6000)
        index += 1
    pcm += speech.silence(int(seconds * 1000) - len(pcm) // 48)
    speech.write_wav(path, pcm[: int(seconds * RATE) * 2], sample_rate=RATE)


async def start_simulator() -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rtvoice_gateway.cli",
        "simulator",
        "--port",
        "0",
        "--generation-speed",
        "4",
        *[arg for line in LINES * 20 for arg in ("--transcript", line)],
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = (await proc.stdout.readline()).decode().strip()
    return proc, line.removeprefix("listening on ")


async def measure(body: Callable[[], Awaitable[None]]) -> tuple[float, list[float], float]:
    """Run ``body``; return (CPU seconds, CPU seconds of each wall second, wall seconds)."""
    windows: list[float] = []

    async def sample() -> None:
        last = time.process_time()
        while True:
            await asyncio.sleep(1.0)
            now = time.process_time()
            windows.append(now - last)
            last = now

    cpu0, wall0 = time.process_time(), time.monotonic()
    async with asyncio.TaskGroup() as tasks:
        sampler = tasks.create_task(sample())
        await body()
        sampler.cancel()
    return time.process_time() - cpu0, windows, time.monotonic() - wall0


async def run_agent(url: str, wav: Path, out: Path | None, chunk_ms: int, speed: float) -> None:
    mic = WavInputDevice(wav, speed=speed, chunk_ms=chunk_ms, end="stop")
    agent = RealtimeAgent(
        instructions="Be brief.",
        turn_detection=ServerVAD(),
        audio_input=mic,
        audio_output=WavOutputDevice(out, speed=speed) if out is not None else NullOutputDevice(),
        provider=OpenAIProvider(api_key="sk-bench", websocket_base_url=url),
    )
    async with asyncio.TaskGroup() as tasks:
        run = tasks.create_task(agent.run())
        await mic.wait_finished()
        await agent.stop()
    result = run.result()
    if result.error is not None:
        raise RuntimeError(f"agent ended with {result.error}")


async def run_baseline(url: str, wav: Path, chunk_ms: int, speed: float) -> None:
    pcm, _ = speech.read_wav(wav)
    client = AsyncOpenAI(api_key="sk-bench", websocket_base_url=url)
    chunk = RATE * 2 * chunk_ms // 1000
    async with client.realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(
            session={"type": "realtime", "audio": {"input": {"turn_detection": {"type": "server_vad"}}}}
        )

        async def receive() -> None:
            while True:
                conn.parse_event(await conn.recv_bytes())

        async with asyncio.TaskGroup() as tasks:
            receiver = tasks.create_task(receive())
            start = time.monotonic()
            for index, offset in enumerate(range(0, len(pcm), chunk)):
                await conn.input_audio_buffer.append(
                    audio=base64.b64encode(pcm[offset : offset + chunk]).decode()
                )
                due = start + (index + 1) * chunk_ms / 1000 / speed
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            receiver.cancel()
    await client.close()


async def run_floor(url: str, wav: Path, chunk_ms: int, speed: float) -> None:
    """The same traffic with bare websockets and json: what any Python client pays on this machine."""
    from websockets.asyncio.client import connect

    from rtvoice.realtime import append_audio_json

    pcm, _ = speech.read_wav(wav)
    chunk = RATE * 2 * chunk_ms // 1000
    async with connect(f"{url}/realtime?model=gpt-realtime", max_size=None) as ws:
        await ws.send('{"type":"session.update","session":{"type":"realtime"}}')

        async def receive() -> None:
            async for message in ws:
                json.loads(message)

        async with asyncio.TaskGroup() as tasks:
            receiver = tasks.create_task(receive())
            start = time.monotonic()
            for index, offset in enumerate(range(0, len(pcm), chunk)):
                await ws.send(append_audio_json(pcm[offset : offset + chunk]))
                due = start + (index + 1) * chunk_ms / 1000 / speed
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            receiver.cancel()


def row(name: str, chunk_ms: int, cpu: float, windows: list[float], call_seconds: float, speed: float) -> str:
    # A window is one wall second, i.e. ``speed`` call-seconds.
    per_window = sorted(w * 1000 / speed for w in windows) or [0.0]
    p99 = per_window[min(len(per_window) - 1, round(0.99 * (len(per_window) - 1)))]
    return (
        f"| {name} | {chunk_ms} ms | {cpu * 1000 / call_seconds:.2f} | {statistics.median(per_window):.2f} "
        f"| {p99:.2f} | {call_seconds:.0f} |"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the simulated call")
    parser.add_argument(
        "--speed", type=float, default=1.0, help="pace the call N times faster than real time"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rtvoice-bench-"))
    wav = work / "caller.wav"
    caller_wav(wav, args.seconds)
    proc, url = await start_simulator()
    lines = [
        f"agent bench: {args.seconds:.0f} s call at {args.speed:g}x real time, simulator in another process "
        f"(Python {sys.version.split()[0]})",
        "",
        "| run | append | CPU ms per call-second (mean) | median of 1 s windows | p99 of 1 s windows | call s |",
        "|---|---|---|---|---|---|",
    ]
    try:
        results: dict[tuple[str, int], float] = {}
        for chunk_ms in (20, 100):
            runs: list[tuple[str, Callable[[], Awaitable[None]]]] = [
                ("floor (websockets + json)", lambda c=chunk_ms: run_floor(url, wav, c, args.speed)),  # type: ignore[misc]
                ("baseline (openai SDK)", lambda c=chunk_ms: run_baseline(url, wav, c, args.speed)),  # type: ignore[misc]
                ("RealtimeAgent, null speaker", lambda c=chunk_ms: run_agent(url, wav, None, c, args.speed)),  # type: ignore[misc]
                (
                    "RealtimeAgent, WAV speaker",
                    lambda c=chunk_ms: run_agent(url, wav, work / f"speaker-{c}.wav", c, args.speed),  # type: ignore[misc]
                ),
            ]
            for name, body in runs:
                cpu, windows, wall = await measure(body)
                call_seconds = wall * args.speed
                results[(name, chunk_ms)] = cpu * 1000 / call_seconds
                lines.append(row(name, chunk_ms, cpu, windows, call_seconds, args.speed))
        lines.append("")
        for chunk_ms in (20, 100):
            floor = results[("floor (websockets + json)", chunk_ms)]
            agent = results[("RealtimeAgent, null speaker", chunk_ms)]
            lines.append(
                f"{chunk_ms} ms appends: RealtimeAgent (null speaker) {agent:.2f} ms/call-s = {agent / floor:.2f}x "
                f"the bare websockets floor ({floor:.2f}); the agent adds {agent - floor:.2f} ms/call-s over it"
            )
    finally:
        proc.terminate()
        await proc.wait()
    print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())
