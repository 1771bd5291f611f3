"""The garbage collector in entry points: start-up objects frozen (serve), collection paused (load generators)."""

from __future__ import annotations

import gc
import subprocess
import sys
import weakref

from rtvoice_gateway.heap import collector_paused


def test_freezing_moves_every_start_up_object_out_of_the_collectors_generations() -> None:
    # Process-wide state: in a process of its own.
    script = (
        "import gc, rtvoice_gateway.serve\n"
        "from rtvoice_gateway.heap import freeze_startup_objects\n"
        "tracked = len(gc.get_objects())\n"
        "frozen = freeze_startup_objects()\n"
        "assert frozen == gc.get_freeze_count(), (frozen, gc.get_freeze_count())\n"
        "assert frozen > tracked // 2, (frozen, tracked)\n"
        "assert len(gc.get_objects()) < tracked // 10, len(gc.get_objects())\n"
        "print(frozen)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 10_000  # the gateway's modules, the SDK's models


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def _cycle() -> weakref.ref[Node]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def test_a_paused_collector_collects_nothing_inside_and_everything_after() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        garbage = _cycle()
        for _ in range(50_000):  # would have triggered automatic collections
            _cycle()
        assert garbage() is not None
    assert gc.isenabled()
    assert garbage() is None  # collected on the way out


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
