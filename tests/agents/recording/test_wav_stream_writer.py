"""WavStreamWriter: the file is a valid WAV file at every moment, even when the writer is SIGKILLed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from rtvoice.exceptions import ConfigurationError
from rtvoice.recording import WavStreamWriter

SAFETY_S = 30.0  # a stuck child fails the test instead of hanging it; nothing here is timed


def read_wav(path: Path) -> tuple[tuple[int, int, int], npt.NDArray[np.int16]]:
    """(channels, sample width, rate) and the samples, read by the stdlib, independent of ours."""
    with wave.open(str(path), "rb") as w:
        params = (w.getnchannels(), w.getsampwidth(), w.getframerate())
        return params, np.frombuffer(w.readframes(w.getnframes()), "<i2")


@pytest.mark.parametrize("pwrite", [True, False], ids=["pwrite", "seek-and-write"])
def test_the_file_is_a_valid_wav_file_after_every_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pwrite: bool
) -> None:
    if not pwrite:  # where os.pwrite is missing, the header is rewritten by seeking to it and back
        monkeypatch.setattr("rtvoice.recording.wav_stream._PWRITE", None)
    path = tmp_path / "call.wav"
    rng = np.random.default_rng(7)
    written = np.zeros(0, np.int16)
    with WavStreamWriter(path, sample_rate=24000, channels=1) as writer:
        params, got = read_wav(path)  # valid before the first write: zero frames
        assert params == (1, 2, 24000) and len(got) == 0
        for size in (1, 480, 7, 2400, 0, 333):
            chunk = rng.integers(-32768, 32767, size, dtype=np.int16)
            writer.write(chunk.astype("<i2").tobytes())
            written = np.concatenate([written, chunk])
            params, got = read_wav(path)  # opened while the writer is still open
            np.testing.assert_array_equal(got, written)
            assert path.stat().st_size == 44 + 2 * len(written)
        assert writer.frames_written == len(written) == writer.bytes_written // 2
        assert writer.duration_ms == len(written) / 24
    assert writer.closed
    _, got = read_wav(path)
    np.testing.assert_array_equal(got, written)


def test_stereo_frames_are_interleaved_and_the_header_says_two_channels(tmp_path: Path) -> None:
    path = tmp_path / "stereo.wav"
    frames = np.array([[1, -1], [2, -2], [3, -3]], "<i2")
    with WavStreamWriter(path, sample_rate=8000, channels=2) as writer:
        writer.write(frames.tobytes())
        assert writer.frame_bytes == 4 and writer.frames_written == 3
    params, got = read_wav(path)
    assert params == (2, 2, 8000)
    np.testing.assert_array_equal(got.reshape(-1, 2), frames)


def test_partial_frames_and_writes_after_close_are_refused(tmp_path: Path) -> None:
    writer = WavStreamWriter(tmp_path / "x.wav", sample_rate=24000, channels=2)
    with pytest.raises(ValueError, match="whole number of 4-byte frames"):
        writer.write(b"\x00" * 6)
    writer.write(memoryview(b"\x01\x00\x02\x00"))
    writer.close()
    writer.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        writer.write(b"\x00" * 4)
    _, got = read_wav(tmp_path / "x.wav")
    assert got.tolist() == [1, 2]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")
def test_a_write_error_is_raised_and_the_file_closed() -> None:
    with pytest.raises(OSError):  # /dev/full accepts the open and fails every write: disk full
        WavStreamWriter("/dev/full", sample_rate=16000, channels=1)


def test_the_format_is_reported(tmp_path: Path) -> None:
    with WavStreamWriter(tmp_path / "f.wav", sample_rate=16000, channels=2) as writer:
        assert (writer.sample_rate, writer.channels, writer.path) == (16000, 2, tmp_path / "f.wav")


@pytest.mark.parametrize(("rate", "channels"), [(0, 1), (24000, 0), (24000, True), (24000.0, 1)])
def test_bad_format_arguments_raise(tmp_path: Path, rate: int, channels: int) -> None:
    with pytest.raises(ConfigurationError):
        WavStreamWriter(tmp_path / "x.wav", sample_rate=rate, channels=channels)
    assert not (tmp_path / "x.wav").exists()


def test_a_buffered_writer_appends_in_blocks_and_updates_the_header_in_steps(tmp_path: Path) -> None:
    path = tmp_path / "blocks.wav"
    chunk = np.arange(1, 481, dtype="<i2")  # 20 ms at 24 kHz
    sizes, counted = [], []
    with WavStreamWriter(path, sample_rate=24000, channels=1, write_every_ms=100, header_every_ms=250) as w:
        for _ in range(30):
            w.write(chunk.tobytes())
            sizes.append(path.stat().st_size - 44)
            _, got = read_wav(path)  # valid at every moment
            counted.append(len(got))
            assert len(got) == w.committed_bytes // 2 and 2 * len(got) <= sizes[-1] <= w.bytes_written
        assert w.frames_written == 30 * 480 and w.duration_ms == 600
    # The file grows every 5 writes (100 ms); the header follows every 300 ms (the first block >= 250 ms).
    assert sorted(set(sizes)) == [0, 4800, 9600, 14400, 19200, 24000, 28800]
    assert sorted(set(counted)) == [0, 7200, 14400]
    _, got = read_wav(path)
    np.testing.assert_array_equal(got, np.tile(chunk, 30))


def test_a_large_write_goes_to_the_file_at_once_and_flush_makes_the_header_current(tmp_path: Path) -> None:
    path = tmp_path / "flush.wav"
    writer = WavStreamWriter(path, sample_rate=8000, channels=2, write_every_ms=20, header_every_ms=1000)
    writer.flush()  # nothing to do
    writer.write(np.zeros(2 * 200, "<i2").tobytes())  # 25 ms: one block, written without buffering
    assert path.stat().st_size == 44 + 800 and writer.committed_bytes == 0
    writer.flush()  # the data is in the file already: only the header changes
    assert writer.committed_bytes == 800 and len(read_wav(path)[1]) == 400
    writer.write(np.ones(2 * 8, "<i2").tobytes())  # 1 ms: held in memory
    assert path.stat().st_size == 44 + 800
    writer.flush()
    assert path.stat().st_size == 44 + 832 and writer.committed_bytes == 832
    writer.close()
    with pytest.raises(ValueError, match="closed"):
        writer.flush()


def test_close_writes_what_is_held_in_memory(tmp_path: Path) -> None:
    path = tmp_path / "close.wav"
    with WavStreamWriter(path, sample_rate=24000, channels=1, write_every_ms=1000, header_every_ms=1000) as w:
        w.write(np.full(240, 7, "<i2").tobytes())
        assert path.stat().st_size == 44 and w.bytes_written == 480
    assert read_wav(path)[1].tolist() == [7] * 240


@pytest.mark.parametrize("step", [-1, float("nan"), float("inf"), True, "100"])
def test_bad_steps_raise(tmp_path: Path, step: object) -> None:
    for name in ("write_every_ms", "header_every_ms"):
        with pytest.raises(ConfigurationError, match=name):
            WavStreamWriter(tmp_path / "x.wav", sample_rate=24000, channels=1, **{name: step})  # type: ignore[arg-type]
    assert not (tmp_path / "x.wav").exists()


CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    from rtvoice.recording import WavStreamWriter

    steps = {"write_every_ms": float(sys.argv[2]), "header_every_ms": float(sys.argv[3])}
    writer = WavStreamWriter(sys.argv[1], sample_rate=24000, channels=1, **steps)
    k = 0
    while True:  # writes 20 ms chunks until killed
        writer.write(np.full(480, k % 30000 + 1, "<i2").tobytes())
        k += 1
        if k % 25 == 0:
            print(k, flush=True)
    """
)


