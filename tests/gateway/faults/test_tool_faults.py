"""Fault matrix, tools and the supervisor: a tool that raises, hangs, or blocks its thread, and a supervisor
whose chat model fails. The model always gets an output (an error text it can talk about), the caller is
answered, the event loop is never blocked (the healthy call beside it completes its turn). Checks of every
row: ``support.faults.fault_row``."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from rtvoice import Supervisor, Tools
from rtvoice.llm import ChatOpenAI
from rtvoice.testing import CallFunction
from rtvoice.testing.chat import ChatCompletionsSimulator, ChatReply
from support.agent import function_outputs
from support.faults import Snapshot, fault_row, phone_agent

tools = Tools()


@tools.action("Fails")
async def explode() -> str:
    raise RuntimeError("the booking system is down")


@tools.action("Never returns")
async def hang() -> str:
    await asyncio.sleep(3600)
    return "never"


@tools.action("Blocks its thread for a second")
def block() -> str:
    time.sleep(1.0)
    return "blocked and done"


async def tool_row(tmp_path: Path, name: str, *, timeout_s: float) -> str:
    """Run a faulty call whose agent calls ``name``; return the function output the model got."""
    factory = phone_agent(tools=tools, tool_timeout=timeout_s)
    async with fault_row(tmp_path, factory=factory, script=[CallFunction(name)]) as row:
        await row.healthy()
        await row.faulty()
        await row.converse("faulty")  # the greeting, then the answer that reads the tool's output back
        await row.hang_up("faulty")
        summary = row.summary("faulty")
        assert summary is not None and summary.ended_by == "caller"
        assert summary.result is not None and summary.result.error is None
        # The registry's thread pool outlives calls (it is shared by them); its owner closes it, and an
        # overrunning tool's thread then ends when the tool returns.
        tools.close()
    outputs = function_outputs(row.sim, session=1)
    assert len(outputs) == 1
    return outputs[0][1]


async def test_a_tool_that_raises(tmp_path: Path) -> None:
    """A tool raises: the model gets an error output naming the failure, answers, and the call goes on."""
    output = await tool_row(tmp_path, "explode", timeout_s=5)
    assert "the booking system is down" in output


async def test_a_tool_that_hangs(tmp_path: Path) -> None:
    """An async tool never returns: after ``tool_timeout`` (0.5 s here) the model gets a timed-out output,
    answers, and the call goes on; the tool's task is cancelled (nothing left behind)."""
    output = await tool_row(tmp_path, "hang", timeout_s=0.5)
    assert "time" in output.lower()


async def test_a_sync_tool_that_blocks_past_its_timeout(tmp_path: Path) -> None:
    """A plain ``def`` tool sleeps 1 s in its thread, past its 0.3 s timeout: the event loop is never
    blocked (it runs in the tools' own thread pool), the model gets a timed-out output and answers; the
    thread finishes on its own and is not left behind."""
    output = await tool_row(tmp_path, "block", timeout_s=0.3)
    assert "time" in output.lower()


async def test_a_sync_tool_that_blocks_within_its_timeout(tmp_path: Path) -> None:
    """The same tool within its timeout: its result reaches the model; the other call did not wait."""
    output = await tool_row(tmp_path, "block", timeout_s=5)
    assert output == "blocked and done"


async def test_the_supervisors_model_failing(tmp_path: Path) -> None:
    """The supervisor's chat model refuses every request (HTTP 401 here): the ``supervisor`` tool's output
    says it failed, the model answers, the call goes on."""
    before = Snapshot.take()  # the chat model's own server is part of the row
    chat = ChatCompletionsSimulator([ChatReply(text="never")], api_key="sk-right")
    await chat.start()
    llm = ChatOpenAI(api_key="sk-wrong", base_url=chat.base_url, max_retries=0, timeout=5)
    supervisor = Supervisor("Books tables", "You book tables.", llm=llm)
    factory = phone_agent(supervisor=supervisor)
    script = [CallFunction("supervisor", {"task": "Book a table for two at eight."})]
    try:
        async with fault_row(tmp_path, factory=factory, script=script, before=before) as row:
            await row.healthy()
            await row.faulty()
            await row.converse("faulty")
            await row.hang_up("faulty")
            summary = row.summary("faulty")
            assert summary is not None and summary.ended_by == "caller"
            assert summary.result is not None and summary.result.error is None
            await llm.aclose()  # the supervisor's model is ours to close (before the leak check)
            await chat.aclose()
    finally:
        await llm.aclose()
        await chat.aclose()
    outputs = function_outputs(row.sim, session=1)
    assert len(outputs) == 1
    assert "401" in outputs[0][1], outputs[0][1]
