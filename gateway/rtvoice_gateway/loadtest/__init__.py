"""``rtvoice-gateway loadtest``: N concurrent simulated phone calls through a real gateway process.

A pure core (:mod:`.stats`, :mod:`.analysis`, :mod:`.report`'s markdown) turns what both ends recorded
into figures; a thin shell (:mod:`.runner`) runs the processes: the Realtime simulator with a stopwatch
(:mod:`.upstream`), the system under test (``rtvoice-gateway serve`` transcoding or in μ-law pass-through,
or the floor bridge of :mod:`.bridge`, on the loop :mod:`.launch` picks) and, in this process, the callers
(:mod:`.caller`). See ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["add_parser", "run"]

#: The most runs of each system per step (--repeat).
MAX_REPEAT = 10


def _counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated call counts such as 10,25,50, not {text!r}"
        ) from None
    if not counts or any(n < 1 or n > 2000 for n in counts) or list(counts) != sorted(set(counts)):
        raise argparse.ArgumentTypeError(f"call counts must rise, each 1 to 2000: {text!r}")
    return counts


def _choices(allowed: tuple[str, ...]) -> Callable[[str], tuple[str, ...]]:
    def parse(text: str) -> tuple[str, ...]:
        names = tuple(part.strip() for part in text.split(",") if part.strip())
        wrong = [n for n in names if n not in allowed]
        if not names or wrong:
            raise argparse.ArgumentTypeError(f"choose from {', '.join(allowed)}, not {text!r}")
        return names

    return parse


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``loadtest`` subcommand."""
    from rtvoice_gateway.loadtest.analysis import MODES
    from rtvoice_gateway.loadtest.launch import LOOPS

    parser = commands.add_parser(
        "loadtest",
        help="N concurrent simulated calls through a real gateway process: latency, CPU, memory report",
        description=(
            "Ramp concurrent simulated phone calls through `rtvoice-gateway serve` (transcoding and μ-law "
            "pass-through) and a bare bridge floor, on loopback, against the Realtime simulator; write a "
            "markdown report with plots. Stops when the p99 added latency breaks --limit-ms."
        ),
    )
    parser.add_argument(
        "--calls",
        type=_counts,
        default=(10, 25, 50, 100),
        help="rising concurrent call counts (default: 10,25,50,100)",
    )
    parser.add_argument(
        "--seconds", type=float, default=30.0, help="measured window per run, after ramp-up (default: 30)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("load-report"),
        help="folder for report.md and the plots (default: load-report)",
    )
    parser.add_argument(
        "--loops",
        type=_choices(LOOPS),
        default=("asyncio",),
        help="event loops to compare, e.g. asyncio,uvloop",
    )
    parser.add_argument(
        "--systems",
        type=_choices(tuple(MODES)),
        default=tuple(MODES),
        help="systems under test (default: transcode,passthrough,floor)",
    )
    parser.add_argument(
        "--limit-ms", type=float, default=20.0, help="stop ramping when a p99 exceeds this (default: 20)"
    )
    parser.add_argument(
        "--keep-going", action="store_true", help="run every step, even after a p99 broke --limit-ms"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="K",
        help="run every system K times per step and loop, interleaved; the CPU ratio to the floor is the "
        "median of the pairs (default: 1)",
    )
    parser.add_argument("--no-recording", action="store_true", help="do not record calls in the gateway")
    parser.add_argument(
        "--input-batch-ms",
        type=float,
        default=None,
        metavar="MS",
        help="the gateway's input_batch_ms for every call (0: every silent caller frame sent at once; "
        "default: the agent's, 60)",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="run the system under test on one CPU and the load generators on the others (Linux, 2+ CPUs)",
    )


def run(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    """Run the ``loadtest`` command; bad input is one line on stderr and exit code 2."""
    from rtvoice.realtime.protocol import MAX_INPUT_BATCH_MS
    from rtvoice_gateway.loadtest.launch import run_fast
    from rtvoice_gateway.loadtest.runner import LoadOptions, LoadTestError, run_loadtest

    if not 0.5 <= args.seconds <= 3600:
        print(
            f"rtvoice-gateway loadtest: --seconds must be 0.5 to 3600, not {args.seconds:g}", file=sys.stderr
        )
        return 2
    if args.input_batch_ms is not None and not 0 <= args.input_batch_ms <= MAX_INPUT_BATCH_MS:
        print(
            f"rtvoice-gateway loadtest: --input-batch-ms must be 0 to {MAX_INPUT_BATCH_MS:g}, "
            f"not {args.input_batch_ms:g}",
            file=sys.stderr,
        )
        return 2
    if not 1 <= args.repeat <= MAX_REPEAT:
        print(
            f"rtvoice-gateway loadtest: --repeat must be 1 to {MAX_REPEAT}, not {args.repeat}",
            file=sys.stderr,
        )
        return 2
    if args.out.exists() and not args.out.is_dir():
        print(f"rtvoice-gateway loadtest: --out {args.out} is not a folder", file=sys.stderr)
        return 2
    if "uvloop" in args.loops:
        try:
            import uvloop  # noqa: F401
        except ImportError:
            print(
                "rtvoice-gateway loadtest: --loops uvloop needs uvloop (pip install uvloop)", file=sys.stderr
            )
            return 2
    if args.pin:
        from rtvoice_gateway.loadtest.runner import pinned_cpus

        try:
            pinned_cpus()
        except LoadTestError as exc:
            print(f"rtvoice-gateway loadtest: {exc}", file=sys.stderr)
            return 2
    words = sys.argv[1:] if argv is None else argv
    options = LoadOptions(
        calls=args.calls,
        seconds=args.seconds,
        out=args.out,
        command="rtvoice-gateway " + shlex.join(words),
        loops=args.loops,
        modes=args.systems,
        limit_ms=args.limit_ms,
        recording=not args.no_recording,
        input_batch_ms=args.input_batch_ms,
        keep_going=args.keep_going,
        repeat=args.repeat,
        pin=args.pin,
    )

    def write(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        run_fast(run_loadtest(options, write))
    except LoadTestError as exc:
        print(f"rtvoice-gateway loadtest: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    print(f"report: {args.out / 'report.md'}")
    return 0
