"""Sample rates, sample widths, silence bytes and 20 ms frame sizes, in one place.

The phone side of a call is 8 kHz G.711 (Twilio Media Streams sends 160 μ-law bytes every 20 ms); the
OpenAI Realtime side is 24 kHz PCM16 little-endian. Everything else in the project takes its numbers from
here rather than repeating ``160`` or ``960``.
"""

from typing import Final

__all__ = [
    "FRAME_BYTES_PCM16_8K",
    "FRAME_BYTES_PCM16_16K",
    "FRAME_BYTES_PCM16_24K",
    "FRAME_BYTES_ULAW_8K",
    "FRAME_MS",
    "FRAME_SAMPLES_8K",
    "FRAME_SAMPLES_16K",
    "FRAME_SAMPLES_24K",
    "PHONE_RATE",
    "RATE_8K",
    "RATE_16K",
    "RATE_24K",
    "RATE_48K",
    "REALTIME_RATE",
    "SAMPLE_WIDTH_G711",
    "SAMPLE_WIDTH_PCM16",
    "SILENCE_ALAW",
    "SILENCE_PCM16",
    "SILENCE_ULAW",
    "SUPPORTED_RATES",
]

RATE_8K: Final = 8000
RATE_16K: Final = 16000
RATE_24K: Final = 24000
RATE_48K: Final = 48000

PHONE_RATE: Final = RATE_8K
"""G.711 narrowband telephony (Twilio ``audio/x-mulaw``, ``sampleRate: 8000``)."""

REALTIME_RATE: Final = RATE_24K
"""OpenAI Realtime ``audio/pcm`` is 24 kHz mono PCM16 little-endian."""

SUPPORTED_RATES: Final = (RATE_8K, RATE_16K, RATE_24K, RATE_48K)
"""Rates the default FIR resampler converts between (any pair of them)."""

FRAME_MS: Final = 20
"""Twilio sends, and expects back, 20 ms frames."""

SAMPLE_WIDTH_PCM16: Final = 2
SAMPLE_WIDTH_G711: Final = 1

SILENCE_PCM16: Final = b"\x00\x00"
SILENCE_ULAW: Final = b"\xff"
"""μ-law code 0xFF decodes to 0 (0x7F is the other, "negative", zero)."""
SILENCE_ALAW: Final = b"\xd5"
"""A-law has no exact zero; 0xD5 is the smallest positive level (+8 in 16-bit PCM)."""

FRAME_SAMPLES_8K: Final = RATE_8K * FRAME_MS // 1000
FRAME_SAMPLES_16K: Final = RATE_16K * FRAME_MS // 1000
FRAME_SAMPLES_24K: Final = RATE_24K * FRAME_MS // 1000

FRAME_BYTES_ULAW_8K: Final = FRAME_SAMPLES_8K * SAMPLE_WIDTH_G711
FRAME_BYTES_PCM16_8K: Final = FRAME_SAMPLES_8K * SAMPLE_WIDTH_PCM16
FRAME_BYTES_PCM16_16K: Final = FRAME_SAMPLES_16K * SAMPLE_WIDTH_PCM16
FRAME_BYTES_PCM16_24K: Final = FRAME_SAMPLES_24K * SAMPLE_WIDTH_PCM16
