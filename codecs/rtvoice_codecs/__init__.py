"""rtvoice_codecs: pure audio code for the phone path (G.711, stateful resampling, 20 ms framing).

No asyncio and no I/O here: every function takes bytes and returns bytes, and streaming state lives in
explicit objects. PCM is always 16-bit signed little-endian mono.

    >>> from rtvoice_codecs import FrameChunker, StreamResampler, pcm16_to_ulaw, ulaw_to_pcm16
    >>> up = StreamResampler(8000, 24000)        # phone -> Realtime, 2 ms delay, nothing held back
    >>> len(up.process(ulaw_to_pcm16(b"\\xff" * 160)))
    960
    >>> down = StreamResampler(24000, 8000)      # Realtime -> phone
    >>> frames = FrameChunker.for_encoding("ulaw", 8000)
    >>> [len(f) for f in frames.push(pcm16_to_ulaw(down.process(bytes(1920))))]
    [160, 160]
"""

from rtvoice_codecs.constants import (
    FRAME_BYTES_PCM16_8K,
    FRAME_BYTES_PCM16_16K,
    FRAME_BYTES_PCM16_24K,
    FRAME_BYTES_ULAW_8K,
    FRAME_MS,
    FRAME_SAMPLES_8K,
    FRAME_SAMPLES_16K,
    FRAME_SAMPLES_24K,
    PHONE_RATE,
    RATE_8K,
    RATE_16K,
    RATE_24K,
    RATE_48K,
    REALTIME_RATE,
    SAMPLE_WIDTH_G711,
    SAMPLE_WIDTH_PCM16,
    SILENCE_ALAW,
    SILENCE_PCM16,
    SILENCE_ULAW,
    SUPPORTED_RATES,
)
from rtvoice_codecs.frames import Encoding, FrameChunker, bytes_per_sample, frame_bytes, silence_sample
from rtvoice_codecs.g711 import alaw_to_pcm16, pcm16_to_alaw, pcm16_to_ulaw, peak_pcm16, ulaw_to_pcm16
from rtvoice_codecs.resample import (
    FIR_KERNEL,
    Engine,
    FirDesign,
    FirKernel,
    SoxrQuality,
    StreamResampler,
    fir_design,
)

__all__ = [
    "FIR_KERNEL",
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
    "Encoding",
    "Engine",
    "FirDesign",
    "FirKernel",
    "FrameChunker",
    "SoxrQuality",
    "StreamResampler",
    "alaw_to_pcm16",
    "bytes_per_sample",
    "fir_design",
    "frame_bytes",
    "pcm16_to_alaw",
    "pcm16_to_ulaw",
    "peak_pcm16",
    "silence_sample",
    "ulaw_to_pcm16",
]
