"""FrameChunker: exact frames with carry-over, silence padding on flush; frame_bytes and the constants."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtvoice_codecs import (
    FRAME_BYTES_PCM16_8K,
    FRAME_BYTES_PCM16_16K,
    FRAME_BYTES_PCM16_24K,
    FRAME_BYTES_ULAW_8K,
    FRAME_SAMPLES_8K,
    FRAME_SAMPLES_24K,
    Encoding,
    FrameChunker,
    bytes_per_sample,
    frame_bytes,
    silence_sample,
)


@pytest.mark.parametrize(
    ("rate", "width", "ms", "size"),
    [
        (8000, 1, 20, 160),
        (8000, 2, 20, 320),
        (16000, 2, 20, 640),
        (24000, 2, 20, 960),
        (48000, 2, 20, 1920),
        (44100, 2, 20, 1764),
        (8000, 1, 10, 80),
        (24000, 2, 100, 4800),
        (8000, 4, 20, 640),
    ],
)
def test_frame_bytes(rate: int, width: int, ms: int, size: int) -> None:
    assert frame_bytes(rate, width, ms) == size


def test_frame_bytes_defaults_to_20_ms() -> None:
    assert frame_bytes(8000, 1) == 160


@pytest.mark.parametrize(
    ("rate", "width", "ms"),
    [(11025, 2, 20), (0, 2, 20), (8000, 0, 20), (8000, 2, 0), (-8000, 2, 20), (8000, True, 20)],
)
def test_frame_bytes_rejects_bad_arguments(rate: int, width: int, ms: int) -> None:
    with pytest.raises(ValueError):
        frame_bytes(rate, width, ms)


def test_constants_agree_with_frame_bytes() -> None:
    assert FRAME_BYTES_ULAW_8K == frame_bytes(8000, 1) == FRAME_SAMPLES_8K
    assert FRAME_BYTES_PCM16_8K == frame_bytes(8000, 2)
    assert FRAME_BYTES_PCM16_16K == frame_bytes(16000, 2)
    assert FRAME_BYTES_PCM16_24K == frame_bytes(24000, 2) == 2 * FRAME_SAMPLES_24K


@pytest.mark.parametrize(
    ("encoding", "width", "one"), [("pcm16", 2, b"\x00\x00"), ("ulaw", 1, b"\xff"), ("alaw", 1, b"\xd5")]
)
def test_encoding_properties(encoding: Encoding, width: int, one: bytes) -> None:
    assert bytes_per_sample(encoding) == width
    assert silence_sample(encoding) == one


def test_unknown_encoding_is_rejected() -> None:
    with pytest.raises(ValueError, match="encoding"):
        bytes_per_sample("opus")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="encoding"):
        silence_sample("opus")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="encoding"):
        FrameChunker.for_encoding("opus", 8000)  # type: ignore[arg-type]


def test_carry_over_between_pushes() -> None:
    chunker = FrameChunker.for_encoding("ulaw", 8000)
    data = bytes(range(256)) * 2  # 512 bytes
    assert chunker.push(data[:100]) == []
    assert chunker.pending == 100
    assert chunker.push(data[100:350]) == [data[:160], data[160:320]]
    assert chunker.pending == 30
    assert chunker.push(data[350:]) == [data[320:480]]
    assert chunker.pending == 32


def test_a_whole_frame_passes_straight_through() -> None:
    chunker = FrameChunker(320)
    frame = bytes(range(160)) * 2
    out = chunker.push(frame)
    assert out == [frame]
    assert type(out[0]) is bytes
    assert chunker.pending == 0


@pytest.mark.parametrize(("encoding", "pad"), [("pcm16", b"\x00"), ("ulaw", b"\xff"), ("alaw", b"\xd5")])
def test_flush_pads_the_last_frame_with_silence(encoding: Encoding, pad: bytes) -> None:
    chunker = FrameChunker.for_encoding(encoding, 8000)
    chunker.push(b"\x11" * (chunker.frame_size + 10))
    (last,) = chunker.flush()
    assert last == b"\x11" * 10 + pad * (chunker.frame_size - 10)
    assert chunker.pending == 0
    assert chunker.flush() == []


def test_flush_completes_a_half_sample_with_the_rest_of_the_silence_pattern() -> None:
    chunker = FrameChunker(8, silence=b"\x01\x02")
    chunker.push(b"\xaa\xbb\xcc")
    assert chunker.flush() == [b"\xaa\xbb\xcc\x02\x01\x02\x01\x02"]


def test_flush_of_nothing_and_reset() -> None:
    chunker = FrameChunker.for_encoding("pcm16", 24000)
    assert chunker.flush() == []
    chunker.push(bytes(100))
    chunker.reset()
    assert chunker.pending == 0
    assert chunker.flush() == []


def test_constructor_validation() -> None:
    with pytest.raises(ValueError):
        FrameChunker(0)
    with pytest.raises(ValueError):
        FrameChunker(3, silence=b"\x00\x00")
    with pytest.raises(ValueError):
        FrameChunker(4, silence=b"")
    with pytest.raises(ValueError):
        FrameChunker.for_encoding("pcm16", 11025)


@given(
    data=st.binary(max_size=3000),
    cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=20),
    frame_size=st.sampled_from([160, 320, 960, 7]),
)
def test_any_split_gives_the_same_frames(data: bytes, cuts: list[int], frame_size: int) -> None:
    chunker = FrameChunker(frame_size, silence=b"\xee")
    bounds = sorted({0, len(data), *(c for c in cuts if c <= len(data))})
    frames: list[bytes] = []
    for start, end in zip(bounds, bounds[1:], strict=False):
        frames += chunker.push(data[start:end])
        assert chunker.pending < frame_size
    frames += chunker.flush()
    whole, rest = divmod(len(data), frame_size)
    assert all(len(f) == frame_size for f in frames)
    assert len(frames) == whole + (1 if rest else 0)
    padded = data + b"\xee" * ((frame_size - rest) % frame_size)
    assert b"".join(frames) == padded
