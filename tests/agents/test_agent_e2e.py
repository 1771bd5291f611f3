"""RealtimeAgent end to end: WAV microphone → simulator over real loopback sockets → WAV speaker."""

from __future__ import annotations

import asyncio
import time
import wave
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from openai.types.realtime import (
    ConversationItemCreateEvent,
    ConversationItemTruncateEvent,
    InputAudioBufferAppendEvent,
    SessionUpdateEvent,
)

from rtvoice import (
    AgentListener,
    ConversationSeed,
    OpenAIProvider,
    RealtimeAgent,
    ServerVAD,
    WavInputDevice,
    WavOutputDevice,
)
from rtvoice.audio import AudioInputDevice
from rtvoice.events import AgentError
from rtvoice.testing import Faults, RealtimeSimulator, Say, ScriptedBrain
from support.agent import converse, received
from support.audio import caller_wav, ramp_played_ms, ramp_voice
from support.timing import seconds

# Real-time conversations with fixed pauses: a busy machine turns a pause into a barge-in.
pytestmark = pytest.mark.serial

SPEED = 4.0
LINES = ["Hello, my name is Alice.", "What is the weather like today?", "Thank you, goodbye."]


class Recorder(AgentListener):
    """Records every callback, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def _add(self, name: str, value: Any = None) -> None:
        self.calls.append((name, value))

    async def on_agent_starting(self) -> None:
        self._add("starting")

    async def on_agent_session_connected(self) -> None:
        self._add("connected")

    async def on_agent_stopped(self) -> None:
        self._add("stopped")

    async def on_user_started_speaking(self) -> None:
        self._add("user_started")

    async def on_user_stopped_speaking(self) -> None:
        self._add("user_stopped")

    async def on_user_transcript(self, transcript: str) -> None:
        self._add("user_transcript", transcript)

    async def on_assistant_started_responding(self) -> None:
        self._add("assistant_started")

    async def on_assistant_stopped_responding(self) -> None:
        self._add("assistant_stopped")

    async def on_assistant_transcript(self, transcript: str) -> None:
        self._add("assistant_transcript", transcript)

    async def on_agent_interrupted(self) -> None:
        self._add("interrupted")

    async def on_agent_error(self, error: AgentError) -> None:
        self._add("error", error)

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


def make_agent(
    sim: RealtimeSimulator,
    tmp_path: Path,
    lines: Sequence[str],
    *,
    gaps_ms: Sequence[int] | int = 2500,
    **kwargs: Any,
) -> tuple[RealtimeAgent, WavInputDevice, WavOutputDevice]:
    caller_wav(tmp_path / "caller.wav", lines, gaps_ms=gaps_ms)
    mic = WavInputDevice(tmp_path / "caller.wav", speed=SPEED, end="stop")
    speaker = WavOutputDevice(tmp_path / "speaker.wav", speed=SPEED)
    kwargs.setdefault("turn_detection", ServerVAD())
    agent = RealtimeAgent(
        instructions="Be brief.",
        audio_input=mic,
        audio_output=speaker,
        provider=OpenAIProvider(api_key="sk-test", websocket_base_url=sim.url),
        **kwargs,
    )
    return agent, mic, speaker


def leftover_agent_tasks() -> list[asyncio.Task[Any]]:
    mine = ("RealtimeAgent", "AgentSession", "Subscription", "EventBus", "WavOutputDevice", "WavInputDevice")
    return [
        task
        for task in asyncio.all_tasks()
        if task is not asyncio.current_task() and any(name in task.get_coro().__qualname__ for name in mine)  # type: ignore[union-attr]
    ]


async def test_three_turn_conversation_with_a_seed(tmp_path: Path) -> None:
    seed = ConversationSeed.from_pairs(("My name is Alice.", "Nice to meet you, Alice."))
    async with RealtimeSimulator(user_transcripts=LINES, generation_speed=16) as sim:
        agent, mic, speaker = make_agent(sim, tmp_path, LINES, conversation_seed=seed)
        result = await converse(agent, mic)
    assert result.stop_reason == "stopped" and result.error is None
    assert [(t.role, t.transcript) for t in result.turns] == [
        ("user", LINES[0]),
        ("assistant", LINES[0]),
        ("user", LINES[1]),
        ("assistant", LINES[1]),
        ("user", LINES[2]),
        ("assistant", LINES[2]),
    ]
    events = sim.sessions[0].received
    kinds = [type(e) for e in events]
    # session.update first, then the seed, all before the microphone's first append.
    first_append = kinds.index(InputAudioBufferAppendEvent)
    assert kinds[0] is SessionUpdateEvent
    seeds = [e for e in events[:first_append] if isinstance(e, ConversationItemCreateEvent)]
    assert [(s.item.role, s.item.content[0].text) for s in seeds] == [  # type: ignore[union-attr]
        ("user", "My name is Alice."),
        ("assistant", "Nice to meet you, Alice."),
    ]
    with wave.open(str(tmp_path / "speaker.wav")) as played:
        assert played.getframerate() == 24000 and played.getnframes() > 24000
    assert not leftover_agent_tasks()


async def test_listener_callbacks_fire_in_order(tmp_path: Path) -> None:
    recorder = Recorder()
    async with RealtimeSimulator(user_transcripts=LINES[:2], generation_speed=16) as sim:
        agent, mic, _ = make_agent(sim, tmp_path, LINES[:2], gaps_ms=[2500, 4000], listener=recorder)
        await converse(agent, mic)
    turn = [
        "user_started",
        "user_stopped",
        "user_transcript",
        "assistant_started",
        "assistant_transcript",
        "assistant_stopped",
    ]
    assert recorder.names == ["starting", "connected", *turn, *turn, "stopped"]
    transcripts = [value for name, value in recorder.calls if name.endswith("transcript")]
    assert transcripts == [LINES[0], LINES[0], LINES[1], LINES[1]]


async def test_barge_in_truncates_at_the_milliseconds_actually_played(tmp_path: Path) -> None:
    story = Say("Once upon a time there was a very long story that kept going on and on and on without end.")
    brain = ScriptedBrain([story, Say("OK.")])
    recorder = Recorder()
    asks = ["Tell me a story.", "Stop, please."]
    async with RealtimeSimulator(
        brain=brain, user_transcripts=asks, generation_speed=16, synthesize=ramp_voice
    ) as sim:
        # "Stop!" starts about 2 s into a 7 s reply.
        agent, mic, _ = make_agent(sim, tmp_path, asks, gaps_ms=[2500, 3000], listener=recorder)
        result = await converse(agent, mic)
    truncates = received(sim, ConversationItemTruncateEvent)
    assert len(truncates) == 1
    heard_ms = ramp_played_ms(tmp_path / "speaker.wav")
    assert 1000 < heard_ms < 5000
    # The truncate carries what the speaker really played, within one 20 ms frame.
    assert abs(truncates[0].audio_end_ms - heard_ms) <= 20
    assert truncates[0].content_index == 0
    assert "interrupted" in recorder.names
    assert [(t.role, t.interrupted) for t in result.turns] == [
        ("user", False),
        ("assistant", True),
        ("user", False),
        ("assistant", False),
    ]
    story_turn = result.turns[1]
    assert story.text.startswith(story_turn.transcript) and 0 < len(story_turn.transcript) < len(story.text)


async def test_no_truncate_when_the_user_speaks_after_playback_finished(tmp_path: Path) -> None:
    brain = ScriptedBrain([Say("Short answer."), Say("Another one.")])
    async with RealtimeSimulator(brain=brain, generation_speed=16, synthesize=ramp_voice) as sim:
        agent, mic, _ = make_agent(sim, tmp_path, ["First question.", "Second question."], gaps_ms=3000)
        result = await converse(agent, mic)
    assert received(sim, ConversationItemTruncateEvent) == []
    assert not any(turn.interrupted for turn in result.turns)


async def test_upstream_close_mid_response_ends_run_within_a_second(tmp_path: Path) -> None:
    # Events: created, updated, 3 VAD/commit, 2 item, 2 transcription, response.created ... deltas from 15.
    recorder = Recorder()
    faults = Faults(close_at_event=20, close_code=1011)
    brain = ScriptedBrain([Say("A long answer that will never finish because the server goes away mid way.")])
    async with RealtimeSimulator(brain=brain, faults=faults, generation_speed=2) as sim:
        agent, mic, speaker = make_agent(sim, tmp_path, ["Hello there."], gaps_ms=8000, listener=recorder)
        async with asyncio.timeout(seconds(30)):
            result = await agent.run()
        returned_at = time.monotonic()
        closed_at = sim.close_times[0]
    assert returned_at - closed_at < 1.0 * seconds(1)
    assert result.stop_reason == "upstream_closed"
    assert result.error is not None and "1011" in result.error.message
    assert "error" in recorder.names and recorder.names[-1] == "stopped"
    assert not mic.is_active and not speaker.is_playing
    path = tmp_path / "speaker.wav"
    with wave.open(str(path)) as played:  # the speaker file was finalised: its header counts all its data
        assert played.getnframes() * played.getsampwidth() == path.stat().st_size - 44
    assert not leftover_agent_tasks()


async def test_fatal_upstream_error_ends_the_session(tmp_path: Path) -> None:
    error = {
        "type": "server_error",
        "code": "session_expired",
        "message": "Your session expired.",
        "param": None,
    }
    async with RealtimeSimulator(faults=Faults(error_at_event=3, error=error)) as sim:
        agent, _, _ = make_agent(sim, tmp_path, ["Hello."])
        async with asyncio.timeout(seconds(30)):
            result = await agent.run()
    assert result.stop_reason == "upstream_error"
    assert result.error is not None and result.error.code == "session_expired"


async def test_stop_during_a_stalled_server_returns_quickly(tmp_path: Path) -> None:
    # The server stalls before session.updated: the agent keeps the caller's audio (sends none) until stopped.
    async with RealtimeSimulator(faults=Faults(stall_at_event=2, stall_seconds=30)) as sim:
        agent, mic, _ = make_agent(sim, tmp_path, ["Hello there."])
        async with asyncio.TaskGroup() as tasks:
            run = tasks.create_task(agent.run())
            while not sim.sessions or not sim.sessions[0].received or mic.streamed_ms < 200:  # noqa: ASYNC110 - polls another object's state
                await asyncio.sleep(0.01)
            assert received(sim, InputAudioBufferAppendEvent) == []  # nothing before session.updated
            asked = time.monotonic()
            await agent.stop()
            await agent.stop()  # idempotent
        assert time.monotonic() - asked < 1.0 * seconds(1)
    assert run.result().stop_reason == "stopped"


class BrokenMicrophone(AudioInputDevice):
    def __init__(self) -> None:
        self.active = False

    async def start(self) -> None:
        self.active = True

    async def stop(self) -> None:
        self.active = False

    async def stream_chunks(self) -> AsyncIterator[bytes]:
        yield b"\x00" * 960
        raise OSError("the microphone was unplugged")

    @property
    def is_active(self) -> bool:
        return self.active


async def test_device_failure_ends_the_session_with_a_clear_error(tmp_path: Path) -> None:
    mic = BrokenMicrophone()
    async with RealtimeSimulator() as sim:
        agent = RealtimeAgent(
            audio_input=mic,
            audio_output=WavOutputDevice(tmp_path / "out.wav"),
            provider=OpenAIProvider(api_key="sk", websocket_base_url=sim.url),
        )
        async with asyncio.timeout(seconds(10)):
            result = await agent.run()
    assert result.stop_reason == "device_error"
    assert result.error is not None and "unplugged" in result.error.message
    assert not mic.active


async def test_inactivity_timeout_counts_down_then_stops(tmp_path: Path) -> None:
    countdown: list[int] = []

    class Counting(AgentListener):
        async def on_user_inactivity_countdown(self, remaining_seconds: int) -> None:
            countdown.append(remaining_seconds)

    async with RealtimeSimulator() as sim:
        speech_free = tmp_path / "silence.wav"
        caller_wav(speech_free, [], lead_ms=200, gaps_ms=[])
        agent = RealtimeAgent(
            audio_input=WavInputDevice(speech_free),  # goes on like a quiet microphone
            audio_output=WavOutputDevice(tmp_path / "out.wav"),
            provider=OpenAIProvider(api_key="sk", websocket_base_url=sim.url),
            inactivity_timeout_enabled=True,
            inactivity_timeout_seconds=2.5,
            listener=Counting(),
        )
        async with asyncio.timeout(seconds(20)):
            result = await agent.run()
    assert result.stop_reason == "inactivity"
    assert countdown == [2, 1]


async def test_connection_refused_is_a_result_not_an_exception(tmp_path: Path) -> None:
    async with RealtimeSimulator() as sim:
        url = sim.url
    agent = RealtimeAgent(
        audio_input=WavInputDevice(caller_path(tmp_path)),
        audio_output=WavOutputDevice(tmp_path / "out.wav"),
        provider=OpenAIProvider(api_key="sk", websocket_base_url=url),
    )
    result = await agent.run()
    assert result.stop_reason == "error"
    assert result.error is not None and result.error.type == "connection_error"


def caller_path(tmp_path: Path) -> Path:
    path = tmp_path / "caller.wav"
    caller_wav(path, ["Hi."])
    return path


async def test_running_twice_at_once_is_refused(tmp_path: Path) -> None:
    async with RealtimeSimulator() as sim:
        agent, _, _ = make_agent(sim, tmp_path, ["Hello."])
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(agent.run())
            await asyncio.sleep(0)
            with pytest.raises(RuntimeError, match="already running"):
                await agent.run()
            await agent.stop()


async def test_set_speech_speed_and_send_image_while_running(tmp_path: Path) -> None:
    from openai.types.realtime import ResponseCreateEvent

    recorder = Recorder()
    async with RealtimeSimulator(generation_speed=16) as sim:
        agent, _, _ = make_agent(sim, tmp_path, ["Hello."], listener=recorder)
        async with asyncio.timeout(seconds(30)), asyncio.TaskGroup() as tasks:
            run = tasks.create_task(agent.run())
            while "connected" not in recorder.names:  # noqa: ASYNC110 - the listener's state
                await asyncio.sleep(0.01)
            with pytest.warns(UserWarning, match="2.0"):
                await agent.set_speech_speed(2.0)
            await agent.send_image("data:image/png;base64,iVBORw0KGgo=", text="What is this?")
            while sim.sessions[0].responses_started == 0:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            await agent.stop()
    assert run.result().stop_reason == "stopped"
    updates = received(sim, SessionUpdateEvent)
    assert updates[-1].session.audio.output.speed == 1.5
    image = [e for e in received(sim, ConversationItemCreateEvent) if e.item.type == "message"][-1]
    kinds = [part.type for part in image.item.content]
    assert kinds == ["input_text", "input_image"]
    assert received(sim, ResponseCreateEvent)
    with pytest.raises(RuntimeError, match="running agent"):
        await agent.send_image("data:image/png;base64,iVBORw0KGgo=")
