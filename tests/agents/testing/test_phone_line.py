"""Phone-line devices: 20 ms μ-law frames in and out at real time, positions reported like mark echoes."""

from __future__ import annotations

import asyncio
import math
import struct
from pathlib import Path

import numpy as np
import pytest
from openai.types.realtime import SessionUpdateEvent

from rtvoice import OpenAIProvider, RealtimeAgent, ServerVAD
from rtvoice.audio import AudioFormat
from rtvoice.exceptions import ConfigurationError
from rtvoice.testing import RealtimeSimulator, speech
from rtvoice.testing.phone_line import PhoneLineMicrophone, PhoneLineMode, PhoneLineSpeaker, ulaw_from_wav
from rtvoice_codecs import StreamResampler, pcm16_to_ulaw, ulaw_to_pcm16
from support.agent import received
from support.audio import caller_wav
from support.timing import seconds

SAFETY_S = 10.0  # a broken device fails instead of hanging; nothing here measures time
ULAW = AudioFormat.PCMU_8K
PCM = AudioFormat.PCM16_24K


def ulaw_ramp(ms: int) -> bytes:
    """μ-law audio whose every frame differs from silence and from its neighbours."""
    return bytes((i * 7) % 250 for i in range(ULAW.bytes_for(ms)))


def tone24k(ms: int, freq: float = 440.0, level: int = 8000) -> bytes:
    n = ms * 24
    return struct.pack(f"<{n}h", *(int(level * math.sin(2 * math.pi * freq * i / 24000)) for i in range(n)))


async def collect(mic: PhoneLineMicrophone, count: int) -> list[bytes]:
    chunks: list[bytes] = []
    async for chunk in mic.stream_chunks():
        chunks.append(chunk)
        if len(chunks) == count:
            break
    return chunks


# ---------------------------------------------------------------------------------------- microphone


def test_ulaw_from_wav_converts_any_wav_to_8k_ulaw(tmp_path: Path) -> None:
    path = tmp_path / "caller.wav"
    speech.write_wav(path, tone24k(500, freq=440.0), sample_rate=24000)
    ulaw = ulaw_from_wav(path)
    assert abs(len(ulaw) - ULAW.bytes_for(500)) <= ULAW.bytes_for(3)  # plus the resampler's 2 ms tail
    x = np.frombuffer(ulaw_to_pcm16(ulaw), "<i2").astype(np.float64)[80:3920]
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    peak_hz = np.argmax(spectrum) * 8000 / len(x)
    assert abs(peak_hz - 440.0) < 5.0
    assert 7000 < np.max(np.abs(x)) < 9000


async def test_passthrough_microphone_sends_the_caller_then_silence() -> None:
    caller = ulaw_ramp(100) + b"\x10\x20"  # five frames and two bytes of a sixth
    mic = PhoneLineMicrophone(caller, mode="passthrough", speed=50.0)
    assert mic.format is ULAW and mic.caller_frames == 6
    async with asyncio.timeout(SAFETY_S):
        await mic.start()
        finished_before = mic.finished
        frames = await collect(mic, 9)
        await mic.stop()
    assert not finished_before and mic.finished
    assert [len(f) for f in frames] == [160] * 9
    assert b"".join(frames[:5]) == caller[:800]
    assert frames[5] == b"\x10\x20" + b"\xff" * 158  # the last frame padded with μ-law silence
    assert frames[6:] == [ULAW.silence(20)] * 3  # the line keeps sending
    assert mic.frames_sent == 9


async def test_transcoding_microphone_yields_the_frames_and_asks_the_agent_for_a_24k_pcm_session() -> None:
    caller = ulaw_ramp(200)
    mic = PhoneLineMicrophone(caller, speed=50.0)
    assert (mic.format, mic.session_format, mic.mode) == (ULAW, PCM, "transcode")
    assert PhoneLineMicrophone(caller, mode="passthrough").session_format is ULAW
    async with asyncio.timeout(SAFETY_S):
        await mic.start()
        chunks = await collect(mic, 12)
        await mic.stop()
    assert b"".join(chunks) == caller + ULAW.silence(40)  # 20 ms frames as they are; the agent converts


