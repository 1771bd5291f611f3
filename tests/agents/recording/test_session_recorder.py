"""SessionRecorder: device audio in any format lands on the recording's 24 kHz timeline."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import wave
from pathlib import Path

import numpy as np
import pytest

from rtvoice.audio import AudioFormat
from rtvoice.recording.session_recorder import SessionRecorder, ToPcm24
from rtvoice_codecs import pcm16_to_alaw, pcm16_to_ulaw

SAFETY_S = 30.0  # a stuck child fails the test instead of hanging it; nothing here is timed


def tone(ms: int, rate: int, hz: float = 440.0, level: int = 8000) -> bytes:
    t = np.arange(rate * ms // 1000) / rate
    return (level * np.sin(2 * np.pi * hz * t)).astype("<i2").tobytes()


def test_g711_streams_are_decoded_and_resampled_to_24k() -> None:
    for fmt, encode in ((AudioFormat.PCMU_8K, pcm16_to_ulaw), (AudioFormat.PCMA_8K, pcm16_to_alaw)):
        converter = ToPcm24(fmt)
        source = encode(tone(100, 8000))
        out = b"".join(converter.convert(source[i : i + 160]) for i in range(0, len(source), 160))
        samples = np.frombuffer(out, dtype="<i2")
        assert len(samples) == 2400  # 100 ms at 24 kHz
        assert 6000 < np.max(np.abs(samples[200:])) < 9000  # the tone survived (after the 2 ms filter delay)
    pcm = tone(20, 24000)
    assert ToPcm24(AudioFormat.PCM16_24K).convert(pcm) == pcm


def test_caller_and_assistant_land_where_they_were_heard_and_cuts_are_left_out(tmp_path: Path) -> None:
    path = tmp_path / "call.wav"
    recorder = SessionRecorder(
        path, stereo=True, input_format=AudioFormat.PCMU_8K, output_format=AudioFormat.PCM16_24K
    )
    caller = pcm16_to_ulaw(tone(200, 8000))
    silence = b"\xff" * 160
    now = 0.0
    for i in range(0, len(caller), 160):  # 200 ms of caller speech, in 20 ms frames
        recorder.add_caller(caller[i : i + 160], now, now + 20)
        now += 20
    recorder.add_assistant(tone(600, 24000, hz=300), at_ms=300)  # a reply planned for 300..900 ms
    for _ in range(15):  # 300 ms of silence on the line
        recorder.add_caller(silence, now, now + 20)
        now += 20
    assert now == 500
    recorder.cut_assistant(at_ms=now)  # barge-in at 500 ms: only 300..500 of the reply was heard
    for _ in range(25):
        recorder.add_caller(silence, now, now + 20)
        now += 20
    recorder.close(now)
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getframerate()) == (2, 24000)
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    left, right = frames[:, 0], frames[:, 1]
    loud_left = np.flatnonzero(np.abs(left.astype(np.int32)) > 1000)
    loud_right = np.flatnonzero(right)
    # The caller's speech: 0..200 ms, shifted by the resampler's 2 ms delay (48 samples) at most.
    assert 0 <= int(loud_left[0]) <= 48 + 24 and abs(int(loud_left[-1]) - (200 * 24 + 48)) <= 24
    assert int(loud_right[0]) == 300 * 24 + 1 or int(loud_right[0]) == 300 * 24  # sin(0) == 0
    assert 499 * 24 <= int(loud_right[-1]) < 500 * 24  # heard up to the cut, nothing after it
    assert len(frames) == int(now * 24)


def test_the_timeline_is_advanced_every_400_ms_of_call_time(tmp_path: Path) -> None:
    recorder = SessionRecorder(
        tmp_path / "c.wav",
        stereo=False,
        input_format=AudioFormat.PCM16_24K,
        output_format=AudioFormat.PCM16_24K,
    )
    handed, due = [], []
    for k in range(44):  # 880 ms of 20 ms chunks
        recorder.add_caller(tone(20, 24000), 20 * k, 20 * k + 20)
        handed.append(recorder.recorder.duration_ms)
        due.append(recorder.next_tick_ms)
    assert handed == [0] * 19 + [400] * 20 + [800] * 5
    # What the session checks before ticking: a tick before next_tick_ms does nothing.
    assert due == [400.0] * 19 + [800.0] * 20 + [1200.0] * 5
    recorder.tick(1199.9)
    assert recorder.recorder.duration_ms == 800 and recorder.next_tick_ms == 1200.0
    recorder.close(880)
    assert recorder.recorder.closed and recorder.recorder.duration_ms == 880


def test_closing_right_after_an_advance_writes_the_call_to_its_end(tmp_path: Path) -> None:
    recorder = SessionRecorder(
        tmp_path / "c.wav", stereo=False, input_format=AudioFormat.PCMU_8K, output_format=AudioFormat.PCMU_8K
    )
    for k in range(20):  # 400 ms: the last chunk advances the timeline, nothing is left held
        recorder.add_caller(AudioFormat.PCMU_8K.silence(20), 20 * k, 20 * k + 20)
    assert recorder.recorder.duration_ms == 400
    recorder.close(500)
    assert recorder.recorder.closed and recorder.recorder.duration_ms == 500


CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    from rtvoice.audio import AudioFormat
    from rtvoice.recording.session_recorder import SessionRecorder
    from rtvoice_codecs import pcm16_to_ulaw

    recorder = SessionRecorder(
        sys.argv[1], stereo=True, input_format=AudioFormat.PCMU_8K, output_format=AudioFormat.PCMU_8K
    )
    chunk = pcm16_to_ulaw(np.full(160, 4000, "<i2").tobytes())
    now = 0
    while True:  # a call on a simulated clock, as the agent drives it, until killed
        recorder.add_caller(chunk, now, now + 20)
        if now % 1000 == 0:
            recorder.add_assistant(chunk * 25, now)  # 500 ms of reply every second
        now += 20
        if now % 500 == 0:
            print(now, flush=True)
    """
)


