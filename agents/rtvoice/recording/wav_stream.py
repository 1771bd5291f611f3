"""A WAV file that is complete and valid after every write, so a crash never leaves a broken recording.

The file is a canonical 44-byte-header RIFF/WAVE file of 16-bit PCM. After each :meth:`write` the frames
are appended first and then the whole header is rewritten with the new sizes in one ``write`` call at
offset 0, so at any instant the header's sizes describe at most the audio already in the file. A process
killed at any point (even between the two steps) leaves a WAV file that every reader opens, holding all
the audio the last completed header update counted. Both sizes change in a single small ``write``
rather than two 4-byte patches, so no reader can ever see one size updated without the other.

What this does not cover: a machine that loses power may lose what the OS had not yet written to disk
(nothing here calls ``fsync``; a recording is not worth a disk flush every 100 ms).
"""

from __future__ import annotations

import io
import struct
from os import PathLike
from pathlib import Path

from rtvoice.exceptions import ConfigurationError

__all__ = ["WavStreamWriter"]

_HEADER = struct.Struct("<4sI4s4sIHHIIHH4sI")
HEADER_BYTES = _HEADER.size  # 44
_WAVE_FORMAT_PCM = 1
_SAMPLE_WIDTH = 2
# RIFF sizes are 32-bit. Past this the header keeps its last value: readers then see the first ~4 GiB
# (about 12 hours of 24 kHz mono), which beats wrapping around to a tiny size.
_MAX_DATA_BYTES = 0xFFFFFFFF - (HEADER_BYTES - 8)


class WavStreamWriter:
    """Streams 16-bit PCM frames to a WAV file whose header is current after every write.

    Args:
        path: the file to create (an existing file is truncated).
        sample_rate: frames per second.
        channels: interleaved channels per frame (1 mono, 2 stereo).

    Raises:
        ConfigurationError: ``sample_rate`` or ``channels`` is not a positive whole number.
        OSError: the file cannot be created.
    """

    def __init__(self, path: str | PathLike[str], *, sample_rate: int, channels: int) -> None:
        for name, value in (("sample_rate", sample_rate), ("channels", channels)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigurationError(f"{name} must be a positive whole number, not {value!r}")
        self._path = Path(path)
        self._rate = sample_rate
        self._channels = channels
        self._frame_bytes = _SAMPLE_WIDTH * channels
        self._data_bytes = 0
        # Unbuffered: every write goes to the OS at once, so what the header counts is in the file.
        self._file: io.FileIO | None = io.FileIO(self._path, "wb")
        try:
            self._write_all(self._header())
        except BaseException:
            self._file.close()
            self._file = None
            raise

    @property
    def path(self) -> Path:
        """The file being written."""
        return self._path

    @property
    def sample_rate(self) -> int:
        """Frames per second."""
        return self._rate

    @property
    def channels(self) -> int:
        """Channels per frame."""
        return self._channels

    @property
    def frame_bytes(self) -> int:
        """Bytes per frame (2 per channel)."""
        return self._frame_bytes

    @property
    def bytes_written(self) -> int:
        """Audio bytes in the file (the header not included)."""
        return self._data_bytes

    @property
    def frames_written(self) -> int:
        """Frames in the file."""
        return self._data_bytes // self._frame_bytes

    @property
    def duration_ms(self) -> float:
        """Milliseconds of audio in the file."""
        return self.frames_written * 1000 / self._rate

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._file is None

    def write(self, frames: bytes | bytearray | memoryview) -> None:
        """Append whole frames and bring the header up to date.

        Raises:
            ValueError: the writer is closed, or ``frames`` is not a whole number of frames.
            OSError: writing failed (disk full, ...); the file stays valid up to the previous write.
        """
        if self._file is None:
            raise ValueError(f"WavStreamWriter for {self._path} is closed")
        data = memoryview(frames).cast("B")
        if len(data) % self._frame_bytes:
            raise ValueError(f"{len(data)} bytes is not a whole number of {self._frame_bytes}-byte frames")
        if not data:
            return
        self._write_all(data)
        self._data_bytes += len(data)
        # Data first, header second: the header never counts audio that is not in the file yet.
        self._file.seek(0)
        self._write_all(self._header())
        self._file.seek(0, 2)

    def close(self) -> None:
        """Close the file; the header is already current. Idempotent."""
        file, self._file = self._file, None
        if file is not None:
            file.close()

    def __enter__(self) -> WavStreamWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _header(self) -> bytes:
        data_bytes = min(self._data_bytes, _MAX_DATA_BYTES)
        return _HEADER.pack(
            b"RIFF",
            HEADER_BYTES - 8 + data_bytes,
            b"WAVE",
            b"fmt ",
            16,
            _WAVE_FORMAT_PCM,
            self._channels,
            self._rate,
            self._rate * self._frame_bytes,
            self._frame_bytes,
            8 * _SAMPLE_WIDTH,
            b"data",
            data_bytes,
        )

    def _write_all(self, data: bytes | memoryview) -> None:
        assert self._file is not None
        view = memoryview(data)
        while view:
            # A raw file may accept only part of a write (rare on regular files); never lose the rest.
            view = view[self._file.write(view) :]
