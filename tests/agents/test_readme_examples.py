"""The rtvoice 0.7.0 README's examples (those without tools or a supervisor), run against the simulator.

Each example is the README's code with two changes only, as the project allows: audio devices (this
machine has no sound card: a WAV microphone and a WAV speaker) and the simulator's URL (through
``OPENAI_BASE_URL``, which the default provider honours like the openai SDK). The quick start also runs as
a real program stopped with Ctrl+C.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from openai.types.realtime import ConversationItemCreateEvent, SessionUpdateEvent

from rtvoice import (
    AgentListener,
    AssistantVoice,
    AzureOpenAIProvider,
    ConversationSeed,
    RealtimeAgent,
    RealtimeModel,
    SeedMessage,
    SemanticEagerness,
    SemanticVAD,
    ServerVAD,
    WavInputDevice,
    WavOutputDevice,
)
from rtvoice.audio import AudioInputDevice, AudioOutputDevice
from rtvoice.testing import RealtimeSimulator
from support.agent import converse
from support.audio import caller_wav
from support.timing import seconds

LINES = ["Hello there.", "How are you?"]


@pytest.fixture
async def sim(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RealtimeSimulator]:
    async with RealtimeSimulator(user_transcripts=LINES, generation_speed=16) as simulator:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-readme")
        monkeypatch.setenv("OPENAI_BASE_URL", simulator.http_url)
        yield simulator


@pytest.fixture
def devices(tmp_path: Path) -> Iterator[tuple[WavInputDevice, WavOutputDevice]]:
    caller_wav(tmp_path / "caller.wav", LINES, gaps_ms=3000)
    yield (
        WavInputDevice(tmp_path / "caller.wav", speed=4, end="stop"),
        WavOutputDevice(tmp_path / "out.wav", speed=4),
    )


def session_update(sim: RealtimeSimulator) -> dict[str, object]:
    event = sim.sessions[0].received[0]
    assert isinstance(event, SessionUpdateEvent)
    dumped: dict[str, object] = event.session.model_dump(exclude_unset=True)
    return dumped


async def test_conversation_seeds(
    sim: RealtimeSimulator, devices: tuple[WavInputDevice, WavOutputDevice]
) -> None:
    mic, speaker = devices
    agent = RealtimeAgent(
        instructions="You are a helpful assistant.",
        conversation_seed=ConversationSeed(
            messages=[
                SeedMessage.user("My name is Alice and I prefer short answers."),
                SeedMessage.assistant("Got it, Alice. I'll keep things brief."),
            ]
        ),
        audio_input=mic,
        audio_output=speaker,
    )
    result = await converse(agent, mic)
    seeds = [e for e in sim.sessions[0].received if isinstance(e, ConversationItemCreateEvent)]
    assert [s.item.role for s in seeds] == ["user", "assistant"]  # type: ignore[union-attr]
    assert [t.transcript for t in result.turns if t.role == "user"] == LINES  # seeds are not turns

    seed = ConversationSeed.from_pairs(
        ("My name is Alice.", "Nice to meet you, Alice."),
        ("I prefer short answers.", "Understood, I'll be brief."),
    )
    assert [m.role for m in seed.messages] == ["user", "assistant", "user", "assistant"]


async def test_lifecycle_listener(
    sim: RealtimeSimulator,
    devices: tuple[WavInputDevice, WavOutputDevice],
    capsys: pytest.CaptureFixture[str],
) -> None:
    mic, speaker = devices

    class MyListener(AgentListener):
        async def on_agent_starting(self) -> None:
            print("Agent is starting up...")

        async def on_agent_session_connected(self) -> None:
            print("WebSocket connected, ready to talk.")

        async def on_user_transcript(self, transcript: str) -> None:
            print(f"User said: {transcript}")

        async def on_assistant_transcript(self, transcript: str) -> None:
            print(f"Assistant replied: {transcript}")

        async def on_agent_stopped(self) -> None:
            print("Session ended.")

    agent = RealtimeAgent(
        instructions="You are a helpful assistant.",
        listener=MyListener(),
        audio_input=mic,
        audio_output=speaker,
    )
    await converse(agent, mic)
    assert capsys.readouterr().out.splitlines() == [
        "Agent is starting up...",
        "WebSocket connected, ready to talk.",
        "User said: Hello there.",
        "Assistant replied: Hello there.",
        "User said: How are you?",
        "Assistant replied: How are you?",
        "Session ended.",
    ]


@pytest.mark.serial
async def test_turn_detection_semantic_and_server(
    sim: RealtimeSimulator, devices: tuple[WavInputDevice, WavOutputDevice]
) -> None:
    mic, speaker = devices
    agent = RealtimeAgent(
        instructions="...",
        turn_detection=SemanticVAD(eagerness=SemanticEagerness.LOW),
        audio_input=mic,
        audio_output=speaker,
    )
    result = await converse(agent, mic)
    sent = session_update(sim)
    assert sent["audio"]["input"]["turn_detection"] == {  # type: ignore[index]
        "type": "semantic_vad",
        "eagerness": "low",
        "create_response": True,
        "interrupt_response": True,
    }
    assert len(result.turns) == 4

    agent = RealtimeAgent(
        instructions="...",
        turn_detection=ServerVAD(
            threshold=0.5,  # energy threshold 0–1
            prefix_padding_ms=300,  # audio kept before speech onset
            silence_duration_ms=500,  # silence needed to commit end-of-turn
        ),
    )
    assert agent.turn_detection == ServerVAD()


async def test_voice_and_model(
    sim: RealtimeSimulator, devices: tuple[WavInputDevice, WavOutputDevice]
) -> None:
    mic, speaker = devices
    agent = RealtimeAgent(
        model=RealtimeModel.GPT_REALTIME,  # or GPT_REALTIME_MINI, GPT_REALTIME_1_5
        voice=AssistantVoice.CORAL,
        speech_speed=1.2,  # 0.25–1.5, default 1.0
        instructions="...",
        audio_input=mic,
        audio_output=speaker,
    )
    await converse(agent, mic)
    assert sim.sessions[0].model == "gpt-realtime"
    output = session_update(sim)["audio"]["output"]  # type: ignore[index]
    assert output["voice"] == "coral" and output["speed"] == 1.2


async def test_custom_audio_devices(sim: RealtimeSimulator, tmp_path: Path) -> None:
    # This speaker cannot say what it played, so the agent estimates playback by the wall clock (real
    # time) while the WAV microphone runs 4x faster: long gaps keep the caller from talking over a reply.
    caller_wav(tmp_path / "caller.wav", LINES, gaps_ms=8000)
    source = WavInputDevice(tmp_path / "caller.wav", speed=4, end="stop")
    played: list[bytes] = []

    class CustomMicrophone(AudioInputDevice):
        def __init__(self) -> None:
            self._active = False

        async def start(self) -> None:
            self._active = True
            await source.start()  # open your audio source here

        async def stop(self) -> None:
            self._active = False
            await source.stop()  # release resources here

        async def stream_chunks(self) -> AsyncIterator[bytes]:
            async for chunk in source.stream_chunks():  # raw 16-bit PCM, 24 kHz mono
                if not self._active:
                    break
                yield chunk

        @property
        def is_active(self) -> bool:
            return self._active

    class CustomSpeaker(AudioOutputDevice):
        def __init__(self) -> None:
            self._playing = False

        async def start(self) -> None:
            self._playing = True

        async def stop(self) -> None:
            self._playing = False

        async def play_chunk(self, chunk: bytes) -> None:
            played.append(chunk)  # write raw 16-bit PCM audio to your sink

        async def clear_buffer(self) -> None:
            pass  # discard buffered audio (called on user interruption)

        @property
        def is_playing(self) -> bool:
            return self._playing

    agent = RealtimeAgent(instructions="...", audio_input=CustomMicrophone(), audio_output=CustomSpeaker())
    result = await converse(agent, source)
    assert [t.transcript for t in result.turns] == [LINES[0], LINES[0], LINES[1], LINES[1]]
    assert sum(len(chunk) for chunk in played) > 48_000  # more than a second of assistant audio


async def test_inactivity_timeout(sim: RealtimeSimulator, tmp_path: Path) -> None:
    remaining: list[int] = []

    class MyListener(AgentListener):
        async def on_user_inactivity_countdown(self, remaining_seconds: int) -> None:
            remaining.append(remaining_seconds)

    caller_wav(tmp_path / "quiet.wav", [], lead_ms=100, gaps_ms=[])
    agent = RealtimeAgent(
        instructions="...",
        inactivity_timeout_enabled=True,
        inactivity_timeout_seconds=6.0,  # the README says 30.0; 6 keeps the test short and the 5..1 countdown whole
        listener=MyListener(),  # on_user_inactivity_countdown fires each second 5→1
        audio_input=WavInputDevice(tmp_path / "quiet.wav"),
        audio_output=WavOutputDevice(tmp_path / "out.wav"),
    )
    async with asyncio.timeout(seconds(30)):
        result = await agent.run()
    assert remaining == [5, 4, 3, 2, 1]
    assert result.stop_reason == "inactivity"


async def test_azure_openai(devices: tuple[WavInputDevice, WavOutputDevice]) -> None:
    mic, speaker = devices
    async with RealtimeSimulator(api_key="azure-key", user_transcripts=LINES, generation_speed=16) as azure:
        agent = RealtimeAgent(
            instructions="...",
            provider=AzureOpenAIProvider(
                azure_endpoint=f"http://127.0.0.1:{azure.bound_port}",  # https://your-resource.openai.azure.com
                azure_deployment="gpt-4o-realtime-preview",
                api_version="2024-12-17",
                api_key="azure-key",  # or omit to use AZURE_OPENAI_API_KEY
            ),
            audio_input=mic,
            audio_output=speaker,
        )
        result = await converse(agent, mic)
        assert azure.sessions[0].model == "gpt-4o-realtime-preview"
    assert len(result.turns) == 4


QUICKSTART = """
import asyncio
import os

