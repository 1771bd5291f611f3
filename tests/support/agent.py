"""Driving a RealtimeAgent in end-to-end tests, and reading what the simulator received from it."""

from __future__ import annotations

import asyncio
from typing import Any

from openai.types.realtime import ConversationItemCreateEvent

from rtvoice import AgentResult, RealtimeAgent, WavInputDevice
from rtvoice.testing import RealtimeSimulator
from support.timing import seconds

__all__ = ["converse", "function_outputs", "received"]


async def converse(agent: RealtimeAgent, mic: WavInputDevice | None = None) -> AgentResult:
    """Run ``agent`` until its WAV microphone has streamed the whole file, then stop it.

    The caller's WAV ends with a pause long enough for the last reply. If the agent ends first (an error),
    its result comes back as is.
    """
    mic = mic if mic is not None else agent.audio_input  # type: ignore[assignment]
    assert isinstance(mic, WavInputDevice)
    async with asyncio.timeout(seconds(60)), asyncio.TaskGroup() as tasks:
        run = tasks.create_task(agent.run())
        finished = tasks.create_task(mic.wait_finished())
        await asyncio.wait({run, finished}, return_when=asyncio.FIRST_COMPLETED)
        finished.cancel()
        await agent.stop()
    return run.result()


def received(sim: RealtimeSimulator, kind: type[Any], session: int = 0) -> list[Any]:
    """The client events of type ``kind`` the simulator's ``session``-th connection received, in order."""
    return [event for event in sim.sessions[session].received if isinstance(event, kind)]


def function_outputs(sim: RealtimeSimulator, session: int = 0) -> list[tuple[str, str]]:
    """``(call_id, output)`` of every function output the agent sent, in order."""
    return [
        (event.item.call_id, event.item.output)
        for event in received(sim, ConversationItemCreateEvent, session)
        if event.item.type == "function_call_output"
    ]
