"""Leak run: 1,000 short calls in a row through one gateway; does what the process holds stay flat?

Run it as ``scripts/bench leaks`` or ``.venv/bin/python scripts/bench_leaks.py`` (options: ``--calls N``,
default 1000; ``--every N``, a row every N calls, default 100; ``--speed X``, the simulated carrier's pace,
default 8; ``--tracemalloc`` to trace Python's allocations too, about twice as slow; ``--record`` to record
every call to a temporary folder).

Each call (``rtvoice_gateway.testing.leaks``) dials the gateway, opens the media stream, hears the greeting
and hangs up. It prints one markdown table with a row every ``--every`` calls: calls per second since the
previous row, objects the garbage collector tracks, tracemalloc's traced memory, RSS, open fds, asyncio
tasks and threads; then the growth from the first row to the last per call, and the object types that grew
the most. The first row is the warm-up's end (bounded caches and histories are full by then); a leak of
one object per call shows as +1 per call. CI runs 100 calls (tests/gateway/faults/test_leaks.py).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from rtvoice_gateway.testing.leaks import Footprint, growth, sequential_calls


def main(argv: list[str] | None = None) -> int:
    """Run the leak bench; 1 when a footprint grew by a whole object, fd, task or thread per call."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=1000, help="how many calls (default 1000)")
    parser.add_argument("--every", type=int, default=100, help="a row every N calls (default 100)")
    parser.add_argument("--speed", type=float, default=8.0, help="the simulated carrier's pace (default 8)")
    parser.add_argument("--tracemalloc", action="store_true", help="trace Python allocations too")
    parser.add_argument("--record", action="store_true", help="record every call (to a temporary folder)")
    args = parser.parse_args(argv)
    if args.calls < 2 * args.every or args.every < 1:
        parser.error("--calls must be at least twice --every")
    marks = list(range(args.every, args.calls + 1, args.every))
    rows: list[tuple[Footprint, float]] = []
    started = [time.monotonic()]

    header = ["calls", "calls/s", "gc objects", "traced KiB", "RSS MiB", "fds", "tasks", "threads"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---:|" * len(header))

    def row(sample: Footprint) -> None:
        now = time.monotonic()
        rate = args.every / (now - started[0])
        started[0] = now
        rows.append((sample, rate))
        print(
            f"| {sample.calls} | {rate:.1f} | {sample.objects} | {sample.traced_bytes / 1024:.0f} | "
            f"{sample.rss_bytes / 2**20:.1f} | {sample.fds} | {sample.tasks} | {sample.threads} |",
            flush=True,
        )

    async def run(folder: Path | None) -> None:
        await sequential_calls(
            args.calls, sample_after=marks, speed=args.speed, recording_dir=folder, on_sample=row
        )

    if args.tracemalloc:
        tracemalloc.start()
    with tempfile.TemporaryDirectory(prefix="rtvoice-leaks-") as folder:
        asyncio.run(run(Path(folder) if args.record else None))
    first, last = rows[0][0], rows[-1][0]
    calls = last.calls - first.calls
    print(
        f"\nfrom call {first.calls} to {last.calls}, per call: {(last.objects - first.objects) / calls:+.2f} "
        f"objects, {(last.traced_bytes - first.traced_bytes) / calls:+.0f} traced bytes, "
        f"{(last.rss_bytes - first.rss_bytes) / calls:+.0f} RSS bytes; fds {first.fds} -> {last.fds}, "
        f"tasks {first.tasks} -> {last.tasks}, threads {first.threads} -> {last.threads}"
    )
    grown = list(growth(first, last).items())[:5]
    print("types that grew the most: " + (", ".join(f"{name} +{count}" for name, count in grown) or "none"))
    leaked = any(count >= calls for name, count in grown if name != Footprint.__qualname__) or (
        (last.fds, last.tasks, last.threads) != (first.fds, first.tasks, first.threads)
    )
    if leaked:
        print("ERROR: something grew by one per call", file=sys.stderr)
    return 1 if leaked else 0


if __name__ == "__main__":
    sys.exit(main())
