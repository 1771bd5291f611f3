"""G.711 against a reference written from the ITU-T G.711 definition (not from audioop).

G.711 defines μ-law on 14-bit and A-law on 13-bit uniform PCM, by tables of decision values (where one
code's interval starts) and decoder outputs (the middle of the interval). The references below compute
those tables from the Recommendation's segment structure:

* μ-law, code ``16·e + m``: interval from ``(m + 16)·2^(e+1) − 33``, output ``(2m + 33)·2^e − 33``; all
  eight bits are inverted on the line, and the sign bit (before inversion) is 1 for positive.
* A-law, code ``16·e + m``: interval from ``2m`` (e = 0) or ``(m + 16)·2^e`` (e ≥ 1), output ``2m + 1`` or
  ``(2m + 33)·2^(e−1)``; the even bits are inverted on the line (XOR 0x55), sign bit 1 for positive.

16-bit samples are reduced to 14 / 13 bits by arithmetic shift (dropping the low bits), and the
magnitude of a negative value is taken as ``-x`` for μ-law and ``-x - 1`` for A-law, as in Sun's
``g711.c`` that audioop derives from. (ITU-T G.191's reference software forms the μ-law magnitude as
``-x - 1`` too, so it encodes some small negative samples one step differently; both decode the same.)
"""

import numpy as np
import numpy.typing as npt
import pytest

from rtvoice_codecs import (
    SILENCE_ALAW,
    SILENCE_ULAW,
    alaw_to_pcm16,
    pcm16_to_alaw,
    pcm16_to_ulaw,
    peak_pcm16,
    ulaw_to_pcm16,
)

ALL_CODES = bytes(range(256))
ALL_PCM16 = np.arange(-32768, 32768, dtype=np.int64)
ALL_PCM16_BYTES = ALL_PCM16.astype("<i2").tobytes()


def ulaw_decode_reference(code: int) -> int:
    c = code ^ 0xFF
    negative = c & 0x80
    e, m = (c >> 4) & 0x07, c & 0x0F
    magnitude = (((2 * m + 33) << e) - 33) * 4  # 14-bit decoder output, scaled to 16 bits
    return -magnitude if negative else magnitude


def alaw_decode_reference(code: int) -> int:
    c = code ^ 0x55
    positive = c & 0x80
    e, m = (c >> 4) & 0x07, c & 0x0F
    magnitude13 = 2 * m + 1 if e == 0 else (2 * m + 33) << (e - 1)
    magnitude = magnitude13 * 8
    return magnitude if positive else -magnitude


