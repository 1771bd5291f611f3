"""WAV files: read any PCM WAV as PCM16 24 kHz mono, and stream audio to a WAV file.

:func:`load_wav` is what :class:`~rtvoice.audio.wav.WavInputDevice` reads with; :class:`WavWriter` is
what :class:`~rtvoice.audio.wav.WavOutputDevice` (and a recorder) writes with.
"""

from __future__ import annotations

import struct
from os import PathLike
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
import soxr

from rtvoice.audio.format import AudioFormat
from rtvoice.exceptions import ConfigurationError

__all__ = ["WavWriter", "load_wav"]

_PCM = AudioFormat.PCM16_24K
_RATE = _PCM.sample_rate

_WAVE_FORMAT_PCM = 0x0001
_WAVE_FORMAT_IEEE_FLOAT = 0x0003
_WAVE_FORMAT_EXTENSIBLE = 0xFFFE


def load_wav(path: str | PathLike[str]) -> bytes:
    """Read a WAV file and return its audio as PCM16 24 kHz mono.

    Accepts any sample rate and channel count, integer PCM of 8, 16, 24 or 32 bits, and 32/64-bit float,
    in plain or ``WAVE_FORMAT_EXTENSIBLE`` headers (as sox writes them). Channels are averaged; other
    rates are resampled with soxr. A 16-bit 24 kHz mono file is returned byte for byte.

    Raises:
        FileNotFoundError: there is no such file.
        ConfigurationError: the file is not a WAV file, or uses an encoding other than PCM or float.
    """
    path = Path(path)
    data = path.read_bytes()
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ConfigurationError(f"{path} is not a WAV file (no RIFF/WAVE header)")
    fmt: tuple[int, int, int, int, int] | None = None  # tag, channels, rate, block_align, bits
    pos = 12
    while pos + 8 <= len(data):
        chunk_id = data[pos : pos + 4]
        (size,) = struct.unpack_from("<I", data, pos + 4)
        body = pos + 8
        if chunk_id == b"fmt ":
            if size < 16:
                raise ConfigurationError(f"{path}: fmt chunk too short ({size} bytes)")
            tag, channels, rate, _byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", data, body)
            if tag == _WAVE_FORMAT_EXTENSIBLE and size >= 40:
                # The real format tag is the first two bytes of the SubFormat GUID.
                (tag,) = struct.unpack_from("<H", data, body + 24)
            fmt = (tag, channels, rate, block_align, bits)
        elif chunk_id == b"data":
            if fmt is None:
                raise ConfigurationError(f"{path}: data chunk before fmt chunk")
            # Streamed writers leave the size 0 or 0xFFFFFFFF; take what the file really holds.
            end = len(data) if size in (0, 0xFFFFFFFF) else min(body + size, len(data))
            return _to_pcm16_24k(path, data[body:end], *fmt)
        pos = body + size + (size & 1)  # chunks are padded to even sizes
    raise ConfigurationError(f"{path}: no {'data' if fmt else 'fmt'} chunk")


def _to_pcm16_24k(
    path: Path, raw: bytes, tag: int, channels: int, rate: int, block_align: int, bits: int
) -> bytes:
    if channels < 1 or rate < 1 or bits < 8 or block_align != channels * ((bits + 7) // 8):
        raise ConfigurationError(
            f"{path}: inconsistent WAV header (channels={channels}, rate={rate}, bits={bits}, "
            f"block_align={block_align})"
        )
    raw = raw[: len(raw) - len(raw) % block_align]  # ignore a trailing partial frame
    if tag == _WAVE_FORMAT_PCM and bits == 16 and channels == 1 and rate == _RATE:
        return raw
    samples = _decode(path, raw, tag, bits).reshape(-1, channels)
    mono = samples.mean(axis=1) if channels > 1 else samples[:, 0]
    if rate != _RATE:
        mono = soxr.resample(mono, rate, _RATE, quality="VHQ")
    pcm = np.clip(np.rint(mono * 32768.0), -32768, 32767).astype("<i2")
    return pcm.tobytes()


def _decode(path: Path, raw: bytes, tag: int, bits: int) -> npt.NDArray[np.float64]:
    """Decode interleaved samples to float64 in [-1, 1)."""
    if tag == _WAVE_FORMAT_PCM:
        if bits == 8:  # 8-bit WAV is unsigned, centred on 128
            return (np.frombuffer(raw, np.uint8).astype(np.float64) - 128.0) / 128.0
        if bits == 16:
            return np.frombuffer(raw, "<i2").astype(np.float64) / 32768.0
        if bits == 24:
            b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
            value = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
            value = (value << 8) >> 8  # sign-extend from 24 bits
            return value.astype(np.float64) / 8388608.0
        if bits == 32:
            return np.frombuffer(raw, "<i4").astype(np.float64) / 2147483648.0
    elif tag == _WAVE_FORMAT_IEEE_FLOAT and bits in (32, 64):
        return np.frombuffer(raw, "<f4" if bits == 32 else "<f8").astype(np.float64)
    raise ConfigurationError(
        f"{path}: unsupported WAV encoding (format tag 0x{tag:04x}, {bits} bits); "
        "convert it to PCM, e.g. `sox in.wav -e signed-integer -b 16 out.wav`"
    )


class WavWriter:
    """Streams PCM audio to a WAV file with bounded memory; the header's sizes are fixed on :meth:`close`.

    Until then the sizes read 0, which readers such as sox and :func:`load_wav` take as "to the end".

    Args:
        path: where to write; the file is created or truncated.
        audio_format: the audio's format; PCM16 writes a 16-bit PCM WAV, μ-law/A-law write G.711 WAVs.
    """

    def __init__(self, path: str | PathLike[str], audio_format: AudioFormat = _PCM) -> None:
        self.path = Path(path)
        self.format = audio_format
        self.data_bytes = 0
        self._file: BinaryIO | None = self.path.open("wb")
        self._file.write(self._header(0))

    def _header(self, data_bytes: int) -> bytes:
        fmt = self.format
        tag = {AudioFormat.PCM16_24K: 1, AudioFormat.PCMA_8K: 6, AudioFormat.PCMU_8K: 7}[fmt]
        return struct.pack(
            "<4sI4s4sIHHIIHH4sI",
            b"RIFF",
            36 + data_bytes,
            b"WAVE",
            b"fmt ",
            16,
            tag,
            1,
            fmt.sample_rate,
            fmt.sample_rate * fmt.sample_width,
            fmt.sample_width,
            8 * fmt.sample_width,
            b"data",
            data_bytes,
        )

    def write(self, data: bytes) -> None:
        """Append audio to the file.

        Raises:
            ValueError: the writer is closed.
        """
        if self._file is None:
            raise ValueError(f"WavWriter for {self.path} is closed")
        self._file.write(data)
        self.data_bytes += len(data)

    def close(self) -> None:
        """Fix the header's sizes and close the file. Idempotent."""
        if self._file is None:
            return
        file, self._file = self._file, None
        try:
            if self.data_bytes & 1:
                file.write(b"\x00")  # RIFF pad byte; not counted in the data size
            file.seek(0)
            file.write(self._header(self.data_bytes))
        finally:
            file.close()

    def __enter__(self) -> WavWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
