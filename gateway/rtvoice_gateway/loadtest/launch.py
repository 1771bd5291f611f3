"""Run a command of this package on a chosen asyncio event loop: ``python -m rtvoice_gateway.loadtest.launch
--loop uvloop -- serve --port 0`` runs ``rtvoice-gateway serve --port 0`` on uvloop.

The event loop policy is set before the command starts its loop (this is an entry point: process-wide
state is its to set). ``--loop asyncio`` leaves the default loop. ``--cpus 0`` pins the process to CPU 0
(``loadtest --pin``: the system under test on its own core).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["LOOPS", "main", "run_fast", "use_loop"]

LOOPS = ("asyncio", "uvloop")


def use_loop(name: str) -> None:
    """Make ``asyncio.run`` create a ``name`` loop in this process."""
    if name == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def run_fast(main: Coroutine[Any, Any, T]) -> T:
    """Run a load generator's ``main`` on uvloop when it is installed (less CPU per message), else
    asyncio; the process-wide policy is left alone."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def main(argv: list[str] | None = None) -> int:
    """``--loop NAME [--bridge] -- ARGS``: the gateway's CLI (or the floor bridge) with ARGS."""
    parser = argparse.ArgumentParser(prog="rtvoice_gateway.loadtest.launch")
    parser.add_argument("--loop", choices=LOOPS, default="asyncio")
    parser.add_argument("--bridge", action="store_true", help="run the floor bridge, not the gateway")
    parser.add_argument(
        "--cpus", default=None, help="run on these CPUs only, e.g. 0 or 0,1 (Linux; before anything starts)"
    )
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
    if args.cpus is not None:
        # Before the imports that start threads (numpy's BLAS pool): every thread inherits it.
        os.sched_setaffinity(0, {int(cpu) for cpu in args.cpus.split(",")})
    use_loop(args.loop)
    if args.bridge:
        from rtvoice_gateway.loadtest.bridge import main as bridge_main

        return bridge_main(rest)
    from rtvoice_gateway.cli import main as cli_main

    return cli_main(rest)


if __name__ == "__main__":
    sys.exit(main())
