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

Many calls: ``scripts/bench agent --calls 1,10,25,50 [--seconds 30] [--mode transcode|passthrough]
[--recording] [--input-batch-ms MS] [--repeat K] [--baseline REV]`` runs N agents in one process, each on phone-line devices
(:mod:`rtvoice.testing.phone_line`: 20 ms μ-law frames in at real time, transcoded to PCM16 24 kHz or
passed through; output consumed at real time with a position report per 60 ms, as the gateway's marks
come back), all sharing one
``OpenAIProvider``, against the simulator in another process. Each N runs in a fresh worker process and
is measured over a steady window of ``--seconds``: process CPU per call-second, RSS growth per call, and
the longest event-loop lag while the calls start (a probe sleeping 1 ms). The floor is the same N with a
bare websockets client per call (20 ms μ-law appends as JSON at real time, server events json-parsed).
Without ``--mode``/``--recording`` it measures transcoding, transcoding with recording (also with the
resampler on numpy instead of its C kernel), and pass-through, and fits CPU and memory against N for the
marginal cost per call. ``--repeat K`` measures every row K times (interleaved) and uses each row's median
run, since a shared machine moves single runs by 10-20%. ``--baseline REV`` adds a transcoding + recording
row run on the code of git revision ``REV`` (a temporary worktree, its C kernel built as its install
would), interleaved with the others: a change measured against what it changed, in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import gc
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openai import AsyncOpenAI

