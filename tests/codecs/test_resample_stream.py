"""StreamResampler as a stream: any split gives the same bytes, lengths add up, flush/reset, validation.

The FIR engine runs on both of its kernels (the C kernel and numpy) wherever the C kernel was built.
"""

import os
import shutil
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtvoice_codecs import FIR_KERNEL, SUPPORTED_RATES, FirKernel, SoxrQuality, StreamResampler, fir_design
from rtvoice_codecs.analysis import array_to_pcm16, pcm16_to_array
from rtvoice_codecs.resample import default_kernel, load_kernel

PAIRS = [(8000, 24000), (24000, 8000), (16000, 24000), (24000, 16000)]
ALL_PAIRS = [(a, b) for a in SUPPORTED_RATES for b in SUPPORTED_RATES if a != b]
KERNELS: list[FirKernel] = ["c", "numpy"] if FIR_KERNEL == "c" else ["numpy"]
# Every way to build a resampler: the FIR engine on each kernel, and soxr.
ENGINES: list[dict[str, Any]] = [{"engine": "fir", "kernel": k} for k in KERNELS] + [{"engine": "soxr"}]


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
    data: bytes, sizes: list[int], pair: tuple[int, int], engine: dict[str, Any]
) -> None:
    whole = feed(StreamResampler(*pair, **engine), data, [])
    assert feed(StreamResampler(*pair, **engine), data, sizes) == whole


@settings(max_examples=150, deadline=None)
@given(
    data=st.binary(max_size=6000).map(even),
    sizes=st.lists(st.integers(min_value=0, max_value=700), min_size=1, max_size=12),
    pair=st.sampled_from(ALL_PAIRS),
)
def test_the_c_kernel_gives_numpys_bytes(data: bytes, sizes: list[int], pair: tuple[int, int]) -> None:
    if FIR_KERNEL != "c":
        pytest.skip("the C kernel was not built here")
    assert feed(StreamResampler(*pair, kernel="c"), data, sizes) == feed(
        StreamResampler(*pair, kernel="numpy"), data, []
    )


def test_the_c_kernel_gives_numpys_bytes_at_full_scale_and_at_rounding_ties() -> None:
    """Saturation, and outputs that land on .5 (round half to even in both): a square wave and an impulse
    of 1 through the 8 kHz -> 24 kHz filter, whose taps are not round numbers, plus loud noise."""
    if FIR_KERNEL != "c":
        pytest.skip("the C kernel was not built here")
    rng = np.random.default_rng(11)
    signals = [
        np.tile(np.r_[np.full(12, 32767.0), np.full(12, -32768.0)], 40),
        np.r_[1.0, np.zeros(200), -1.0, np.zeros(200)],
        rng.normal(0.0, 30000.0, 5000).clip(-32768, 32767),
    ]
    for in_rate, out_rate in ALL_PAIRS:
        for signal in signals:
            pcm = array_to_pcm16(signal)
            c = StreamResampler(in_rate, out_rate, kernel="c")
            reference = StreamResampler(in_rate, out_rate, kernel="numpy")
            assert c.process(pcm) + c.flush() == reference.process(pcm) + reference.flush()


def test_the_install_built_the_c_kernel() -> None:
    """scripts/test installs the project the way a user does: where a C compiler is, the kernel is built."""
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler here: the numpy kernel is the documented fallback")
    assert FIR_KERNEL == "c"
    assert StreamResampler(8000, 24000).kernel == "c"


def test_the_c_kernel_refuses_bad_arguments_instead_of_reading_past_them() -> None:
    kernel = load_kernel()
    if kernel is None:
        pytest.skip("the C kernel was not built here")
    design = fir_design(8000, 24000)
    state = bytearray(16 + 8 * (design.taps_per_phase - 1))
    with pytest.raises(ValueError, match="odd PCM16"):
        kernel.process(design.phases, design.up, design.down, state, b"\x00")
    with pytest.raises(ValueError, match="bad filter shape"):
        kernel.process(design.phases[:-8], design.up, design.down, state, b"")
    with pytest.raises(ValueError, match="state does not match"):
        kernel.process(design.phases, design.up, design.down, state[:-8], b"")
    corrupt = bytearray(state)
    corrupt[8:16] = (5).to_bytes(8, "little")  # outputs so far that no input count gives
    with pytest.raises(ValueError, match="corrupt"):
        kernel.process(design.phases, design.up, design.down, corrupt, b"")
    with pytest.raises(TypeError):
        kernel.process(design.phases, design.up, design.down, bytes(state), b"")  # state must be writable
    assert state == bytearray(len(state))  # nothing was written by the refused calls
    assert len(kernel.process(design.phases, design.up, design.down, state, bytes(320))) == 960


