"""A WAV file that stays valid while it is written, so a crash never leaves a broken recording.

The file is a canonical 44-byte-header RIFF/WAVE file of 16-bit PCM. Frames given to :meth:`write` are
collected in memory and appended to the file in blocks of at least ``write_every_ms`` of audio; after a
block is appended, the whole header is rewritten with the new sizes in one ``write`` call at offset 0
once the file holds ``header_every_ms`` of audio more than the header counts. So at any instant the
header's sizes describe at most the audio already in the file: a process killed at any point (even
between the two steps) leaves a WAV file that every reader opens, holding all the audio the last header
update counted, which lacks less than ``write_every_ms + header_every_ms`` of what was given to
:meth:`write`. Both sizes change in a single small ``write`` rather than two 4-byte patches, so no reader
can ever see one size updated without the other. With both steps at 0 (the default) every :meth:`write`
goes to the file and updates the header at once.

Why blocks: a 20 ms chunk written on its own costs four system calls (data, seek, header, seek); written
every 200 ms with the header every ~second, the recording costs about 6 system calls per second of audio
instead of 200.

What this does not cover: a machine that loses power may lose what the OS had not yet written to disk
(nothing here calls ``fsync``; a recording is not worth a disk flush every second).
"""

from __future__ import annotations

import io
import math
import os
import struct
from collections.abc import Callable
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
# Unix: rewrite the header in place without moving the file position (elsewhere: seek, write, seek back).
_PWRITE: Callable[[int, memoryview, int], int] | None = getattr(os, "pwrite", None)


class WavStreamWriter:
    """Streams 16-bit PCM frames to a WAV file that a reader (or a crash) finds valid at every moment.

    Args:
        path: the file to create (an existing file is truncated).
        sample_rate: frames per second.
        channels: interleaved channels per frame (1 mono, 2 stereo).
        write_every_ms: collect at least this much audio before appending it to the file (0: every write).
        header_every_ms: rewrite the header once the file holds at least this much audio more than the
            header counts (0: after every block).

    Raises:
        ConfigurationError: ``sample_rate`` or ``channels`` is not a positive whole number, or a step is
            negative or not finite.
        OSError: the file cannot be created.
    """

    def __init__(
        self,
        path: str | PathLike[str],
        *,
        sample_rate: int,
        channels: int,
        write_every_ms: float = 0.0,
        header_every_ms: float = 0.0,
    ) -> None:
        for name, value in (("sample_rate", sample_rate), ("channels", channels)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigurationError(f"{name} must be a positive whole number, not {value!r}")
        self._frame_bytes = _SAMPLE_WIDTH * channels
        self._write_step = self._step_bytes("write_every_ms", write_every_ms, sample_rate)
        self._header_step = self._step_bytes("header_every_ms", header_every_ms, sample_rate)
        self._path = Path(path)
        self._rate = sample_rate
        self._channels = channels
        self._pending = bytearray()  # accepted, not yet in the file
        self._file_bytes = 0  # audio bytes in the file
        self._header_bytes = 0  # audio bytes the header counts
        # Unbuffered: each block goes to the OS at once, so what the header counts is in the file.
        self._file: io.FileIO | None = io.FileIO(self._path, "wb")
        try:
            self._write_all(self._header())
        except BaseException:
            self._file.close()
            self._file = None
            raise

    def _step_bytes(self, name: str, ms: float, rate: int) -> int:
        if isinstance(ms, bool) or not isinstance(ms, int | float) or not math.isfinite(ms) or ms < 0:
            raise ConfigurationError(f"{name} must be a finite, non-negative number of ms, not {ms!r}")
        return math.ceil(ms * rate / 1000) * self._frame_bytes

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
        """Audio bytes accepted by :meth:`write` (the header not included); all in the file after close."""
        return self._file_bytes + len(self._pending)

    @property
    def frames_written(self) -> int:
        """Frames accepted by :meth:`write`."""
        return self.bytes_written // self._frame_bytes

    @property
    def duration_ms(self) -> float:
        """Milliseconds of audio accepted by :meth:`write`."""
        return self.frames_written * 1000 / self._rate

    @property
    def committed_bytes(self) -> int:
        """Audio bytes the header counts now: what a reader sees, and what survives a crash."""
        return self._header_bytes

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._file is None

    def write(self, frames: bytes | bytearray | memoryview) -> None:
        """Accept whole frames; append them to the file and update the header when a step is due.

        Raises:
            ValueError: the writer is closed, or ``frames`` is not a whole number of frames.
            OSError: writing failed (disk full, ...); the file stays valid up to its last header update.
        """
        if self._file is None:
            raise ValueError(f"WavStreamWriter for {self._path} is closed")
        data = memoryview(frames).cast("B")
        if len(data) % self._frame_bytes:
            raise ValueError(f"{len(data)} bytes is not a whole number of {self._frame_bytes}-byte frames")
        if not self._pending and len(data) >= self._write_step:
            self._append(data)  # a block on its own: no copy
        else:
            self._pending += data
            if len(self._pending) >= self._write_step:
                block, self._pending = self._pending, bytearray()
                self._append(block)

    def flush(self) -> None:
        """Append everything accepted and bring the header up to date now.

        Raises:
            ValueError: the writer is closed.
            OSError: writing failed.
        """
        if self._file is None:
            raise ValueError(f"WavStreamWriter for {self._path} is closed")
        if self._pending:
            block, self._pending = self._pending, bytearray()
            self._append(block, header=True)
        elif self._header_bytes != self._file_bytes:
            self._update_header()

    def close(self) -> None:
        """Write what is still in memory, bring the header up to date and close the file. Idempotent.

        Raises:
            OSError: the last write failed; the file is closed anyway and valid up to its last header.
        """
        if self._file is None:
            return
        try:
            self.flush()
        finally:
            file, self._file = self._file, None
            file.close()

    def __enter__(self) -> WavStreamWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _append(self, data: bytes | bytearray | memoryview, *, header: bool = False) -> None:
        if not data:
            return
        self._write_all(data)
        self._file_bytes += len(data)
        # Data first, header second: the header never counts audio that is not in the file yet.
        if header or self._file_bytes - self._header_bytes >= self._header_step:
            self._update_header()

    def _update_header(self) -> None:
        assert self._file is not None
        header = memoryview(self._header())
        if _PWRITE is not None:  # one system call at offset 0; the file position stays at the end
            fd, done = self._file.fileno(), 0
            while done < len(header):
                done += _PWRITE(fd, header[done:], done)
        else:
            self._file.seek(0)
            self._write_all(header)
            self._file.seek(0, 2)
        self._header_bytes = self._file_bytes

    def _header(self) -> bytes:
        data_bytes = min(self._file_bytes, _MAX_DATA_BYTES)
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

    def _write_all(self, data: bytes | bytearray | memoryview) -> None:
        assert self._file is not None
        view = memoryview(data)
        while view:
            # A raw file may accept only part of a write (rare on regular files); never lose the rest.
            view = view[self._file.write(view) :]
