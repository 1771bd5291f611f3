"""Benchmark: the gateway process under N concurrent phone calls, against a bare pass-through bridge.

Three processes on loopback: this one (N simulated carrier calls, and the Realtime simulator, so that a
frame's send and arrival are stamped on one clock), the gateway under test (``rtvoice-gateway serve``,
pointed at that simulator with ``OPENAI_BASE_URL``) and nothing else. Each call sends espeak-ng speech
with pauses, so the agent answers and audio flows both ways. Rows:

* **gateway, transcoding** (the default) and **gateway, μ-law pass-through** (a number config with
  ``audio = "passthrough"``): the whole product: signatures off (local), pre-warm, phone devices, agent;
* **floor**: a bare bridge in its own process (Starlette, the same webhook and WebSocket shape): μ-law
  forwarded untouched both ways, no agent, no pacing, no marks.

Figures: the process's CPU ms per call-second (``/proc/PID/stat`` over a steady window), its RSS growth per
call, and the added latency of inbound frames (carrier send → the simulator receives the append that
carries it, a batch's wait included; exact in pass-through, where each frame's payload is unique; both
ends in this process, so one clock). Separately,
webhook → first agent audio at the carrier, with and without pre-warm (``PREWARM``), calls one at a time.

Usage: ``scripts/bench gateway [--calls 1,10,50] [--seconds 20] [--greetings 10]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from rtvoice.testing import RealtimeSimulator, Timing, speech
from rtvoice.testing.simulator import add_client_message_observer, remove_client_message_observer
from rtvoice_codecs import StreamResampler, pcm16_to_ulaw
from rtvoice_gateway.testing import SimulatedCall

ROOT = Path(__file__).resolve().parent.parent
LINES = ["Hello, are you open tonight?", "A table for four at eight, please.", "Thank you, goodbye."]


def caller_loop() -> bytes:
    """About 12 s of caller speech and pauses as 8 kHz μ-law."""
    pcm = b""
    for line in LINES:
        pcm += speech.trim_silence(speech.synthesize(line), sample_rate=24000) + speech.silence(3000)
    down = StreamResampler(24000, 8000)
    return pcm16_to_ulaw(down.process(pcm) + down.flush())


QUIET = bytes(range(0xF0, 0x100)) + bytes(range(0x70, 0x80))  # the 32 quietest μ-law codes


def tagged(frame: bytes, call: int, seq: int) -> bytes:
    """The frame with its first five samples replaced by an id written in the quietest μ-law codes (a loud
    tag would be speech to the VAD), so every payload of the run is unique."""
    value, tag = call * 1_000_000 + seq, bytearray()
    for _ in range(5):
        value, digit = divmod(value, 32)
        tag.append(QUIET[digit])
    return bytes(tag) + frame[5:]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


@asynccontextmanager
async def process(
    args: list[str], env: dict[str, str]
) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """Start a server process that prints "listening on URL" first; stop it at the end."""
    log = tempfile.TemporaryFile()
    proc = await asyncio.create_subprocess_exec(*args, env=env, stdout=subprocess.PIPE, stderr=log)
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()
    if not line.startswith("listening on "):
        proc.kill()
        await proc.wait()
        log.seek(0)
        raise RuntimeError(f"{args[2:4]} did not start: {line!r}\n{log.read().decode()[-2000:]}")
    try:
        yield proc, line.removeprefix("listening on ")
    finally:
        proc.terminate()
        await proc.wait()
        log.close()


def gateway_command(config: Path | None) -> list[str]:
    extra = ["--config", str(config)] if config else []
    return [
        sys.executable,
        "-m",
        "rtvoice_gateway.cli",
        "--log-level",
        "WARNING",
        "serve",
        "--port",
        "0",
        *extra,
    ]


def gateway_env(sim_url: str, prewarm: bool = True) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TWILIO_AUTH_TOKEN", "PUBLIC_URL")}
    env.update(
        OPENAI_API_KEY="sk-sim",
        OPENAI_BASE_URL=sim_url.replace("ws://", "http://"),
        PREWARM="1" if prewarm else "0",
    )
    return env


async def run_calls(
    url: str, n: int, seconds: float, audio: bytes, sent: dict[str, float]
) -> list[SimulatedCall]:
    """N calls for ``seconds`` of steady state; each frame's payload and send time go into ``sent``."""
    calls = [SimulatedCall(url, from_number=f"+1555010{index:04d}") for index in range(n)]

    async def one(index: int, call: SimulatedCall) -> None:
        await asyncio.sleep(index * 0.05)  # calls arrive over time, not all in one instant
        await call.dial()
        await call.connect()
        seq = 0
        frames = [audio[i : i + 160] for i in range(0, len(audio) - 159, 160)]
        original_send = call._send

        async def stamping_send(message: dict[str, object]) -> None:
            if message.get("event") == "media":
                media = message["media"]
                assert isinstance(media, dict)
                sent[media["payload"]] = time.monotonic()
            await original_send(message)

        call._send = stamping_send  # type: ignore[method-assign]
        runner = asyncio.create_task(call.run())
        deadline = time.monotonic() + seconds + 3 + n * 0.05
        while time.monotonic() < deadline and not runner.done():
            if not call.saying:
                chunk = b"".join(tagged(frame, index, seq + k) for k, frame in enumerate(frames))
                seq += len(frames)
                call.say(chunk)
            await asyncio.sleep(0.2)
        call.hang_up()
        await runner

    async with asyncio.TaskGroup() as tasks:
        for index, call in enumerate(calls):
            tasks.create_task(one(index, call))
    return calls


