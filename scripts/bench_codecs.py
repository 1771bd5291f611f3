"""Benchmark of the codecs: resamplers and the per-frame transcode path, in one markdown table.

Run it as ``scripts/bench codecs`` (options: ``--frames N``). For every resampler, in both directions
between 8 and 24 kHz, it measures:

* time per 20 ms frame (median, p99 and mean of single calls, all paths of one direction interleaved
  frame by frame, so machine noise hits them alike; the garbage collector is paused while timing). The
  mean (of the fastest 99.9%) matters for bursty resamplers: soxr returns nothing on most calls and
  does the work in bursts;
* delay as a live stream sees it: the *lag* of the output samples behind an ideal resampling (circular
  cross-correlation on periodic band-limited noise), and the *hold-back* after each 20 ms chunk (input
  time fed minus output time emitted; mean and worst). Their sum is the delay a caller hears;
* SINAD of a 1 kHz tone at -6 dBFS;
* 24→8: the worst alias level of 5-11 kHz tones (output level relative to the input tone);
  8→24: the worst image level (power above 4 kHz) of 0.5-3 kHz tones.

Then the full per-frame transcode (μ-law 8 kHz → PCM16 24 kHz, and PCM16 24 kHz → μ-law 8 kHz) with the
FIR and with soxr VHQ. The last column is each median time relative to soxr VHQ on the same path.
"""

import argparse
import gc
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import soxr

from rtvoice_codecs import (
    FIR_KERNEL,
    RATE_8K,
    RATE_24K,
    StreamResampler,
    pcm16_to_ulaw,
    ulaw_to_pcm16,
)
from rtvoice_codecs.analysis import (
    FloatArray,
    array_to_pcm16,
    bandlimited_noise,
    ideal_resample,
    image_level_db,
    lag_samples,
    level_db,
    pcm16_to_array,
    sinad_db,
    tone,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

__all__ = ["main"]

FRAME_MS = 20

_RatecvState = tuple[int, tuple[tuple[int, int], ...]] | None


class Stream(Protocol):
    """The part of StreamResampler the bench drives; audioop.ratecv is adapted to it."""

    def process(self, pcm: bytes) -> bytes: ...
    def flush(self) -> bytes: ...
    def reset(self) -> None: ...


class RatecvStream:
    """``audioop.ratecv`` with its state carried between calls (as the Azure call-center sample does)."""

    def __init__(self, in_rate: int, out_rate: int) -> None:
        self.in_rate, self.out_rate = in_rate, out_rate
        self._state: _RatecvState = None

    def process(self, pcm: bytes) -> bytes:
        out, self._state = audioop.ratecv(pcm, 2, 1, self.in_rate, self.out_rate, self._state)
        return bytes(out)

    def flush(self) -> bytes:
        self._state = None
        return b""

    def reset(self) -> None:
        self._state = None


@dataclass
class Row:
    """One line of the table."""

    path: str
    method: str
    times_ns: list[int] = field(default_factory=list)
    lag_ms: float | None = None
    hold_mean_ms: float | None = None
    hold_max_ms: float | None = None
    sinad: float | None = None
    spurious: float | None = None  # alias (24→8) or image (8→24) level, dB

    def median_us(self) -> float:
        return statistics.median(self.times_ns) / 1000

    def mean_us(self) -> float:
        # Trimmed: the slowest 0.1% are the shared machine's hiccups (a few ms each), which would swamp a
        # plain mean; soxr's bursts (every few calls) stay in.
        ordered = sorted(self.times_ns)
        return statistics.fmean(ordered[: max(1, int(0.999 * len(ordered)))]) / 1000

    def p99_us(self) -> float:
        ordered = sorted(self.times_ns)
        return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] / 1000


METHODS: list[tuple[str, Callable[[int, int], Stream]]] = [
    ("FIR (ours, default)", lambda a, b: StreamResampler(a, b)),
    # The same filter evaluated by numpy instead of the C kernel (the fallback where it was not built).
    ("FIR, numpy kernel", lambda a, b: StreamResampler(a, b, kernel="numpy")),
    ("soxr stream QQ", lambda a, b: StreamResampler(a, b, engine="soxr", quality="QQ")),
    ("soxr stream LQ", lambda a, b: StreamResampler(a, b, engine="soxr", quality="LQ")),
    ("soxr stream HQ", lambda a, b: StreamResampler(a, b, engine="soxr", quality="HQ")),
    ("soxr stream VHQ", lambda a, b: StreamResampler(a, b, engine="soxr", quality="VHQ")),
    ("audioop.ratecv", lambda a, b: RatecvStream(a, b)),
]


