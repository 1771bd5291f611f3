"""Fan-out of board updates to the dashboard's subscribers, each with a bounded queue.

:meth:`Hub.publish` never waits: it appends to every subscriber's queue. A subscriber whose queue is full
(a slow browser) loses the update; the loss is counted (:attr:`Subscriber.dropped`, :attr:`Hub.dropped`)
and the subscriber is marked ``behind``, so its sender replaces what is queued with a fresh snapshot
instead of showing a board with holes.
"""

from __future__ import annotations

import asyncio
import logging

from rtvoice_gateway.web.board import Update

__all__ = ["QUEUE_SIZE", "Hub", "Subscriber"]

log = logging.getLogger("rtvoice_gateway.web")

#: Updates a subscriber may lag behind before it loses some.
QUEUE_SIZE = 256


class Subscriber:
    """One dashboard connection's queue (made by :meth:`Hub.subscribe`)."""

    def __init__(self, size: int) -> None:
        self.queue: asyncio.Queue[Update] = asyncio.Queue(size)
        self.dropped = 0
        """Updates lost because the queue was full."""
        self.behind = False
        """Updates were lost since the last snapshot: the next thing to send is a snapshot."""

    def take_backlog(self) -> None:
        """Forget what is queued (a snapshot replaces it) and clear ``behind``."""
        while not self.queue.empty():
            self.queue.get_nowait()
        self.behind = False


class Hub:
    """The set of subscribers (see the module docstring)."""

    def __init__(self, *, queue_size: int = QUEUE_SIZE) -> None:
        self.queue_size = queue_size
        self.subscribers: set[Subscriber] = set()
        self.dropped = 0
        """Updates lost over all subscribers."""

    def subscribe(self) -> Subscriber:
        """A new subscriber; call :meth:`unsubscribe` when its connection ends."""
        subscriber = Subscriber(self.queue_size)
        self.subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        """Stop delivering to ``subscriber``."""
        self.subscribers.discard(subscriber)

    def publish(self, updates: list[Update]) -> None:
        """Queue ``updates`` for every subscriber (never blocks)."""
        for subscriber in self.subscribers:
            for update in updates:
                try:
                    subscriber.queue.put_nowait(update)
                except asyncio.QueueFull:
                    subscriber.dropped += 1
                    self.dropped += 1
                    if not subscriber.behind:
                        log.warning("a dashboard subscriber is too slow: updates dropped, it will resync")
                    subscriber.behind = True
