"""Re-chunking arbitrary byte runs into exact 20 ms frames.

Twilio plays whatever it is sent, but small or irregular outbound chunks stutter at word starts
(openai-agents-python #1906) and some Twilio-compatible carriers require multiples of 160 bytes, so the
phone side always sends whole 20 ms frames. :class:`FrameChunker` carries the remainder of each push over
to the next and, on :meth:`FrameChunker.flush`, pads the last short frame with the encoding's silence.
"""

from typing import Literal, get_args

from rtvoice_codecs.constants import (
    FRAME_MS,
    SAMPLE_WIDTH_G711,
    SAMPLE_WIDTH_PCM16,
    SILENCE_ALAW,
    SILENCE_PCM16,
    SILENCE_ULAW,
)

__all__ = ["Encoding", "FrameChunker", "bytes_per_sample", "frame_bytes", "silence_sample"]

Encoding = Literal["pcm16", "ulaw", "alaw"]

_WIDTH: dict[Encoding, int] = {
    "pcm16": SAMPLE_WIDTH_PCM16,
    "ulaw": SAMPLE_WIDTH_G711,
    "alaw": SAMPLE_WIDTH_G711,
}
_SILENCE: dict[Encoding, bytes] = {"pcm16": SILENCE_PCM16, "ulaw": SILENCE_ULAW, "alaw": SILENCE_ALAW}


def _check_encoding(encoding: Encoding) -> None:
    if encoding not in _WIDTH:
        raise ValueError(f"encoding must be one of {get_args(Encoding)}, got {encoding!r}")


def bytes_per_sample(encoding: Encoding) -> int:
    """Bytes per sample of ``encoding`` (2 for PCM16, 1 for G.711).

    Raises:
        ValueError: For an unknown encoding.
    """
    _check_encoding(encoding)
    return _WIDTH[encoding]


def silence_sample(encoding: Encoding) -> bytes:
    """One sample of silence in ``encoding``: ``00 00`` (PCM16), ``FF`` (μ-law), ``D5`` (A-law).

    Raises:
        ValueError: For an unknown encoding.
    """
    _check_encoding(encoding)
    return _SILENCE[encoding]


def frame_bytes(rate: int, sample_width: int, ms: int = FRAME_MS) -> int:
    """Size in bytes of a mono frame of ``ms`` milliseconds.

    Args:
        rate: Sample rate in Hz.
        sample_width: Bytes per sample.
        ms: Frame duration in milliseconds (20 for Twilio).

    Returns:
        ``rate * ms / 1000 * sample_width``, e.g. 160 for 8 kHz μ-law, 960 for 24 kHz PCM16.

    Raises:
        ValueError: If an argument is not a positive integer or the frame is not a whole number of
            samples (11025 Hz at 20 ms would be 220.5).
    """
    for name, value in (("rate", rate), ("sample_width", sample_width), ("ms", ms)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    samples, remainder = divmod(rate * ms, 1000)
    if remainder:
        raise ValueError(f"{ms} ms at {rate} Hz is not a whole number of samples")
    return samples * sample_width


class FrameChunker:
    """Turns byte runs of any length into frames of exactly ``frame_size`` bytes.

    Example:
        >>> chunker = FrameChunker.for_encoding("ulaw", 8000)  # 160-byte frames, pads with 0xFF
        >>> [len(f) for f in chunker.push(bytes(400))]
        [160, 160]
        >>> chunker.pending
        80
        >>> [len(f) for f in chunker.flush()]
        [160]
    """

    __slots__ = ("_buffer", "_frame_size", "_silence")

    def __init__(self, frame_size: int, silence: bytes = SILENCE_PCM16) -> None:
        """Create a chunker.

        Args:
            frame_size: Bytes per frame.
            silence: One sample of silence; repeated to pad the final frame. Its length must divide
                ``frame_size``.

        Raises:
            ValueError: If ``frame_size`` is not positive or ``silence`` does not divide it.
        """
        if isinstance(frame_size, bool) or not isinstance(frame_size, int) or frame_size <= 0:
            raise ValueError(f"frame_size must be a positive integer, got {frame_size!r}")
        if not silence or frame_size % len(silence):
            raise ValueError(f"silence ({len(silence)} bytes) must be one sample dividing {frame_size}")
        self._frame_size = frame_size
        self._silence = bytes(silence)
        self._buffer = bytearray()

    @classmethod
    def for_encoding(cls, encoding: Encoding, rate: int, ms: int = FRAME_MS) -> "FrameChunker":
        """A chunker for ``ms``-millisecond frames of ``encoding`` at ``rate``, padding with its silence.

        Raises:
            ValueError: For an unknown encoding or a frame that is not a whole number of samples.
        """
        _check_encoding(encoding)
        return cls(frame_bytes(rate, _WIDTH[encoding], ms), _SILENCE[encoding])

    @property
    def frame_size(self) -> int:
        """Bytes per frame."""
        return self._frame_size

    @property
    def pending(self) -> int:
        """Bytes carried over, waiting for the rest of their frame (always less than ``frame_size``)."""
        return len(self._buffer)

    def push(self, data: bytes) -> list[bytes]:
        """Add bytes; return every frame now complete, oldest first.

        Args:
            data: Any number of bytes (need not be whole samples or frames).

        Returns:
            Zero or more frames of exactly ``frame_size`` bytes; the remainder is carried over.
        """
        size = self._frame_size
        buffer = self._buffer
        if not buffer and len(data) == size:
            return [bytes(data)]  # the common case: a frame in, the same frame out
        buffer += data
        whole = len(buffer) - len(buffer) % size
        if not whole:
            return []
        frames = [bytes(buffer[i : i + size]) for i in range(0, whole, size)]
        del buffer[:whole]
        return frames

    def flush(self) -> list[bytes]:
        """Return the carried-over bytes as one final frame padded with silence (none if nothing is left).

        The padding continues the silence pattern from the current byte offset, so a half sample left in
        the buffer is completed rather than shifted.

        Returns:
            ``[]`` or one frame of exactly ``frame_size`` bytes.
        """
        if not self._buffer:
            return []
        missing = self._frame_size - len(self._buffer)
        width = len(self._silence)
        offset = len(self._buffer) % width
        pad = (self._silence * (missing // width + 2))[offset : offset + missing]
        frame = bytes(self._buffer) + pad
        self._buffer.clear()
        return [frame]

    def reset(self) -> None:
        """Drop the carried-over bytes (e.g. on barge-in, when queued audio is discarded)."""
        self._buffer.clear()
