"""The cyclic garbage collector in a long-running process: keep what start-up built out of its way.

CPython's collector holds the event loop for the whole of each full (generation 2) collection, and a full
collection visits every container object alive. In ``serve`` most of them are built before the first call
(the modules, the SDK's models, the number config): a full collection at 100 calls took 110–150 ms
(``loadtest --pin``, timed with ``gc.callbacks``), and no caller's frame moved meanwhile.
:func:`freeze_startup_objects` moves them to the permanent generation, which collections skip; they are
never freed, which is what start-up objects are for. Collection stays on for everything built later.

:func:`collector_paused` is for the load test's generators only (see there).

Both change process-wide state, so only entry points call them (``rtvoice-gateway serve``, the load test's
floor bridge); the library (:func:`~rtvoice_gateway.serve.running_gateway`, ``create_app``) never does.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import Iterator

__all__ = ["collector_paused", "freeze_startup_objects"]

log = logging.getLogger("rtvoice_gateway.heap")


def freeze_startup_objects() -> int:
    """Collect once, then freeze every object alive (:func:`gc.freeze`); returns how many are frozen."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.info("start-up objects kept out of the garbage collector's way: %d", frozen)
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
