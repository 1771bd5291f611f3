"""WavOutputDevice keeps the listener's timeline; NullOutputDevice hears everything at once."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from rtvoice.audio import AudioFormat, NullOutputDevice, WavOutputDevice, WavWriter, load_wav
from rtvoice.exceptions import ConfigurationError

SAFETY_S = 10.0  # a broken device fails instead of hanging; nothing here measures time
PCM = AudioFormat.PCM16_24K


def square(ms: int, level: int = 8000) -> bytes:
    """A square wave that is never zero, so every audio sample is distinguishable from silence."""
    n = ms * 24
    x = np.where((np.arange(n) // 12) % 2 == 0, level, -level).astype("<i2")
    return x.tobytes()


def read_samples(path: Path) -> npt.NDArray[np.int16]:
    with wave.open(str(path), "rb") as w:  # the stdlib reader, independent of ours
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 24000)
        return np.frombuffer(w.readframes(w.getnframes()), "<i2")


def audio_runs_ms(x: npt.NDArray[np.int16]) -> list[tuple[float, float]]:
    """[(start_ms, end_ms)] of the runs of non-zero samples."""
    nonzero = np.concatenate([[0], (x != 0).astype(np.int8), [0]])
    edges = np.diff(nonzero)
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    return [(int(s) / 24, int(e) / 24) for s, e in zip(starts, ends, strict=True)]


def _playout_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("WavOutputDevice")]


async def test_two_bursts_keep_their_gap_on_the_timeline(tmp_path: Path) -> None:
    path = tmp_path / "out.wav"
    device = WavOutputDevice(path, speed=10.0)
    async with asyncio.timeout(SAFETY_S):
        await device.start()
        await device.play_chunk(square(500))
        playing_while_queued = device.is_playing
        await device.wait_until(played_ms=500)
        end_of_first = device.position_ms
        await device.wait_until(position_ms=end_of_first + 1000)  # one second of silence
        await device.play_chunk(square(300))
        await device.wait_idle()
        playing_when_idle = device.is_playing
        idle_at = device.position_ms
        await device.wait_until(position_ms=device.position_ms + 200)
        await device.stop()
    assert playing_while_queued and not playing_when_idle
    x = read_samples(path)
    runs = audio_runs_ms(x)
    assert len(runs) == 2
    (a_start, a_end), (b_start, b_end) = runs
    assert a_start == 0  # queued before the first slot
    assert a_end - a_start == 500
    assert b_end - b_start == 300
    assert b_start - a_end == 1000  # the pause is kept exactly
    assert idle_at == b_end  # wait_idle returns the moment the last sample has been heard
    assert device.played_ms == 800 == np.count_nonzero(x) / 24
    assert device.position_ms == len(x) / 24  # the file is exactly the timeline heard


async def test_clear_buffer_drops_unplayed_audio(tmp_path: Path) -> None:
    path = tmp_path / "out.wav"
    device = WavOutputDevice(path, speed=10.0)
    async with asyncio.timeout(SAFETY_S):
        await device.start()
        await device.play_chunk(square(3000))
        await device.wait_until(played_ms=400)
        await device.clear_buffer()
        played_at_clear = device.played_ms
        assert device.queued_ms == 0
        await device.wait_until(position_ms=device.position_ms + 300)
        played_later = device.played_ms
        assert not device.is_playing
        await device.stop()
    x = read_samples(path)
    heard = np.count_nonzero(x) / 24
    # Only the 20 ms slot already in the "sound card" may finish after the clear; the rest is gone.
    assert played_at_clear <= played_later <= played_at_clear + 20
    assert heard == device.played_ms == played_later
    assert heard < 600
    assert len(audio_runs_ms(x)) == 1


async def test_device_keeps_working_after_a_clear(tmp_path: Path) -> None:
    device = WavOutputDevice(tmp_path / "out.wav", speed=20.0)
    async with asyncio.timeout(SAFETY_S):
        await device.start()
        await device.play_chunk(square(1000))
        await device.wait_until(played_ms=100)
        await device.clear_buffer()
        before = device.played_ms
        await device.play_chunk(square(200))
        await device.wait_idle()
        await device.stop()
    assert device.played_ms == pytest.approx(before + 200, abs=20)


async def test_played_ms_is_monotonic_and_counts_odd_sized_chunks(tmp_path: Path) -> None:
    device = WavOutputDevice(tmp_path / "out.wav", speed=20.0)
    audio = square(400)
    observed: list[float] = []
    async with asyncio.timeout(SAFETY_S):
        await device.start()
        # Odd sizes split samples across chunks; the device must re-join them, never drop a byte.
        for start in range(0, len(audio), 1001):
            await device.play_chunk(audio[start : start + 1001])
        while device.is_playing:
            observed.append(device.played_ms)
            await device.wait_until(position_ms=device.position_ms + 20)
        await device.stop()
    assert observed == sorted(observed)
    assert device.played_ms == 400
    x = read_samples(tmp_path / "out.wav")
    assert x[: 400 * 24].tobytes() == audio


async def test_file_is_streamed_while_playing_and_finished_on_stop(tmp_path: Path) -> None:
    path = tmp_path / "out.wav"
    device = WavOutputDevice(path, speed=20.0)
    async with asyncio.timeout(SAFETY_S):
        await device.start()
        await device.wait_until(position_ms=2000)
        assert path.stat().st_size > 44 + 48_000  # written as it plays, not held until stop
        await device.stop()
    assert len(read_samples(path)) == device.position_ms * 24
    assert load_wav(path) == bytes(int(device.position_ms) * 48)  # nothing queued: pure silence
    assert _playout_tasks() == []


async def test_stop_cancels_waiters_and_is_idempotent(tmp_path: Path) -> None:
    device = WavOutputDevice(tmp_path / "out.wav", speed=1.0)
    await device.stop()  # before start: nothing to do
    await device.start()
    await device.play_chunk(square(60_000))  # a minute of audio: wait_idle cannot finish first
    async with asyncio.timeout(SAFETY_S), asyncio.TaskGroup() as tg:
        waiter = tg.create_task(device.wait_idle())
        await asyncio.sleep(0)
        await device.stop()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    await device.stop()
    assert _playout_tasks() == []
    assert not device.is_playing


async def test_restart_starts_a_new_file(tmp_path: Path) -> None:
    path = tmp_path / "out.wav"
    device = WavOutputDevice(path, speed=20.0)
    for ms in (200, 100):
        async with asyncio.timeout(SAFETY_S):
            await device.start()
            await device.play_chunk(square(ms))
            await device.wait_idle()
            await device.stop()
        assert device.played_ms == ms
        assert np.count_nonzero(read_samples(path)) == ms * 24


async def test_position_listener_is_called_when_a_slot_boundary_moves_played_ms(tmp_path: Path) -> None:
    device = WavOutputDevice(tmp_path / "out.wav", speed=20.0)
    pushed: list[float] = []
    device.set_position_listener(lambda: pushed.append(device.played_ms))
    async with asyncio.timeout(SAFETY_S):
        await device.start()
        await device.play_chunk(square(90))  # four full slots and a half one
        await device.wait_idle()
        await device.wait_until(position_ms=device.position_ms + 100)  # silence: nothing moves
        device.set_position_listener(None)
        await device.play_chunk(square(40))
        await device.wait_idle()
        await device.stop()
    assert pushed == [20.0, 40.0, 60.0, 80.0, 90.0]
    assert device.played_ms == 130.0


async def test_a_failing_position_listener_does_not_stop_playout(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    device = WavOutputDevice(tmp_path / "out.wav", speed=20.0)

    def broken() -> None:
        raise RuntimeError("listener bug")

    device.set_position_listener(broken)
    async with asyncio.timeout(SAFETY_S):
        await device.start()
        await device.play_chunk(square(60))
        await device.wait_idle()
        await device.stop()
    assert device.played_ms == 60.0
    assert "the position listener failed" in caplog.text


async def test_audio_queued_before_start_plays_first(tmp_path: Path) -> None:
    device = WavOutputDevice(tmp_path / "out.wav", speed=20.0)
    await device.play_chunk(square(40))
    assert device.is_playing
    async with asyncio.timeout(SAFETY_S):
        await device.start()
        await device.wait_idle()
        await device.stop()
    assert device.played_ms == 40.0
    assert audio_runs_ms(read_samples(tmp_path / "out.wav")) == [(0.0, 40.0)]


def test_bad_speed() -> None:
    with pytest.raises(ConfigurationError, match="speed"):
        WavOutputDevice("x.wav", speed=0)


async def test_null_output_device() -> None:
    device = NullOutputDevice()
    pushed: list[float] = []
    device.set_position_listener(lambda: pushed.append(device.played_ms))
    await device.start()
    await device.play_chunk(bytes(960))
    await device.play_chunk(bytes(480))
    await device.play_chunk(b"")  # nothing moved: no push
    assert device.played_ms == 30.0
    assert pushed == [20.0, 30.0]
    assert not device.is_playing
    await device.clear_buffer()
    assert device.played_ms == 30.0
    await device.stop()
    phone = NullOutputDevice(AudioFormat.PCMU_8K)
    await phone.play_chunk(bytes(160))
    assert phone.format is AudioFormat.PCMU_8K
    assert phone.played_ms == 20.0


@pytest.mark.parametrize("fmt", list(AudioFormat))
def test_wav_writer_headers_for_every_format(tmp_path: Path, fmt: AudioFormat) -> None:
    path = tmp_path / "w.wav"
    with WavWriter(path, fmt) as writer:
        writer.write(fmt.silence(15))
        writer.write(fmt.silence(5))
    data = path.read_bytes()
    tag = int.from_bytes(data[20:22], "little")
    assert tag == {AudioFormat.PCM16_24K: 1, AudioFormat.PCMA_8K: 6, AudioFormat.PCMU_8K: 7}[fmt]
    assert int.from_bytes(data[24:28], "little") == fmt.sample_rate
    assert int.from_bytes(data[40:44], "little") == fmt.bytes_for(20) == len(data) - 44
    assert int.from_bytes(data[4:8], "little") == len(data) - 8
    with pytest.raises(ValueError, match="closed"):
        writer.write(b"\x00")
