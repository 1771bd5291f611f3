"""Sync tools run in their registry's own bounded thread pool, never the loop's default executor.

Races are staged with events: a blocked tool tells the loop it has started (``call_soon_threadsafe``) and
waits on a ``threading.Event`` the test sets; nothing here sleeps or measures time.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import socket
import threading
from collections.abc import Iterator

import pytest

from rtvoice.exceptions import ConfigurationError
from rtvoice.tools import ToolContext, ToolErrorKind, ToolResult, Tools, ToolThreads

SAFETY_S = 10.0  # a net so that a broken pool fails instead of hanging; nothing is timed
CTX = ToolContext()
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")


class Blocker:
    """A sync tool that reports its start to the loop and blocks until released."""

    def __init__(self, tools: Tools, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.release = threading.Event()
        self.started: list[str] = []
        self.threads: set[str] = set()
        self._changed = asyncio.Event()

        @tools.action("Wait for the back office")
        def back_office(label: str) -> str:
            self.threads.add(threading.current_thread().name)
            loop.call_soon_threadsafe(self._started, label)
            if not self.release.wait(SAFETY_S):
                raise TimeoutError("the test never released the tool")
            return f"{label} done"

    def _started(self, label: str) -> None:
        self.started.append(label)
        self._changed.set()

    async def wait_started(self, count: int) -> None:
        while len(self.started) < count:
            self._changed.clear()
            await self._changed.wait()


@pytest.fixture
def release_on_exit() -> Iterator[list[threading.Event]]:
    # However a test ends, no tool thread stays blocked (the interpreter joins them at exit).
    events: list[threading.Event] = []
    yield events
    for event in events:
        event.set()


def pool_started(tools: Tools) -> bool:
    return tools.threads.started  # through a call, so mypy does not narrow the property between steps


def call(tools: Tools, label: str, timeout: float = SAFETY_S) -> asyncio.Task[ToolResult]:
    return asyncio.ensure_future(
        tools.invoke("back_office", f'{{"label": "{label}"}}', context=CTX, timeout=timeout)
    )


async def test_with_every_tool_thread_hung_the_default_executor_and_dns_still_work(
    release_on_exit: list[threading.Event],
) -> None:
    loop = asyncio.get_running_loop()
    # More hung tools than the default executor has threads (min(32, CPUs + 4)): were the tools run there,
    # it would be exhausted and the look-ups below would never finish.
    count = min(32, (os.cpu_count() or 1) + 4) + 1
    tools = Tools(max_threads=count)
    blocker = Blocker(tools, loop)
    release_on_exit.append(blocker.release)
    labels = [f"call-{n}" for n in range(count)]
    hung = [call(tools, label) for label in labels]
    async with asyncio.timeout(SAFETY_S):
        await blocker.wait_started(count)
        assert tools.threads.running == count
        # What a new phone call needs to connect: the loop's default executor and name resolution.
        assert await loop.run_in_executor(None, lambda: "default executor free") == "default executor free"
        assert await asyncio.to_thread(threading.current_thread) is not threading.current_thread()
        addresses = await loop.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)
        assert addresses
    assert blocker.threads == {f"rtvoice-tool_{n}" for n in range(count)}
    blocker.release.set()
    results = await asyncio.gather(*hung)
    assert [r.output for r in results] == [f"{label} done" for label in labels]
    tools.close()


async def test_a_call_waits_for_a_thread_its_timeout_counts_and_if_it_expires_the_tool_never_runs(
    release_on_exit: list[threading.Event],
) -> None:
    loop = asyncio.get_running_loop()
    tools = Tools(max_threads=1)
    blocker = Blocker(tools, loop)
    release_on_exit.append(blocker.release)
    first = call(tools, "first")
    await blocker.wait_started(1)
    # The only thread is taken: this call waits, and its 0.05 s run out while it waits.
    late = await tools.invoke("back_office", '{"label": "late"}', context=CTX, timeout=0.05)
    assert (
        late.error_kind == ToolErrorKind.TIMEOUT
        and late.output == "Error: tool 'back_office' timed out after 0.05 s"
    )
    waiting = call(tools, "waiting")  # this one has time: it runs once the thread is free
    blocker.release.set()
    assert (await first).output == "first done"
    assert (await waiting).output == "waiting done"
    assert blocker.started == ["first", "waiting"]  # the expired call was dropped, never run
    assert (tools.threads.running, tools.threads.waiting) == (0, 0)


async def test_a_full_waiting_line_answers_busy_at_once_and_frees_up_afterwards(
    release_on_exit: list[threading.Event],
) -> None:
    loop = asyncio.get_running_loop()
    tools = Tools(max_threads=1, max_waiting=1)
    blocker = Blocker(tools, loop)
    release_on_exit.append(blocker.release)
    running = call(tools, "running")
    await blocker.wait_started(1)
    queued = call(tools, "queued")
    await asyncio.sleep(0)  # let it be submitted (one loop step; nothing is timed)
    assert tools.threads.waiting == 1
    refused = await tools.invoke("back_office", '{"label": "refused"}', context=CTX, timeout=SAFETY_S)
    assert not refused.ok and refused.error_kind == ToolErrorKind.BUSY
    assert refused.output == (
        "Error: tool 'back_office' could not run now: all 1 tool threads are busy and 1 calls are waiting. "
        "Try again in a moment."
    )
    blocker.release.set()
    assert [(await t).output for t in (running, queued)] == ["running done", "queued done"]
    again = await tools.invoke("back_office", '{"label": "again"}', context=CTX, timeout=SAFETY_S)
    assert again.output == "again done"
    assert "refused" not in blocker.started


async def test_one_registry_shared_by_two_event_loops_uses_one_bounded_pool() -> None:
    tools = Tools(max_threads=3)
    names: set[str] = set()
    lock = threading.Lock()

    @tools.action("Which thread runs me")
    def where() -> str:
        with lock:
            names.add(threading.current_thread().name)
        return request_id.get()

    async def calls(label: str) -> list[str]:
        request_id.set(label)  # context variables reach the tool thread
        results = await asyncio.gather(
            *(tools.invoke("where", "", context=CTX, timeout=SAFETY_S) for _ in range(20))
        )
        return [r.output for r in results]

    outputs: dict[str, list[str]] = {}

    def in_own_loop(label: str) -> None:
        outputs[label] = asyncio.run(calls(label))

    threads = [threading.Thread(target=in_own_loop, args=(label,)) for label in ("call-a", "call-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        await asyncio.to_thread(thread.join, SAFETY_S)
    assert outputs == {"call-a": ["call-a"] * 20, "call-b": ["call-b"] * 20}
    assert names and names <= {f"rtvoice-tool_{n}" for n in range(3)}  # one pool, never more threads
    tools.close()


async def test_close_drops_waiting_calls_and_a_later_call_starts_a_new_pool(
    release_on_exit: list[threading.Event],
) -> None:
    loop = asyncio.get_running_loop()
    tools = Tools(max_threads=1)
    blocker = Blocker(tools, loop)
    release_on_exit.append(blocker.release)
    running = call(tools, "running")
    await blocker.wait_started(1)
    dropped = call(tools, "dropped")
    await asyncio.sleep(0)
    tools.close()
    result = await dropped  # dropped with the pool, and still answered
    assert (result.error_kind, result.output) == (
        ToolErrorKind.BUSY,
        "Error: tool 'back_office' could not run now: the tool threads were shut down before it ran. "
        "Try again in a moment.",
    )
    assert not pool_started(tools)
    blocker.release.set()
    assert (await running).output == "running done"
    assert (await call(tools, "after")).output == "after done"
    assert pool_started(tools) and blocker.started == ["running", "after"]
    tools.close()


async def test_async_only_registries_start_no_threads() -> None:
    tools = Tools()

    @tools.action("Answer on the loop")
    async def ping() -> str:
        return "pong"

    assert (await tools.invoke("ping", "", context=CTX, timeout=SAFETY_S)).output == "pong"
    assert not tools.threads.started


@pytest.mark.parametrize(("threads", "waiting"), [(0, 1), (1, -1), (True, 1), (2.5, 1)])
def test_bounds_are_checked(threads: object, waiting: object) -> None:
    with pytest.raises(ConfigurationError):
        ToolThreads(threads, waiting)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        Tools(max_threads=threads, max_waiting=waiting)  # type: ignore[arg-type]
