"""Many short calls in a row through one gateway, and the process's footprint between them (leak checks).

:func:`sequential_calls` serves a gateway on loopback (the Realtime simulator answers; a tone voice, no
espeak-ng) and places ``calls`` short calls one after the other with :class:`SimulatedCall`: each hears
the greeting and hangs up. After the calls listed in ``sample_after`` it takes a :class:`Footprint` (after
a full garbage collection): objects the collector tracks, memory traced by :mod:`tracemalloc` (when it
is tracing), resident memory, open file descriptors, asyncio tasks and threads. A process that keeps one
object per call shows it as a slope between two samples.

The histories the gateway and the simulator keep on purpose (finished calls' summaries, past sessions)
are bounded to a handful here, so they are full before the first sample and cannot pass for a leak.

Used by ``tests/gateway/faults/test_leaks.py`` (100 calls in CI) and ``scripts/bench leaks`` (1,000).
"""

from __future__ import annotations

import asyncio
import collections
import gc
import math
import os
import threading
import tracemalloc
import urllib.parse
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rtvoice import OpenAIProvider, RealtimeAgent, ServerVAD
from rtvoice.testing import RealtimeSimulator, Say, ScriptedBrain, Timing
from rtvoice.testing.embedded_server import EmbeddedServer
from rtvoice_gateway.app import Gateway, create_app
from rtvoice_gateway.numbers import CallDetails, NumberConfig, NumberEntry
from rtvoice_gateway.settings import Settings
from rtvoice_gateway.testing.carrier import SimulatedCall

__all__ = ["Footprint", "growth", "sequential_calls"]

#: Summaries and sessions the gateway and simulator keep during a leak run (full before any sample).
HISTORY = 4
GREETING = "Hello, thanks for calling."


@dataclass(frozen=True)
class Footprint:
    """What the process holds after ``calls`` calls (taken after ``gc.collect()``)."""

    calls: int
    objects: int
    """Objects the garbage collector tracks (containers and instances)."""
    by_type: dict[str, int]
    """``objects`` by type name (a leak of one object per call is one type growing by one per call)."""
    traced_bytes: int
    """Memory allocated through Python and still held, per :mod:`tracemalloc` (0 when not tracing)."""
    rss_bytes: int
    fds: int
    tasks: int
    threads: int

    @classmethod
    def take(cls, calls: int) -> Footprint:
        # The standard library's URL caches are bounded (128 entries) but every call has new URLs (its
        # stream token): emptied here, they cannot pass for a leak while they fill.
        urllib.parse.clear_cache()  # type: ignore[attr-defined]  # in the module, not in typeshed
        gc.collect()
        objects = gc.get_objects()
        by_type = collections.Counter(type(o).__qualname__ for o in objects)
        traced = tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else 0
        with open("/proc/self/statm") as statm:
            rss = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        return cls(
            calls=calls,
            objects=len(objects),
            by_type=dict(by_type),
            traced_bytes=traced,
            rss_bytes=rss,
            fds=len(os.listdir("/proc/self/fd")),
            tasks=len(asyncio.all_tasks()),
            threads=sum(1 for t in threading.enumerate() if not t.name.startswith("asyncio_")),
        )


def growth(first: Footprint, last: Footprint) -> dict[str, int]:
    """Object types whose count grew from ``first`` to ``last``, and by how much (largest first)."""
    grown = {name: last.by_type.get(name, 0) - count for name, count in first.by_type.items()}
    grown.update({name: count for name, count in last.by_type.items() if name not in first.by_type})
    return dict(sorted(((n, g) for n, g in grown.items() if g > 0), key=lambda item: -item[1]))


def _tone(text: str, rate: int, speed: float) -> bytes:
    """The simulator's voice: a 300 Hz tone, 60 ms per character (no speech engine needed)."""
    samples = int(len(text) * 60 / speed * rate / 1000)
    t = np.arange(samples) / rate
    return (np.sin(2 * math.pi * 300 * t) * 12000).astype("<i2").tobytes()


def _agent(details: CallDetails) -> RealtimeAgent:
    return RealtimeAgent(instructions="You answer the phone.", turn_detection=ServerVAD())


async def _one_call(base_url: str, gateway: Gateway, speed: float, done_before: int) -> None:
    call = SimulatedCall(base_url, speed=speed)
    await call.dial()
    await call.connect()
    runner = asyncio.create_task(call.run(), name="leak-caller")
    try:
        while not _heard_greeting(call):
            if runner.done():
                raise RuntimeError("the call ended before the greeting was heard")
            await asyncio.sleep(0.005)
        call.hang_up()
        await runner
        while gateway.calls_active or gateway.calls_total <= done_before:  # noqa: ASYNC110 - the gateway's state
            await asyncio.sleep(0.002)
    finally:
        if not runner.done():
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)


def _heard_greeting(call: SimulatedCall) -> bool:
    spans = list(call.heard_spans())
    return bool(spans) and call.now_ms - spans[-1][1] >= 100


async def sequential_calls(
    calls: int,
    *,
    sample_after: Sequence[int],
    speed: float = 8.0,
    recording_dir: Path | None = None,
    on_sample: Callable[[Footprint], None] | None = None,
) -> list[Footprint]:
    """Place ``calls`` calls one after the other; a :class:`Footprint` after each count in ``sample_after``.

    Args:
        calls: how many calls.
        sample_after: after which calls (1-based counts) to measure.
        speed: how much faster than real time the simulated carrier plays.
        recording_dir: record every call there (None: no recordings).
        on_sample: called with each footprint as it is taken (progress for long runs).

    Raises:
        RuntimeError: a call ended before its greeting (the run is broken, not leaky).
    """
    wanted = set(sample_after)
    samples: list[Footprint] = []
    async with RealtimeSimulator(
        brain_factory=lambda: ScriptedBrain([Say(GREETING)]),
        synthesize=_tone,
        timing=Timing.fast(),
        history=HISTORY,
    ) as sim:
        # Used stream tokens are remembered until they expire: a 3 s TTL keeps that set small and steady.
        settings = Settings.model_validate({"prewarm": True, "stream_token_ttl_s": 3})
        entry = NumberEntry(agent="leaks:agent", greeting="Greet the caller.", recording_dir=recording_dir)
        gateway = Gateway(
            settings,
            NumberConfig(default=entry),
            {"leaks:agent": _agent},
            OpenAIProvider(api_key="sk-test", websocket_base_url=sim.url),
            clock_speed=speed,
        )
        gateway.finished = deque(maxlen=HISTORY)
        server = EmbeddedServer(create_app(gateway), lifespan="on")
        await server.start()
        try:
            base_url = f"http://127.0.0.1:{server.port}"
            for done in range(calls):
                await _one_call(base_url, gateway, speed, done)
                if done + 1 in wanted:
                    sample = Footprint.take(done + 1)
                    samples.append(sample)
                    if on_sample is not None:
                        on_sample(sample)
        finally:
            await server.aclose()
    return samples
