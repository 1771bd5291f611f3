"""Ctrl+C for a standalone agent, without ever touching a host's signal handling.

``RealtimeAgent.run()`` in a script should end cleanly on Ctrl+C and return its result. Inside a server
(uvicorn, the gateway) the host owns SIGINT, and one call must never replace or remove its handler. So the
agent takes SIGINT only when nobody else has: when the handler in place is Python's default
(:func:`signal.default_int_handler`) or the one :func:`asyncio.run` installs for itself, and only in the
main thread. It puts back exactly the handler it found, and only if its own is still the one installed
(someone who replaced it in the meantime keeps theirs).

This uses :func:`signal.signal`, not ``loop.add_signal_handler``: removing a loop handler resets SIGINT to
the default, dropping what :func:`asyncio.run` had installed.
"""

from __future__ import annotations

import asyncio
import functools
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = ["SigintGuard", "host_owns_sigint"]


def host_owns_sigint() -> bool:
    """True when SIGINT is handled by something other than Python's or asyncio.run's default."""
    if threading.current_thread() is not threading.main_thread():
        return True
    handler = signal.getsignal(signal.SIGINT)
    if handler is signal.default_int_handler:
        return False
    # asyncio.run() (asyncio.Runner) installs functools.partial(runner._on_sigint, ...) while it runs.
    method = handler.func if isinstance(handler, functools.partial) else handler
    return not isinstance(getattr(method, "__self__", None), asyncio.Runner)


class SigintGuard:
    """While active, SIGINT calls ``on_interrupt`` on ``loop`` instead of raising KeyboardInterrupt.

    Args:
        loop: the loop to run ``on_interrupt`` on (the handler may run between any two bytecodes).
        on_interrupt: what to do; called once per SIGINT, in the loop.
        enabled: True to take SIGINT, False never to, None to take it only when the host has not
            (see :func:`host_owns_sigint`).
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, on_interrupt: Callable[[], None], enabled: bool | None
    ) -> None:
        self._loop = loop
        self._on_interrupt = on_interrupt
        self._enabled = enabled
        self._previous: Any = None
        self.installed = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self._loop.call_soon_threadsafe(self._on_interrupt)

    def __enter__(self) -> SigintGuard:
        wanted = self._enabled if self._enabled is not None else not host_owns_sigint()
        if wanted and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self.installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.installed:
            return
        self.installed = False
        current = signal.getsignal(signal.SIGINT)
        if getattr(current, "__self__", None) is self and getattr(current, "__func__", None) is (
            SigintGuard._handle
        ):
            signal.signal(signal.SIGINT, self._previous)