def test_the_environment_chooses_the_kernel() -> None:
    assert default_kernel(True, None) == "c"
    assert default_kernel(True, "") == "c"
    assert default_kernel(False, None) == "numpy"
    assert default_kernel(True, "numpy") == "numpy"
    assert default_kernel(True, "c") == "c"
    with pytest.raises(ValueError, match="was not built"):
        default_kernel(False, "c")
    with pytest.raises(ValueError, match="must be 'c' or 'numpy'"):
        default_kernel(True, "C")


@pytest.mark.parametrize(
    ("setting", "expected"), [("numpy", "numpy"), ("bogus", FIR_KERNEL), ("", FIR_KERNEL)]
)
def test_the_process_environment_chooses_the_kernel_and_a_bad_value_is_one_warning(
    setting: str, expected: str
) -> None:
    """RTVOICE_FIR_KERNEL as a process sees it: read once at import; a value it cannot follow is logged
    as one warning line and ignored, never an exception at import (a CLI would print a traceback)."""
    result = subprocess.run(
        [sys.executable, "-c", "import rtvoice_codecs; print(rtvoice_codecs.FIR_KERNEL)"],
        env={**os.environ, "RTVOICE_FIR_KERNEL": setting},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected
    if setting == "bogus":
        assert result.stderr.strip().splitlines() == [
            f"RTVOICE_FIR_KERNEL must be 'c' or 'numpy', not 'bogus'; using the default ({FIR_KERNEL})"
        ]
    else:
        assert result.stderr == ""


def test_a_missing_kernel_module_falls_back_to_numpy() -> None:
    assert load_kernel("rtvoice_codecs._no_such_kernel") is None
    assert StreamResampler(8000, 24000, kernel="numpy").kernel == "numpy"
    assert StreamResampler(8000, 24000, engine="soxr").kernel is None
    assert StreamResampler(8000, 8000).kernel is None


@settings(max_examples=100, deadline=None)
@given(
    data=st.binary(max_size=3000).map(even),
    sizes=st.lists(st.integers(min_value=0, max_value=500), min_size=1, max_size=12),
    pair=st.sampled_from(ALL_PAIRS),
    kernel=st.sampled_from(KERNELS),
)
def test_fir_lengths_add_up(data: bytes, sizes: list[int], pair: tuple[int, int], kernel: FirKernel) -> None:
    in_rate, out_rate = pair
    resampler = StreamResampler(in_rate, out_rate, kernel=kernel)
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


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize(("in_rate", "out_rate"), PAIRS)
def test_one_sample_at_a_time_equals_one_call(in_rate: int, out_rate: int, kernel: FirKernel) -> None:
    rng = np.random.default_rng(5)
    pcm = array_to_pcm16(rng.normal(0.0, 8000.0, 301))
    assert feed(StreamResampler(in_rate, out_rate, kernel=kernel), pcm, [1]) == feed(
        StreamResampler(in_rate, out_rate, kernel=kernel), pcm, []
    )


def test_empty_input_gives_empty_output_and_no_tail() -> None:
    for engine in ENGINES:
        resampler = StreamResampler(8000, 24000, **engine)
        assert resampler.process(b"") == b""
        assert resampler.flush() == b""


@pytest.mark.parametrize("kernel", KERNELS)
def test_one_frame_in_gives_one_frame_out(kernel: FirKernel) -> None:
    up, down = StreamResampler(8000, 24000, kernel=kernel), StreamResampler(24000, 8000, kernel=kernel)
    for _ in range(3):
        assert len(up.process(bytes(320))) == 960
        assert len(down.process(bytes(960))) == 320


@pytest.mark.parametrize("kernel", KERNELS)
def test_impulse_comes_out_after_the_declared_delay(kernel: FirKernel) -> None:
    for in_rate, out_rate in ALL_PAIRS:
        resampler = StreamResampler(in_rate, out_rate, kernel=kernel)
        impulse = np.zeros(in_rate // 100)
        impulse[0] = 20000.0
        out = pcm16_to_array(resampler.process(array_to_pcm16(impulse)) + resampler.flush())
        peak_ms = 1000 * int(np.argmax(np.abs(out))) / out_rate
        assert peak_ms == pytest.approx(resampler.delay_ms, abs=1000 / out_rate), (in_rate, out_rate)


def test_flush_starts_a_fresh_stream_and_reset_drops_state() -> None:
    rng = np.random.default_rng(9)
    a, b = (array_to_pcm16(rng.normal(0.0, 5000.0, 777)) for _ in range(2))
    for engine in ENGINES:
        fresh = StreamResampler(24000, 8000, **engine)
        expected = fresh.process(b) + fresh.flush()
        used = StreamResampler(24000, 8000, **engine)
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
        resampler = StreamResampler(24000, 8000, **engine)
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
    assert StreamResampler(8000, 24000).kernel == FIR_KERNEL


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
        ((8000, 24000), {"kernel": "fortran"}, "kernel must be"),
        ((8000, 24000), {"engine": "soxr", "kernel": "numpy"}, "kernel applies"),
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
