"""The ``rtvoice-gateway`` command line.

Subcommands:

* ``serve``: the gateway (webhook and media streams) until SIGINT/SIGTERM, which drains it (docs/operations.md).
* ``dial``: a local softphone (a WAV file or the microphone) calling a gateway over loopback.
* ``simulator``: run the offline Realtime API simulator until SIGINT/SIGTERM.
* ``demo``: a scripted phone call through the gateway, on the embedded simulator (or OpenAI with a key).
* ``call``: place an outbound call through a running gateway (``POST /calls``; prints the CallSid).
* ``loadtest``: N concurrent simulated calls through a ``serve`` process; a report (see docs/benchmarks.md).

Global options: ``--version``; ``--log-level LEVEL`` renders every log line of the process (the
library's included) through structlog on stderr, with the call's bound fields (see ``docs/logging.md``).
``serve`` logs at INFO as JSON lines by default (``--log-format console`` for people); the other commands
leave logging alone unless asked. Bad input is one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import math
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

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


def _non_negative(text: str) -> float:
    """An argparse type: a finite number of 0 or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number of 0 or more, not {text!r}")
    return value


def _port(text: str) -> int:
    """An argparse type: a TCP port, 0 to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, not {value}")
    return value


def _version() -> str:
    try:
        return importlib.metadata.version("rtvoice-gateway")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


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
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument(
        "--log-format",
        choices=["json", "console"],
        default=None,
        help="how to render log lines (default: json for serve, console otherwise)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run the gateway: the carrier's voice webhook and media streams",
        description=(
            "Serve POST /twilio/voice and WS /twilio/stream/{token}. Settings come from the environment "
            "(see .env.example) and these flags. Without OPENAI_API_KEY every call runs on the embedded "
            "Realtime simulator; without TWILIO_AUTH_TOKEN signatures are not checked and only loopback "
            "is served."
        ),
    )
    serve.add_argument("--config", type=Path, default=None, metavar="FILE", help="the per-number TOML file")
    serve.add_argument("--host", default=None, help="interface to listen on (default: HOST or 127.0.0.1)")
    serve.add_argument(
        "--port", type=_port, default=None, help="TCP port, 0 for a free one (default: PORT or 8080)"
    )
    serve.add_argument(
        "--public-url", default=None, metavar="URL", help="the https:// origin the carrier reaches"
    )
    serve.add_argument(
        "--drain-grace",
        type=_non_negative,
        default=None,
        metavar="SECONDS",
        help="on SIGTERM, how long live calls may go on before they hear a goodbye and are hung up "
        "(default: DRAIN_GRACE_SECONDS or 30; a second signal ends at once)",
    )
    serve.add_argument(
        "--loop",
        choices=["auto", "uvloop", "asyncio"],
        default=None,
        help="the event loop (default: EVENT_LOOP or auto: uvloop where installed)",
    )

    dial = commands.add_parser(
        "dial",
        help="call a gateway from this machine: a WAV file or your microphone plays the caller",
        description=(
            "Place a call to a gateway over loopback, playing the carrier's part (signed webhook when "
            "TWILIO_AUTH_TOKEN is set, media stream, marks, clear, DTMF, stop)."
        ),
    )
    dial.add_argument("base_url", metavar="BASE_URL", help="the gateway, e.g. http://127.0.0.1:8080")
    dial.add_argument("--to", dest="to_number", default="+15550100001", help="the number dialled (To)")
    dial.add_argument("--from", dest="from_number", default="+15550100123", help="the caller (From)")
    source = dial.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--wav", type=Path, default=None, metavar="IN", help="what the caller says (a WAV file)"
    )
    source.add_argument("--mic", action="store_true", help="talk through the microphone and speakers")
    dial.add_argument("--out", type=Path, default=None, metavar="OUT", help="write the call (stereo WAV)")
    dial.add_argument("--speed", type=_finite_positive, default=1.0, help=argparse.SUPPRESS)

    sim = commands.add_parser(
        "simulator",
        help="run the offline OpenAI Realtime API simulator",
        description="Serve the Realtime GA protocol on ws://HOST:PORT/v1 until SIGINT or SIGTERM.",
    )
    sim.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: %(default)s)")
    sim.add_argument(
        "--port", type=_port, default=0, help="TCP port; 0 picks a free one (default: %(default)s)"
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
    demo.add_argument(
        "--stereo",
        action="store_true",
        help="with --wav: the caller left, the agent right (default: a mono mix)",
    )
    demo.add_argument("--quiet", action="store_true", help="print only the transcript")

    # -- outbound calls (rtvoice_gateway.outbound_client) --
    call = commands.add_parser(
        "call",
        help="place an outbound call through a running gateway",
        description=(
            "Ask a running gateway (POST /calls, authenticated with GATEWAY_API_TOKEN) to call --to from "
            "--from; the --from number's agent talks to the callee. Prints the CallSid."
        ),
    )
    call.add_argument(
        "--to", dest="to_number", required=True, metavar="+N", help="the number to call (E.164)"
    )
    call.add_argument(
        "--from", dest="from_number", required=True, metavar="+N", help="your carrier number, the caller ID"
    )
    call.add_argument(
        "--agent", default=None, metavar="REF", help="another factory of the gateway's number config"
    )
    call.add_argument(
        "--amd", action="store_true", help="answering-machine detection (the number's on_machine applies)"
    )
    call.add_argument(
        "--gateway",
        default=None,
        metavar="URL",
        help="the gateway (default: GATEWAY_URL, or http://127.0.0.1:PORT with PORT or 8080)",
    )
    from rtvoice_gateway.loadtest import add_parser as add_loadtest_parser

    add_loadtest_parser(commands)
    return parser


async def _run_simulator(args: argparse.Namespace) -> int:
    from rtvoice.testing import RealtimeSimulator, Timing

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
    # Only once listening: a refused start leaves the process's signal handlers as they were.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"listening on {sim.url}", flush=True)
    try:
        await stop.wait()
    finally:
        await sim.aclose()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return 0


def _serve_on_its_loop(args: argparse.Namespace) -> int:
    """``serve`` on the event loop EVENT_LOOP / ``--loop`` names (uvicorn's choice of loop factories)."""
    from rtvoice_gateway.serve import event_loop_factory
    from rtvoice_gateway.settings import Settings, SettingsError

    try:
        choice = Settings.from_env(event_loop=args.loop, host=args.host).event_loop
        factory = event_loop_factory(choice)
    except SettingsError as exc:
        print(f"rtvoice-gateway serve: {exc}", file=sys.stderr)
        return 2
    except ImportError:
        print(
            "rtvoice-gateway serve: --loop uvloop: uvloop is not installed (pip install uvloop)",
            file=sys.stderr,
        )
        return 2
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(_run_serve(args))


async def _run_serve(args: argparse.Namespace) -> int:
    from rtvoice_gateway.heap import prepare_collector_for_serving
    from rtvoice_gateway.numbers import ConfigError
    from rtvoice_gateway.serve import drain_or_abort, running_gateway
    from rtvoice_gateway.settings import Settings, SettingsError

    try:
        settings = Settings.from_env(
            host=args.host,
            port=args.port,
            public_url=args.public_url,
            config=args.config,
            event_loop=args.loop,
        )
    except SettingsError as exc:
        print(f"rtvoice-gateway serve: {exc}", file=sys.stderr)
        return 2
    stop, abort = asyncio.Event(), asyncio.Event()

    def signalled() -> None:  # the first signal drains (docs/operations.md), a second one ends at once
        (abort if stop.is_set() else stop).set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, signalled)
    try:
        # The collector set-up (process-wide state: this command owns the process) comes before the port opens.
        async with running_gateway(settings, before_listening=prepare_collector_for_serving) as running:
            print(f"listening on {running.url}", flush=True)
            await stop.wait()
            grace = settings.drain_grace_s if args.drain_grace is None else args.drain_grace
            if not await drain_or_abort(running.gateway, grace, abort):
                return 1
    except ConfigError as exc:
        print(f"rtvoice-gateway serve: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"rtvoice-gateway serve: cannot listen on {settings.host}:{settings.port}: {exc}", file=sys.stderr
        )
        return 2
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return 0


