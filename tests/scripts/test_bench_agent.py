"""scripts/bench_agent.py's LongestCallback: how long one event-loop callback held the loop.

It must count a callback's own work and its blocking waits, and not the time the process waited for a CPU,
so that "no call start blocks the loop for more than 2 ms" can be shown on a shared machine."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def bench_agent() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bench_agent_under_test", ROOT / "scripts" / "bench_agent.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (dataclasses look their module up)
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


async def computes_for(seconds: float) -> None:
    await asyncio.sleep(0)
    start = time.thread_time()
    while time.thread_time() - start < seconds:
        pass


async def blocks_for(seconds: float) -> None:
    await asyncio.sleep(0)
    time.sleep(seconds)  # noqa: ASYNC251 (a blocking wait holds the loop without using the CPU: the point)


async def test_it_names_the_callback_that_computed_longest() -> None:
    longest = bench_agent().LongestCallback()
    with longest.watching():
        await asyncio.gather(computes_for(0.006), computes_for(0.001))
    assert 0.006 <= longest.held_s < 0.05
    assert longest.what == "task computes_for"


async def test_a_blocking_wait_counts_as_holding_the_loop() -> None:
    longest = bench_agent().LongestCallback()
    with longest.watching():
        await asyncio.gather(blocks_for(0.02), computes_for(0.003))
    assert 0.02 <= longest.held_s < 0.2
    assert longest.what == "task blocks_for"


async def test_it_leaves_the_loop_as_it_found_it() -> None:
    run = asyncio.events.Handle._run
    longest = bench_agent().LongestCallback()
    with longest.watching():
        assert asyncio.events.Handle._run is not run
    assert asyncio.events.Handle._run is run
    await computes_for(0.002)
    assert longest.held_s < 0.002  # nothing is timed after the block


def test_the_spread_report_lists_every_runs_longest_callback() -> None:
    # The main tables show the median-CPU run's figures only; a start that held the loop long in another
    # run must still be seen.
    bench = bench_agent()

    def result(n: int, cpu_s: float, held_ms: float) -> object:
        return bench.WorkerResult(
            n=n, cpu_s=cpu_s, wall_s=1.0, rss_base=0, rss_steady=0, warmup_lag_ms=0.0, max_lag_ms=0.0,
            lags_over_2ms=0, longest_callback_ms=held_ms, audio_out_s=0.0, errors=[],
        )  # fmt: skip

    config = bench.CallsConfig("transcoding", "transcode", False)
    floors = {1: [result(1, 0.01, 0.4), result(1, 0.02, 0.5)]}
    agents = {("transcoding", 1): [result(1, 0.03, 1.2), result(1, 0.02, 2.6)]}
    report = bench.spread_report([1], (config,), floors, agents)
    assert "| transcoding | 30.00, 20.00 |" in report, report
    assert "| transcoding | 1.2, 2.6 |" in report, report
    assert "| floor | 0.4, 0.5 |" in report, report
