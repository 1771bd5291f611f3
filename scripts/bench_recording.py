"""Benchmark of call recording: does memory stay flat over a 60-minute call?

Run it as ``.venv/bin/python scripts/bench_recording.py`` (options: ``--minutes N``, ``--stereo``,
``--speed X`` to pace at X times real time instead of as fast as possible, ``--no-tracemalloc``).
``--loop-cost`` measures instead what recording costs the event loop per 20 ms chunk (see
:func:`loop_cost`).

It simulates a call on a simulated clock and records it with :class:`rtvoice.recording.CallRecorder` to a
temporary WAV file, the way the agent drives it:

* caller audio every 20 ms (20 ms chunks, arriving 0-15 ms late), placed at arrival minus 20 ms;
* a conversation: the caller talks for 2-8 s, then after 0.4-1.2 s the agent answers for 2-12 s; the
  answer arrives in 100 ms deltas five times faster than real time and is scheduled back to back on the
  speaker's queue; every third answer is cut by a barge-in 40-80 % of the way through;
* ``advance(now)`` every 100 ms, ``close(end)`` at the end.

It prints one markdown table with a row at the start, every 5 simulated minutes and at the end: wall
time, speed over real time, file size, the most audio the timeline held since the previous row, RSS now and at its peak
(``getrusage``), and tracemalloc's current and peak traced memory (the peak since the previous row,
so a growing row would show a leak). Finally it re-reads the file with the stdlib ``wave`` module.
"""

from __future__ import annotations

import argparse
import platform
import random
import sys
import tempfile
import time
import tracemalloc
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rtvoice.audio import AudioFormat
from rtvoice.recording import CallRecorder
from rtvoice.recording.session_recorder import SessionRecorder
from rtvoice_codecs import pcm16_to_ulaw

__all__ = ["main"]

STEP_MS = 20
ADVANCE_EVERY_MS = 100
SAMPLE_EVERY_MIN = 5
MIB = 1024 * 1024


def _proc_status(field: str) -> int | None:
    """A memory field of /proc/self/status (Linux), in bytes; None elsewhere."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024  # reported in kB
    except (OSError, ValueError):
        pass
    return None


def _rss_bytes() -> int | None:
    """Resident set size now (VmRSS), or None where that is not available."""
    return _proc_status("VmRSS")


def _peak_rss_bytes() -> int | None:
    """Peak resident set size of this process: VmHWM, else getrusage; None without either."""
    peak = _proc_status("VmHWM")
    if peak is not None:
        return peak
    try:
        import resource
    except ImportError:  # Windows
        return None
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return max_rss if sys.platform == "darwin" else max_rss * 1024  # bytes on macOS, KiB elsewhere


def _mib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / MIB:.1f}"


@dataclass
class Conversation:
    """Turn-taking state: who speaks when, and the agent's answer as it arrives and plays."""

    rng: random.Random
    next_answer_ms: int = 0
    answer_left_ms: int = 0  # audio of the current answer not yet delivered
    delivered_until_ms: int = 0  # where the speaker's queue ends
    cut_at_ms: int | None = None
    answers: int = 0
    barge_ins: int = 0

    def plan_next(self, now: int) -> None:
        caller_talks = self.rng.randint(2000, 8000)
        self.next_answer_ms = max(now, self.delivered_until_ms) + caller_talks + self.rng.randint(400, 1200)


