"""The ``rtvoice-gateway`` command line.

Subcommands:

* ``simulator``: run the offline Realtime API simulator until SIGINT/SIGTERM.
* ``demo``: a scripted phone-style call against the embedded simulator (or OpenAI with a key).

Global option ``--log-level LEVEL``: render every log line of the process (the library's included)
through structlog on stderr, with the call's bound fields (see ``docs/logging.md``). Without it the
command leaves logging alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import signal
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main"]


def _finite_positive(text: str) -> float:
    """An argparse type: a finite number above 0 (``nan`` and ``inf`` are refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, not {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="rtvoice-gateway",
        description="A phone gateway for real-time voice agents on the OpenAI Realtime API.",
    )
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
        default=None,
        metavar="LEVEL",
        help="log to stderr at LEVEL (DEBUG, INFO, WARNING, ERROR, CRITICAL), rendered by structlog",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sim = commands.add_parser(
        "simulator",
        help="run the offline OpenAI Realtime API simulator",
        description="Serve the Realtime GA protocol on ws://HOST:PORT/v1 until SIGINT or SIGTERM.",
    )
    sim.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: %(default)s)")
    sim.add_argument(
        "--port", type=int, default=0, help="TCP port; 0 picks a free one (default: %(default)s)"
    )
    sim.add_argument("--api-key", default=None, help="require this key (Bearer or Azure api-key header)")
    sim.add_argument(
        "--transcript",
        action="append",
        default=[],
        metavar="TEXT",
        help="what the k-th caller utterance says (repeat the option for each utterance)",
    )
    sim.add_argument(
        "--max-session-seconds",
        type=float,
        default=3600.0,
        help="close sessions with 1001 after this long (default: %(default)s)",
    )
    sim.add_argument(
        "--time-scale",
        type=_finite_positive,
        default=1.0,
        metavar="X",
        help="scale the real API's pace (time to first audio, generation rate): 0.1 is ten times "
        "faster (default: %(default)s, realistic)",
    )
    sim.add_argument(
        "--generation-speed",
        type=_finite_positive,
        default=None,
        help="send response audio this many times faster than real time (overrides the timing's rate)",
    )

    demo = commands.add_parser(
        "demo",
        help="a scripted phone call against the embedded simulator",
        description=(
            "Plays a short restaurant-booking phone call: a synthetic caller speaks 8 kHz mu-law frames, "
            "the agent answers, calls a tool and says goodbye. Without OPENAI_API_KEY the call runs against "
            "the embedded Realtime simulator."
        ),
    )
    demo.add_argument(
        "--speed", type=_finite_positive, default=1.0, help="pace the call N times faster than real time"
    )
    demo.add_argument(
        "--wav", default=None, metavar="PATH", help="write the call (caller and agent) to a WAV file"
    )
    demo.add_argument("--quiet", action="store_true", help="print only the transcript")
    return parser


async def _run_simulator(args: argparse.Namespace) -> int:
    from rtvoice.testing import RealtimeSimulator, Timing

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sim = RealtimeSimulator(
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        user_transcripts=args.transcript,
        max_session_seconds=args.max_session_seconds,
        generation_speed=args.generation_speed,
        timing=Timing.realistic(scale=args.time_scale),
    )
    try:
        await sim.start()
    except OSError as exc:
        print(f"rtvoice-gateway simulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    print(f"listening on {sim.url}", flush=True)
    try:
        await stop.wait()
    finally:
        await sim.aclose()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    args = build_parser().parse_args(argv)
    if args.log_level is not None:
        from rtvoice_gateway.logs import configure_logging

        configure_logging(args.log_level, "console")
    if args.command == "simulator":
        return asyncio.run(_run_simulator(args))
    from rtvoice_gateway.demo import run_demo

    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(run_demo(speed=args.speed, wav_path=args.wav, verbose=not args.quiet))
    return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
