"""uvicorn inside a program or a test: started on a free port, stopped promptly, signals left alone.

``uvicorn.Server.serve()`` takes over SIGINT/SIGTERM for the whole process and polls for exit every
0.1 s. :class:`EmbeddedServer` does neither, so a simulator, a fake API or the gateway itself can run
inside a test's event loop (or beside other servers in one program) and stop at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import uvicorn

__all__ = ["EmbeddedServer"]


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server for an ASGI ``app`` on ``host:port`` (0: a free port), run as a task of its own.

    Use ``await server.start()`` then ``server.port``; ``await server.aclose()`` stops it and closes every
    connection.
    """

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0, **config: Any) -> None:
        config.setdefault("log_level", "warning")
        config.setdefault("lifespan", "off")
        config.setdefault("access_log", False)
        super().__init__(uvicorn.Config(app, host=host, port=port, **config))
        self._exit = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        """The bound port.

        Raises:
            RuntimeError: not started.
        """
        if not self.servers:
            raise RuntimeError("the server is not running")
        return int(self.servers[0].sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Start serving; returns once the port is bound.

        Raises:
            OSError: the address could not be bound.
        """
        self._task = asyncio.create_task(self._run(), name="embedded-uvicorn")
        # uvicorn offers no "started" future, only a flag; the wait is a few loop turns.
        while not self.started:
            if self._task.done():
                await self._task
                self._task = None
                raise OSError(f"cannot listen on {self.config.host}:{self.config.port}")
            await asyncio.sleep(0.001)

    async def _run(self) -> None:
        try:
            await self.serve()
        except SystemExit:
            return  # uvicorn exits the process when it cannot bind; here that is just a failed start

    async def aclose(self) -> None:
        """Stop listening and close every connection (idempotent)."""
        task, self._task = self._task, None
        if task is not None:
            self.request_exit()
            await task

    def request_exit(self) -> None:
        """Ask the server to stop (returns at once)."""
        self.should_exit = True
        self._exit.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # serve() would take over SIGINT/SIGTERM for the whole process; an embedded server leaves the
        # signal handlers to its host.
        yield

    async def main_loop(self) -> None:
        # uvicorn polls should_exit every 0.1 s; waiting on an event makes aclose() prompt. on_tick still
        # runs once a second (counter % 10 == 0), which keeps the Date header current.
        counter = 0
        while not await self.on_tick(counter):
            counter += 10
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exit.wait(), 1.0)
