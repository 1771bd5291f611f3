"""The upstream watchdog: a server that goes silent while a response is expected ends the session with
``upstream_timeout``; a quiet server with nothing asked of it, or one that answers, never trips it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from rtvoice import (
    AgentResult,
    ConfigurationError,
    OpenAIProvider,
    RealtimeAgent,
    UpstreamError,
    WavInputDevice,
    WavOutputDevice,
)
from rtvoice.testing import Faults, RealtimeSimulator, Say, ScriptedBrain
from support.audio import caller_wav
from support.timing import seconds

SPEED = 4.0


def agent_for(sim: RealtimeSimulator, tmp_path: Path, *, timeout_s: float | None) -> RealtimeAgent:
    caller_wav(tmp_path / "caller.wav", [], lead_ms=4000)  # the caller stays silent
    return RealtimeAgent(
        audio_input=WavInputDevice(tmp_path / "caller.wav", speed=SPEED, end="stop"),
        audio_output=WavOutputDevice(tmp_path / "speaker.wav", speed=SPEED),
        provider=OpenAIProvider(api_key="sk-test", websocket_base_url=sim.url),
        turn_detection=None,
        upstream_timeout_seconds=timeout_s,
    )


async def run_with_request(agent: RealtimeAgent, *, request: bool, stop_after_s: float) -> AgentResult:
    """Run ``agent``; ask for a response once it is connected; stop it after ``stop_after_s`` unless it ended."""
    async with asyncio.timeout(seconds(20)), asyncio.TaskGroup() as tasks:
        run = tasks.create_task(agent.run())
        while not (agent.connected or run.done()):  # noqa: ASYNC110 - the agent's state
            await asyncio.sleep(0.005)
        if request:
            await agent.request_response("Say hello.")
        await asyncio.wait({run}, timeout=stop_after_s)
        if not run.done():
            await agent.stop()
    return run.result()


async def test_a_stalled_response_ends_the_session_with_upstream_timeout(tmp_path: Path) -> None:
    # Event 3 is the response's first event: the server goes silent right after the request.
    faults = Faults(stall_at_event=3, stall_seconds=30)
    async with RealtimeSimulator(brain=ScriptedBrain([Say("Hello there.")]), faults=faults) as sim:
        agent = agent_for(sim, tmp_path, timeout_s=0.3)
        result = await run_with_request(agent, request=True, stop_after_s=seconds(10))
    assert result.stop_reason == "upstream_timeout"
    assert result.error is not None and result.error.type == "upstream_timeout"
    with pytest.raises(UpstreamError) as raised:
        result.raise_for_error()
    assert raised.value.retryable


async def test_an_idle_server_with_nothing_asked_never_trips_the_watchdog(tmp_path: Path) -> None:
    async with RealtimeSimulator() as sim:
        agent = agent_for(sim, tmp_path, timeout_s=0.1)
        result = await run_with_request(agent, request=False, stop_after_s=0.6)  # six timeouts of silence
    assert result.stop_reason == "stopped"


async def test_a_server_that_answers_never_trips_the_watchdog(tmp_path: Path) -> None:
    async with RealtimeSimulator(brain=ScriptedBrain([Say("Hello there, how can I help you?")])) as sim:
        agent = agent_for(sim, tmp_path, timeout_s=0.5)
        result = await run_with_request(agent, request=True, stop_after_s=1.5)
    assert result.stop_reason == "stopped"
    assert [turn.role for turn in result.turns] == ["assistant"]


@pytest.mark.parametrize("value", [0, -1.0])
def test_the_timeout_must_be_positive(value: float) -> None:
    with pytest.raises(ConfigurationError, match="upstream_timeout_seconds"):
        RealtimeAgent(upstream_timeout_seconds=value)
