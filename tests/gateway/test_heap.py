"""The garbage collector in entry points: start-up objects frozen (serve), collection paused (load generators)."""

from __future__ import annotations

import gc
import socket
import subprocess
import sys
import weakref

from rtvoice_gateway.heap import collector_paused
from rtvoice_gateway.loadtest.runner import free_port
from rtvoice_gateway.serve import running_gateway
from rtvoice_gateway.settings import Settings


def _run(script: str, *args: str) -> str:
    """Run ``script`` in a Python process of its own (the collector is process-wide state); its stdout."""
    done = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


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
    assert int(_run(script)) > 10_000  # the gateway's modules, the SDK's models


def test_short_young_collections_keep_full_ones_as_rare_as_the_thresholds_they_replace() -> None:
    script = (
        "import gc\n"
        "from rtvoice_gateway.heap import shorten_young_collections\n"
        "gc.set_threshold(0, 10, 10)\n"
        "assert shorten_young_collections() == (0, 10, 10) == gc.get_threshold()  # left off\n"
        "for before in [(700, 10, 10), (2000, 10, 10)]:\n"
        "    gc.set_threshold(*before)\n"
        "    assert shorten_young_collections() == before\n"
        "    print(gc.get_threshold())\n"
        "    assert shorten_young_collections() == gc.get_threshold()  # again: no change\n"
        "    print(gc.get_threshold())\n"
    )
    # 700 x 10 x 10 = 700 x 4 x 25; 2000 x 10 x 10 / (700 x 4) = 71.4
    assert _run(script).split("\n")[:4] == ["(700, 4, 25)", "(700, 4, 25)", "(700, 4, 71)", "(700, 4, 71)"]


def test_the_log_says_what_the_set_up_did() -> None:
    script = (
        "import gc, logging, sys\n"
        "from rtvoice_gateway.heap import prepare_collector_for_serving\n"
        "logging.basicConfig(stream=sys.stdout, level=logging.INFO, format='%(message)s')\n"
        "gc.set_threshold(*map(int, sys.argv[1].split(',')))\n"
        "prepare_collector_for_serving()\n"
    )
    assert "collector thresholds 700/4/25 (they were 700/10/10)" in _run(script, "700,10,10")
    off = _run(script, "0,10,10")  # automatic collection switched off: left so, and said so
    assert "automatic collection is off" in off and "collector thresholds" not in off, off


def test_a_generation_1_collection_then_walks_at_most_about_4200_young_objects() -> None:
    # What bounds its pause, counted in the objects it walks, not on a clock: the young generation's 700 and
    # the survivors of the 5 young collections since the last one. With CPython's default thresholds the
    # same allocations give generation-1 collections of about 8,400 objects (3.11) or 24,000 (3.13).
    script = (
        "import gc, sys\n"
        "from rtvoice_gateway.heap import prepare_collector_for_serving\n"
        "if sys.argv[1] == 'serving':\n"
        "    prepare_collector_for_serving()\n"
        "walked = []\n"
        "def seen(phase, info):\n"
        "    if phase == 'start' and info['generation'] == 1:\n"
        "        walked.append(len(gc.get_objects(0)) + len(gc.get_objects(1)))\n"
        "gc.callbacks.append(seen)\n"
        "kept = [[i] for i in range(100_000)]  # survivors, as a call's objects are\n"
        "gc.callbacks.remove(seen)\n"
        "print(len(walked), max(walked))\n"
    )
    most = 6 * 701 + 10
    for collector in ["serving", "default"]:
        out = _run(script, collector)
        count, largest = map(int, out.split())
        if collector == "serving":
            assert count >= 20 and largest <= most, out
        else:  # the check above can fail: 12 of 8,400 (3.11), 4 of 24,000 (3.13)
            assert count >= 2 and largest > most, out


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


async def test_the_hook_before_listening_runs_before_the_port_opens() -> None:
    # serve freezes its start-up objects there, so no request waits for that collection.
    port = free_port()
    seen: list[str] = []

    def before_listening() -> None:
        with socket.socket() as probe:
            seen.append("refused" if probe.connect_ex(("127.0.0.1", port)) else "open")

    settings = Settings.from_env({}, port=port)
    async with running_gateway(settings, before_listening=before_listening, announce=False) as running:
        assert running.url.endswith(f":{port}")
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # listening now
    assert seen == ["refused"]
