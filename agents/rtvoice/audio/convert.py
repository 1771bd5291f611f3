"""Converting device audio to PCM16 at 24 kHz: one stateful converter per stream.

Used where audio is converted in batches rather than frame by frame: the session converts a G.711
microphone's chunks as it sends them (see ``AudioInputDevice.session_format``) and the recorder converts
what it places on its timeline. Both rely on the converters giving the same bytes however the stream is
split (the FIR resampler's property), so a batch of three 20 ms frames converted at once is the same audio
as the three converted one by one, for a third of the cost.
"""

from __future__ import annotations

from rtvoice.audio.format import AudioFormat
from rtvoice_codecs import StreamResampler, alaw_to_pcm16, ulaw_to_pcm16

__all__ = ["ToPcm24", "can_convert"]


def can_convert(source: AudioFormat, target: AudioFormat) -> bool:
    """Whether :class:`ToPcm24` turns ``source`` into ``target`` (the same format, or anything to PCM16 24 kHz)."""
    return source is target or target is AudioFormat.PCM16_24K


class ToPcm24:
    """Converts one stream of device audio (PCM16 24 kHz, μ-law or A-law 8 kHz) to PCM16 at 24 kHz."""

    def __init__(self, audio_format: AudioFormat) -> None:
        self.format = audio_format
        self._resampler = None if audio_format is AudioFormat.PCM16_24K else StreamResampler(8000, 24000)

    def convert(self, audio: bytes) -> bytes:
        """The same audio as PCM16 at 24 kHz (stateful: chunks of one stream join without clicks)."""
        if self._resampler is None:
            return audio
        pcm = ulaw_to_pcm16(audio) if self.format is AudioFormat.PCMU_8K else alaw_to_pcm16(audio)
        return self._resampler.process(pcm)