def run_stream(stream: Stream, pcm: bytes, in_rate: int, out_rate: int) -> tuple[FloatArray, list[float]]:
    """Feed ``pcm`` in 20 ms chunks, then flush; return all output and the hold-back (ms) after each chunk."""
    stream.reset()
    chunk = in_rate * FRAME_MS // 1000 * 2
    outs: list[bytes] = []
    fed = emitted = 0
    held: list[float] = []
    for i in range(0, len(pcm), chunk):
        piece = pcm[i : i + chunk]
        out = stream.process(piece)
        outs.append(out)
        fed += len(piece) // 2
        emitted += len(out) // 2
        held.append(1000 * (fed / in_rate - emitted / out_rate))
    outs.append(stream.flush())
    return pcm16_to_array(b"".join(outs)), held


def measure_quality(row: Row, make: Callable[[int, int], Stream], in_rate: int, out_rate: int) -> None:
    """Fill the delay, SINAD and alias/image columns of ``row``."""
    stream = make(in_rate, out_rate)
    # Delay: 0.5 s periodic band-limited noise (100-3400 Hz, the phone band), six periods; compare the
    # fourth output period with the exact resampling of one period.
    period = in_rate // 2
    noise = bandlimited_noise(in_rate, period, 100.0, 3400.0, seed=7)
    out, held = run_stream(stream, array_to_pcm16(np.tile(noise, 6)), in_rate, out_rate)
    period_out = period * out_rate // in_rate
    ideal = ideal_resample(noise, in_rate, out_rate)
    row.lag_ms = 1000 * lag_samples(out[3 * period_out : 4 * period_out], ideal) / out_rate
    row.hold_mean_ms = statistics.fmean(held)
    row.hold_max_ms = max(held)

    # SINAD: 1 s of a 1 kHz tone at -6 dBFS, the middle 0.8 s of the output.
    out, _ = run_stream(stream, tone(in_rate, 1000.0, in_rate), in_rate, out_rate)
    edge = out_rate // 10
    row.sinad = sinad_db(out[edge : out_rate - edge], out_rate, 1000.0)

    worst = float("-inf")
    if in_rate > out_rate:
        # Aliasing: each tone lies above the 4 kHz output Nyquist; anything that comes out folded back.
        for freq in np.arange(5000.0, 11001.0, 250.0):
            pcm = tone(in_rate, float(freq), in_rate // 2)
            out, _ = run_stream(stream, pcm, in_rate, out_rate)
            edge = out_rate // 20
            worst = max(worst, level_db(out[edge : out.shape[0] - edge], pcm16_to_array(pcm)))
    else:
        # Imaging: in-band tones at 8 kHz; whatever lands above 4 kHz at 24 kHz is an image.
        for freq in np.arange(500.0, 3001.0, 250.0):
            out, _ = run_stream(stream, tone(in_rate, float(freq), 2 * in_rate), in_rate, out_rate)
            worst = max(
                worst, image_level_db(out[out_rate // 2 : out_rate // 2 + out_rate], out_rate, 4000.0)
            )
    row.spurious = worst


def time_paths(
    paths: dict[str, Callable[[bytes], bytes]], frames: list[bytes], count: int
) -> dict[str, list[int]]:
    """Time ``count`` single calls of every path, interleaved frame by frame."""
    times: dict[str, list[int]] = {name: [] for name in paths}
    calls = list(paths.items())
    clock = time.perf_counter_ns
    gc.collect()
    gc.disable()
    try:
        for i in range(count):
            frame = frames[i % len(frames)]
            for name, call in calls:
                start = clock()
                call(frame)
                times[name].append(clock() - start)
    finally:
        gc.enable()
    return times


def speech_like_frames(rate: int, encode: Callable[[bytes], bytes] | None = None) -> list[bytes]:
    """One second of band-limited noise at -20 dBFS RMS (voice-like level), as 20 ms frames."""
    high = 3400.0 if rate == RATE_8K else 11000.0
    pcm = array_to_pcm16(bandlimited_noise(rate, rate, 100.0, high, rms=3277.0, seed=3))
    step = rate * FRAME_MS // 1000 * 2
    frames = [pcm[i : i + step] for i in range(0, len(pcm), step)]
    return [encode(f) for f in frames] if encode else frames


def bench_direction(in_rate: int, out_rate: int, count: int) -> list[Row]:
    """Rows for every resampler in one direction, plus the transcode path of that direction."""
    label = f"{in_rate // 1000}k→{out_rate // 1000}k"
    rows = [Row(label, name) for name, _ in METHODS]
    for row, (_, make) in zip(rows, METHODS, strict=True):
        measure_quality(row, make, in_rate, out_rate)

    streams = {row.method: make(in_rate, out_rate) for row, (_, make) in zip(rows, METHODS, strict=True)}
    paths: dict[str, Callable[[bytes], bytes]] = {name: s.process for name, s in streams.items()}
    times = time_paths(paths, speech_like_frames(in_rate), count)
    for row in rows:
        row.times_ns = times[row.method]

    fir, fir_numpy, vhq = (
        StreamResampler(in_rate, out_rate),
        StreamResampler(in_rate, out_rate, kernel="numpy"),
        StreamResampler(in_rate, out_rate, engine="soxr", quality="VHQ"),
    )
    if in_rate == RATE_8K:
        path = "μ-law 8k → PCM 24k"
        frames = speech_like_frames(in_rate, pcm16_to_ulaw)

        def via(r: StreamResampler) -> Callable[[bytes], bytes]:
            return lambda frame: r.process(ulaw_to_pcm16(frame))

    else:
        path = "PCM 24k → μ-law 8k"
        frames = speech_like_frames(in_rate)

        def via(r: StreamResampler) -> Callable[[bytes], bytes]:
            return lambda frame: pcm16_to_ulaw(r.process(frame))

    transcode = {
        "FIR (ours, default)": via(fir),
        "FIR, numpy kernel": via(fir_numpy),
        "soxr stream VHQ": via(vhq),
    }
    times = time_paths(transcode, frames, count)
    by_name = {r.method: r for r in rows}
    for name, spent in times.items():
        row = Row(path, name, spent)
        source = by_name[name]  # the resampler decides delay and quality; G.711 adds none of either
        row.lag_ms, row.hold_mean_ms, row.hold_max_ms = source.lag_ms, source.hold_mean_ms, source.hold_max_ms
        row.sinad, row.spurious = None, None
        rows.append(row)
    return rows


def _fmt(value: float | None, spec: str) -> str:
    if value is None:
        return ""
    text = format(value, spec)
    return text[1:] if text.startswith("-") and float(text) == 0.0 else text  # no "-0.00"


def render(rows: list[Row]) -> str:
    """The markdown table."""
    header = (
        "| path | method | µs/frame median | µs/frame p99 | µs/frame mean (99.9%) | × soxr VHQ (median) | lag ms "
        "| hold-back mean / max ms "
        "| live delay ms (lag + max hold-back) | SINAD 1 kHz dB | worst alias (24k→8k, 5–11 kHz) / image "
        "(8k→24k, 0.5–3 kHz) dB |"
    )
    lines = [header, "|" + "---|" * 11]
    reference = {r.path: r.median_us() for r in rows if r.method == "soxr stream VHQ"}
    for r in rows:
        live = None if r.lag_ms is None or r.hold_max_ms is None else r.lag_ms + r.hold_max_ms
        hold = (
            f"{_fmt(r.hold_mean_ms, '.1f')} / {_fmt(r.hold_max_ms, '.1f')}"
            if r.hold_mean_ms is not None
            else ""
        )
        lines.append(
            f"| {r.path} | {r.method} | {r.median_us():.1f} | {r.p99_us():.1f} | {r.mean_us():.1f} | "
            f"{r.median_us() / reference[r.path]:.2f} | {_fmt(r.lag_ms, '.2f')} | {hold} | {_fmt(live, '.1f')} | "
            f"{_fmt(r.sinad, '.1f')} | {_fmt(r.spurious, '.1f')} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=20000, help="timed calls per row (default 20000)")
    args = parser.parse_args(argv)
    rows = bench_direction(RATE_8K, RATE_24K, args.frames) + bench_direction(RATE_24K, RATE_8K, args.frames)
    print(
        f"codecs bench: Python {platform.python_version()}, numpy {np.__version__}, soxr {soxr.__version__}, "
        f"{platform.machine()}, FIR kernel {FIR_KERNEL}; {args.frames} timed 20 ms frames per row, interleaved"
    )
    print()
    print(render(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
