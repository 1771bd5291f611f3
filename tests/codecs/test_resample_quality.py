"""Delay, SINAD and aliasing of the default FIR on synthesised signals, fed in 20 ms chunks as a call does.

Targets (docs/codecs.md): delay ≤ 3 ms per direction, SINAD ≥ 75 dB for a 1 kHz tone, aliasing of
5–11 kHz tones on 24 → 8 kHz ≤ −70 dB. The negative controls at the end show that the same measurements
reject an unfiltered resampler (soxr "QQ") and one that holds audio back (soxr "VHQ").
"""

import numpy as np
import pytest

from rtvoice_codecs import StreamResampler, fir_design
from rtvoice_codecs.analysis import (
    FloatArray,
    array_to_pcm16,
    bandlimited_noise,
    ideal_resample,
    image_level_db,
    lag_samples,
    level_db,
    pcm16_to_array,
    sinad_db,
    tone,
)

MAX_DELAY_MS = 3.0
MIN_SINAD_DB = 75.0
MAX_ALIAS_DB = -70.0

PAIRS = [(8000, 24000), (24000, 8000), (16000, 24000), (24000, 16000)]


def stream(resampler: StreamResampler, pcm: bytes) -> tuple[FloatArray, float]:
    """Feed 20 ms chunks, then flush. Returns the output and the worst hold-back in ms."""
    chunk = resampler.in_rate // 50 * 2
    out: list[bytes] = []
    fed = emitted = 0
    worst = 0.0
    for i in range(0, len(pcm), chunk):
        piece = pcm[i : i + chunk]
        got = resampler.process(piece)
        out.append(got)
        fed += len(piece) // 2
        emitted += len(got) // 2
        worst = max(worst, 1000 * (fed / resampler.in_rate - emitted / resampler.out_rate))
    out.append(resampler.flush())
    return pcm16_to_array(b"".join(out)), worst


def live_delay_ms(resampler: StreamResampler) -> tuple[float, float]:
    """(lag of the samples behind an ideal resampling, worst hold-back), both in ms."""
    in_rate, out_rate = resampler.in_rate, resampler.out_rate
    period = in_rate // 4
    noise = bandlimited_noise(in_rate, period, 100.0, 0.8 * min(in_rate, out_rate) / 2, seed=11)
    out, held = stream(resampler, array_to_pcm16(np.tile(noise, 4)))
    period_out = period * out_rate // in_rate
    lag = lag_samples(out[2 * period_out : 3 * period_out], ideal_resample(noise, in_rate, out_rate))
    return 1000 * lag / out_rate, held


def worst_alias_db(resampler: StreamResampler) -> float:
    worst = float("-inf")
    for freq in np.arange(5000.0, 11001.0, 250.0):
        pcm = tone(resampler.in_rate, float(freq), resampler.in_rate // 4)
        out, _ = stream(resampler, pcm)
        edge = resampler.out_rate // 50
        worst = max(worst, level_db(out[edge:-edge], pcm16_to_array(pcm)))
    return worst


@pytest.mark.parametrize(("in_rate", "out_rate"), PAIRS)
def test_fir_delay_is_small_and_nothing_is_held_back(in_rate: int, out_rate: int) -> None:
    resampler = StreamResampler(in_rate, out_rate)
    lag, held = live_delay_ms(resampler)
    assert 0.0 <= lag + held <= MAX_DELAY_MS
    assert held == 0.0
    # The declared delay is the measured one.
    assert lag == pytest.approx(resampler.delay_ms, abs=0.02)


@pytest.mark.parametrize(("in_rate", "out_rate"), PAIRS)
def test_fir_sinad_of_a_1khz_tone(in_rate: int, out_rate: int) -> None:
    out, _ = stream(StreamResampler(in_rate, out_rate), tone(in_rate, 1000.0, in_rate // 2))
    edge = out_rate // 20
    assert sinad_db(out[edge:-edge], out_rate, 1000.0) >= MIN_SINAD_DB


def test_fir_sinad_near_the_top_of_the_phone_band() -> None:
    for in_rate, out_rate in [(8000, 24000), (24000, 8000)]:
        out, _ = stream(StreamResampler(in_rate, out_rate), tone(in_rate, 3000.0, in_rate // 2))
        edge = out_rate // 20
        assert sinad_db(out[edge:-edge], out_rate, 3000.0) >= MIN_SINAD_DB


def test_fir_aliasing_of_5_to_11_khz_tones_on_24_to_8_khz() -> None:
    assert worst_alias_db(StreamResampler(24000, 8000)) <= MAX_ALIAS_DB


def test_fir_images_of_phone_band_tones_on_8_to_24_khz() -> None:
    resampler = StreamResampler(8000, 24000)
    for freq in (500.0, 1000.0, 2000.0, 3000.0):
        out, _ = stream(resampler, tone(8000, freq, 12000))
        # One second of steady state, a whole number of periods, so the tone stays in its FFT bin.
        assert image_level_db(out[6000:30000], 24000, 4000.0) <= MAX_ALIAS_DB


def test_fir_design_response() -> None:
    design = fir_design(24000, 8000)
    response = np.abs(np.fft.rfft(design.taps / design.up, 1 << 15))
    freqs = np.fft.rfftfreq(1 << 15, 1.0 / 24000)
    passband = 20 * np.log10(response[freqs <= 3400.0])
    stopband = 20 * np.log10(response[freqs >= 5000.0])
    assert np.abs(passband).max() < 0.01
    assert stopband.max() < -90.0
    assert design.taps.shape[0] == 2 * design.delay + 1
    # Linear phase: symmetric taps, so every frequency is delayed by exactly `delay`.
    assert np.allclose(design.taps, design.taps[::-1])


def test_negative_control_unfiltered_resampling_fails_the_alias_limit() -> None:
    assert worst_alias_db(StreamResampler(24000, 8000, engine="soxr", quality="QQ")) > MAX_ALIAS_DB


def test_negative_control_soxr_vhq_fails_the_delay_limit() -> None:
    lag, held = live_delay_ms(StreamResampler(8000, 24000, engine="soxr", quality="VHQ"))
    assert abs(lag) < 0.05  # soxr aligns samples perfectly ...
    assert held > MAX_DELAY_MS  # ... but holds them back
