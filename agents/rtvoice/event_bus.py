"""The event bus: the agent publishes events, subscribers receive them without ever slowing it down.

The API is 0.7.0's (``subscribe``, ``unsubscribe``, ``await dispatch(event)``), the delivery is not.
0.7.0 awaited every handler inside ``dispatch``, so a slow listener stalled the audio path, and it
swallowed handler errors. Here:

* **Dispatch never waits for a handler.** Each subscription has its own bounded queue and worker task;
  ``dispatch`` only appends to the queues (``dispatch_nowait`` does the same from sync code).
* **A slow subscriber loses events, not the publisher's time.** When its queue is full the new event
  is dropped *for that subscriber only*, counted in :attr:`Subscription.dropped` (and
  :attr:`EventBus.dropped`) and logged.
* **Order is kept per subscriber**: one worker drains one FIFO queue.
* **Handler errors are logged with the event type and counted** (:attr:`Subscription.errors`); the
  worker carries on with the next event.
* **Subscribing to a base class receives its subclasses** (``isinstance`` matching; 0.7.0 matched the
  exact type). ``subscribe(AgentEvent, handler)`` therefore receives every agent event in dispatch order,
  which is how :func:`~rtvoice.listener.attach_listener` keeps a listener's callbacks in order. A handler
  subscribed to a class and to its subclass is two subscriptions and receives such an event twice.
* **The bus owns its tasks.** Workers start on the first dispatch inside a running loop (so
  ``subscribe`` works before the loop exists); :meth:`EventBus.aclose` (or leaving ``async with``) lets
  the queues drain for up to ``close_timeout`` seconds, then cancels and awaits every worker.

Handlers may be ``async def`` functions (awaited in the worker) or plain functions (called in the
worker; keep them quick, they run on the event loop).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Generic, TypeAlias, TypeVar

__all__ = ["EventBus", "Handler", "Subscription"]

_log = logging.getLogger(__name__)

E = TypeVar("E")

Handler: TypeAlias = Callable[[E], Awaitable[None] | None]
"""A subscriber: an async function (awaited) or a plain function (called) taking the event."""

DEFAULT_QUEUE_SIZE = 1024
"""Events a subscriber may lag behind before it loses some: a few seconds of a busy session."""


def _name(handler: Callable[..., object]) -> str:
    return getattr(handler, "__qualname__", None) or repr(handler)


class Subscription(Generic[E]):
    """One handler's subscription to one event type, with its queue, worker and counters.

    Returned by :meth:`EventBus.subscribe`; read its counters, do not build one yourself.
    """

    def __init__(self, event_type: type[E], handler: Handler[E], queue_size: int) -> None:
        self.event_type = event_type
        self.handler = handler
        self.queue_size = queue_size
        self.delivered = 0
        """Events the handler finished without raising."""
        self.dropped = 0
        """Events this subscriber lost: its queue was full, or it was closed with events still queued."""
        self.errors = 0
        """Events on which the handler raised."""
        self._queue: asyncio.Queue[E] = asyncio.Queue(queue_size)
        self._worker: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        """Events queued and not yet handled."""
        return self._queue.qsize()

    def __repr__(self) -> str:
        return (
            f"<Subscription {self.event_type.__name__} -> {_name(self.handler)} delivered={self.delivered} "
            f"dropped={self.dropped} errors={self.errors}>"
        )

    def _offer(self, event: E) -> None:
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            # Log the first drop and then every hundredth: a stuck handler at audio rate would flood logs.
            if self.dropped == 1 or self.dropped % 100 == 0:
                _log.warning(
                    "event handler %s is too slow: dropped %s (%d dropped so far, queue size %d)",
                    _name(self.handler),
                    type(event).__name__,
                    self.dropped,
                    self.queue_size,
                )

    async def _run(self) -> None:
        queue = self._queue
        while True:
            event = await queue.get()
            try:
                result = self.handler(event)
                if result is not None:
                    await result
                self.delivered += 1
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # the bus is closing or we were unsubscribed
                self.errors += 1  # the handler cancelled something of its own; not our shutdown
                _log.error("event handler %s was cancelled while handling %s", _name(self.handler), event)
            except Exception:
                self.errors += 1
                _log.exception("event handler %s failed on %s", _name(self.handler), type(event).__name__)
            finally:
                queue.task_done()

    def _discard_pending(self, why: str) -> None:
        lost = 0
        while not self._queue.empty():
            self._queue.get_nowait()
            self._queue.task_done()
            lost += 1
        if lost:
            self.dropped += lost
            _log.warning("event handler %s: %d queued events dropped (%s)", _name(self.handler), lost, why)


class EventBus:
    """Publish/subscribe between the agent and its observers. See the module docstring for the rules.

    Args:
        queue_size: default per-subscriber queue bound.
        close_timeout: how long :meth:`aclose` lets queued events drain before cancelling the workers.

    Example::

        async with EventBus() as bus:
            bus.subscribe(UserTranscript, on_transcript)
            await bus.dispatch(UserTranscript("hello"))
    """

    def __init__(self, *, queue_size: int = DEFAULT_QUEUE_SIZE, close_timeout: float = 2.0) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self._queue_size = queue_size
        self._close_timeout = close_timeout
        self._subscriptions: list[Subscription[Any]] = []
        self._workers: set[asyncio.Task[None]] = set()
        self._closed = False
        self.dropped_after_close = 0
        """Events dispatched after :meth:`aclose` began; nobody received them."""

    @property
    def closed(self) -> bool:
        """True once :meth:`aclose` has begun."""
        return self._closed

    @property
    def subscriptions(self) -> tuple[Subscription[Any], ...]:
        """The current subscriptions, in subscription order."""
        return tuple(self._subscriptions)

    @property
    def dropped(self) -> dict[tuple[type[Any], Handler[Any]], int]:
        """Events dropped per subscriber, keyed by ``(event_type, handler)`` as subscribed."""
        return {(s.event_type, s.handler): s.dropped for s in self._subscriptions}

    @property
    def errors(self) -> dict[tuple[type[Any], Handler[Any]], int]:
        """Handler exceptions per subscriber, keyed by ``(event_type, handler)`` as subscribed."""
        return {(s.event_type, s.handler): s.errors for s in self._subscriptions}

    def _find(self, event_type: type[Any], handler: Handler[Any]) -> Subscription[Any] | None:
        for sub in self._subscriptions:
            if sub.event_type is event_type and sub.handler == handler:
                return sub
        return None

    def subscribe(
        self, event_type: type[E], handler: Handler[E], *, queue_size: int | None = None
    ) -> Subscription[E]:
        """Deliver every event that is an instance of ``event_type`` to ``handler``.

        Subscribing the same handler to the same type again returns the existing subscription.

        Args:
            event_type: the class to receive, subclasses included.
            handler: an async or plain function taking the event.
            queue_size: this subscriber's queue bound, instead of the bus default.

        Returns:
            The subscription, whose counters show what was delivered, dropped and failed.

        Raises:
            RuntimeError: the bus is closed.
        """
        if self._closed:
            raise RuntimeError("cannot subscribe to a closed EventBus")
        existing = self._find(event_type, handler)
        if existing is not None:
            return existing
        sub = Subscription(event_type, handler, queue_size or self._queue_size)
        self._subscriptions.append(sub)
        return sub

    def unsubscribe(self, event_type: type[Any], handler: Handler[Any]) -> bool:
        """Stop delivering to ``handler``; events still queued for it are dropped (and counted).

        Returns:
            True if there was such a subscription.
        """
        sub = self._find(event_type, handler)
        if sub is None:
            return False
        self._subscriptions.remove(sub)
        if sub._worker is not None:
            sub._worker.cancel()  # stays in self._workers until it has finished; aclose awaits it
        sub._discard_pending("unsubscribed")
        return True

    async def dispatch(self, event: E) -> E:
        """Queue ``event`` for every matching subscriber and return it; never waits for a handler."""
        return self.dispatch_nowait(event)

    def dispatch_nowait(self, event: E) -> E:
        """Like :meth:`dispatch`, callable from sync code. Returns ``event``."""
        if self._closed:
            self.dropped_after_close += 1
            if self.dropped_after_close == 1:
                _log.warning("event %s dispatched after the EventBus closed; dropped", type(event).__name__)
            return event
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None  # queued now, delivered once a dispatch or aclose runs inside a loop
        for sub in self._subscriptions:
            if isinstance(event, sub.event_type):
                sub._offer(event)
                if sub._worker is None and loop is not None:
                    self._start_worker(sub, loop)
        return event

    def _start_worker(self, sub: Subscription[Any], loop: asyncio.AbstractEventLoop) -> None:
        task = loop.create_task(sub._run(), name=f"EventBus worker for {_name(sub.handler)}")
        sub._worker = task
        self._workers.add(task)
        task.add_done_callback(self._workers.discard)

    async def aclose(self, *, drain_timeout: float | None = None) -> None:
        """Stop accepting events, let queued ones drain, then cancel and await every worker.

        Idempotent. Events still queued when the timeout expires are dropped and counted.

        Args:
            drain_timeout: seconds to let queues drain; default: the bus's ``close_timeout``.
        """
        self._closed = True
        loop = asyncio.get_running_loop()
        try:
            for sub in self._subscriptions:
                if sub._worker is None and sub.pending:
                    self._start_worker(sub, loop)
            drain = [sub._queue.join() for sub in self._subscriptions if sub._worker is not None]
            if drain:
                try:
                    async with asyncio.timeout(
                        self._close_timeout if drain_timeout is None else drain_timeout
                    ):
                        await asyncio.gather(*drain)
                except TimeoutError:
                    _log.warning("EventBus closed before every handler caught up")
        finally:
            workers = list(self._workers)
            for task in workers:
                task.cancel()
            if workers:
                await asyncio.gather(*workers, return_exceptions=True)
            for sub in self._subscriptions:
                sub._discard_pending("the bus closed")
                sub._worker = None

    async def __aenter__(self) -> EventBus:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
