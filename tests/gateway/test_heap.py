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