async def test_microphone_is_never_ahead_of_the_line() -> None:
    mic = PhoneLineMicrophone(ulaw_ramp(100), mode="passthrough", speed=10.0)
    loop = asyncio.get_running_loop()
    arrivals: list[float] = []
    async with asyncio.timeout(SAFETY_S):
        await mic.start()
        t0 = loop.time()
        async for _ in mic.stream_chunks():
            arrivals.append(loop.time() - t0)
            if len(arrivals) == 8:
                break
        await mic.stop()
    # A lower bound only: frame k cannot arrive before its last sample was "spoken" (2 ms at 10x).
    for k, arrived in enumerate(arrivals):
        assert arrived >= (k + 1) * 0.002 - 1e-4


async def test_microphone_stops_promptly_and_yields_nothing_before_start() -> None:
    mic = PhoneLineMicrophone(ulaw_ramp(40), mode="passthrough", speed=0.01)  # a frame every 2 s
    assert [c async for c in mic.stream_chunks()] == []
    received: list[bytes] = []

    async def consume() -> None:
        async for chunk in mic.stream_chunks():
            received.append(chunk)

    async with asyncio.timeout(SAFETY_S):
        await mic.start()
        assert mic.is_active
        consumer = asyncio.create_task(consume())
        await asyncio.sleep(0)
        await mic.stop()
        await consumer  # ends without waiting the 2 s for its frame
    assert received == [] and not mic.is_active


async def test_empty_caller_is_finished_at_once() -> None:
    mic = PhoneLineMicrophone(b"", mode="passthrough", speed=50.0)
    await mic.start()
    assert mic.finished
    async with asyncio.timeout(SAFETY_S):
        assert await collect(mic, 2) == [ULAW.silence(20)] * 2
    await mic.stop()


