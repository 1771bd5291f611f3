"""The cyclic garbage collector in a long-running process: keep what start-up built out of its way.

CPython's collector holds the event loop for the whole of each full (generation 2) collection, and a full
collection visits every container object alive. In ``serve`` most of them are built before the first call
(the modules, the SDK's models, the number config): a full collection at 100 calls took 110–150 ms
(``loadtest --pin``, timed with ``gc.callbacks``), and no caller's frame moved meanwhile.
:func:`freeze_startup_objects` moves them to the permanent generation, which collections skip; they are
never freed, which is what start-up objects are for. Collection stays on for everything built later.

:func:`shorten_young_collections` bounds the other pause. A generation-1 collection walks the young
generation and what the young collections since the last one left: up to ``threshold0 * (threshold1 + 2)``
objects, 8,400 with 3.11's default thresholds (700, 10) and 24,000 with 3.13's (2000, 10). While 50 calls
started (``scripts/bench agent --calls``, timed with ``gc.callbacks``) one took 0.8–2.2 ms on 3.11 and
3.4 ms on 3.13, inside whichever callback was allocating, often a call's start. With (700, 4), 4,200
objects at most, it took 0.7–1.0 ms of CPU on both. Each surviving object is still walked by one
generation-1 collection before it is promoted, so the collector's CPU stays about the same; the
full-collection threshold is scaled so that full collections stay as rare as under the thresholds
replaced (25 for 3.11's defaults, 71 for 3.13's).

:func:`prepare_collector_for_serving` does both: ``rtvoice-gateway serve`` calls it just before its port
opens. :func:`collector_paused` is for the load test's generators only (see there).

They change process-wide state, so only entry points call them (``rtvoice-gateway serve``, the load test's
floor bridge, the many-calls bench's workers); the library (:func:`~rtvoice_gateway.serve.running_gateway`,
``create_app``) never does.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import Iterator

__all__ = [
    "YOUNG_THRESHOLDS",
    "collector_paused",
    "freeze_startup_objects",
    "prepare_collector_for_serving",
    "shorten_young_collections",
]

log = logging.getLogger("rtvoice_gateway.heap")

YOUNG_THRESHOLDS = (700, 4)
"""``gc.set_threshold``'s first two while serving: a young collection every 700 net allocations of container
objects, a generation-1 one instead of every 5th young one (so at most about 4,200 objects walked)."""


def freeze_startup_objects() -> int:
    """Collect once, then freeze every object alive (:func:`gc.freeze`); returns how many are frozen."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.info("start-up objects kept out of the garbage collector's way: %d", frozen)
    return frozen


def shorten_young_collections() -> tuple[int, int, int]:
    """Set :data:`YOUNG_THRESHOLDS`, and a full-collection threshold that keeps full collections as rare as
    under the thresholds replaced (a full one is considered every ``threshold0 * threshold1 * threshold2``
    net allocations, and runs only when CPython's own rule agrees: a quarter more long-lived objects than
    after the last one). Returns the thresholds it replaced; calling it again changes nothing, and neither
    does calling it where a first threshold of 0 turned automatic collection off."""
    before = gc.get_threshold()
    if before[0] == 0:
        return before
    young, middle = YOUNG_THRESHOLDS
    full = max(1, round(before[0] * before[1] * before[2] / (young * middle)))
    gc.set_threshold(young, middle, full)
    return before


def prepare_collector_for_serving() -> int:
    """:func:`freeze_startup_objects`, then :func:`shorten_young_collections`; returns how many are frozen."""
    frozen = freeze_startup_objects()
    before = shorten_young_collections()
    if before[0] == 0:
        log.info(
            "automatic collection is off (first threshold 0): the collector's thresholds left as they are"
        )
    else:
        log.info(
            "collector thresholds %s (they were %s): short generation-1 collections",
            "/".join(map(str, gc.get_threshold())),
            "/".join(map(str, before)),
        )
    return frozen


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No automatic collection inside the block, one full collection after it.

    For the load test's generators (the callers, the Realtime simulator) during a measured run: they are
    the instruments, and a 100–200 ms full collection in one of them was counted as latency the system
    under test added. Their runs are bounded (about a minute), so what they do not collect meanwhile is
    bounded too. Never for the system under test.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
            gc.collect()
