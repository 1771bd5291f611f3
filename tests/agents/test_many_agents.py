"""Twenty-odd agents in one event loop against one simulator, the way the gateway runs its calls.

Each call has its own devices and its own agent (built by one factory from shared ``Tools`` and one shared
provider). Each must hear only its own replies and carry its own usage, while three other calls fail in
their own ways (a microphone that breaks, a tool that hangs, an upstream that closes): those three end
cleanly or recover, and the others are untouched. Afterwards the host's SIGINT handler is the one it
installed, and no task, thread, socket or file descriptor of the calls is left behind.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from types import FrameType

import pytest

from rtvoice import (
    AgentResult,
    OpenAIProvider,
    RealtimeAgent,
    ServerVAD,
    Tools,
    WavInputDevice,
    WavOutputDevice,
)
from rtvoice.testing import CallFunction, Faults, RealtimeSimulator, Say
from rtvoice.testing.brain import BrainContext
from support.audio import caller_wav
from support.timing import seconds

CALLS = 20
SPEED = 4.0
HUNG_TOOL = 5  # this call's tool never returns; its agent answers with a timeout error
BROKEN_MIC = 9  # this call's microphone fails mid-call
CLOSED_UPSTREAM = 99  # this call goes to a second server that closes mid-response

pytestmark = [pytest.mark.slow, pytest.mark.serial]


def call_brain(ctx: BrainContext) -> list[Say | CallFunction]:
    """Looks the caller's code up, then says it, naming the agent its instructions name."""
    found = re.search(r"agent (\d+)", ctx.instructions)
    n = int(found.group(1)) if found else -1
    if ctx.function_outputs:
        return [Say(f"Agent {n} here. {ctx.function_outputs[-1][1]}.")]
    return [CallFunction("lookup", {"n": n})]


tools = Tools()


@tools.action("Look up the caller's code")
async def lookup(n: int) -> str:
    if n == HUNG_TOOL:
        await asyncio.Event().wait()  # hangs until the agent gives up on it
    return f"Your code is {n * 7}"


class BreakingMicrophone(WavInputDevice):
    """Streams its WAV, then fails after half a second of audio."""

    async def stream_chunks(self) -> AsyncIterator[bytes]:
        async for chunk in super().stream_chunks():
            if self.streamed_ms > 500:
                raise OSError("the line went dead")
            yield chunk


def make_agent(n: int, provider: OpenAIProvider, tmp_path: Path, caller: Path) -> RealtimeAgent:
    """The gateway's agent factory: a new agent per call from shared configuration."""
    folder = tmp_path / f"call-{n}"
    folder.mkdir()
    mic_type = BreakingMicrophone if n == BROKEN_MIC else WavInputDevice
    return RealtimeAgent(
        instructions=f"You are agent {n}.",
        tools=tools,
        tool_timeout=0.5 if n == HUNG_TOOL else 10.0,
        audio_input=mic_type(caller, speed=SPEED, end="silence"),  # a phone line: silence after the words
        audio_output=WavOutputDevice(folder / "speaker.wav", speed=SPEED),
        provider=provider,
        turn_detection=ServerVAD(),
        recording_path=folder / "call.wav",
    )


SIGINT_SEEN: list[object] = []  # the SIGINT handler each call saw once it was connected


async def converse(agent: RealtimeAgent) -> AgentResult:
    """Run one call until its agent has answered (or the call ended by itself), then hang up."""
    async with asyncio.TaskGroup() as tasks:
        run = tasks.create_task(agent.run())
        seen = False
        while not run.done() and not [t for t in agent.history.turns if t.role == "assistant"]:
            if agent.connected and not seen:
                SIGINT_SEEN.append(signal.getsignal(signal.SIGINT))
                seen = True
            await asyncio.sleep(0.02)
        await agent.stop()
    return run.result()


def call_threads() -> list[threading.Thread]:
    """Threads other than the simulators' own speech workers (which end just after their server)."""
    return [t for t in threading.enumerate() if not t.name.startswith("rtvoice-sim-speech")]


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


async def test_twenty_agents_in_one_loop_each_hear_only_their_own_replies(tmp_path: Path) -> None:
    def host_handler(signum: int, frame: FrameType | None) -> None:
        pass

    previous = signal.signal(signal.SIGINT, host_handler)  # the host's own (uvicorn installs one)
    try:
        await run_the_calls(tmp_path, host_handler)
    finally:
        signal.signal(signal.SIGINT, previous)


async def run_the_calls(tmp_path: Path, host_handler: object) -> None:
    caller = tmp_path / "caller.wav"
    caller_wav(caller, ["Hello, what is my code?"], gaps_ms=500)
    threads_before = len(call_threads())
    fds_before = open_fds()
    async with (
        RealtimeSimulator(brain=call_brain, generation_speed=16) as sim,
        RealtimeSimulator(brain=call_brain, generation_speed=1, faults=Faults(close_at_event=22)) as bad,
    ):
        shared = OpenAIProvider(api_key="sk-test", websocket_base_url=sim.url)
        agents = {n: make_agent(n, shared, tmp_path, caller) for n in range(CALLS)}
        failing = OpenAIProvider(api_key="sk-test", websocket_base_url=bad.url)
        agents[CLOSED_UPSTREAM] = make_agent(CLOSED_UPSTREAM, failing, tmp_path, caller)
        async with asyncio.timeout(seconds(90)), asyncio.TaskGroup() as tasks:
            runs = {n: tasks.create_task(converse(agent)) for n, agent in agents.items()}
        results: dict[int, AgentResult] = {n: run.result() for n, run in runs.items()}
        await shared.aclose()
        await failing.aclose()
        assert len(sim.close_times) == len(sim.sessions) == CALLS  # every socket closed
    assert signal.getsignal(signal.SIGINT) is host_handler
    assert len(SIGINT_SEEN) >= CALLS - 1 and all(h is host_handler for h in SIGINT_SEEN)  # no call took it

    for n, result in results.items():
        said = " ".join(t.transcript for t in result.turns if t.role == "assistant")
        others = {int(m) for m in re.findall(r"Agent (\d+)", said)} - {n}
        assert not others, f"call {n} heard agents {others}"
        if n in (BROKEN_MIC, CLOSED_UPSTREAM):
            continue
        assert result.stop_reason == "stopped" and result.error is None, (n, result.error)
        expected = (
            f"Agent {n} here. Error: tool 'lookup' timed out"
            if n == HUNG_TOOL
            else f"Agent {n} here. Your code is {n * 7}."
        )
        assert said.startswith(expected), (n, said)
        kinds = sorted(record.kind for record in result.usage.records)
        assert kinds == ["realtime", "realtime", "transcription"]  # its own two responses and one turn
        assert result.recording_path == tmp_path / f"call-{n}" / "call.wav"

    broken = results[BROKEN_MIC]
    assert broken.stop_reason == "device_error"
    assert broken.error is not None and "the line went dead" in broken.error.message
    closed = results[CLOSED_UPSTREAM]
    assert closed.stop_reason == "upstream_closed"

    billed = [r.id for result in results.values() for r in result.usage.records]
    assert len(billed) == len(set(billed))  # no response or transcription billed to two calls

    await asyncio.sleep(0)
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
    assert len(call_threads()) <= threads_before + 1  # at most the loop's resolver thread
    assert open_fds() <= fds_before | set()  # no socket or file left open
