"""The threads plain ``def`` tools run in: a bounded pool of their own, never the loop's default executor.

Why not ``asyncio.to_thread``: that uses the event loop's default executor, which also resolves host
names (``loop.getaddrinfo``, so every new connection) and serves whatever else the application puts
there. A sync tool that hangs would hold one of its threads for good; enough of them and no new call could
connect. :class:`ToolThreads` gives the tools of one :class:`~rtvoice.tools.Tools` registry their own
threads, so a hung tool can only ever take tool threads.

Bounds:

* ``max_threads`` threads run tools; a call that finds them all busy **waits** for one. Its timeout counts
  while it waits; a call that times out (or is cancelled) before a thread took it is dropped and never
  runs.
* At most ``max_waiting`` calls wait; beyond that a call is refused at once (:class:`ToolThreadsBusy`,
  which the registry turns into a ``busy`` error output for the model), so the queue is bounded.
* A thread cannot be stopped: a tool that overruns its timeout keeps its thread until it returns (the
  model has already been answered and the late result is dropped). A tool that never returns keeps its
  thread forever: give blocking clients their own timeouts.

The pool is created at the first sync call (from any thread or event loop; creation is locked), so a
``Tools`` registry with only ``async`` tools never starts a thread. :meth:`ToolThreads.close` shuts it down
(the application's call at exit); a later call starts a new pool.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import threading
from collections.abc import Callable
from typing import Any

from rtvoice.exceptions import ConfigurationError

__all__ = ["DEFAULT_MAX_THREADS", "DEFAULT_MAX_WAITING", "ToolThreads", "ToolThreadsBusy"]

#: Threads for sync tools per registry, by default.
DEFAULT_MAX_THREADS = 8
#: Sync tool calls that may wait for a thread, by default; more are refused.
DEFAULT_MAX_WAITING = 64


class ToolThreadsBusy(Exception):
    """The call was not run: every thread was busy and the waiting line full, or the pool was closed."""


class ToolThreads:
    """A bounded thread pool for sync tools, created at first use.

    Args:
        max_threads: threads that run tools at the same time (at least 1).
        max_waiting: calls that may wait for a thread (at least 0); one more is refused.

    Raises:
        ConfigurationError: a bound is out of range.
    """

    def __init__(
        self, max_threads: int = DEFAULT_MAX_THREADS, max_waiting: int = DEFAULT_MAX_WAITING
    ) -> None:
        if not isinstance(max_threads, int) or isinstance(max_threads, bool) or max_threads < 1:
            raise ConfigurationError(f"max_threads must be an int of at least 1, not {max_threads!r}")
        if not isinstance(max_waiting, int) or isinstance(max_waiting, bool) or max_waiting < 0:
            raise ConfigurationError(f"max_waiting must be an int of at least 0, not {max_waiting!r}")
        self.max_threads = max_threads
        self.max_waiting = max_waiting
        self._lock = threading.Lock()
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._admitted = 0  # calls submitted and not yet finished or dropped
        self._running = 0  # of those, the ones a thread is running

    @property
    def running(self) -> int:
        """Calls a thread is running now (including overrun ones whose caller stopped waiting)."""
        with self._lock:
            return self._running

    @property
    def waiting(self) -> int:
        """Calls waiting for a thread."""
        with self._lock:
            return self._admitted - self._running

    @property
    def started(self) -> bool:
        """Whether the pool exists (a sync tool has run since it was created or closed)."""
        with self._lock:
            return self._executor is not None

    async def run(self, function: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        """Run ``function(**kwargs)`` in a tool thread, with the caller's context variables.

        Raises:
            ToolThreadsBusy: all threads are busy and ``max_waiting`` calls already wait, or
                :meth:`close` dropped the call while it waited.
            asyncio.CancelledError: the caller was cancelled (a waiting call is dropped; a running one
                goes on in its thread, its result discarded).
            Exception: whatever ``function`` raised.
        """
        context = contextvars.copy_context()
        with self._lock:
            if self._admitted >= self.max_threads + self.max_waiting:
                raise ToolThreadsBusy(
                    f"all {self.max_threads} tool threads are busy and {self.max_waiting} calls are waiting"
                )
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=self.max_threads, thread_name_prefix="rtvoice-tool"
                )
            future = self._executor.submit(self._call, context, function, kwargs)
            self._admitted += 1
        future.add_done_callback(self._finished)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if future.cancelled() and (task is None or not task.cancelling()):
                # Not our caller's cancellation: close() dropped the call before a thread took it.
                raise ToolThreadsBusy("the tool threads were shut down before it ran") from None
            raise

    def close(self) -> None:
        """Shut the pool down: waiting calls are dropped, running tools finish in their threads.

        Does not wait for running tools (a hung one would block forever). A later call starts a new pool.
        """
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def _call(
        self, context: contextvars.Context, function: Callable[..., Any], kwargs: dict[str, Any]
    ) -> Any:
        with self._lock:
            self._running += 1
        try:
            return context.run(function, **kwargs)
        finally:
            with self._lock:
                self._running -= 1

    def _finished(self, _future: concurrent.futures.Future[Any]) -> None:
        # Runs when the call returned, raised, or was dropped before a thread took it.
        with self._lock:
            self._admitted -= 1

    def __repr__(self) -> str:
        return f"ToolThreads(max_threads={self.max_threads}, max_waiting={self.max_waiting})"