from rtvoice import RealtimeAgent, WavInputDevice, WavOutputDevice

async def main():
    agent = RealtimeAgent(
        instructions="You are Jarvis, a concise and helpful voice assistant.",
        audio_input=WavInputDevice(os.environ["CALLER_WAV"], speed=4),
        audio_output=WavOutputDevice(os.environ["SPEAKER_WAV"], speed=4),
    )
    result = await agent.run()
    print("turns:", len(result.turns), "stop:", result.stop_reason, flush=True)

asyncio.run(main())
"""


@pytest.mark.serial
async def test_quickstart_runs_until_ctrl_c_and_returns_its_result(
    sim: RealtimeSimulator, tmp_path: Path
) -> None:
    script = tmp_path / "quickstart.py"
    script.write_text(textwrap.dedent(QUICKSTART))
    caller_wav(tmp_path / "caller.wav", LINES, gaps_ms=3000)
    env = {**os.environ, "CALLER_WAV": str(tmp_path / "caller.wav"), "SPEAKER_WAV": str(tmp_path / "out.wav")}
    # As from a terminal: Ctrl+C raises KeyboardInterrupt. (A process started in the background by a shell
    # without job control, nohup for one, inherits SIGINT ignored, and Python keeps it so; the agent then
    # rightly leaves SIGINT alone.)
    as_from_a_terminal = (
        "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "runpy.run_path(sys.argv[1], run_name='__main__')"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        as_from_a_terminal,
        str(script),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        # Speak into it: wait until the simulator heard both lines and answered them.
        async with asyncio.timeout(seconds(60)):
            while not sim.sessions or sim.sessions[0].responses_started < len(LINES):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        proc.send_signal(signal.SIGINT)  # Ctrl+C
        async with asyncio.timeout(seconds(10)):
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    assert out.decode().strip() == "turns: 4 stop: interrupted"
    assert "Traceback" not in err.decode()