async def measure(
    command: list[str], env: dict[str, str], n: int, seconds: float, audio: bytes
) -> dict[str, float]:
    sent: dict[str, float] = {}
    latencies: list[float] = []

    def observe(raw: str) -> None:
        if '"input_audio_buffer.append"' in raw:
            at = time.monotonic()
            message = json.loads(raw)
            # One append may carry several carrier frames (the agent batches them while the caller is
            # silent): each frame's latency counts the time it waited for its batch.
            audio = base64.b64decode(message["audio"])
            for offset in range(0, len(audio), 160):
                start = sent.pop(base64.b64encode(audio[offset : offset + 160]).decode(), None)
                if start is not None:
                    latencies.append((at - start) * 1000)

    add_client_message_observer(observe)
    try:
        async with process(command, env) as (proc, url):
            base_rss = rss_mib(proc.pid)
            task = asyncio.create_task(run_calls(url, n, seconds, audio, sent))
            await asyncio.sleep(3 + n * 0.05)  # every call connected and talking
            latencies.clear()
            cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
            await asyncio.sleep(seconds)
            cpu1, t1 = cpu_seconds(proc.pid), time.monotonic()
            rss = rss_mib(proc.pid)
            window = list(latencies)
            calls = await task
    finally:
        remove_client_message_observer(observe)
    heard = sum(len(c.heard.strip(b"\xff")) for c in calls) / 8000 / n
    return {
        "cpu_ms_per_call_s": (cpu1 - cpu0) * 1000 / ((t1 - t0) * n),
        "mib_per_call": (rss - base_rss) / n,
        "p50": pct(window, 0.5),
        "p99": pct(window, 0.99),
        "samples": len(window),
        "heard_s": heard,
    }