def ulaw_encode_reference(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    starts = np.array([((m + 16) << (e + 1)) - 33 for e in range(8) for m in range(16)])
    x14 = values >> 2
    negative = x14 < 0
    magnitude = np.where(negative, -x14, x14)
    code = np.searchsorted(starts, magnitude, side="right") - 1
    return (code | np.where(negative, 0x80, 0)) ^ 0xFF


def alaw_encode_reference(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    starts = np.array([2 * m if e == 0 else (m + 16) << e for e in range(8) for m in range(16)])
    x13 = values >> 3
    positive = x13 >= 0
    magnitude = np.where(positive, x13, -x13 - 1)
    code = np.searchsorted(starts, magnitude, side="right") - 1
    return (code | np.where(positive, 0x80, 0)) ^ 0x55


def _decode(pcm: bytes) -> list[int]:
    return [int(v) for v in np.frombuffer(pcm, "<i2")]


def test_ulaw_decodes_all_256_codes_as_g711_defines() -> None:
    assert _decode(ulaw_to_pcm16(ALL_CODES)) == [ulaw_decode_reference(c) for c in range(256)]


def test_alaw_decodes_all_256_codes_as_g711_defines() -> None:
    assert _decode(alaw_to_pcm16(ALL_CODES)) == [alaw_decode_reference(c) for c in range(256)]


def test_ulaw_has_two_zero_codes_and_alaw_none() -> None:
    decoded = _decode(ulaw_to_pcm16(ALL_CODES))
    assert [c for c in range(256) if decoded[c] == 0] == [0x7F, 0xFF]
    assert 0 not in _decode(alaw_to_pcm16(ALL_CODES))


def test_decoded_extremes_and_silence_codes() -> None:
    assert _decode(ulaw_to_pcm16(b"\x00\x80" + SILENCE_ULAW)) == [-32124, 32124, 0]
    assert _decode(alaw_to_pcm16(b"\x2a\xaa" + SILENCE_ALAW)) == [-32256, 32256, 8]


def test_ulaw_encodes_every_16_bit_value_as_the_reference() -> None:
    got = np.frombuffer(pcm16_to_ulaw(ALL_PCM16_BYTES), np.uint8).astype(np.int64)
    expected = ulaw_encode_reference(ALL_PCM16)
    mismatches = np.flatnonzero(got != expected)
    assert mismatches.size == 0, f"first mismatch at PCM {ALL_PCM16[mismatches[0]]}"


def test_alaw_encodes_every_16_bit_value_as_the_reference() -> None:
    got = np.frombuffer(pcm16_to_alaw(ALL_PCM16_BYTES), np.uint8).astype(np.int64)
    expected = alaw_encode_reference(ALL_PCM16)
    mismatches = np.flatnonzero(got != expected)
    assert mismatches.size == 0, f"first mismatch at PCM {ALL_PCM16[mismatches[0]]}"


@pytest.mark.parametrize(
    ("pcm", "code"),
    [
        # μ-law segment edges (14-bit decision values 31, 95 and 7903, times 4): the last value of one
        # step and the first of the next.
        (4 * 30 + 3, 0xF0),
        (4 * 31, 0xEF),
        (4 * 94 + 3, 0xE0),
        (4 * 95, 0xDF),
        (4 * 7902 + 3, 0x81),
        (4 * 7903, 0x80),
        (32767, 0x80),
        (-32768, 0x00),
    ],
)
def test_ulaw_segment_boundaries(pcm: int, code: int) -> None:
    assert pcm16_to_ulaw(int(pcm).to_bytes(2, "little", signed=True)) == bytes([code])


@pytest.mark.parametrize(
    ("pcm", "code"),
    [
        # A-law segment edges (13-bit decision values 32, 64, 2048 times 8).
        (8 * 31 + 7, 0x80 ^ 0x0F ^ 0x55),
        (8 * 32, 0x80 ^ 0x10 ^ 0x55),
        (8 * 63 + 7, 0x80 ^ 0x1F ^ 0x55),
        (8 * 64, 0x80 ^ 0x20 ^ 0x55),
        (8 * 2048, 0x80 ^ 0x70 ^ 0x55),
        (-1, 0x55),
        (-32768, 0x7F ^ 0x55),
    ],
)
def test_alaw_segment_boundaries(pcm: int, code: int) -> None:
    assert pcm16_to_alaw(int(pcm).to_bytes(2, "little", signed=True)) == bytes([code])


def test_ulaw_round_trip_of_every_code() -> None:
    again = pcm16_to_ulaw(ulaw_to_pcm16(ALL_CODES))
    # Every code survives decode + encode, except the "negative zero" 0x7F, which comes back as 0xFF.
    assert again == ALL_CODES.replace(b"\x7f", b"\xff")


def test_alaw_round_trip_of_every_code() -> None:
    assert pcm16_to_alaw(alaw_to_pcm16(ALL_CODES)) == ALL_CODES


def test_encoding_is_monotonic_in_the_decoded_value() -> None:
    # Quantisation never reorders samples: decode(encode(x)) is non-decreasing in x.
    for encode, decode in ((pcm16_to_ulaw, ulaw_to_pcm16), (pcm16_to_alaw, alaw_to_pcm16)):
        levels = np.frombuffer(decode(encode(ALL_PCM16_BYTES)), "<i2")
        assert bool(np.all(np.diff(levels.astype(np.int64)) >= 0))


@pytest.mark.parametrize("encode", [pcm16_to_ulaw, pcm16_to_alaw])
def test_odd_length_pcm_is_rejected(encode: object) -> None:
    assert callable(encode)
    with pytest.raises(ValueError, match="even number of bytes"):
        encode(b"\x00\x01\x02")


def test_lengths_and_empty_input() -> None:
    assert ulaw_to_pcm16(b"") == b"" == pcm16_to_ulaw(b"")
    assert alaw_to_pcm16(b"") == b"" == pcm16_to_alaw(b"")
    assert len(ulaw_to_pcm16(bytes(160))) == 320
    assert len(pcm16_to_alaw(bytes(320))) == 160


def test_peak_pcm16_is_the_largest_magnitude() -> None:
    samples = np.array([0, 5, -300, 299, -1], "<i2")
    assert peak_pcm16(samples.tobytes()) == 300
    assert peak_pcm16(b"") == 0
    assert peak_pcm16(np.array([-32768], "<i2").tobytes()) == 32768
    with pytest.raises(ValueError, match="even"):
        peak_pcm16(b"\x01")