@pytest.mark.parametrize("ms_before_kill", [500, 3000, 10000])
def test_a_session_killed_mid_call_leaves_a_valid_wav_lacking_less_than_800_ms(
    tmp_path: Path, ms_before_kill: int
) -> None:
    path = tmp_path / "killed.wav"
    script = tmp_path / "child.py"
    script.write_text(CHILD, encoding="utf-8")
    child = subprocess.Popen(
        [sys.executable, str(script), str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        reported = 0
        while reported < ms_before_kill:
            line = child.stdout.readline()
            assert line, f"the child stopped early: {child.stderr.read() if child.stderr else ''}"
            reported = int(line)
        os.kill(child.pid, signal.SIGKILL)  # while the call goes on: the kill lands anywhere
        assert child.wait(timeout=SAFETY_S) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=SAFETY_S)
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()

    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.getsampwidth()) == (2, 24000, 2)
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    assert path.stat().st_size >= 44 + frames.nbytes  # the header never counts more than the file holds
    # All but less than ADVANCE_EVERY_MS + WRITE_EVERY_MS (400 + 400) of the call, within the promise of
    # "less than the last second".
    assert len(frames) > (reported - 800) * 24
    left = frames[200:, 0]  # the caller's constant level, after the resampler's start-up
    assert np.all(np.abs(left.astype(np.int32) - 4000) < 200)


@pytest.mark.parametrize("fmt", [AudioFormat.PCM16_24K, AudioFormat.PCMU_8K])
def test_caller_chunks_placed_together_give_the_bytes_of_chunks_placed_one_by_one(
    tmp_path: Path, fmt: AudioFormat
) -> None:
    # The session recorder keeps caller chunks and places them together at each advance; the file must
    # be the one a CallRecorder fed chunk by chunk writes, gaps, replies and a cut included.
    from rtvoice.recording.recorder import CallRecorder

    rate = fmt.sample_rate
    encode = (lambda pcm: pcm) if fmt is AudioFormat.PCM16_24K else pcm16_to_ulaw
    caller = encode(tone(2000, rate, hz=300.0))
    reply = encode(tone(700, rate, hz=900.0, level=6000))
    step = fmt.bytes_for(20)
    session = SessionRecorder(tmp_path / "s.wav", stereo=True, input_format=fmt, output_format=fmt)
    plain = CallRecorder(tmp_path / "p.wav", stereo=True)
    caller_conv, reply_conv = ToPcm24(fmt), ToPcm24(fmt)
    at = 0.0
    for k in range(len(caller) // step):
        chunk = caller[k * step : (k + 1) * step]
        start = at + (400.0 if k == 52 else 0.0)  # one gap in the microphone's timeline
        at = start + 20
        session.add_caller(chunk, start, at)
        plain.add_caller(caller_conv.convert(chunk), start)
        if k % 5 == 4:
            plain.advance(at)
        if k == 10:
            session.add_assistant(reply, at)
            plain.schedule_agent(reply_conv.convert(reply), at)
        if k == 30:
            session.cut_assistant(at)
            plain.cut_agent(at)
    session.close(at)
    plain.close(at)
    assert (tmp_path / "s.wav").read_bytes() == (tmp_path / "p.wav").read_bytes()
    assert session.recorder.timeline.caller_ms == pytest.approx(2000, abs=1)


def test_caller_audio_given_converted_gives_the_bytes_of_the_recorder_converting_it(tmp_path: Path) -> None:
    # The session's way with a G.711 microphone on a PCM16 session: chunks that came before the session
    # was ready are given as they came (add_caller), the rest converted by the session's own upstream
    # converter (add_converted_caller, after a tick at the chunk's arrival). The file must be the one the
    # recorder writes converting every chunk itself: a gap, a reply and a cut included.
    fmt = AudioFormat.PCMU_8K
    caller = pcm16_to_ulaw(tone(2000, 8000, hz=300.0))
    reply = tone(700, 24000, hz=900.0, level=6000)
    step = fmt.bytes_for(20)
    shared = SessionRecorder(
        tmp_path / "shared.wav", stereo=True, input_format=fmt, output_format=AudioFormat.PCM16_24K
    )
    own = SessionRecorder(
        tmp_path / "own.wav", stereo=True, input_format=fmt, output_format=AudioFormat.PCM16_24K
    )
    upstream = ToPcm24(fmt)  # sees every chunk, the early ones too (sent late; the recording skips them)
    at = 0.0
    for k in range(len(caller) // step):
        chunk = caller[k * step : (k + 1) * step]
        start = at + (250.0 if k == 45 else 0.0)  # a gap (over jitter_ms) while converted audio is held
        at = start + 20
        own.add_caller(chunk, start, at)
        converted = upstream.convert(chunk)
        if k < 12:  # the session was not ready yet
            shared.add_caller(chunk, start, at)
        else:
            shared.tick(at)
            shared.add_converted_caller(converted, start)
        for recorder in (own, shared):
            if k == 10:
                recorder.add_assistant(reply, at)
            if k == 30:
                recorder.cut_assistant(at)
    own.close(at)
    shared.close(at)
    assert (tmp_path / "shared.wav").read_bytes() == (tmp_path / "own.wav").read_bytes()
    assert shared.recorder.timeline.caller_ms == pytest.approx(2000, abs=1)
