"""One session of an agent: pre-warm, speaking first, early caller audio, endings that say what failed,
SIGINT left to the host. Over real loopback sockets against the Realtime simulator."""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import logging
import signal
import wave
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import pytest
from openai.types.realtime import (
    ConversationItemCreateEvent,
    ResponseCreateEvent,
    SessionUpdateEvent,
)

from rtvoice import (
    AgentListener,
    AgentResult,
    AudioFormat,
    ConfigurationError,
    ConnectionClosedError,
    DeviceError,
    OpenAIProvider,
    RealtimeAgent,
    ServerVAD,
    UpstreamError,
    WavInputDevice,
    WavOutputDevice,
)
from rtvoice.audio.convert import ToPcm24
from rtvoice.events import AgentError
from rtvoice.logcontext import LogContextFilter
from rtvoice.sigint import host_owns_sigint
from rtvoice.testing import Faults, RealtimeSimulator, Say, ScriptedBrain
from rtvoice.testing.phone_line import PhoneLineMicrophone, PhoneLineSpeaker, ulaw_from_pcm
from rtvoice.testing.simulator import add_client_message_observer, remove_client_message_observer
from support.agent import converse, received
from support.audio import caller_wav
from support.timing import seconds

SPEED = 4.0


class Errors(AgentListener):
    def __init__(self) -> None:
        self.errors: list[AgentError] = []

    async def on_agent_error(self, error: AgentError) -> None:
        self.errors.append(error)


