"""The hub: a slow subscriber loses updates (counted) and is resynced; nobody else waits for it."""

from __future__ import annotations

from rtvoice_gateway.web.hub import Hub


async def test_a_full_queue_drops_and_counts_and_marks_the_subscriber_behind() -> None:
    hub = Hub(queue_size=3)
    slow, quick = hub.subscribe(), hub.subscribe()
    for n in range(5):
        hub.publish([{"type": "line", "n": n}])
        if quick.queue.qsize():
            quick.queue.get_nowait()  # the quick one keeps up
    behind = slow.behind
    assert slow.queue.qsize() == 3 and slow.dropped == 2 and behind
    assert quick.dropped == 0 and not quick.behind
    assert hub.dropped == 2
    slow.take_backlog()
    assert slow.queue.empty() and not slow.behind
    hub.unsubscribe(slow)
    hub.publish([{"type": "line"}])
    assert slow.queue.empty() and quick.queue.qsize() == 1
