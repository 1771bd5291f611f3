"""Timeouts in a scaled unit, so a slow CI machine can stretch them without editing tests.

Set ``RTVOICE_TEST_TIME_SCALE=3`` to triple every timeout. Timeouts only bound waits (a hung test fails
instead of hanging); no test asserts on how long something took.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator

__all__ = ["MS", "LoopLag", "measure_loop_lag", "seconds"]

#: One millisecond of test timeout, scaled.
MS = float(os.environ.get("RTVOICE_TEST_TIME_SCALE", "1")) / 1000


def seconds(value: float) -> float:
    """A timeout of ``value`` seconds, scaled."""
    return value * MS * 1000


class LoopLag:
    """The longest the event loop was late (or the process off its CPU) while measured, in ms."""

    def __init__(self) -> None:
        self.max_ms = 0.0

    def reset(self) -> None:
        """Forget what was measured so far (for example the process's first connect, which imports)."""
        self.max_ms = 0.0


@contextlib.asynccontextmanager
async def measure_loop_lag(period_s: float = 0.002) -> AsyncIterator[LoopLag]:
    """Measure how late a ``period_s`` sleep wakes up, for the duration of the ``async with`` block.

    For tests that compare two clocks of one process, such as a count of samples against the wall clock:
    a stall (a busy machine descheduling the process) moves them apart by the stall, which the test can
    then allow for, and only for.
    """
    lag = LoopLag()

    async def probe() -> None:
        while True:
            start = time.monotonic()
            await asyncio.sleep(period_s)
            lag.max_ms = max(lag.max_ms, (time.monotonic() - start - period_s) * 1000)

    task = asyncio.create_task(probe())
    try:
        yield lag
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