def simulate(path: Path, *, minutes: int, stereo: bool, speed: float, trace: bool) -> list[list[str]]:
    rng = random.Random(20261105)
    audio_rng = np.random.default_rng(5)
    # Pre-made audio, sliced per chunk, so the bench measures the recorder rather than synthesis.
    caller_audio = (audio_rng.normal(0, 3000, 24000).clip(-32768, 32767)).astype("<i2").tobytes()
    t = np.arange(24000) / 24000
    agent_audio = (8000 * np.sin(2 * np.pi * 220 * t)).astype("<i2").tobytes()
    chunk_bytes = STEP_MS * 48
    delta_ms = 100

    rows: list[list[str]] = []
    held_max = [0.0]  # the most audio the timeline held since the previous row, in ms
    if trace:
        tracemalloc.start()
    started = time.perf_counter()

    def sample(sim_ms: int, recorder: CallRecorder) -> None:
        wall = time.perf_counter() - started
        current, peak = tracemalloc.get_traced_memory() if trace else (0, 0)
        if trace:
            tracemalloc.reset_peak()
        rows.append(
            [
                f"{sim_ms / 60000:.0f}",
                f"{wall:.1f}",
                "-" if wall == 0 or sim_ms == 0 else f"{sim_ms / 1000 / wall:.0f}×",
                f"{recorder.bytes_written / MIB:.1f}",
                f"{held_max[0]:.0f}",
                _mib(_rss_bytes()),
                _mib(_peak_rss_bytes()),
                f"{current / 1024:.0f}" if trace else "off",
                f"{peak / 1024:.0f}" if trace else "off",
            ]
        )
        held_max[0] = 0.0

    recorder = CallRecorder(path, stereo=stereo)
    talk = Conversation(rng)
    talk.plan_next(0)
    end_ms = minutes * 60_000
    sample(0, recorder)
    for now in range(STEP_MS, end_ms + STEP_MS, STEP_MS):
        offset = (now // STEP_MS * chunk_bytes) % (len(caller_audio) - chunk_bytes)
        # The chunk captured during the last 20 ms arrives up to 15 ms late; arrivals are in order.
        arrival = now + rng.randint(0, 15)
        recorder.add_caller(caller_audio[offset : offset + chunk_bytes], arrival - STEP_MS)
        if talk.answer_left_ms == 0 and now >= talk.next_answer_ms:
            talk.answers += 1
            talk.answer_left_ms = rng.randint(2000, 12000)
            talk.delivered_until_ms = now
            talk.cut_at_ms = None
            if talk.answers % 3 == 0:
                talk.cut_at_ms = now + int(talk.answer_left_ms * rng.uniform(0.4, 0.8))
        # A 100 ms delta every 20 ms step: the answer arrives five times faster than real time.
        if talk.answer_left_ms > 0:
            ms = min(delta_ms, talk.answer_left_ms)
            start = max(now, talk.delivered_until_ms)  # queued after what the speaker still has
            a = (now * 48) % (len(agent_audio) - ms * 48)
            recorder.schedule_agent(agent_audio[a : a + ms * 48], start)
            talk.delivered_until_ms = start + ms
            talk.answer_left_ms -= ms
            if talk.answer_left_ms == 0:
                talk.plan_next(now)
        if talk.cut_at_ms is not None and now >= talk.cut_at_ms:
            recorder.cut_agent(now)  # barge-in: the speaker's queue is cleared
            talk.barge_ins += 1
            talk.answer_left_ms = 0
            talk.delivered_until_ms = now
            talk.cut_at_ms = None
            talk.plan_next(now)
        held_max[0] = max(held_max[0], recorder.timeline.buffered_ms)
        if now % ADVANCE_EVERY_MS == 0:
            recorder.advance(now)
        if speed > 0:
            ahead = now / 1000 / speed - (time.perf_counter() - started)
            if ahead > 0:
                time.sleep(ahead)
        if now % (SAMPLE_EVERY_MIN * 60_000) == 0 and now != end_ms:
            sample(now, recorder)
    recorder.close(end_ms)
    sample(end_ms, recorder)
    if trace:
        tracemalloc.stop()
    print(
        f"{talk.answers} answers, {talk.barge_ins} barge-ins, agent audio heard {recorder.timeline.agent_ms / 1000:.0f} s, "
        f"cut {recorder.timeline.agent_cut_ms / 1000:.0f} s, caller audio {recorder.timeline.caller_ms / 1000:.0f} s"
    )
    return rows


def _write_syscalls() -> int | None:
    """Write system calls this process has made (``syscw`` of /proc/self/io, Linux); None elsewhere."""
    try:
        with open("/proc/self/io", encoding="ascii") as io_stats:
            for line in io_stats:
                if line.startswith("syscw:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def _percentile(sorted_ns: list[int], q: float) -> float:
    return sorted_ns[min(len(sorted_ns) - 1, int(q * len(sorted_ns)))] / 1000


def loop_cost(path: Path, *, seconds: int, stereo: bool, audio_format: AudioFormat) -> list[list[str]]:
    """What recording costs the event loop: :class:`SessionRecorder` driven the way the agent drives it.

    Every 20 ms microphone chunk: ``add_caller(chunk, start_ms, now_ms)`` (in the agent this runs on the
    event loop for every chunk); the agent's answers as 100 ms deltas through ``add_assistant``; a
    barge-in into every third answer through ``cut_assistant``. Each call is timed on its own
    (``perf_counter_ns``); the simulated clock runs as fast as the machine does, so the numbers are CPU
    time on the loop, not waiting. Write system calls are counted from /proc/self/io.
    """
    rng = random.Random(20261203)
    audio_rng = np.random.default_rng(5)
    rate = audio_format.sample_rate
    caller_pcm = (audio_rng.normal(0, 3000, rate).clip(-32768, 32767)).astype("<i2").tobytes()
    t = np.arange(rate) / rate
    agent_pcm = (8000 * np.sin(2 * np.pi * 220 * t)).astype("<i2").tobytes()
    if audio_format is AudioFormat.PCM16_24K:
        caller_audio, agent_audio = caller_pcm, agent_pcm
    else:  # a phone line: 8 kHz mu-law both ways
        caller_audio, agent_audio = pcm16_to_ulaw(caller_pcm), pcm16_to_ulaw(agent_pcm)
    per_ms = audio_format.bytes_per_ms
    chunk = int(STEP_MS * per_ms)
    delta_ms = 100
    timings: dict[str, list[int]] = {"add_caller": [], "add_assistant": [], "cut_assistant": [], "close": []}
    clock = time.perf_counter_ns
    writes_before = _write_syscalls()
    recorder = SessionRecorder(path, stereo=stereo, input_format=audio_format, output_format=audio_format)
    talk = Conversation(rng)
    talk.plan_next(0)
    end_ms = seconds * 1000
    for now in range(STEP_MS, end_ms + STEP_MS, STEP_MS):
        offset = (now // STEP_MS * chunk) % (len(caller_audio) - chunk)
        started = clock()
        recorder.add_caller(caller_audio[offset : offset + chunk], now - STEP_MS, now)
        timings["add_caller"].append(clock() - started)
        if talk.answer_left_ms == 0 and now >= talk.next_answer_ms:
            talk.answers += 1
            talk.answer_left_ms = rng.randint(2000, 12000)
            talk.delivered_until_ms = now
            talk.cut_at_ms = None
            if talk.answers % 3 == 0:
                talk.cut_at_ms = now + int(talk.answer_left_ms * rng.uniform(0.4, 0.8))
        if talk.answer_left_ms > 0:
            ms = min(delta_ms, talk.answer_left_ms)
            start = max(now, talk.delivered_until_ms)
            a = int((now * per_ms) % (len(agent_audio) - ms * per_ms))
            a -= a % 2
            delta = agent_audio[a : a + int(ms * per_ms)]
            started = clock()
            recorder.add_assistant(delta, start)
            timings["add_assistant"].append(clock() - started)
            talk.delivered_until_ms = start + ms
            talk.answer_left_ms -= ms
            if talk.answer_left_ms == 0:
                talk.plan_next(now)
        if talk.cut_at_ms is not None and now >= talk.cut_at_ms:
            started = clock()
            recorder.cut_assistant(now)
            timings["cut_assistant"].append(clock() - started)
            talk.barge_ins += 1
            talk.answer_left_ms = 0
            talk.delivered_until_ms = now
            talk.cut_at_ms = None
            talk.plan_next(now)
    started = clock()
    recorder.close(end_ms)
    timings["close"].append(clock() - started)
    writes_after = _write_syscalls()
    writes = "n/a" if writes_before is None or writes_after is None else writes_after - writes_before
    rows: list[list[str]] = []
    for name, ns in timings.items():
        if not ns:
            continue
        ns.sort()
        rows.append(
            [
                name,
                str(len(ns)),
                f"{_percentile(ns, 0.5):.1f}",
                f"{_percentile(ns, 0.99):.1f}",
                f"{ns[-1] / 1000:.1f}",
                f"{sum(ns) / 1000 / seconds:.0f}",
            ]
        )
    per_s = "n/a" if isinstance(writes, str) else f"{writes / seconds:.1f}"
    print(
        f"{talk.answers} answers, {talk.barge_ins} barge-ins; write syscalls: {writes} "
        f"({per_s} per second of audio)"
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the bench and print its table; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--minutes", type=int, default=60, help="simulated call length (default 60)")
    parser.add_argument("--stereo", action="store_true", help="record caller left, agent right")
    parser.add_argument(
        "--speed", type=float, default=0.0, help="pace at X times real time (default: flat out)"
    )
    parser.add_argument(
        "--no-tracemalloc", dest="trace", action="store_false", help="do not trace allocations"
    )
    parser.add_argument(
        "--loop-cost",
        action="store_true",
        help="measure the cost per 20 ms chunk on the event loop (SessionRecorder, as the agent drives it)",
    )
    parser.add_argument(
        "--seconds", type=int, default=300, help="--loop-cost: simulated call length (default 300)"
    )
    parser.add_argument(
        "--format",
        choices=["pcm16", "pcmu"],
        default="pcmu",
        help="--loop-cost: device audio format (default pcmu, a phone line)",
    )
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.seconds <= 0:
        parser.error("--minutes and --seconds must be positive")
    if args.loop_cost:
        return _main_loop_cost(args.seconds, args.stereo, args.format)

    print(
        f"recording bench: Python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}; "
        f"{args.minutes} simulated minutes, {'stereo' if args.stereo else 'mono'}, "
        f"{'paced at ' + str(args.speed) + '×' if args.speed > 0 else 'as fast as possible'}, "
        f"tracemalloc {'on' if args.trace else 'off'}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "call.wav"
        rows = simulate(path, minutes=args.minutes, stereo=args.stereo, speed=args.speed, trace=args.trace)
        header = [
            "simulated min",
            "wall s",
            "speed",
            "file MiB",
            "timeline held max ms (since last row)",
            "RSS MiB",
            "peak RSS MiB",
            "tracemalloc now KiB",
            "tracemalloc peak KiB (since last row)",
        ]
        print()
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for row in rows:
            print("| " + " | ".join(row) + " |")
        with wave.open(str(path), "rb") as w:
            seconds = w.getnframes() / w.getframerate()
            print(
                f"\nfile check (stdlib wave): {w.getnchannels()} channel(s), {w.getframerate()} Hz, "
                f"{seconds:.3f} s, {path.stat().st_size / MIB:.1f} MiB"
            )
        # The caller track may end up to one arrival jitter (15 ms) after the call: none of it is dropped.
        if not args.minutes * 60 <= seconds <= args.minutes * 60 + 0.015:
            print("ERROR: the file's duration is not the call's duration", file=sys.stderr)
            return 1
    return 0


def _main_loop_cost(seconds: int, stereo: bool, fmt: str) -> int:
    audio_format = AudioFormat.PCMU_8K if fmt == "pcmu" else AudioFormat.PCM16_24K
    print(
        f"recording loop cost: Python {platform.python_version()}, numpy {np.__version__}, "
        f"{platform.machine()}; SessionRecorder, {seconds} s call, {audio_format.wire_type} devices, "
        f"{'stereo' if stereo else 'mono'}, as fast as possible"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "call.wav"
        rows = loop_cost(path, seconds=seconds, stereo=stereo, audio_format=audio_format)
        header = ["call", "calls", "median µs", "p99 µs", "max µs", "total µs per second of audio"]
        print()
        print("| " + " | ".join(header) + " |")
        print("|---|" + "---:|" * (len(header) - 1))
        for row in rows:
            print("| " + " | ".join(row) + " |")
        with wave.open(str(path), "rb") as w:
            duration = w.getnframes() / w.getframerate()
        print(f"\nfile check (stdlib wave): {duration:.3f} s")
        if not seconds - 0.05 <= duration <= seconds + 0.05:
            print("ERROR: the file's duration is not the call's duration", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
