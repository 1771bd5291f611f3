"""G.711 μ-law and A-law, both directions, on bytes.

PCM is 16-bit signed little-endian, G.711 is one byte per sample. The work is done by ``audioop`` (stdlib
up to Python 3.12; the ``audioop-lts`` package restores the same module on 3.13+), which is a few hundred
nanoseconds per 20 ms frame. ``audioop`` uses the host byte order, so big-endian hosts swap around it.

How 16-bit samples reach G.711's 14-bit (μ-law) and 13-bit (A-law) inputs is outside G.711 itself;
``audioop`` drops the low bits by arithmetic shift (see ``tests/codecs/test_g711.py`` for the exact
reference it is checked against, all 65,536 inputs).
"""

import sys
import warnings

with warnings.catch_warnings():
    # Python 3.11/3.12 warn that stdlib audioop goes away in 3.13; audioop-lts keeps it importable there,
    # so the warning is not actionable for us (and pytest turns warnings into errors).
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

__all__ = ["alaw_to_pcm16", "pcm16_to_alaw", "pcm16_to_ulaw", "peak_pcm16", "ulaw_to_pcm16"]

_BIG_ENDIAN = sys.byteorder == "big"


def _check_pcm16(pcm: bytes) -> None:
    if len(pcm) % 2:
        raise ValueError(f"PCM16 input must have an even number of bytes, got {len(pcm)}")


def _native_pcm16(pcm: bytes) -> bytes:
    """Checked little-endian PCM16 in the host's byte order, as ``audioop`` reads it."""
    _check_pcm16(pcm)
    return audioop.byteswap(pcm, 2) if _BIG_ENDIAN else pcm


def ulaw_to_pcm16(data: bytes) -> bytes:
    """Decode G.711 μ-law to PCM16.

    Args:
        data: μ-law bytes, one per sample.

    Returns:
        PCM16 little-endian, two bytes per input byte.
    """
    pcm: bytes = audioop.ulaw2lin(data, 2)
    return audioop.byteswap(pcm, 2) if _BIG_ENDIAN else pcm


def pcm16_to_ulaw(pcm: bytes) -> bytes:
    """Encode PCM16 to G.711 μ-law.

    Args:
        pcm: PCM16 little-endian samples.

    Returns:
        μ-law bytes, one per sample.

    Raises:
        ValueError: If ``pcm`` has an odd number of bytes (half a sample).
    """
    out: bytes = audioop.lin2ulaw(_native_pcm16(pcm), 2)
    return out


def alaw_to_pcm16(data: bytes) -> bytes:
    """Decode G.711 A-law to PCM16.

    Args:
        data: A-law bytes, one per sample.

    Returns:
        PCM16 little-endian, two bytes per input byte.
    """
    pcm: bytes = audioop.alaw2lin(data, 2)
    return audioop.byteswap(pcm, 2) if _BIG_ENDIAN else pcm


def pcm16_to_alaw(pcm: bytes) -> bytes:
    """Encode PCM16 to G.711 A-law.

    Args:
        pcm: PCM16 little-endian samples.

    Returns:
        A-law bytes, one per sample.

    Raises:
        ValueError: If ``pcm`` has an odd number of bytes (half a sample).
    """
    out: bytes = audioop.lin2alaw(_native_pcm16(pcm), 2)
    return out


def peak_pcm16(pcm: bytes) -> int:
    """The largest absolute sample of PCM16 little-endian audio (0 for none), in C: about 1 µs a frame.

    Raises:
        ValueError: If ``pcm`` has an odd number of bytes (half a sample).
    """
    peak: int = audioop.max(_native_pcm16(pcm), 2)
    return peak
