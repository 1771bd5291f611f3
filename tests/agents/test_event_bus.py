"""EventBus: per-subscriber queues and workers, drops and errors counted, order kept, tasks owned."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import pytest

from rtvoice.event_bus import EventBus
from rtvoice.events import AgentEvent, AgentStarting, UserTranscript

# Only a safety net so a broken bus fails instead of hanging; nothing here measures time.
SAFETY_S = 5.0


@dataclass(frozen=True)
class Tick:
    n: int


def _bus_workers() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("EventBus worker")]


async def test_dispatch_returns_the_event_and_delivers_it() -> None:
    received: list[Tick] = []

    async def handler(event: Tick) -> None:
        received.append(event)

    async with EventBus() as bus:
        bus.subscribe(Tick, handler)
        event = Tick(1)
        assert await bus.dispatch(event) is event
    assert received == [event]


async def test_slow_subscriber_does_not_stall_the_publisher_or_others() -> None:
    gate = asyncio.Event()
    slow_started = asyncio.Event()
    fast_received: list[int] = []
    fast_done = asyncio.Event()

    async def slow(event: Tick) -> None:
        slow_started.set()
        await gate.wait()  # blocks until the test is over

    async def fast(event: Tick) -> None:
        fast_received.append(event.n)
        if len(fast_received) == 50:
            fast_done.set()

    bus = EventBus()
    slow_sub = bus.subscribe(Tick, slow)
    bus.subscribe(Tick, fast)
    for n in range(50):
        await bus.dispatch(Tick(n))  # would hang here if dispatch awaited the slow handler
    await asyncio.wait_for(fast_done.wait(), SAFETY_S)
    assert slow_started.is_set()
    assert fast_received == list(range(50))
    assert slow_sub.delivered == 0  # still stuck on the first event...
    assert slow_sub.pending == 49  # ...with the rest waiting in its own queue
    gate.set()
    await bus.aclose()
    assert slow_sub.delivered == 50


async def test_full_queue_drops_for_that_subscriber_only_and_counts(caplog: pytest.LogCaptureFixture) -> None:
    gate = asyncio.Event()
    slow_seen: list[int] = []
    fast_seen: list[int] = []

    async def slow(event: Tick) -> None:
        await gate.wait()
        slow_seen.append(event.n)

    async def fast(event: Tick) -> None:
        fast_seen.append(event.n)

    bus = EventBus(queue_size=100)
    bus.subscribe(Tick, slow, queue_size=3)
    bus.subscribe(Tick, fast)
    with caplog.at_level(logging.WARNING, logger="rtvoice.event_bus"):
        for n in range(10):  # no await in between: the workers have not taken anything yet
            bus.dispatch_nowait(Tick(n))
    assert bus.dropped == {(Tick, slow): 7, (Tick, fast): 0}
    assert "slow" in caplog.text and "Tick" in caplog.text and "too slow" in caplog.text
    gate.set()
    await bus.aclose()
    assert slow_seen == [0, 1, 2]  # the oldest are kept: what was queued is delivered in order
    assert fast_seen == list(range(10))


async def test_handler_errors_are_logged_counted_and_do_not_stop_delivery(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[int] = []

    async def flaky(event: Tick) -> None:
        if event.n % 2:
            raise ValueError(f"odd {event.n}")
        seen.append(event.n)

    bus = EventBus()
    sub = bus.subscribe(Tick, flaky)
    with caplog.at_level(logging.ERROR, logger="rtvoice.event_bus"):
        for n in range(6):
            await bus.dispatch(Tick(n))
        await bus.aclose()
    assert seen == [0, 2, 4]
    assert sub.errors == 3 and sub.delivered == 3
    failures = [r for r in caplog.records if r.exc_info is not None]
    assert len(failures) == 3
    assert all("Tick" in r.getMessage() and "flaky" in r.getMessage() for r in failures)
    assert "odd 1" in caplog.text


async def test_handler_raising_cancelled_error_is_an_error_not_a_shutdown() -> None:
    seen: list[int] = []

    async def handler(event: Tick) -> None:
        if event.n == 0:
            raise asyncio.CancelledError
        seen.append(event.n)

    bus = EventBus()
    sub = bus.subscribe(Tick, handler)
    await bus.dispatch(Tick(0))
    await bus.dispatch(Tick(1))
    await bus.aclose()
    assert seen == [1]
    assert sub.errors == 1


async def test_order_is_preserved_per_subscriber() -> None:
    seen: list[int] = []

    async def handler(event: Tick) -> None:
        if event.n % 7 == 0:
            await asyncio.sleep(0)  # yield mid-stream; later events must still wait their turn
        seen.append(event.n)

    async with EventBus() as bus:
        bus.subscribe(Tick, handler)
        for n in range(500):
            await bus.dispatch(Tick(n))
    assert seen == list(range(500))


async def test_sync_handlers_are_accepted() -> None:
    seen: list[int] = []
    async with EventBus() as bus:
        bus.subscribe(Tick, lambda event: seen.append(event.n))
        await bus.dispatch(Tick(1))
        await bus.dispatch(Tick(2))
    assert seen == [1, 2]


async def test_base_class_subscription_receives_subclasses() -> None:
    everything: list[AgentEvent] = []
    transcripts: list[UserTranscript] = []

    async def on_any(event: AgentEvent) -> None:
        everything.append(event)

    async def on_transcript(event: UserTranscript) -> None:
        transcripts.append(event)

    async with EventBus() as bus:
        bus.subscribe(AgentEvent, on_any)
        bus.subscribe(UserTranscript, on_transcript)
        await bus.dispatch(AgentStarting())
        await bus.dispatch(UserTranscript("hi"))
        await bus.dispatch(Tick(1))  # not an AgentEvent
    assert everything == [AgentStarting(), UserTranscript("hi")]
    assert transcripts == [UserTranscript("hi")]


async def test_subscribe_twice_is_one_subscription_and_unsubscribe_stops_delivery() -> None:
    seen: list[int] = []

    async def handler(event: Tick) -> None:
        seen.append(event.n)

    bus = EventBus()
    first = bus.subscribe(Tick, handler)
    assert bus.subscribe(Tick, handler) is first
    await bus.dispatch(Tick(1))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert seen == [1]
    assert bus.unsubscribe(Tick, handler) is True
    assert bus.unsubscribe(Tick, handler) is False
    await bus.dispatch(Tick(2))
    await bus.aclose()
    assert seen == [1]
    assert bus.subscriptions == ()


async def test_aclose_drains_then_cancels_every_worker() -> None:
    gate = asyncio.Event()
    done: list[int] = []

    async def stuck(event: Tick) -> None:
        await gate.wait()  # never released

    async def quick(event: Tick) -> None:
        done.append(event.n)

    bus = EventBus()
    stuck_sub = bus.subscribe(Tick, stuck)
    bus.subscribe(Tick, quick)
    for n in range(3):
        await bus.dispatch(Tick(n))
    await asyncio.sleep(0)
    assert len(_bus_workers()) == 2
    await asyncio.wait_for(bus.aclose(drain_timeout=0.05), SAFETY_S)
    assert _bus_workers() == []
    assert done == [0, 1, 2]  # the quick subscriber drained fully
    assert stuck_sub.delivered == 0
    assert stuck_sub.dropped == 2  # the two still queued when the stuck one was cancelled
    assert bus.closed
    await bus.aclose()  # idempotent


async def test_dispatch_after_close_is_counted_and_subscribe_refused() -> None:
    seen: list[int] = []
    bus = EventBus()
    bus.subscribe(Tick, lambda event: seen.append(event.n))
    await bus.aclose()
    await bus.dispatch(Tick(1))
    assert bus.dropped_after_close == 1
    assert seen == []
    with pytest.raises(RuntimeError, match="closed"):
        bus.subscribe(Tick, lambda event: None)


def test_subscribe_and_dispatch_before_the_loop_runs() -> None:
    seen: list[int] = []
    bus = EventBus()
    bus.subscribe(Tick, lambda event: seen.append(event.n))
    bus.dispatch_nowait(Tick(1))  # no running loop: queued, delivered once a loop drives the bus

    async def main() -> None:
        await bus.dispatch(Tick(2))
        await bus.aclose()

    asyncio.run(main())
    assert seen == [1, 2]
