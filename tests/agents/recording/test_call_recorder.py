"""CallRecorder: the file holds the call's timeline as it runs, and the defects of rtvoice 0.7.0 are gone."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from rtvoice.exceptions import LocalProtocolError
from rtvoice.recording import CallRecorder, RecordingTimeline

S_PER_MS = 24


def ramp(ms: int, first: int = 1) -> bytes:
    n = ms * S_PER_MS
    return ((np.arange(n) + first - 1) % 30000 + 1).astype("<i2").tobytes()


def read_wav(path: Path) -> tuple[int, npt.NDArray[np.int16]]:
    with wave.open(str(path), "rb") as w:
        assert (w.getsampwidth(), w.getframerate()) == (2, 24000)
        return w.getnchannels(), np.frombuffer(w.readframes(w.getnframes()), "<i2")


def run_call(target: CallRecorder | RecordingTimeline) -> bytes:
    """A short call: caller speaks, the agent answers twice, the caller barges into the second answer."""
    out = b""
    for tick in range(200):  # 4 s of 20 ms caller chunks
        now = 20 * tick + 20
        target.add_caller(ramp(20, 1 + tick), now - 20)
        if now == 1000:
            target.schedule_agent(ramp(800, 5), 1100)
        if now == 2400:
            target.schedule_agent(ramp(1000, 9), 2500)
        if now == 3000:
            target.cut_agent(3000)
        if tick % 5 == 4:
            written = target.advance(now)
            out += written if isinstance(written, bytes) else b""
    return out


def test_the_file_holds_exactly_the_timeline_of_the_call(tmp_path: Path) -> None:
    path = tmp_path / "call.wav"
    reference = RecordingTimeline()
    expected = run_call(reference) + reference.finish(4100)
    recorder = CallRecorder(path)
    run_call(recorder)
    recorder.close(4100)
    channels, got = read_wav(path)
    assert channels == 1
    np.testing.assert_array_equal(got, np.frombuffer(expected, "<i2"))
    assert recorder.duration_ms == 4100 and recorder.bytes_written == 4100 * S_PER_MS * 2
    assert recorder.timeline.agent_cut_ms == 500


def test_the_file_is_valid_and_current_during_the_call(tmp_path: Path) -> None:
    path = tmp_path / "live.wav"
    now = 400
    with CallRecorder(path, stereo=True) as recorder:
        recorder.add_caller(ramp(1000, 3), 0)
        recorder.schedule_agent(ramp(500, 4), 200)
        assert recorder.advance(now) == now * S_PER_MS * 4
        # The file is written in 200 ms blocks and its header updated every 500 ms: 400 ms of audio are
        # in the file, none counted yet. flush() makes it current.
        assert recorder.committed_ms == 0
        assert len(read_wav(path)[1]) == 0  # valid, and counts nothing it does not hold
        assert path.stat().st_size == 44 + now * S_PER_MS * 4
        recorder.flush()
        assert recorder.committed_ms == now
        channels, got = read_wav(path)  # read while the call goes on
        assert channels == 2 and len(got) == now * S_PER_MS * 2
        left, right = got.reshape(-1, 2).T
        np.testing.assert_array_equal(left, np.frombuffer(ramp(1000, 3), "<i2")[: now * S_PER_MS])
        np.testing.assert_array_equal(
            right[200 * S_PER_MS :], np.frombuffer(ramp(500, 4), "<i2")[: (now - 200) * S_PER_MS]
        )
        assert recorder.duration_ms == now
        # 200 ms more: the header is 200 ms behind, less than a step, so it stays.
        recorder.advance(now + 200)
        assert recorder.committed_ms == now
        # Another 400 ms: the file holds 600 ms more than the header counts, so the header follows.
        recorder.advance(now + 600)
        assert recorder.committed_ms == now + 600
        now += 600
    # Leaving the block closes at the last time given to advance(): the unplayed agent audio is left out.
    channels, got = read_wav(path)
    left, right = got.reshape(-1, 2).T
    assert len(left) == 1000 * S_PER_MS  # all the caller audio
    assert np.max(np.flatnonzero(right)) == 700 * S_PER_MS - 1  # the reply ended at 700 ms, before the end
    assert recorder.closed


def test_pauses_between_replies_are_kept(tmp_path: Path) -> None:
    # rtvoice 0.7.0: two 0.1 s replies 1 s apart produced a 0.2 s file.
    path = tmp_path / "pauses.wav"
    recorder = CallRecorder(path)
    recorder.schedule_agent(ramp(100, 1), 0)
    recorder.schedule_agent(ramp(100, 2), 1100)
    recorder.close(1200)
    _, got = read_wav(path)
    assert len(got) == 1200 * S_PER_MS
    nonzero = np.flatnonzero(got)
    assert np.min(nonzero) == 0 and np.max(nonzero) == 1200 * S_PER_MS - 1
    assert not got[100 * S_PER_MS : 1100 * S_PER_MS].any()


def test_a_call_without_any_reply_still_gets_a_file(tmp_path: Path) -> None:
    # rtvoice 0.7.0 saved nothing when no reply had finished playing.
    path = tmp_path / "no-reply.wav"
    recorder = CallRecorder(path)
    assert path.exists()
    recorder.add_caller(ramp(300, 1), 0)
    recorder.close(300)
    _, got = read_wav(path)
    np.testing.assert_array_equal(got, np.frombuffer(ramp(300, 1), "<i2"))


def test_a_long_gap_between_advances_is_written_in_full(tmp_path: Path) -> None:
    recorder = CallRecorder(tmp_path / "gap.wav", hold_ms=0)
    recorder.schedule_agent(ramp(50, 1), 9000)
    assert recorder.advance(10_000) == 10_000 * S_PER_MS * 2  # written in 1 s blocks, none missing
    recorder.close()
    _, got = read_wav(tmp_path / "gap.wav")
    assert len(got) == 10_000 * S_PER_MS
    assert np.flatnonzero(got).tolist() == list(range(9000 * S_PER_MS, 9050 * S_PER_MS))


def test_close_is_idempotent_and_the_recorder_refuses_audio_afterwards(tmp_path: Path) -> None:
    recorder = CallRecorder(tmp_path / "c.wav")
    recorder.add_caller(ramp(10, 1), 0)
    recorder.close(10)
    recorder.close(99)
    assert recorder.duration_ms == 10
    with pytest.raises(LocalProtocolError):
        recorder.add_caller(ramp(10, 1), 10)
    with pytest.raises(LocalProtocolError):
        recorder.advance(20)


def test_a_malformed_time_is_refused_before_anything_changes(tmp_path: Path) -> None:
    recorder = CallRecorder(tmp_path / "t.wav", hold_ms=0)
    with pytest.raises(LocalProtocolError):
        recorder.advance(float("nan"))
    recorder.advance(100)
    recorder.close()
    assert recorder.duration_ms == 100
    assert recorder.path == tmp_path / "t.wav" and recorder.sample_rate == 24000 and not recorder.stereo


def test_a_killed_call_loses_less_than_the_two_steps(tmp_path: Path) -> None:
    """What a crash would leave: the header counts a prefix of the call, never more than the file holds."""
    path = tmp_path / "steps.wav"
    recorder = CallRecorder(path, write_every_ms=100, header_every_ms=300)
    lag_max = 0.0
    for tick in range(100):  # 2 s of caller audio, advanced every 20 ms
        now = 20 * tick + 20
        recorder.add_caller(ramp(20, 1 + tick), now - 20)
        recorder.advance(now)
        _, got = read_wav(path)  # as a reader (or a crash) would find it now
        assert len(got) == recorder.committed_ms * S_PER_MS <= recorder.duration_ms * S_PER_MS
        assert path.stat().st_size >= 44 + 2 * len(got)
        lag_max = max(lag_max, recorder.duration_ms - recorder.committed_ms)
    # Less than 100 + 300 ms: up to 80 ms not yet in the file plus 200 ms in it but not yet counted.
    assert lag_max == 280
    recorder.close()
    assert recorder.committed_ms == recorder.duration_ms == 2000