@pytest.mark.parametrize("kwargs", [{"mode": "alaw"}, {"speed": 0}, {"speed": math.nan}, {"speed": True}])
def test_bad_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        PhoneLineMicrophone(b"", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        PhoneLineSpeaker(**kwargs)  # type: ignore[arg-type]


def test_bad_speaker_buffer() -> None:
    with pytest.raises(ConfigurationError, match="max_buffered_ms"):
        PhoneLineSpeaker(max_buffered_ms=10)


@pytest.mark.parametrize("report_every_ms", [0, 10, 30, -60, True, 60.0])
def test_bad_report_step(report_every_ms: object) -> None:
    with pytest.raises(ConfigurationError, match="report_every_ms"):
        PhoneLineSpeaker(report_every_ms=report_every_ms)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------- speaker


class Line:
    """Records what a speaker sends and the positions it pushes; lets a test wait for a position."""

    def __init__(self, speaker: PhoneLineSpeaker) -> None:
        self.speaker = speaker
        self.frames: list[bytes] = []
        self.pushed: list[float] = []
        self._waiters: list[tuple[float, asyncio.Event]] = []
        speaker.set_position_listener(self.on_position)

    def on_frame(self, frame: bytes) -> None:
        self.frames.append(frame)

    def on_position(self) -> None:
        self.pushed.append(self.speaker.played_ms)
        for target, event in self._waiters:
            if self.speaker.played_ms >= target:
                event.set()

    async def played(self, target: float) -> None:
        event = asyncio.Event()
        self._waiters.append((target, event))
        if self.speaker.played_ms < target:
            await event.wait()


def make_speaker(**kwargs: object) -> tuple[PhoneLineSpeaker, Line]:
    frames: list[bytes] = []
    speaker = PhoneLineSpeaker(on_frame=frames.append, **kwargs)  # type: ignore[arg-type]
    line = Line(speaker)
    line.frames = frames
    return speaker, line


@pytest.mark.parametrize(
    ("report_every_ms", "marks"),
    [
        (20, [20.0 * k for k in range(1, 50)] + [990.0]),  # a mark per frame, padding excluded
        (60, [60.0 * k for k in range(1, 17)] + [990.0]),  # a mark per three frames, as the gateway sends
    ],
)
async def test_passthrough_speaker_sends_exact_frames_and_reports_each_step(
    report_every_ms: int, marks: list[float]
) -> None:
    speaker, line = make_speaker(mode="passthrough", speed=50.0, report_every_ms=report_every_ms)
    audio = ulaw_ramp(990)
    async with asyncio.timeout(SAFETY_S):
        await speaker.start()
        for offset in range(0, len(audio), 1234):  # odd sizes, as deltas arrive
            await speaker.play_chunk(audio[offset : offset + 1234])
        await speaker.end_of_audio()
        await line.played(990)
        playing_after = speaker.is_playing
        await speaker.stop()
    assert not playing_after
    assert [len(f) for f in line.frames] == [160] * 50
    assert b"".join(line.frames) == audio + b"\xff" * 80  # the last 10 ms padded
    assert line.pushed == marks
    assert speaker.frames_played == 50 and speaker.padded_frames == 1


async def test_transcoding_speaker_resamples_and_encodes_with_rtvoice_codecs() -> None:
    speaker, line = make_speaker(speed=50.0)
    pcm = tone24k(505)
    assert speaker.format is PCM
    async with asyncio.timeout(SAFETY_S):
        await speaker.start()
        for offset in range(0, len(pcm), 4802):
            await speaker.play_chunk(pcm[offset : offset + 4802])
        await speaker.end_of_audio()
        await line.played(505)
        await speaker.stop()
    down = StreamResampler(24000, 8000)
    reference = pcm16_to_ulaw(down.process(pcm) + down.flush())  # 505 ms and the filter's 2 ms tail
    sent = b"".join(line.frames)
    assert len(sent) == 26 * 160
    assert sent == reference + b"\xff" * (len(sent) - len(reference))
    assert speaker.played_ms == 505.0  # exactly the agent's audio: neither tail nor padding
    assert line.pushed[-1] == 505.0 and line.pushed == sorted(line.pushed)


async def test_clear_drops_the_rest_and_stale_marks_never_count() -> None:
    speaker, line = make_speaker(mode="passthrough", speed=20.0)
    async with asyncio.timeout(SAFETY_S):
        await speaker.start()
        await speaker.play_chunk(ulaw_ramp(2000))
        await line.played(200)
        await speaker.clear_buffer()  # barge-in
        heard = speaker.played_ms
        sent_at_clear = len(line.frames)
        playing_after_clear = speaker.is_playing
        await speaker.play_chunk(ULAW.silence(100))
        await speaker.end_of_audio()
        await line.played(heard + 100)
        await speaker.stop()
    assert not playing_after_clear and speaker.queued_frames == 0
    assert heard % 20 == 0 and 200 <= heard < 2000
    assert speaker.played_ms == heard + 100  # the frame in progress at the clear did not count
    assert len(line.frames) == sent_at_clear + 5  # nothing of the dropped audio was sent after the clear
    assert line.frames[-5:] == [ULAW.silence(20)] * 5


async def test_partial_frame_goes_out_when_the_line_would_run_dry() -> None:
    speaker, line = make_speaker(mode="passthrough", speed=50.0)
    async with asyncio.timeout(SAFETY_S):
        await speaker.start()
        await speaker.play_chunk(ulaw_ramp(30))  # no end_of_audio: an agent that does not call it
        await line.played(30)
        await speaker.stop()
    assert speaker.played_ms == 30.0 and speaker.padded_frames == 1
    assert len(line.frames) == 2


async def test_play_chunk_waits_for_room_and_one_task_paces_the_line() -> None:
    speaker, line = make_speaker(mode="passthrough", speed=50.0, max_buffered_ms=100)
    most_queued = 0

    def on_position() -> None:
        nonlocal most_queued
        most_queued = max(most_queued, speaker.queued_frames)
        line.on_position()

    speaker.set_position_listener(on_position)
    async with asyncio.timeout(SAFETY_S):
        await speaker.start()
        for _ in range(30):
            await speaker.play_chunk(ULAW.silence(20))
            most_queued = max(most_queued, speaker.queued_frames)
        pacing = [t for t in asyncio.all_tasks() if t.get_name() == "PhoneLineSpeaker"]
        await speaker.end_of_audio()
        await line.played(600)
        await speaker.stop()
    assert len(pacing) == 1  # one task for the line, not one per frame
    assert most_queued <= 5
    assert speaker.frames_played == 30
    assert [t for t in asyncio.all_tasks() if t.get_name() == "PhoneLineSpeaker"] == []


async def test_a_failing_listener_does_not_stop_the_line(caplog: pytest.LogCaptureFixture) -> None:
    speaker = PhoneLineSpeaker(mode="passthrough", speed=50.0)
    done = asyncio.Event()

    def broken() -> None:
        if speaker.played_ms >= 60:
            done.set()
        raise RuntimeError("listener bug")

    speaker.set_position_listener(broken)
    async with asyncio.timeout(SAFETY_S):
        await speaker.start()
        await speaker.play_chunk(ULAW.silence(60))
        await done.wait()
        await speaker.stop()
    assert speaker.played_ms == 60.0
    assert "the position listener failed" in caplog.text


async def test_idle_line_sends_nothing_and_restarts_on_audio() -> None:
    speaker, line = make_speaker(mode="passthrough", speed=50.0)
    async with asyncio.timeout(SAFETY_S):
        await speaker.start()
        await speaker.play_chunk(ULAW.silence(40))
        await line.played(40)
        await asyncio.sleep(0.02)  # 50 frame times of nothing queued
        idle_frames = speaker.frames_played
        await speaker.play_chunk(ULAW.silence(40))
        await line.played(80)
        await speaker.stop()
    assert idle_frames == 2
    assert speaker.frames_played == 4
    await speaker.start()  # a restart counts from zero
    assert speaker.played_ms == 0.0 and speaker.frames_played == 0
    await speaker.stop()


# ------------------------------------------------------------------------------------ with the agent


@pytest.mark.parametrize("mode", ["transcode", "passthrough"])
async def test_a_call_on_phone_line_devices(mode: PhoneLineMode, tmp_path: Path) -> None:
    lines = ["Hello, my name is Alice.", "Thank you, goodbye."]
    caller_wav(tmp_path / "caller.wav", lines, gaps_ms=4000)
    mic = PhoneLineMicrophone(ulaw_from_wav(tmp_path / "caller.wav"), mode=mode, speed=4.0)
    # μ-law from the line either way; transcoding, the agent converts it for a PCM16 session.
    session = PCM if mode == "transcode" else ULAW
    assert (mic.format, mic.session_format) == (ULAW, session)
    frames: list[bytes] = []
    speaker = PhoneLineSpeaker(mode=mode, speed=4.0, on_frame=frames.append)
    async with RealtimeSimulator(user_transcripts=lines, generation_speed=16) as sim:
        agent = RealtimeAgent(
            instructions="Be brief.",
            turn_detection=ServerVAD(),
            audio_input=mic,
            audio_output=speaker,
            provider=OpenAIProvider(api_key="sk-test", websocket_base_url=sim.url),
        )
        async with asyncio.timeout(seconds(60)), asyncio.TaskGroup() as tasks:
            run = tasks.create_task(agent.run())
            await mic.wait_finished()
            await agent.stop()
        result = run.result()
        update = received(sim, SessionUpdateEvent)[0]
    assert result.error is None
    assert [(t.role, t.transcript) for t in result.turns] == [
        ("user", lines[0]),
        ("assistant", lines[0]),
        ("user", lines[1]),
        ("assistant", lines[1]),
    ]
    wire = "audio/pcm" if mode == "transcode" else "audio/pcmu"
    assert update.session.audio is not None
    assert update.session.audio.input is not None and update.session.audio.output is not None
    assert update.session.audio.input.format is not None and update.session.audio.output.format is not None
    assert update.session.audio.input.format.type == wire == update.session.audio.output.format.type
    # The replies reached the line as exact 20 ms μ-law frames, and their marks came back.
    assert frames and all(len(f) == 160 for f in frames)
    assert speaker.played_ms > 1000
