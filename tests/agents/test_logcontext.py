"""rtvoice.logcontext: fields bound per call reach every line the call logs, and only that call's lines."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from rtvoice.logcontext import LogContextFilter, add_log_context, current_log_context, log_context


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """A real handler with the filter, on a logger of its own (nothing process-wide is touched)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(LogContextFilter())
    handler.setFormatter(logging.Formatter("%(session_id)s %(message)s"))
    logger = logging.getLogger("tests.logcontext")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
        logger.setLevel(logging.NOTSET)


def test_blocks_nest_merge_and_reset() -> None:
    assert dict(current_log_context()) == {}
    with log_context(session_id="s1", call_sid=None):  # None binds nothing
        assert dict(current_log_context()) == {"session_id": "s1"}
        with log_context(call_sid="CA1", session_id="s2"):  # merged; the inner value wins
            assert dict(current_log_context()) == {"session_id": "s2", "call_sid": "CA1"}
        assert dict(current_log_context()) == {"session_id": "s1"}
        with pytest.raises(RuntimeError), log_context(call_sid="CA2"):
            raise RuntimeError("the block fails")
        assert dict(current_log_context()) == {"session_id": "s1"}  # reset on the way out, even then
    assert dict(current_log_context()) == {}


def test_the_bound_fields_cannot_be_changed_from_outside() -> None:
    with log_context(session_id="s1"):
        bound = current_log_context()
        with pytest.raises(TypeError):
            bound["session_id"] = "forged"  # type: ignore[index]
        assert current_log_context()["session_id"] == "s1"


async def test_a_task_started_inside_the_block_keeps_the_fields_after_the_block_ends() -> None:
    started = asyncio.Event()
    release = asyncio.Event()
    seen: list[dict[str, str]] = []

    async def worker() -> None:
        seen.append(dict(current_log_context()))
        started.set()
        await release.wait()
        seen.append(dict(current_log_context()))

    with log_context(session_id="s1"):
        task = asyncio.create_task(worker())
        await started.wait()
    assert dict(current_log_context()) == {}  # the block is over here...
    release.set()
    await task
    assert seen == [{"session_id": "s1"}, {"session_id": "s1"}]  # ...but the task copied the context


async def test_two_concurrent_calls_each_log_with_their_own_id(captured: io.StringIO) -> None:
    log = logging.getLogger("tests.logcontext")
    turn = [asyncio.Event() for _ in range(4)]

    async def call(session_id: str, steps: tuple[int, int]) -> None:
        with log_context(session_id=session_id):
            for step in steps:  # the two calls' lines interleave: a, b, a, b
                await turn[step].wait()
                log.info("call %s step %d", session_id, step)
                if step + 1 < len(turn):
                    turn[step + 1].set()

    tasks = [asyncio.create_task(call("sA", (0, 2))), asyncio.create_task(call("sB", (1, 3)))]
    turn[0].set()
    await asyncio.gather(*tasks)
    log.info("after the calls")
    assert captured.getvalue().splitlines() == [
        "sA call sA step 0",
        "sB call sB step 1",
        "sA call sA step 2",
        "sB call sB step 3",
        "- after the calls",  # outside any call: the default, so the format string still works
    ]


def test_the_filter_copies_every_field_and_never_drops_a_record() -> None:
    record = logging.LogRecord("rtvoice", logging.INFO, __file__, 1, "hello", None, None)
    keep = LogContextFilter(defaults=("session_id", "call_sid"))
    with log_context(session_id="s1"):
        assert keep.filter(record) is True
    fields = ("session_id", "call_sid", "log_context")
    assert tuple(getattr(record, name) for name in fields) == ("s1", "-", {"session_id": "s1"})
    mine = logging.LogRecord("rtvoice", logging.INFO, __file__, 1, "hello", None, None)
    mine.call_sid = "set-by-extra"  # as logging's extra= does
    assert keep.filter(mine) is True
    assert tuple(getattr(mine, name) for name in fields) == ("-", "set-by-extra", {})


def test_the_structlog_processor_adds_the_fields_and_lets_the_event_win() -> None:
    out = io.StringIO()
    logger = structlog.wrap_logger(
        structlog.PrintLogger(out), processors=[add_log_context, structlog.processors.JSONRenderer()]
    )
    with log_context(session_id="s1", call_sid="CA1"):
        logger.info("answered", call_sid="explicit")
    logger.info("idle")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first == {"event": "answered", "session_id": "s1", "call_sid": "explicit"}
    assert second == {"event": "idle"}
