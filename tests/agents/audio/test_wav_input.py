"""WavInputDevice and load_wav: any PCM WAV becomes PCM16 24 kHz mono, streamed like a microphone."""

from __future__ import annotations

import asyncio
import shutil
import struct
import subprocess
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from rtvoice.audio import AudioFormat, WavInputDevice, load_wav
from rtvoice.exceptions import ConfigurationError

SAFETY_S = 5.0  # a broken device fails instead of hanging; nothing here measures time
PCM = AudioFormat.PCM16_24K


def tone(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> npt.NDArray[np.float64]:
    t = np.arange(round(seconds * rate)) / rate
    return amplitude * np.sin(2 * np.pi * freq * t)


def write_wav(
    path: Path, frames: npt.NDArray[np.float64], rate: int, bits: int = 16, *, float_: bool = False
) -> Path:
    """Write ``frames`` (samples x channels, floats in [-1, 1)) with a plain fmt chunk, independently of rtvoice."""
    if frames.ndim == 1:
        frames = frames[:, None]
    channels = frames.shape[1]
    flat = frames.reshape(-1)
    if float_:
        data = flat.astype("<f4").tobytes()
    elif bits == 8:
        data = np.clip(np.rint(flat * 128 + 128), 0, 255).astype(np.uint8).tobytes()
    elif bits == 16:
        data = np.clip(np.rint(flat * 32768), -32768, 32767).astype("<i2").tobytes()
    elif bits == 24:
        ints = np.clip(np.rint(flat * 8388608), -8388608, 8388607).astype("<i4")
        data = ints.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    else:
        data = np.clip(np.rint(flat * 2147483648), -2147483648, 2147483647).astype("<i4").tobytes()
    width = bits // 8
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + len(data),
        b"WAVE",
        b"fmt ",
        16,
        3 if float_ else 1,
        channels,
        rate,
        rate * channels * width,
        channels * width,
        bits,
        b"data",
        len(data),
    )
    path.write_bytes(header + data)
    return path


def samples(pcm: bytes) -> npt.NDArray[np.float64]:
    return np.frombuffer(pcm, "<i2").astype(np.float64) / 32768.0