class CountingSpeaker(WavOutputDevice):
    """A WAV speaker that counts the new hooks the agent calls."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, speed=SPEED)
        self.ends = 0
        self.listeners: list[bool] = []

    async def end_of_audio(self) -> None:
        self.ends += 1

    def set_position_listener(self, listener: Any) -> None:
        self.listeners.append(listener is not None)


def devices(tmp_path: Path, lines: list[str], **wav: Any) -> tuple[WavInputDevice, WavOutputDevice]:
    caller_wav(tmp_path / "caller.wav", lines, **wav)
    return (
        WavInputDevice(tmp_path / "caller.wav", speed=SPEED, end="stop"),
        WavOutputDevice(tmp_path / "speaker.wav", speed=SPEED),
    )


async def talk_until(agent: RealtimeAgent, *, answers: int) -> AgentResult:
    """Run ``agent`` until it has given ``answers`` complete answers (or ended by itself), then stop it."""
    async with asyncio.timeout(seconds(60)), asyncio.TaskGroup() as tasks:
        run = tasks.create_task(agent.run())
        session = None
        while not run.done():
            session = agent.session
            done = [t for t in agent.history.turns if t.role == "assistant"]
            if len(done) >= answers and session is not None and not session.core.response_active:
                break
            await asyncio.sleep(0.02)
        await agent.stop()
    return run.result()


def provider(sim: RealtimeSimulator, key: str = "sk-test") -> OpenAIProvider:
    return OpenAIProvider(api_key=key, websocket_base_url=sim.url)


async def test_prewarmed_session_greets_first_when_the_devices_arrive(tmp_path: Path) -> None:
    brain = ScriptedBrain([Say("Thanks for calling, how can I help?"), Say("Sure.")])
    async with RealtimeSimulator(brain=brain, generation_speed=16) as sim:
        agent = RealtimeAgent(instructions="You answer the phone.", provider=provider(sim))
        await agent.connect()  # no devices yet
        assert agent.connected
        assert len(received(sim, SessionUpdateEvent)) == 1
        agent.audio_input, agent.audio_output = devices(tmp_path, ["Hello?"], lead_ms=6000)
        await agent.request_response("Greet the caller.")
        result = await converse(agent)
    assert result.stop_reason == "stopped"
    first = received(sim, ResponseCreateEvent)[0]
    assert first.response is not None and first.response.instructions is not None
    assert first.response.instructions == "You answer the phone.\n\nGreet the caller."
    assistant = [turn.transcript for turn in result.turns if turn.role == "assistant"]
    assert assistant[0] == "Thanks for calling, how can I help?"
    assert len(sim.sessions) == 1  # run() used the pre-warmed connection


async def test_a_prewarmed_session_that_is_never_run_is_closed(tmp_path: Path) -> None:
    async with RealtimeSimulator() as sim:
        agent = RealtimeAgent(provider=provider(sim))
        await agent.connect()
        await agent.aclose()
        async with asyncio.timeout(seconds(5)):
            while not sim.close_times:  # noqa: ASYNC110 - the server's view of the socket
                await asyncio.sleep(0.01)
        assert not agent.connected
        with pytest.raises(RuntimeError, match="connected agent"):
            await agent.request_response()


async def test_run_refuses_devices_of_another_format_than_connect_configured(tmp_path: Path) -> None:
    async with RealtimeSimulator() as sim:
        agent = RealtimeAgent(provider=provider(sim))
        await agent.connect(input_format=AudioFormat.PCMU_8K, output_format=AudioFormat.PCMU_8K)
        agent.audio_input, agent.audio_output = devices(tmp_path, ["Hi."])
        with pytest.raises(ConfigurationError, match="differ from those connect"):
            await agent.run()
        await agent.aclose()


async def test_run_refuses_a_microphone_whose_session_format_it_cannot_convert_to(tmp_path: Path) -> None:
    class PcmAsking(PhoneLineMicrophone):
        @property
        def format(self) -> AudioFormat:
            return AudioFormat.PCM16_24K

        @property
        def session_format(self) -> AudioFormat:
            return AudioFormat.PCMU_8K  # the agent converts G.711 to PCM16, not back

    async with RealtimeSimulator() as sim:
        agent = RealtimeAgent(provider=provider(sim))
        agent.audio_input = PcmAsking(b"")
        agent.audio_output = PhoneLineSpeaker()
        with pytest.raises(ConfigurationError, match="cannot be converted to its session_format"):
            await agent.run()
        assert not sim.sessions  # refused before connecting


async def test_connect_failure_raises_upstream_error_and_leaves_the_agent_unconnected() -> None:
    async with RealtimeSimulator() as sim:
        url = sim.url
    agent = RealtimeAgent(provider=OpenAIProvider(api_key="sk", websocket_base_url=url))
    with pytest.raises(UpstreamError, match="cannot connect") as caught:
        await agent.connect()
    assert caught.value.retryable and not agent.connected


async def test_no_api_key_raises_before_anything_connects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    mic, speaker = devices(tmp_path, ["Hi."])
    agent = RealtimeAgent(audio_input=mic, audio_output=speaker)
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        await agent.run()
    assert not agent.running and not mic.is_active


async def test_a_wrong_key_is_a_connection_error_that_names_http_401(tmp_path: Path) -> None:
    async with RealtimeSimulator(api_key="sk-right") as sim:
        mic, speaker = devices(tmp_path, ["Hi."])
        agent = RealtimeAgent(audio_input=mic, audio_output=speaker, provider=provider(sim, "sk-wrong"))
        result = await agent.run()
    assert result.stop_reason == "error"
    assert result.error is not None and result.error.type == "connection_error"
    assert "HTTP 401 (check the API key)" in result.error.message
    assert "sk-wrong" not in result.error.message
    with pytest.raises(UpstreamError, match="HTTP 401"):
        result.raise_for_error()


async def test_upstream_close_raises_connection_closed_error_on_request(tmp_path: Path) -> None:
    async with RealtimeSimulator(faults=Faults(close_at_event=3, close_code=1011)) as sim:
        mic, speaker = devices(tmp_path, ["Hi."])
        agent = RealtimeAgent(audio_input=mic, audio_output=speaker, provider=provider(sim))
        async with asyncio.timeout(seconds(20)):
            result = await agent.run()
    assert result.stop_reason in ("upstream_closed", "error")
    with pytest.raises((ConnectionClosedError, UpstreamError)):
        result.raise_for_error()


async def test_a_recording_that_cannot_be_written_keeps_the_call_going(tmp_path: Path) -> None:
    errors = Errors()
    async with RealtimeSimulator(generation_speed=16) as sim:
        mic, speaker = devices(tmp_path, ["Hello, is anybody there?"])
        agent = RealtimeAgent(
            audio_input=mic,
            audio_output=speaker,
            provider=provider(sim),
            turn_detection=ServerVAD(),
            recording_path=tmp_path / "missing-folder" / "call.wav",
            listener=errors,
        )
        result = await converse(agent)
    assert result.stop_reason == "stopped" and result.error is None
    assert [turn.role for turn in result.turns] == ["assistant"]  # it answered (no user transcript scripted)
    assert result.recording_path is None
    assert [e.type for e in errors.errors] == ["recording_error"]
    assert "FileNotFoundError" in errors.errors[0].message


def recorded_phone_agent(
    sim: RealtimeSimulator, mic: PhoneLineMicrophone, recording: Path, *, recording_stereo: bool = False
) -> RealtimeAgent:
    """An agent on phone-line devices (the G.711 microphone ``mic``) that records to ``recording``."""
    return RealtimeAgent(
        audio_input=mic,
        audio_output=PhoneLineSpeaker(),
        provider=provider(sim),
        turn_detection=ServerVAD(),
        recording_path=recording,
        recording_stereo=recording_stereo,
    )


async def test_a_transcoded_phone_microphone_is_recorded_sample_for_sample(tmp_path: Path) -> None:
    """The caller's channel is the line's μ-law converted once to 24 kHz, from the first frame on: the
    frames that came while the session was not ready (the oldest dropped past 2 s, the rest sent late)
    and the frames sent as they came alike."""
    voice = np.sin(np.arange(3 * 24000) * 2 * np.pi * 440 / 24000) * 6000 * np.linspace(0.2, 1, 3 * 24000)
    caller = ulaw_from_pcm(voice.astype("<i2").tobytes())  # 3 s, never silent
    recording = tmp_path / "call.wav"
    # session.updated (event 2) comes 2.6 s late: 0.6 s of the caller's audio is dropped, 2 s kept.
    async with RealtimeSimulator(faults=Faults(stall_at_event=2, stall_seconds=2.6)) as sim:
        mic = PhoneLineMicrophone(caller)
        agent = recorded_phone_agent(sim, mic, recording, recording_stereo=True)
        run = asyncio.create_task(agent.run())
        async with asyncio.timeout(seconds(20)):
            await mic.wait_finished()
            await asyncio.sleep(0.3)
            await agent.stop()
            result = await run
    assert result.error is None, result.error
    session = agent.session
    assert session is not None and session.dropped_early_audio_ms > 0 and session.kept_early_audio_ms > 0
    with wave.open(str(recording)) as wav:
        left = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").reshape(-1, 2)[:, 0].tobytes()
    line = caller.ljust(mic.frames_sent * 160, bytes([0xFF]))  # then silence frames, as the line sent
    expected = ToPcm24(AudioFormat.PCMU_8K).convert(line)
    assert len(left) >= len(caller) * 6  # every sample the caller said is in the file
    assert left == expected[: len(left)]


async def test_a_transcoded_phone_microphone_is_on_disk_while_the_call_goes_on(tmp_path: Path) -> None:
    """The session advances its recorder as the caller's audio is sent, not only when the call ends: with a
    G.711 microphone (recorded from the session's own conversion) the file holds all but the last second of
    what the caller said while the call is still up, which is what a crash would leave."""
    voice = np.sin(np.arange(3 * 24000) * 2 * np.pi * 440 / 24000) * 6000
    caller = ulaw_from_pcm(voice.astype("<i2").tobytes())  # 3 s, never silent
    recording = tmp_path / "call.wav"
    async with RealtimeSimulator() as sim:
        mic = PhoneLineMicrophone(caller)
        agent = recorded_phone_agent(sim, mic, recording)
        run = asyncio.create_task(agent.run())
        async with asyncio.timeout(seconds(20)):
            await mic.wait_finished()
            on_disk_ms = (recording.stat().st_size - 44) / 48  # mono PCM16 at 24 kHz: 48 bytes per ms
            await agent.stop()
            result = await run
    assert result.error is None, result.error
    assert on_disk_ms >= 3000 - 1000, f"only {on_disk_ms:.0f} ms of a 3 s caller on disk during the call"


class BrokenSpeaker(WavOutputDevice):
    async def start(self) -> None:
        raise OSError("no such sound card")


async def test_a_speaker_that_fails_to_start_is_a_device_error_not_a_connection_error(tmp_path: Path) -> None:
    async with RealtimeSimulator() as sim:
        mic, _ = devices(tmp_path, ["Hi."])
        speaker = BrokenSpeaker(tmp_path / "out.wav")
        agent = RealtimeAgent(audio_input=mic, audio_output=speaker, provider=provider(sim))
        async with asyncio.timeout(seconds(10)):
            result = await agent.run()
    assert result.stop_reason == "device_error"
    assert result.error is not None and result.error.message.startswith("speaker failed to start: OSError")
    with pytest.raises(DeviceError, match="speaker"):
        result.raise_for_error()


@pytest.mark.parametrize("stall_s", [0.3, 1.6])
@pytest.mark.serial
async def test_caller_audio_before_the_session_is_ready_is_kept_up_to_2_s_and_sent_in_order(
    tmp_path: Path, stall_s: float
) -> None:
    # The server takes stall_s to configure the session; the microphone (2x real time) streams from the
    # start: 0.6 s of audio (and the connection's time, 0.7 s of wall time to spare) is all kept; 3.2 s or
    # more keeps its newest 2 s and drops the rest (counted), whatever the machine's speed; what is sent
    # is in order.
    appended: list[bytes] = []

    def observe(raw: str) -> None:  # the simulator keeps appends without their audio; the wire has it
        message = json.loads(raw)
        if message.get("type") == "input_audio_buffer.append":
            appended.append(base64.b64decode(message["audio"]))

    add_client_message_observer(observe)
    try:
        async with RealtimeSimulator(faults=Faults(stall_at_event=2, stall_seconds=stall_s)) as sim:
            caller_wav(tmp_path / "caller.wav", ["One two three."], lead_ms=100, gaps_ms=5000)
            mic = WavInputDevice(tmp_path / "caller.wav", speed=2.0, end="stop")
            speaker = WavOutputDevice(tmp_path / "speaker.wav", speed=2.0)
            agent = RealtimeAgent(audio_input=mic, audio_output=speaker, provider=provider(sim))
            result = await converse(agent)
    finally:
        remove_client_message_observer(observe)
    assert result.error is None
    session = agent.session
    assert session is not None
    sent = b"".join(appended)
    bytes_per_ms = mic.format.bytes_per_ms
    dropped = round(session.dropped_early_audio_ms * bytes_per_ms)
    assert len(sent) + dropped == round(mic.streamed_ms * bytes_per_ms)  # all sent but what was counted
    wav = (tmp_path / "caller.wav").read_bytes()
    assert sent == wav[44 + dropped : 44 + dropped + len(sent)]  # the newest, in order
    chunk_ms = 20  # the WAV microphone's chunks
    if stall_s < 1:  # 0.6 s of early audio (and the connection's time): all kept
        assert dropped == 0
        assert 0 < session.kept_early_audio_ms <= 2000
    else:  # 3.2 s and more: the newest 2 s kept, whatever the machine's speed, the rest dropped
        assert session.dropped_early_audio_ms > 0
        assert 2000 - chunk_ms < session.kept_early_audio_ms <= 2000
    assert session.kept_early_audio_ms + session.dropped_early_audio_ms <= mic.streamed_ms


async def test_send_image_asks_for_exactly_one_response(tmp_path: Path) -> None:
    async with RealtimeSimulator(generation_speed=16) as sim:
        mic, speaker = devices(tmp_path, [], lead_ms=3000)
        agent = RealtimeAgent(
            audio_input=mic, audio_output=speaker, provider=provider(sim), turn_detection=ServerVAD()
        )
        async with asyncio.timeout(seconds(20)), asyncio.TaskGroup() as tasks:
            run = tasks.create_task(agent.run())
            while not agent.connected:  # noqa: ASYNC110 - the agent's state
                await asyncio.sleep(0.01)
            await agent.send_image("data:image/png;base64,iVBORw0KGgo=", text="What is this?")
            session = agent.session
            assert session is not None
            # Until the answer is done on our side: a second response.create would be sent in the same
            # step that ends the first (the queued request), before the socket closes.
            answered = [t for t in agent.history.turns if t.role == "assistant"]
            while not answered or session.core.response_active:
                await asyncio.sleep(0.01)
                answered = [t for t in agent.history.turns if t.role == "assistant"]
            await agent.stop()
    assert run.result().error is None
    assert len(received(sim, ResponseCreateEvent)) == 1
    assert [e.item.type for e in received(sim, ConversationItemCreateEvent)] == ["message"]


async def test_the_speaker_hears_the_end_of_each_item_and_gets_a_position_listener(tmp_path: Path) -> None:
    brain = ScriptedBrain([Say("First answer."), Say("Second answer.")])
    async with RealtimeSimulator(brain=brain, generation_speed=16) as sim:
        caller_wav(tmp_path / "caller.wav", ["Question one.", "Question two."], gaps_ms=4000)
        mic = WavInputDevice(tmp_path / "caller.wav", speed=SPEED, end="silence")
        speaker = CountingSpeaker(tmp_path / "speaker.wav")
        agent = RealtimeAgent(
            audio_input=mic, audio_output=speaker, provider=provider(sim), turn_detection=ServerVAD()
        )
        result = await talk_until(agent, answers=2)
    assert [turn.transcript for turn in result.turns] == ["First answer.", "Second answer."]
    assert speaker.ends == 2
    assert speaker.listeners == [True, False]  # set when the session starts, removed when it ends


@pytest.fixture
def host_handler() -> Iterator[list[int]]:
    """A host's own SIGINT handler (as uvicorn installs one), put back afterwards."""
    calls: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        calls.append(signum)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield calls
    finally:
        signal.signal(signal.SIGINT, previous)


async def test_the_host_sigint_handler_is_never_replaced(tmp_path: Path, host_handler: list[int]) -> None:
    installed = signal.getsignal(signal.SIGINT)
    assert host_owns_sigint()
    async with RealtimeSimulator() as sim:
        mic, speaker = devices(tmp_path, ["Hi."])
        agent = RealtimeAgent(audio_input=mic, audio_output=speaker, provider=provider(sim))
        async with asyncio.TaskGroup() as tasks:
            run = tasks.create_task(agent.run())
            while not agent.connected:  # noqa: ASYNC110 - the agent's state
                await asyncio.sleep(0.01)
            assert signal.getsignal(signal.SIGINT) is installed
            signal.raise_signal(signal.SIGINT)  # the host's handler gets it, the call goes on
            await asyncio.sleep(0.05)
            assert agent.running
            await agent.stop()
    assert host_handler == [signal.SIGINT]
    assert run.result().stop_reason == "stopped"
    assert signal.getsignal(signal.SIGINT) is installed


@pytest.fixture
def standalone_sigint() -> Iterator[None]:
    """SIGINT as a standalone script has it: Python's default handler (put back as found afterwards).

    The test sets it rather than assuming it: a suite started by nohup, or in the background by a shell
    without job control, inherits SIGINT ignored (an xdist worker reached this test so once)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


async def test_a_standalone_agent_takes_sigint_and_puts_the_default_back(
    tmp_path: Path, standalone_sigint: None
) -> None:
    installed = signal.getsignal(signal.SIGINT)  # Python's default, or asyncio.run's own
    assert not host_owns_sigint()
    async with RealtimeSimulator() as sim:
        mic, speaker = devices(tmp_path, ["Hi."], gaps_ms=5000)
        agent = RealtimeAgent(audio_input=mic, audio_output=speaker, provider=provider(sim))
        async with asyncio.timeout(seconds(20)), asyncio.TaskGroup() as tasks:
            run = tasks.create_task(agent.run())
            while not agent.connected:  # noqa: ASYNC110 - the agent's state
                await asyncio.sleep(0.01)
            assert signal.getsignal(signal.SIGINT) is not installed
            signal.raise_signal(signal.SIGINT)
    assert run.result().stop_reason == "interrupted"
    assert signal.getsignal(signal.SIGINT) == installed


async def test_handle_sigint_false_never_takes_it(tmp_path: Path) -> None:
    installed = signal.getsignal(signal.SIGINT)
    async with RealtimeSimulator() as sim:
        mic, speaker = devices(tmp_path, ["Hi."])
        agent = RealtimeAgent(
            audio_input=mic, audio_output=speaker, provider=provider(sim), handle_sigint=False
        )
        async with asyncio.TaskGroup() as tasks:
            run = tasks.create_task(agent.run())
            while not agent.connected:  # noqa: ASYNC110 - the agent's state
                await asyncio.sleep(0.01)
            assert signal.getsignal(signal.SIGINT) == installed
            await agent.stop()
    assert run.result().stop_reason == "stopped"


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.addFilter(LogContextFilter())

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_every_log_line_of_a_session_carries_its_id(tmp_path: Path) -> None:
    handler = Collect()
    library = logging.getLogger("rtvoice")
    library.addHandler(handler)
    previous_level = library.level
    library.setLevel(logging.INFO)
    try:
        async with RealtimeSimulator() as sim:
            agents = []
            for n in range(2):
                folder = tmp_path / str(n)
                folder.mkdir()
                mic, speaker = devices(folder, ["Hi."])
                agents.append(
                    RealtimeAgent(
                        audio_input=mic,
                        audio_output=speaker,
                        provider=provider(sim),
                        recording_path=folder / "missing" / "call.wav",  # logs an error mid-call
                    )
                )
            async with asyncio.timeout(seconds(30)):
                await asyncio.gather(*(converse(agent) for agent in agents))
    finally:
        library.removeHandler(handler)
        library.setLevel(previous_level)
    ids = [agent.session.session_id for agent in agents if agent.session is not None]
    assert len(set(ids)) == 2
    for session_id in ids:
        lines = [r for r in handler.records if getattr(r, "session_id", None) == session_id]
        messages = " ".join(r.getMessage() for r in lines)
        assert "connecting to" in messages and "recording to" in messages
    assert all(getattr(r, "session_id", "-") in ids for r in handler.records)


async def test_sessions_share_their_provider_client_and_never_close_it(tmp_path: Path) -> None:
    async with RealtimeSimulator() as sim:
        shared = provider(sim)
        client = shared.client()
        for n in range(2):
            folder = tmp_path / str(n)
            folder.mkdir()
            mic, speaker = devices(folder, ["Hi."])
            agent = RealtimeAgent(audio_input=mic, audio_output=speaker, provider=shared)
            result = await converse(agent)
            assert result.error is None
        assert shared.client() is client and not client.is_closed()
        await shared.aclose()
        assert client.is_closed()
        assert shared.client() is not client  # a new one on demand
        await shared.aclose()


class PhoneCall:
    def __init__(self, sid: str) -> None:
        self.sid = sid


async def test_tools_receive_the_agent_injectables(tmp_path: Path) -> None:
    from rtvoice import Inject, Tools
    from rtvoice.testing import CallFunction

    tools = Tools()
    seen: list[str] = []

    @tools.action("Which call is this?")
    async def which_call(call: Inject[PhoneCall]) -> str:
        seen.append(call.sid)
        return call.sid

    brain = ScriptedBrain([CallFunction("which_call", {}), Say("Done.")])
    async with RealtimeSimulator(brain=brain, generation_speed=16) as sim:
        mic, speaker = devices(tmp_path, ["Which call?"])
        agent = RealtimeAgent(
            audio_input=mic,
            audio_output=speaker,
            provider=provider(sim),
            tools=tools,
            turn_detection=ServerVAD(),
        )
        agent.injectables[PhoneCall] = PhoneCall("CA42")
        result = await converse(agent)
    assert result.error is None and seen == ["CA42"]


async def test_an_ended_session_leaves_no_exception_cycle_behind(tmp_path: Path) -> None:
    """A session ends its task group by raising inside it; asyncio's TaskGroup keeps the exception group in
    its finished frame, which the group's traceback holds. Left so, that cycle was one of those that keep
    an ended session's objects (agent, devices, recorder) for the collector; the session clears those
    frames. (Others remain: the agent and its session refer to each other, and websockets' keepalive
    task to its connection.)"""
    gc.collect()
    gc.disable()
    try:
        async with RealtimeSimulator(generation_speed=16) as sim:
            agent = RealtimeAgent(provider=provider(sim), turn_detection=ServerVAD())
            agent.audio_input, agent.audio_output = devices(tmp_path, ["Hello?"], lead_ms=300)
            result = await talk_until(agent, answers=1)
        assert result.stop_reason == "stopped"
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        groups = [
            o
            for o in gc.garbage
            if isinstance(o, BaseExceptionGroup) and any(type(e).__name__ == "_Stop" for e in o.exceptions)
        ]
        assert groups == []
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
