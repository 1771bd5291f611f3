"""StreamResampler as a stream: any split gives the same bytes, lengths add up, flush/reset, validation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtvoice_codecs import SUPPORTED_RATES, Engine, SoxrQuality, StreamResampler, fir_design
from rtvoice_codecs.analysis import array_to_pcm16, pcm16_to_array

PAIRS = [(8000, 24000), (24000, 8000), (16000, 24000), (24000, 16000)]
ENGINES: list[Engine] = ["fir", "soxr"]
ALL_PAIRS = [(a, b) for a in SUPPORTED_RATES for b in SUPPORTED_RATES if a != b]


def ceil_ratio(n: int, in_rate: int, out_rate: int) -> int:
    return -(-n * out_rate // in_rate)


def feed(resampler: StreamResampler, pcm: bytes, sizes: list[int]) -> bytes:
    """Feed ``pcm`` in pieces of ``sizes`` samples (cycled; 0 means an empty call), then flush."""
    out = []
    i = k = 0
    while i < len(pcm):
        step = 2 * sizes[k % len(sizes)] if sizes else len(pcm)
        out.append(resampler.process(pcm[i : i + step]))
        i += step
        k += 1
        if k > 10 * len(pcm) + 10:  # only empty pieces: feed the rest at once
            out.append(resampler.process(pcm[i:]))
            break
    out.append(resampler.flush())
    return b"".join(out)


def even(data: bytes) -> bytes:
    return data[: len(data) & ~1]


@settings(max_examples=150, deadline=None)
@given(
    data=st.binary(max_size=4000).map(even),
    sizes=st.lists(st.integers(min_value=0, max_value=700), min_size=1, max_size=12),
    pair=st.sampled_from(PAIRS),
    engine=st.sampled_from(ENGINES),
)
def test_any_split_gives_the_same_output_as_one_call(
    data: bytes, sizes: list[int], pair: tuple[int, int], engine: Engine
) -> None:
    whole = feed(StreamResampler(*pair, engine=engine), data, [])
    assert feed(StreamResampler(*pair, engine=engine), data, sizes) == whole


@settings(max_examples=100, deadline=None)
@given(
    data=st.binary(max_size=3000).map(even),
    sizes=st.lists(st.integers(min_value=0, max_value=500), min_size=1, max_size=12),
    pair=st.sampled_from(ALL_PAIRS),
)
def test_fir_lengths_add_up(data: bytes, sizes: list[int], pair: tuple[int, int]) -> None:
    in_rate, out_rate = pair
    resampler = StreamResampler(in_rate, out_rate)
    fed = emitted = 0
    i = k = 0
    while i < len(data):
        piece = data[i : i + 2 * sizes[k % len(sizes)]]
        i, k = i + len(piece), k + 1
        if k > 10 * len(data):
            break
        emitted += len(resampler.process(piece)) // 2
        fed += len(piece) // 2
        # Nothing is held back: every input sample's outputs come out at once.
        assert emitted == ceil_ratio(fed, in_rate, out_rate)
    tail = len(resampler.flush()) // 2
    assert tail == (fir_design(in_rate, out_rate).delay_out if fed else 0)


@settings(max_examples=60, deadline=None)
@given(
    samples=st.integers(min_value=0, max_value=3000),
    sizes=st.lists(st.integers(min_value=0, max_value=500), min_size=1, max_size=12),
    pair=st.sampled_from(PAIRS),
    quality=st.sampled_from(["QQ", "LQ", "MQ", "HQ", "VHQ"]),
)
def test_soxr_lengths_add_up(
    samples: int, sizes: list[int], pair: tuple[int, int], quality: SoxrQuality
) -> None:
    in_rate, out_rate = pair
    out = feed(StreamResampler(in_rate, out_rate, engine="soxr", quality=quality), bytes(2 * samples), sizes)
    # soxr returns round(n × out / in) samples once flushed (halves round up).
    assert len(out) // 2 == (2 * samples * out_rate + in_rate) // (2 * in_rate)


@pytest.mark.parametrize(("in_rate", "out_rate"), PAIRS)
def test_one_sample_at_a_time_equals_one_call(in_rate: int, out_rate: int) -> None:
    rng = np.random.default_rng(5)
    pcm = array_to_pcm16(rng.normal(0.0, 8000.0, 301))
    assert feed(StreamResampler(in_rate, out_rate), pcm, [1]) == feed(
        StreamResampler(in_rate, out_rate), pcm, []
    )


def test_empty_input_gives_empty_output_and_no_tail() -> None:
    for engine in ENGINES:
        resampler = StreamResampler(8000, 24000, engine=engine)
        assert resampler.process(b"") == b""
        assert resampler.flush() == b""


def test_one_frame_in_gives_one_frame_out() -> None:
    up, down = StreamResampler(8000, 24000), StreamResampler(24000, 8000)
    for _ in range(3):
        assert len(up.process(bytes(320))) == 960
        assert len(down.process(bytes(960))) == 320


def test_impulse_comes_out_after_the_declared_delay() -> None:
    for in_rate, out_rate in ALL_PAIRS:
        resampler = StreamResampler(in_rate, out_rate)
        impulse = np.zeros(in_rate // 100)
        impulse[0] = 20000.0
        out = pcm16_to_array(resampler.process(array_to_pcm16(impulse)) + resampler.flush())
        peak_ms = 1000 * int(np.argmax(np.abs(out))) / out_rate
        assert peak_ms == pytest.approx(resampler.delay_ms, abs=1000 / out_rate), (in_rate, out_rate)


def test_flush_starts_a_fresh_stream_and_reset_drops_state() -> None:
    rng = np.random.default_rng(9)
    a, b = (array_to_pcm16(rng.normal(0.0, 5000.0, 777)) for _ in range(2))
    for engine in ENGINES:
        fresh = StreamResampler(24000, 8000, engine=engine)
        expected = fresh.process(b) + fresh.flush()
        used = StreamResampler(24000, 8000, engine=engine)
        used.process(a)
        used.flush()
        assert used.process(b) + used.flush() == expected
        used.process(a)
        used.reset()
        assert used.process(b) + used.flush() == expected


def test_full_scale_input_saturates_instead_of_wrapping() -> None:
    # A full-scale square wave rings past full scale through any band-limiting filter.
    square = np.tile(np.r_[np.full(12, 32767.0), np.full(12, -32768.0)], 40)
    for engine in ENGINES:
        resampler = StreamResampler(24000, 8000, engine=engine)
        out = pcm16_to_array(resampler.process(array_to_pcm16(square)) + resampler.flush())
        assert np.max(out) == 32767.0 and np.min(out) == -32768.0
        # Wrapping would put large values of the wrong sign next to each other.
        assert np.abs(np.diff(out)).max() < 65535


def test_pass_through() -> None:
    resampler = StreamResampler(24000, 24000)
    assert resampler.process(b"\x01\x02\x03\x04") == b"\x01\x02\x03\x04"
    assert resampler.flush() == b""
    assert resampler.delay_ms == 0.0


def test_delay_ms() -> None:
    assert StreamResampler(8000, 24000).delay_ms == pytest.approx(2.0)
    assert StreamResampler(24000, 8000).delay_ms == pytest.approx(2.0)
    assert StreamResampler(16000, 24000).delay_ms == pytest.approx(1.0)
    soxr = StreamResampler(8000, 24000, engine="soxr", quality="VHQ")
    soxr.process(bytes(320))
    assert soxr.delay_ms > 10.0  # VHQ holds back far more than a 20 ms frame's worth at first


def test_properties() -> None:
    resampler = StreamResampler(8000, 24000, engine="soxr", quality="LQ")
    assert (resampler.in_rate, resampler.out_rate, resampler.engine, resampler.quality) == (
        8000,
        24000,
        "soxr",
        "LQ",
    )
    assert StreamResampler(8000, 24000, engine="soxr").quality == "HQ"
    assert StreamResampler(8000, 24000).quality is None


def test_soxr_engine_accepts_other_rates() -> None:
    resampler = StreamResampler(44100, 8000, engine="soxr")
    assert len(resampler.process(bytes(2 * 44100)) + resampler.flush()) == 2 * 8000


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((44100, 8000), {}, "FIR resampler"),
        ((8000, 22050), {}, "FIR resampler"),
        ((0, 8000), {}, "in_rate"),
        ((8000, -1), {}, "out_rate"),
        ((8000.0, 24000), {}, "in_rate"),
        ((True, 24000), {}, "in_rate"),
        ((8000, 24000), {"engine": "scipy"}, "engine"),
        ((8000, 24000), {"quality": "VHQ"}, "quality applies"),
        ((8000, 24000), {"engine": "soxr", "quality": "best"}, "soxr quality"),
    ],
)
def test_invalid_arguments(args: tuple[object, object], kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        StreamResampler(*args, **kwargs)  # type: ignore[arg-type]


def test_odd_byte_count_is_rejected() -> None:
    with pytest.raises(ValueError, match="even number of bytes"):
        StreamResampler(8000, 24000).process(b"\x00\x01\x02")


def test_fir_design_rejects_unsupported_pairs() -> None:
    with pytest.raises(ValueError):
        fir_design(8000, 8000)
    with pytest.raises(ValueError):
        fir_design(8000, 44100)


def test_the_fallback_clip_saturates_like_numpys_clip_ufunc() -> None:
    """Where numpy's clip ufunc is not reachable, rounding and saturation give the same samples."""
    from rtvoice_codecs import resample

    y = np.array([-1e6, -32768.6, -32768.4, -0.5, 0.0, 12.5, 32766.6, 32767.4, 1e6])
    low, high = np.array(-32768.0), np.array(32767.0)
    expected = np.array([-32768.0, -32768.0, -32768.0, -0.5, 0.0, 12.5, 32766.6, 32767.0, 32767.0])
    assert np.array_equal(resample._clip_two_ufuncs(y.copy(), low, high, out=np.empty_like(y)), expected)
    assert np.array_equal(resample._clip(y.copy(), low, high, out=np.empty_like(y)), expected)