@pytest.mark.parametrize(("write_every_ms", "header_every_ms"), [(0, 0), (200, 700)])
@pytest.mark.parametrize("writes_before_kill", [25, 100, 300])
def test_a_writer_killed_mid_stream_leaves_a_valid_wav_with_every_counted_frame(
    tmp_path: Path, writes_before_kill: int, write_every_ms: int, header_every_ms: int
) -> None:
    path = tmp_path / "killed.wav"
    script = tmp_path / "child.py"
    script.write_text(CHILD, encoding="utf-8")
    child = subprocess.Popen(
        [sys.executable, str(script), str(path), str(write_every_ms), str(header_every_ms)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        reported = 0
        while reported < writes_before_kill:
            line = child.stdout.readline()
            assert line, f"the child stopped early: {child.stderr.read() if child.stderr else ''}"
            reported = int(line)
        os.kill(child.pid, signal.SIGKILL)  # while it keeps writing: the kill lands anywhere
        assert child.wait(timeout=SAFETY_S) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=SAFETY_S)
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()

    with wave.open(str(path), "rb") as w:
        counted = w.getnframes()
    # The header never counts more than the file holds, and counts every write reported as done.
    assert path.stat().st_size >= 44 + 2 * counted
    params, got = read_wav(path)
    assert params == (1, 2, 24000) and len(got) == counted
    # Whole writes only; what was reported written is there, but for less than the two steps.
    lost_max = (write_every_ms + header_every_ms) * 24
    assert counted % 480 == 0 and counted > 480 * reported - max(lost_max, 1)
    chunks = got.reshape(-1, 480)
    expected = (np.arange(len(chunks)) % 30000 + 1).astype(np.int16)
    np.testing.assert_array_equal(chunks, np.repeat(expected[:, None], 480, axis=1))