from rtvoice import (
    NullOutputDevice,
    OpenAIProvider,
    RealtimeAgent,
    ServerVAD,
    WavInputDevice,
    WavOutputDevice,
)
from rtvoice.realtime import DEFAULT_INPUT_BATCH_MS
from rtvoice.testing import speech
from rtvoice.testing.phone_line import PhoneLineMicrophone, PhoneLineMode, PhoneLineSpeaker, ulaw_from_wav
from rtvoice_codecs import FIR_KERNEL
from rtvoice_gateway.heap import prepare_collector_for_serving

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
    pcm += speech.silence(max(0, int(seconds * 1000) - len(pcm) // 48))
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
    parser.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="length of the simulated call (default 60); with --calls, the steady window (default 30)",
    )
    parser.add_argument(
        "--speed", type=float, default=1.0, help="pace the call N times faster than real time"
    )
    parser.add_argument(
        "--calls", default=None, help="many calls in one process: call counts, e.g. 1,10,25,50"
    )
    parser.add_argument(
        "--mode",
        choices=["transcode", "passthrough"],
        default=None,
        help="with --calls: only this device mode",
    )
    parser.add_argument("--recording", action="store_true", help="with --calls: record every call")
    parser.add_argument(
        "--input-batch-ms",
        type=float,
        default=None,
        help="with --calls: the agents' input_batch_ms (default: the agent's own, 60)",
    )
    parser.add_argument(
        "--baseline",
        default=None,
        metavar="REV",
        help="with --calls: add a transcoding + recording row run on the code of git revision REV "
        "(a temporary worktree), measured in the same run",
    )
    parser.add_argument(
        "--collector",
        choices=["serving", "default"],
        default="serving",
        help="with --calls: the workers' garbage collector: as `rtvoice-gateway serve` sets it up (start-up "
        "heap frozen, short generation-1 collections; the default) or CPython's default thresholds",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="with --calls: measure every row this many times, interleaved, and report each row's median",
    )
    # Internal: one measurement of the many-calls bench, in its own process.
    parser.add_argument("--worker", choices=["agent", "floor"], default=None, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--caller", default="", help=argparse.SUPPRESS)
    parser.add_argument("--work", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        print(json.dumps(dataclasses.asdict(await worker(args))))
        return
    if args.calls is not None:
        if args.seconds is None:
            args.seconds = 30.0
        await calls_bench(args)
        return
    if args.seconds is None:
        args.seconds = 60.0
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


# ------------------------------------------------------------------------------------------ many calls
#
# ``--calls 1,10,25,50``: N calls in one process, each on phone-line devices, against the simulator in
# another process. Every (N, configuration) is measured in a fresh worker process (this script with
# ``--worker``), so memory and CPU of one measurement are not mixed with the leftovers of another.

FRAME_MS = 20
RAMP_S_PER_CALL = 0.037  # one call start every 37 ms: calls arrive at all phases of the 20 ms frame clock
SETTLE_S = 2.0  # after the last start, before the steady window
WARMUP_S = 2.0  # a first call, stopped before measuring: imports and one-time set-up are not per call
PROBE_S = 0.001  # the loop-lag probe's sleep during the call starts


@dataclass(frozen=True)
class CallsConfig:
    """One configuration of the many-calls bench: the agent's devices and whether it records."""

    label: str
    mode: PhoneLineMode
    recording: bool
    input_batch_ms: float | None = None  # None: the agent's default
    fir_kernel: str | None = None  # RTVOICE_FIR_KERNEL for the worker; None: the default (C where built)
    tree: Path | None = None  # run the worker from this checkout's code (--baseline); None: this one
    takes_collector: bool = True  # its worker has --collector (a baseline from before it does not)


COLLECTORS = {
    "serving": "garbage collector set up as serve does: start-up heap frozen, short generation-1 collections",
    "default": "garbage collector: CPython's default thresholds",
}

STANDARD_CONFIGS = (
    CallsConfig("transcoding", "transcode", False),
    CallsConfig("transcoding + recording", "transcode", True),
    # The same calls with the resampler on numpy: what the C kernel saves, measured in the same run.
    CallsConfig("transcoding + recording, numpy resampler", "transcode", True, fir_kernel="numpy"),
    CallsConfig("μ-law pass-through", "passthrough", False),
)


@dataclass
class WorkerResult:
    """What one worker measured (printed as one JSON line)."""

    n: int
    cpu_s: float  # process CPU over the steady window
    wall_s: float  # length of the steady window
    rss_base: int  # before the first measured call (after the warm-up call)
    rss_steady: int  # at the end of the steady window
    warmup_lag_ms: float  # the probe's worst overshoot while the process's first call started
    max_lag_ms: float  # the probe's worst overshoot while the N measured calls started
    lags_over_2ms: int  # how many of the probe's sleeps overshot by more than 2 ms while they started
    audio_out_s: float  # assistant audio per call: played by the phone line (agent) or received (floor)
    errors: list[str]
    fir_kernel: str = FIR_KERNEL  # what evaluated the worker's resamplers ("c" or "numpy")
    # The longest one loop callback held the loop while the N calls started, and what it ran (LongestCallback);
    # the same for the process's first call. -1: not measured (a --baseline checkout from before them).
    longest_callback_ms: float = -1.0
    longest_callback: str = ""
    warmup_callback_ms: float = -1.0
    warmup_callback: str = ""

    @property
    def cpu_ms_per_call_s(self) -> float:
        return self.cpu_s * 1000 / (self.n * self.wall_s)

    @property
    def cpu_ms_per_s(self) -> float:
        return self.cpu_s * 1000 / self.wall_s

    @property
    def mib_per_call(self) -> float:
        return (self.rss_steady - self.rss_base) / self.n / 2**20


def read_bytes(path: str) -> bytes:
    return Path(path).read_bytes()


def remove_recordings(work: Path) -> None:
    for wav in work.glob("call-*.wav"):
        wav.unlink()


def rss_bytes() -> int:
    """Resident set size of this process (``/proc/self/statm``; peak RSS from getrusage elsewhere)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


class LagProbe:
    """Sleeps ``PROBE_S`` over and over: the worst overshoot is the longest the loop was blocked."""

    def __init__(self) -> None:
        self.max_lag_s = 0.0
        self.over_2ms = 0  # overshoots longer than 2 ms

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(PROBE_S)
            lag = loop.time() - before - PROBE_S
            self.max_lag_s = max(self.max_lag_s, lag)
            self.over_2ms += lag > 0.002


async def floor_call(url: str, caller: bytes, stop: asyncio.Event, heard: list[float]) -> None:
    """The floor: bare websockets, 20 ms μ-law appends as JSON at real time, events json-parsed."""
    from websockets.asyncio.client import connect

    from rtvoice.realtime import append_audio_json

    session = {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "audio": {
                "input": {"format": {"type": "audio/pcmu"}, "turn_detection": {"type": "server_vad"}},
                "output": {"format": {"type": "audio/pcmu"}},
            },
        },
    }
    frame_bytes = 8 * FRAME_MS
    silence = b"\xff" * frame_bytes
    async with connect(f"{url}/realtime?model=gpt-realtime", max_size=None) as ws:
        await ws.send(json.dumps(session))

        async def receive() -> None:
            async for message in ws:
                event = json.loads(message)
                if event["type"] == "response.output_audio.delta":
                    heard[0] += len(event["delta"]) * 3 / 4 / 8000  # base64 -> μ-law bytes -> seconds

        async with asyncio.TaskGroup() as tasks:
            receiver = tasks.create_task(receive())
            loop = asyncio.get_running_loop()
            start = loop.time()
            index = 0
            while not stop.is_set():
                offset = index * frame_bytes
                frame = caller[offset : offset + frame_bytes] if offset < len(caller) else silence
                index += 1
                await asyncio.sleep(max(0.0, start + index * FRAME_MS / 1000 - loop.time()))
                await ws.send(append_audio_json(frame.ljust(frame_bytes, b"\xff")))
            receiver.cancel()


async def agent_call(
    provider: OpenAIProvider, caller: bytes, config: CallsConfig, recording: Path | None, stop: asyncio.Event
) -> tuple[str | None, float]:
    """One call on phone-line devices; returns (the error it ended with, seconds of audio played)."""
    speaker = PhoneLineSpeaker(mode=config.mode)
    agent = RealtimeAgent(
        instructions="Be brief.",
        turn_detection=ServerVAD(),
        audio_input=PhoneLineMicrophone(caller, mode=config.mode),
        audio_output=speaker,
        provider=provider,
        recording_path=recording,
        input_batch_ms=DEFAULT_INPUT_BATCH_MS if config.input_batch_ms is None else config.input_batch_ms,
    )
    async with asyncio.TaskGroup() as tasks:
        run = tasks.create_task(agent.run())
        stopped = tasks.create_task(stop.wait())
        await asyncio.wait([run, stopped], return_when=asyncio.FIRST_COMPLETED)
        await agent.stop()
        stopped.cancel()
    error = run.result().error
    return (f"{error.type}: {error.message}" if error is not None else None), speaker.frames_played * 0.02


class LongestCallback:
    """The longest any single event-loop callback held the loop while :meth:`watching`.

    The lag probe's overshoot is wall-clock time: on a shared machine it also counts the time the process
    waited for a CPU, which no code of ours can shorten (the floor shows it too). Here each callback
    (asyncio's ``Handle._run``: every task step, timer and ``call_soon``) is timed by this thread's CPU
    time (``time.thread_time()``, system calls included), and by the wall clock when the thread gave up
    the CPU itself meanwhile (a voluntary context switch, from ``getrusage(RUSAGE_THREAD)``: it waited
    in a blocking call, a sleep or a slow disk, which held the loop as surely as computing). Being
    preempted is the one thing not counted. Stock asyncio only (uvloop's handles are C); the clock reads
    cost a few microseconds per callback, so it watches the call starts, never the CPU window.
    """

    def __init__(self) -> None:
        self.held_s = 0.0
        self.what = ""

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        handle_class: Any = asyncio.events.Handle
        original = handle_class._run
        switches = _voluntary_switches()

        def timed(handle: asyncio.Handle) -> None:
            waits, cpu, wall = switches(), time.thread_time(), time.perf_counter()
            original(handle)
            held = time.perf_counter() - wall if switches() != waits else time.thread_time() - cpu
            if held > self.held_s:
                self.held_s, self.what = held, describe_callback(handle)

        handle_class._run = timed
        try:
            yield
        finally:
            handle_class._run = original


def _voluntary_switches() -> Callable[[], int]:
    """This thread's count of voluntary context switches (a constant 0 where the OS does not say)."""
    import resource

    who = getattr(resource, "RUSAGE_THREAD", None)
    if who is None:
        return lambda: 0
    return lambda: resource.getrusage(who).ru_nvcsw


def describe_callback(handle: asyncio.Handle) -> str:
    """What a handle runs: a task's coroutine (its step) or the callback's name."""
    callback: Any = handle._callback  # type: ignore[attr-defined]
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        return f"task {owner.get_coro().__qualname__}"  # type: ignore[union-attr]
    return getattr(callback, "__qualname__", repr(callback))


async def worker(args: argparse.Namespace) -> WorkerResult:
    """Run ``args.n`` calls (agent or floor), measure, and return the result."""
    caller = read_bytes(args.caller)
    config = CallsConfig(args.worker, args.mode or "transcode", args.recording, args.input_batch_ms)
    provider = OpenAIProvider(api_key="sk-sim", websocket_base_url=args.url)  # one for all calls
    if args.worker != "floor":
        provider.warm_up()  # as a server does at start-up (the gateway's lifespan)
    stop = asyncio.Event()
    heard = [[0.0] for _ in range(args.n + 1)]

    def start_call(index: int, stop: asyncio.Event) -> Coroutine[Any, Any, Any]:
        if args.worker == "floor":
            return floor_call(args.url, caller, stop, heard[index])
        path = Path(args.work) / f"call-{index}.wav" if args.recording else None
        return agent_call(provider, caller, config, path, stop)

    # The process's first call pays for imports and one-time set-up (the SDK's lazy modules, filter
    # designs): run one and hang up before measuring, as a server that has taken calls before would be.
    warmup, warmup_stop, warmup_longest = LagProbe(), asyncio.Event(), LongestCallback()
    async with asyncio.TaskGroup() as tasks:
        with warmup_longest.watching():
            probing = tasks.create_task(warmup.run())
            tasks.create_task(start_call(args.n, warmup_stop))
            await asyncio.sleep(WARMUP_S)
            probing.cancel()
        warmup_stop.set()
    if args.collector == "serving":
        prepare_collector_for_serving()  # as serve does before its port opens (collects first)
    else:
        gc.collect()
    rss_base = rss_bytes()
    probe, longest = LagProbe(), LongestCallback()
    async with asyncio.TaskGroup() as tasks:
        with longest.watching():
            probing = tasks.create_task(probe.run())
            calls: list[asyncio.Task[Any]] = []
            for index in range(args.n):
                calls.append(tasks.create_task(start_call(index, stop)))
                await asyncio.sleep(RAMP_S_PER_CALL)
            await asyncio.sleep(SETTLE_S / 2)  # the last call's start (connect, session) is still under way
            probing.cancel()
        await asyncio.sleep(SETTLE_S / 2)
        cpu0, wall0 = time.process_time(), time.monotonic()
        await asyncio.sleep(args.seconds)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        rss_steady = rss_bytes()
        stop.set()
    errors = []
    audio_out = 0.0
    for index, call in enumerate(calls):
        if args.worker == "floor":
            audio_out += heard[index][0]
        else:
            error, played = call.result()
            audio_out += played
            if error is not None:
                errors.append(error)
    return WorkerResult(
        n=args.n,
        cpu_s=cpu,
        wall_s=wall,
        rss_base=rss_base,
        rss_steady=rss_steady,
        warmup_lag_ms=warmup.max_lag_s * 1000,
        max_lag_ms=probe.max_lag_s * 1000,
        lags_over_2ms=probe.over_2ms,
        longest_callback_ms=longest.held_s * 1000,
        longest_callback=longest.what,
        warmup_callback_ms=warmup_longest.held_s * 1000,
        warmup_callback=warmup_longest.what,
        audio_out_s=audio_out / args.n,
        errors=errors,
    )


WORKER_FIELDS = {f.name for f in dataclasses.fields(WorkerResult)}


@contextlib.contextmanager
def baseline_checkout(rev: str) -> Iterator[tuple[Path, str]]:
    """A temporary ``git worktree`` of ``rev`` and its short hash, with its resampler kernel built the way
    its install would."""
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="rtvoice-bench-baseline-", ignore_cleanup_errors=True) as parent:
        tree = Path(parent) / "tree"
        add = subprocess.run(
            ["git", "-C", str(root), "worktree", "add", "--detach", "--quiet", str(tree), rev],
            capture_output=True,
            text=True,
            check=False,
        )
        if add.returncode != 0:
            raise SystemExit(f"--baseline {rev}: git worktree add failed: {add.stderr.strip()}")
        try:
            hook = tree / "hatch_build.py"
            if hook.exists():
                spec = importlib.util.spec_from_file_location("baseline_hatch_build", hook)
                assert spec is not None and spec.loader is not None
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                problem = module.compile_kernel(tree)
                if problem is not None:
                    print(f"--baseline {rev}: its kernel was not built ({problem})", file=sys.stderr)
            short = subprocess.run(
                ["git", "-C", str(tree), "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
                check=True,
            )
            yield tree, short.stdout.strip()
        finally:
            subprocess.run(["git", "-C", str(root), "worktree", "remove", "--force", str(tree)], check=False)


async def run_worker(
    kind: str,
    n: int,
    url: str,
    caller: Path,
    work: Path,
    seconds: float,
    config: CallsConfig | None,
    collector: str,
) -> WorkerResult:
    tree = config.tree if config is not None else None
    command = [
        sys.executable,
        __file__ if tree is None else str(tree / "scripts" / "bench_agent.py"),
        "--worker",
        kind,
        "--n",
        str(n),
        "--url",
        url,
        "--caller",
        str(caller),
        "--work",
        str(work),
        "--seconds",
        str(seconds),
    ]
    if config is None or config.takes_collector:
        command += ["--collector", collector]
    if config is not None:
        command += ["--mode", config.mode] + (["--recording"] if config.recording else [])
        if config.input_batch_ms is not None:
            command += ["--input-batch-ms", str(config.input_batch_ms)]
    env = dict(os.environ)
    if config is not None and config.fir_kernel is not None:
        env["RTVOICE_FIR_KERNEL"] = config.fir_kernel
    if tree is not None:  # the checkout's packages come before the installed (editable) ones
        env["PYTHONPATH"] = os.pathsep.join(str(tree / d) for d in ("agents", "codecs", "gateway"))
    proc = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE, env=env)
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"worker {kind} n={n} failed with exit code {proc.returncode}")
    fields = json.loads(out.decode().strip().splitlines()[-1])
    remove_recordings(work)
    # (A baseline checkout's worker prints the fields of its own WorkerResult: new fields need defaults.)
    result = WorkerResult(**{k: v for k, v in fields.items() if k in WORKER_FIELDS})
    if config is not None and config.fir_kernel is not None and result.fir_kernel != config.fir_kernel:
        raise RuntimeError(f"worker {kind} n={n} resampled with {result.fir_kernel}, not {config.fir_kernel}")
    return result


def fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares line through (N, y): (slope, intercept); (y, 0) for a single point."""
    if len(points) < 2:
        n, y = points[0]
        return y / n, 0.0
    xs = [float(n) for n, _ in points]
    ys = [y for _, y in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    return slope, my - slope * mx


async def calls_bench(args: argparse.Namespace) -> None:
    try:
        counts = sorted({int(n) for n in args.calls.split(",")})
    except ValueError:
        counts = []
    if not counts or counts[0] < 1:
        raise SystemExit("--calls takes positive call counts, e.g. --calls 1,10,25,50")
    if not 1 <= args.repeat <= 20:
        raise SystemExit("--repeat takes 1 to 20 runs per row")
    if args.mode is None and not args.recording and args.input_batch_ms is None:
        configs: tuple[CallsConfig, ...] = STANDARD_CONFIGS
    else:
        mode: PhoneLineMode = args.mode or "transcode"
        label = "transcoding" if mode == "transcode" else "μ-law pass-through"
        label += " + recording" if args.recording else ""
        if args.input_batch_ms is not None:
            label += f", input_batch_ms={args.input_batch_ms:g}"
        configs = (CallsConfig(label, mode, args.recording, args.input_batch_ms),)
    with contextlib.ExitStack() as stack:
        if args.baseline is not None:
            tree, rev = stack.enter_context(baseline_checkout(args.baseline))
            takes = "--collector" in (tree / "scripts" / "bench_agent.py").read_text(encoding="utf-8")
            label = f"transcoding + recording, baseline {rev}"
            if not takes and args.collector != "default":
                label += " (CPython's collector: its bench has no --collector)"
            configs += (CallsConfig(label, "transcode", True, tree=tree, takes_collector=takes),)
        await run_calls(args, counts, configs)


async def run_calls(args: argparse.Namespace, counts: list[int], configs: tuple[CallsConfig, ...]) -> None:
    work = Path(tempfile.mkdtemp(prefix="rtvoice-bench-calls-"))
    wav = work / "caller.wav"
    caller_wav(wav, args.seconds + RAMP_S_PER_CALL * counts[-1] + SETTLE_S + 10)
    caller = work / "caller.ulaw"
    caller.write_bytes(ulaw_from_wav(wav))
    proc, url = await start_simulator()
    floor_runs: dict[int, list[WorkerResult]] = {n: [] for n in counts}
    agent_runs: dict[tuple[str, int], list[WorkerResult]] = {
        (c.label, n): [] for c in configs for n in counts
    }
    try:
        for _ in range(args.repeat):
            for n in counts:  # interleaved, so a slow spell of the machine hits every configuration
                floor_runs[n].append(
                    await run_worker("floor", n, url, caller, work, args.seconds, None, args.collector)
                )
                for config in configs:
                    agent_runs[(config.label, n)].append(
                        await run_worker("agent", n, url, caller, work, args.seconds, config, args.collector)
                    )
    finally:
        proc.terminate()
        await proc.wait()
    floors = {n: median_run(runs) for n, runs in floor_runs.items()}
    agents = {key: median_run(runs) for key, runs in agent_runs.items()}
    print(calls_report(args, counts, configs, floors, agents))
    if args.repeat > 1:
        print(spread_report(counts, configs, floor_runs, agent_runs))


def median_run(runs: list[WorkerResult]) -> WorkerResult:
    """The run with the median CPU (the lower of the two middle ones for an even count)."""
    ordered = sorted(runs, key=lambda r: r.cpu_s / r.wall_s)
    return ordered[(len(ordered) - 1) // 2]


def spread_report(
    counts: list[int],
    configs: tuple[CallsConfig, ...],
    floor_runs: dict[int, list[WorkerResult]],
    agent_runs: dict[tuple[str, int], list[WorkerResult]],
) -> str:
    """Every run's CPU ms per call-second, to show how far the machine moved them, and every run's longest
    callback while its calls started (the tables above show the median-CPU run's only)."""
    lines: list[str] = []
    figures: list[tuple[str, Callable[[WorkerResult], str]]] = [
        ("CPU ms per call-s", lambda r: f"{r.cpu_ms_per_call_s:.2f}"),
        (
            "longest one callback held the loop while the calls started, ms",
            lambda r: _ms(r.longest_callback_ms),
        ),
    ]
    rows = [("floor", floor_runs)]
    rows += [(c.label, {n: agent_runs[(c.label, n)] for n in counts}) for c in configs]
    for title, figure in figures:
        lines += [
            "",
            f"Every run ({title}, in the order measured; the tables above use each row's median):",
            "",
            "| row | " + " | ".join(f"N = {n}" for n in counts) + " |",
            "|---|" + "---|" * len(counts),
        ]
        for label, runs in rows:
            cells = " | ".join(", ".join(figure(r) for r in runs[n]) for n in counts)
            lines.append(f"| {label} | {cells} |")
    return "\n".join(lines)


def calls_report(
    args: argparse.Namespace,
    counts: list[int],
    configs: tuple[CallsConfig, ...],
    floors: dict[int, WorkerResult],
    agents: dict[tuple[str, int], WorkerResult],
) -> str:
    lines = [
        f"many-calls bench: N calls in one process on phone-line devices (20 ms μ-law frames at real time), "
        f"simulator in another process; steady window {args.seconds:.0f} s; one worker process per row "
        + (f"run {args.repeat} times (each row: the median run by CPU) " if args.repeat > 1 else "")
        + f"(Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, resampler kernel: {FIR_KERNEL}, "
        + COLLECTORS[args.collector]
        + ")",
        "",
        "| configuration | N | CPU ms per call-s: agent | floor | ratio | MiB per call (RSS): agent | floor "
        "| max loop lag while calls start, ms: agent / floor | lags > 2 ms: agent / floor "
        "| first call's max lag, ms: agent / floor | longest one callback held the loop while calls start, ms: "
        "agent / floor | the same in the first call, ms: agent / floor | assistant audio s per call: agent / floor |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    errors: list[str] = []
    for config in configs:
        for n in counts:
            agent, floor = agents[(config.label, n)], floors[n]
            lines.append(
                f"| {config.label} | {n} | {agent.cpu_ms_per_call_s:.2f} | {floor.cpu_ms_per_call_s:.2f} "
                f"| {agent.cpu_ms_per_call_s / floor.cpu_ms_per_call_s:.2f} | {agent.mib_per_call:.2f} "
                f"| {floor.mib_per_call:.2f} | {agent.max_lag_ms:.1f} / {floor.max_lag_ms:.1f} "
                f"| {agent.lags_over_2ms} / {floor.lags_over_2ms} | {agent.warmup_lag_ms:.0f} / {floor.warmup_lag_ms:.0f} "
                f"| {_ms(agent.longest_callback_ms)} / {_ms(floor.longest_callback_ms)} "
                f"| {_ms(agent.warmup_callback_ms)} / {_ms(floor.warmup_callback_ms)} "
                f"| {agent.audio_out_s:.1f} / {floor.audio_out_s:.1f} |"
            )
            errors += [f"{config.label}, N={n}: {e}" for e in agent.errors[:3]]
    floor_slope, floor_base = fit([(n, floors[n].cpu_ms_per_s) for n in counts])
    floor_mib, _ = fit([(n, (floors[n].rss_steady - floors[n].rss_base) / 2**20) for n in counts])
    lines += [
        "",
        f"Marginal cost, least-squares fit over N = {', '.join(map(str, counts))} "
        "(CPU ms per wall second, and RSS growth, against N):",
        "",
        "| configuration | marginal CPU ms per call-s | ratio to the floor | fixed CPU ms/s | marginal MiB per call "
        "| max loop lag during starts, ms | longest one callback held the loop during starts, ms (what ran) |",
        "|---|---|---|---|---|---|---|",
        f"| floor (websockets + json, μ-law) | {floor_slope:.2f} | 1.00 | {floor_base:.1f} | {floor_mib:.2f} "
        f"| {max(floors[n].max_lag_ms for n in counts):.1f} | {_longest([floors[n] for n in counts])} |",
    ]
    for config in configs:
        slope, base = fit([(n, agents[(config.label, n)].cpu_ms_per_s) for n in counts])
        mib, _ = fit(
            [
                (n, (agents[(config.label, n)].rss_steady - agents[(config.label, n)].rss_base) / 2**20)
                for n in counts
            ]
        )
        lag = max(agents[(config.label, n)].max_lag_ms for n in counts)
        held = _longest([agents[(config.label, n)] for n in counts])
        lines.append(
            f"| RealtimeAgent, {config.label} | {slope:.2f} | {slope / floor_slope:.2f} | {base:.1f} | {mib:.2f} "
            f"| {lag:.1f} | {held} |"
        )
    if errors:
        lines += ["", "Calls that ended with an error:", *[f"- {e}" for e in errors]]
    return "\n".join(lines)


def _ms(value: float) -> str:
    return "–" if value < 0 else f"{value:.1f}"


def _longest(runs: list[WorkerResult]) -> str:
    """The longest callback of any run, first calls included, and what it ran."""
    held = [(r.longest_callback_ms, r.longest_callback) for r in runs]
    held += [(r.warmup_callback_ms, f"{r.warmup_callback}, first call") for r in runs]
    ms, what = max(held)
    return "–" if ms < 0 else f"{ms:.1f} ({what})"


if __name__ == "__main__":
    asyncio.run(main())
