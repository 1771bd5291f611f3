"""Audio formats a device can speak, and the arithmetic between bytes, samples and milliseconds.

The Realtime API knows three formats (``audio.input.format`` / ``audio.output.format``): 16-bit PCM at
24 kHz, and G.711 μ-law or A-law at 8 kHz. Devices declare theirs through their ``format`` property; the
agent sends the matching wire object (:meth:`AudioFormat.to_wire`) so no transcoding is needed.

All three are mono and little-endian, and every sample is a whole number of bytes, so durations follow
from byte counts alone.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from openai.types.realtime.realtime_audio_formats_param import RealtimeAudioFormatsParam

from rtvoice.exceptions import ConfigurationError

__all__ = ["AudioFormat"]


class AudioFormat(Enum):
    """A mono audio format the Realtime API accepts.

    Each member knows its wire ``type``, sample rate and sample width::

        >>> AudioFormat.PCM16_24K.bytes_per_ms
        48
        >>> AudioFormat.PCMU_8K.ms_for(160)
        20.0
        >>> AudioFormat.PCMU_8K.silence(1)
        b'\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff'
    """

    wire_type: str
    sample_rate: int
    sample_width: int
    silence_byte: int

    # value: (wire type, sample rate in Hz, bytes per sample, byte of digital silence)
    PCM16_24K = ("audio/pcm", 24000, 2, 0x00)
    """16-bit signed little-endian PCM at 24 kHz: 48 bytes per millisecond."""
    PCMU_8K = ("audio/pcmu", 8000, 1, 0xFF)
    """G.711 μ-law at 8 kHz: 8 bytes per millisecond; 0xFF is the code for zero."""
    PCMA_8K = ("audio/pcma", 8000, 1, 0xD5)
    """G.711 A-law at 8 kHz: 8 bytes per millisecond; 0xD5 is the code closest to zero."""

    def __init__(self, wire_type: str, sample_rate: int, sample_width: int, silence_byte: int) -> None:
        self.wire_type = wire_type
        self.sample_rate = sample_rate
        self.sample_width = sample_width
        self.silence_byte = silence_byte

    @property
    def bytes_per_ms(self) -> int:
        """Bytes per millisecond of audio (48 for PCM16 at 24 kHz, 8 for G.711)."""
        return self.sample_rate * self.sample_width // 1000

    def ms_for(self, nbytes: int) -> float:
        """Return how many milliseconds of audio ``nbytes`` bytes hold."""
        return nbytes / self.bytes_per_ms

    def bytes_for(self, ms: float) -> int:
        """Return the byte count of ``ms`` milliseconds, rounded to whole samples."""
        samples = round(ms * self.sample_rate / 1000)
        return samples * self.sample_width

    def silence(self, ms: float) -> bytes:
        """Return ``ms`` milliseconds of digital silence in this format (rounded to whole samples)."""
        return bytes([self.silence_byte]) * self.bytes_for(ms)

    def to_wire(self) -> RealtimeAudioFormatsParam:
        """Return the GA wire object, e.g. ``{"type": "audio/pcm", "rate": 24000}``."""
        if self is AudioFormat.PCM16_24K:
            return {"type": "audio/pcm", "rate": 24000}
        if self is AudioFormat.PCMU_8K:
            return {"type": "audio/pcmu"}
        return {"type": "audio/pcma"}

    @classmethod
    def from_wire(cls, wire: Any) -> AudioFormat:
        """Return the format a wire object names (the inverse of :meth:`to_wire`).

        Accepts a dict as sent or received in ``session.update``/``session.updated``, or the SDK's model
        of it (anything with ``type`` and optional ``rate`` attributes).

        Raises:
            ConfigurationError: an unknown type, or PCM at a rate other than 24 kHz.
        """
        if isinstance(wire, dict):
            kind, rate = wire.get("type"), wire.get("rate")
        else:
            kind, rate = getattr(wire, "type", None), getattr(wire, "rate", None)
        for member in cls:
            if member.wire_type == kind:
                # The API only does PCM at 24 kHz; a missing rate means that default.
                if rate is not None and rate != member.sample_rate:
                    raise ConfigurationError(f"unsupported rate {rate!r} for {kind}")
                return member
        raise ConfigurationError(f"unknown audio format {wire!r}")
