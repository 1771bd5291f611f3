"""Leak check: 100 short calls in a row through one gateway (``rtvoice_gateway.testing.leaks``); after a
warm-up of 40 calls (bounded structures fill: used stream tokens within their TTL, the loop's timer heap),
what the process holds must stay flat to call 100. ``scripts/bench leaks --calls 1000`` runs the long
version."""

from __future__ import annotations

import tracemalloc

import pytest

from rtvoice_gateway.testing.leaks import Footprint, growth, sequential_calls

CALLS = 100
WARM_UP = 40
MIDDLE = 70
HALF = (CALLS - WARM_UP) // 2


@pytest.mark.slow
@pytest.mark.serial  # tracemalloc counts the whole process: on an xdist worker, its own traffic too
@pytest.mark.leak_check
async def test_a_hundred_sequential_calls_leave_nothing_behind() -> None:
    """Footprints after calls 40, 70 and 100: the same open fds, asyncio tasks and threads at all three; no
    object type grows by half an object per call or more in both halves (a leak of one object per call is
    +30 of its type in each; a one-off burst, such as a lazily imported module's classes, shows in one half
    only); memory traced by tracemalloc grows by less than 2 KB per call (the noise is a few hundred bytes
    per call)."""
    tracemalloc.start()
    try:
        first, middle, last = await sequential_calls(CALLS, sample_after=[WARM_UP, MIDDLE, CALLS])
    finally:
        tracemalloc.stop()
    for sample in (middle, last):
        assert (sample.fds, sample.tasks, sample.threads) == (first.fds, first.tasks, first.threads), sample
    early, late = growth(first, middle), growth(middle, last)
    leaking = {
        name: (early[name], late.get(name, 0))
        for name in early
        if name != Footprint.__qualname__ and min(early[name], late.get(name, 0)) >= HALF / 2
    }
    assert not leaking, leaking
    assert last.traced_bytes - first.traced_bytes < 2 * HALF * 2048, (first.traced_bytes, last.traced_bytes)


def test_growth_sees_one_object_per_call() -> None:
    """The measure itself: a type that gained one object per call between two footprints is reported."""
    first = Footprint(1, 10, {"Call": 1, "dict": 9}, 0, 0, 3, 1, 1)
    last = Footprint(61, 70, {"Call": 61, "dict": 9}, 0, 0, 3, 1, 1)
    assert growth(first, last) == {"Call": 60}