async def greeting_latency(sim_url: str, prewarm: bool, count: int, carrier_delay_s: float) -> list[float]:
    times = []
    async with process(gateway_command(None), gateway_env(sim_url, prewarm)) as (_, url):
        for _ in range(count + 1):  # the first is a warm-up
            call = SimulatedCall(url)
            await call.dial()
            await asyncio.sleep(carrier_delay_s)  # the carrier reads the TwiML and opens the stream
            await call.connect()
            runner = asyncio.create_task(call.run())
            async with asyncio.timeout(30):
                while call.first_audio_at is None and not runner.done():  # noqa: ASYNC110
                    await asyncio.sleep(0.005)
            call.hang_up()
            await runner
            assert call.first_audio_at is not None and call.dialled_at is not None
            times.append((call.first_audio_at - call.dialled_at) * 1000)
    return times[1:]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", default="1,10,50", help="comma-separated concurrent call counts")
    parser.add_argument("--seconds", type=float, default=20, help="steady window per row")
    parser.add_argument("--greetings", type=int, default=10, help="calls per pre-warm row")
    parser.add_argument(
        "--connect-delay-ms", default="0,300", help="added delay on each upstream connect (TLS, network)"
    )
    parser.add_argument(
        "--carrier-delay-ms",
        default="0,250",
        help="time from the TwiML to the stream's opening (the carrier's; about zero on loopback)",
    )
    parser.add_argument("--greetings-only", action="store_true", help="only the pre-warm rows")
    parser.add_argument("--floor-server", metavar="SIM_URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_server:
        floor_module = importlib.import_module("bench_gateway_floor")  # beside this script
        await floor_module.serve_floor(args.floor_server)
        return
    counts = [int(n) for n in args.calls.split(",")]
    audio = caller_loop()
    work = Path(tempfile.mkdtemp())
    passthrough = work / "numbers.toml"
    passthrough.write_text(
        f'[default]\nagent = "{ROOT / "examples" / "receptionist.py"}:make_agent"\naudio = "passthrough"\n'
    )
    async with RealtimeSimulator(timing=Timing.realistic(), user_transcripts=LINES * 1000) as sim:
        print(
            "| webhook → first agent audio at the carrier | upstream connect delay | TwiML → stream delay "
            "| calls | median ms | p99 ms |"
        )
        print("|---|---|---|---|---|---|")
        port = int(sim.url.split(":")[2].split("/")[0])
        for delay in (float(d) for d in args.connect_delay_ms.split(",")):
            proxy = await importlib.import_module("bench_prewarm").delaying_proxy(port, delay / 1000)
            target = f"ws://127.0.0.1:{proxy.sockets[0].getsockname()[1]}/v1"
            try:
                for carrier in (float(d) for d in args.carrier_delay_ms.split(",")):
                    for prewarm in (False, True):
                        times = await greeting_latency(target, prewarm, args.greetings, carrier / 1000)
                        label = "with pre-warm" if prewarm else "without pre-warm"
                        print(
                            f"| {label} | {delay:.0f} ms | {carrier:.0f} ms | {len(times)} "
                            f"| {statistics.median(times):.1f} | {pct(times, 0.99):.1f} |",
                            flush=True,
                        )
            finally:
                proxy.close()
                await proxy.wait_closed()
        print()
        if args.greetings_only:
            return
        print(
            "| row | N | CPU ms per call-s | × floor | MiB per call | inbound frame latency p50 / p99 ms | agent audio heard s/call |"
        )
        print("|---|---|---|---|---|---|---|")
        floor_cmd = [sys.executable, str(Path(__file__)), "--floor-server", sim.url]
        for n in counts:
            floor = await measure(floor_cmd, dict(os.environ), n, args.seconds, audio)
            rows = [
                (
                    "gateway, transcoding",
                    await measure(gateway_command(None), gateway_env(sim.url), n, args.seconds, audio),
                ),
                (
                    "gateway, μ-law pass-through",
                    await measure(gateway_command(passthrough), gateway_env(sim.url), n, args.seconds, audio),
                ),
                ("floor: bare bridge", floor),
            ]
            for name, row in rows:
                latency = (
                    f"{row['p50']:.2f} / {row['p99']:.2f}"
                    if name != "gateway, transcoding"
                    else "n/a (transcoded)"
                )
                print(
                    f"| {name} | {n} | {row['cpu_ms_per_call_s']:.2f} | {row['cpu_ms_per_call_s'] / floor['cpu_ms_per_call_s']:.2f} "
                    f"| {row['mib_per_call']:.2f} | {latency} | {row['heard_s']:.1f} |",
                    flush=True,
                )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    asyncio.run(main())