def dominant_frequency(pcm: bytes, rate: int = 24000) -> float:
    x = samples(pcm) * np.hanning(len(pcm) // 2)
    spectrum = np.abs(np.fft.rfft(x))
    return float(np.argmax(spectrum) * rate / len(x))


def rms(pcm: bytes) -> float:
    x = samples(pcm)
    return float(np.sqrt(np.mean(x * x)))


def test_8k_stereo_becomes_24k_mono_with_duration_frequency_and_level(tmp_path: Path) -> None:
    left = tone(440, 1.0, 8000, amplitude=0.6)
    right = tone(440, 1.0, 8000, amplitude=0.2)
    path = write_wav(tmp_path / "stereo8k.wav", np.stack([left, right], axis=1), 8000)
    pcm = load_wav(path)
    assert abs(len(pcm) // 2 - 24000) <= 2
    assert dominant_frequency(pcm) == pytest.approx(440, abs=2)
    # Channels are averaged: (0.6 + 0.2) / 2 = 0.4 peak, so 0.4 / sqrt(2) RMS (ignore resampler edges).
    assert rms(pcm[4800:-4800]) == pytest.approx(0.4 / np.sqrt(2), rel=0.01)
    device = WavInputDevice(path)
    assert device.duration_ms == pytest.approx(1000, abs=0.1)
    assert device.format is PCM


@pytest.mark.parametrize(("bits", "float_"), [(8, False), (16, False), (24, False), (32, False), (32, True)])
@pytest.mark.parametrize("rate", [16000, 44100, 48000])
def test_sample_formats_and_rates(tmp_path: Path, bits: int, float_: bool, rate: int) -> None:
    path = write_wav(tmp_path / "in.wav", tone(1000, 0.5, rate), rate, bits, float_=float_)
    pcm = load_wav(path)
    assert abs(len(pcm) // 2 - 12000) <= 2
    assert dominant_frequency(pcm) == pytest.approx(1000, abs=3)
    tolerance = 0.02 if bits == 8 else 0.002
    assert rms(pcm[2400:-2400]) == pytest.approx(0.5 / np.sqrt(2), rel=tolerance)


def test_pcm16_24k_mono_passes_through_byte_for_byte(tmp_path: Path) -> None:
    raw = np.random.default_rng(1).integers(-32768, 32767, 24000, dtype=np.int16).astype("<i2").tobytes()
    path = tmp_path / "native.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(24000)
        w.writeframes(raw)
    assert load_wav(path) == raw


@pytest.mark.skipif(shutil.which("sox") is None, reason="sox is not installed")
@pytest.mark.parametrize("args", [["-b", "24", "-c", "2"], ["-b", "32", "-c", "3"], ["-b", "16", "-c", "6"]])
def test_extensible_headers_written_by_sox(tmp_path: Path, args: list[str]) -> None:
    path = tmp_path / "sox.wav"
    subprocess.run(["sox", "-n", "-r", "22050", *args, str(path), "synth", "0.5", "sine", "700"], check=True)
    assert path.read_bytes()[20:22] == b"\xfe\xff"  # really WAVE_FORMAT_EXTENSIBLE
    pcm = load_wav(path)
    assert abs(len(pcm) // 2 - 12000) <= 2
    assert dominant_frequency(pcm) == pytest.approx(700, abs=3)


def test_missing_file_is_reported_at_construction(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        WavInputDevice(tmp_path / "nope.wav")


def test_bad_files_are_reported_at_construction(tmp_path: Path) -> None:
    not_wav = tmp_path / "text.wav"
    not_wav.write_text("hello, this is not audio")
    with pytest.raises(ConfigurationError, match="not a WAV file"):
        WavInputDevice(not_wav)
    no_data = tmp_path / "nodata.wav"
    no_data.write_bytes(write_wav(tmp_path / "x.wav", tone(100, 0.1, 8000), 8000).read_bytes()[:36])
    with pytest.raises(ConfigurationError, match="no data chunk"):
        WavInputDevice(no_data)


@pytest.mark.skipif(shutil.which("sox") is None, reason="sox is not installed")
def test_unsupported_encoding_names_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "ulaw.wav"
    subprocess.run(
        ["sox", "-n", "-r", "8000", "-e", "u-law", str(path), "synth", "0.1", "sine", "440"], check=True
    )
    with pytest.raises(ConfigurationError, match=r"unsupported WAV encoding \(format tag 0x0007"):
        load_wav(path)


def test_truncated_streaming_header_reads_to_the_end(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "stream.wav", tone(440, 0.2, 24000), 24000)
    data = bytearray(path.read_bytes())
    data[40:44] = b"\xff\xff\xff\xff"  # as a writer that never finalised its header leaves it
    path.write_bytes(bytes(data))
    assert len(load_wav(path)) == 0.2 * 48000


@pytest.mark.parametrize(
    "kwargs",
    [{"chunk_ms": 0}, {"chunk_ms": 2.5}, {"speed": 0}, {"speed": float("inf")}, {"end": "loop"}],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, object]) -> None:
    path = write_wav(tmp_path / "a.wav", tone(440, 0.1, 24000), 24000)
    with pytest.raises(ConfigurationError):
        WavInputDevice(path, **kwargs)  # type: ignore[arg-type]


async def test_end_stop_streams_exactly_the_file_then_ends(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "a.wav", tone(440, 0.51, 24000), 24000)  # 510 ms: 25 chunks + 10 ms
    device = WavInputDevice(path, realtime=False, end="stop")
    await device.start()
    chunks = [c async for c in device.stream_chunks()]
    assert b"".join(chunks) == load_wav(path)
    assert [len(c) for c in chunks] == [960] * 25 + [480]
    assert device.finished
    assert not device.is_active
    assert device.streamed_ms == pytest.approx(510)


async def test_end_silence_goes_on_like_a_quiet_microphone(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "a.wav", tone(440, 0.1, 24000), 24000)  # 5 chunks of 20 ms
    device = WavInputDevice(path, realtime=False)
    await device.start()
    chunks: list[bytes] = []
    finished_when: list[bool] = []
    async for chunk in device.stream_chunks():
        chunks.append(chunk)
        finished_when.append(device.finished)
        if len(chunks) == 15:
            await device.stop()
    assert len(chunks) == 15
    assert b"".join(chunks[:5]) == load_wav(path)
    assert all(c == bytes(960) for c in chunks[5:])
    assert finished_when == [False] * 4 + [True] * 11  # set with the file's last chunk
    assert not device.is_active


async def test_realtime_pacing_never_runs_ahead_of_the_audio_clock(tmp_path: Path) -> None:
    speed = 20.0
    path = write_wav(tmp_path / "a.wav", tone(440, 0.4, 24000), 24000)  # 20 chunks, then silence
    device = WavInputDevice(path, speed=speed)
    await device.start()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    arrivals: list[tuple[float, float]] = []  # (wall seconds since t0, audio ms delivered so far)
    delivered_ms = 0.0
    async with asyncio.timeout(SAFETY_S):
        async for chunk in device.stream_chunks():
            delivered_ms += PCM.ms_for(len(chunk))
            arrivals.append((loop.time() - t0, delivered_ms))
            if len(arrivals) == 30:
                break
    await device.stop()
    assert [ms for _, ms in arrivals] == [20.0 * (i + 1) for i in range(30)]
    # A microphone delivers a chunk once its last sample has been captured: at speed 20, audio ms
    # delivered can never exceed 20 x the wall-clock ms elapsed (a slow machine only makes it later).
    for wall_s, audio_ms in arrivals:
        assert audio_ms <= wall_s * 1000 * speed + 1.0
    assert device.finished


async def test_not_realtime_delivers_a_long_file_without_pacing(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "long.wav", tone(440, 30.0, 8000), 8000)
    device = WavInputDevice(path, realtime=False, end="stop")
    await device.start()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    total = sum([len(c) async for c in device.stream_chunks()])
    assert total == 30 * 48000
    assert loop.time() - t0 < 30.0  # far below the file's duration: no real-time pacing


async def test_stop_ends_a_paced_stream_without_waiting_for_the_next_chunk(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "a.wav", tone(440, 10.0, 8000), 8000)
    device = WavInputDevice(path, speed=1.0, chunk_ms=10_000)  # the first chunk is due in 10 s > SAFETY_S
    await device.start()
    received: list[bytes] = []

    async def consume() -> None:
        async for chunk in device.stream_chunks():
            received.append(chunk)

    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(consume())
        await asyncio.sleep(0)
        await device.stop()
        await asyncio.wait_for(asyncio.shield(task), SAFETY_S)
    assert received == []


async def test_wait_finished_and_restart_rewinds(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "a.wav", tone(440, 0.1, 24000), 24000)
    device = WavInputDevice(path, speed=50.0, end="stop")
    for _ in range(2):
        await device.start()
        chunks: list[bytes] = []

        async def consume() -> None:
            chunks.extend([c async for c in device.stream_chunks()])  # noqa: B023  # awaited in this iteration

        async with asyncio.timeout(SAFETY_S), asyncio.TaskGroup() as tg:
            tg.create_task(consume())
            await device.wait_finished()
        assert b"".join(chunks) == load_wav(path)


async def test_empty_file(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "empty.wav", np.zeros(0), 24000)
    device = WavInputDevice(path, realtime=False, end="stop")
    assert device.duration_ms == 0
    await device.start()
    assert [c async for c in device.stream_chunks()] == []
    assert device.finished


async def test_nothing_before_start(tmp_path: Path) -> None:
    device = WavInputDevice(write_wav(tmp_path / "a.wav", tone(440, 0.1, 24000), 24000), realtime=False)
    assert not device.is_active
    assert [c async for c in device.stream_chunks()] == []


def test_device_can_be_built_outside_a_loop_and_run_in_two(tmp_path: Path) -> None:
    device = WavInputDevice(
        write_wav(tmp_path / "a.wav", tone(440, 0.1, 24000), 24000), speed=50.0, end="stop"
    )

    async def run() -> int:
        await device.start()
        return sum([len(c) async for c in device.stream_chunks()])

    assert asyncio.run(run()) == asyncio.run(run()) == 4800