async def _run_dial(args: argparse.Namespace) -> int:
    from rtvoice_gateway.dial import DialError, DialOptions, dial

    if not args.base_url.startswith(("http://", "https://")):
        print(
            f"rtvoice-gateway dial: BASE_URL must start with http:// or https://, not {args.base_url!r}",
            file=sys.stderr,
        )
        return 2
    if args.out is not None and not args.out.parent.is_dir():
        print(f"rtvoice-gateway dial: --out {args.out}: no such folder {args.out.parent}", file=sys.stderr)
        return 2
    options = DialOptions(
        base_url=args.base_url,
        to_number=args.to_number,
        from_number=args.from_number,
        wav=args.wav,
        mic=args.mic,
        out=args.out,
        auth_token=os.environ.get("TWILIO_AUTH_TOKEN") or None,
        public_url=os.environ.get("PUBLIC_URL") or None,
        speed=args.speed,
    )
    hang_up = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, hang_up.set)
    try:
        await dial(options, hang_up=hang_up)
    except DialError as exc:
        print(f"rtvoice-gateway dial: {exc}", file=sys.stderr)
        return 1 if not str(exc).startswith("--") else 2
    finally:
        loop.remove_signal_handler(signal.SIGINT)
    return 0


async def _run_call(args: argparse.Namespace) -> int:
    from rtvoice_gateway.outbound_client import CallRequestError, place_call

    gateway = (
        args.gateway or os.environ.get("GATEWAY_URL") or f"http://127.0.0.1:{os.environ.get('PORT') or 8080}"
    )
    try:
        placed = await place_call(
            gateway,
            os.environ.get("GATEWAY_API_TOKEN"),
            to=args.to_number,
            from_=args.from_number,
            agent=args.agent,
            machine_detection=args.amd,
        )
    except CallRequestError as exc:
        print(f"rtvoice-gateway call: {exc}", file=sys.stderr)
        return 2 if exc.bad_input else 1
    print(placed.call_sid, flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code.

    The commands take SIGINT and SIGTERM through their event loop; on return the handlers are put back as
    they were (asyncio would leave Python's default in place, even where SIGINT was ignored), so ``main``
    can run inside another program, a test suite for one.
    """
    if threading.current_thread() is not threading.main_thread():
        return _main(argv)
    found = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _main(argv)
    finally:
        for sig, handler in found.items():
            if handler is not None and signal.getsignal(sig) != handler:
                signal.signal(sig, handler)


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    # serve logs at INFO; demo and dial print what happens themselves, so only --log-level shows logs.
    level = args.log_level or {"serve": "INFO", "demo": "CRITICAL", "dial": "CRITICAL"}.get(args.command)
    if level is not None:
        from rtvoice_gateway.logs import LogFormat, configure_logging

        fmt: LogFormat = args.log_format or ("json" if args.command == "serve" else "console")
        configure_logging(level, fmt)
    if args.command == "simulator":
        return asyncio.run(_run_simulator(args))
    if args.command == "serve":
        return _serve_on_its_loop(args)
    if args.command == "dial":
        return asyncio.run(_run_dial(args))
    if args.command == "call":
        return asyncio.run(_run_call(args))
    if args.command == "loadtest":
        from rtvoice_gateway.loadtest import run as run_loadtest

        return run_loadtest(args, None if argv is None else list(argv))
    from rtvoice_gateway.demo import run_demo

    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(
            run_demo(speed=args.speed, wav_path=args.wav, verbose=not args.quiet, stereo=args.stereo)
        )
    return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
