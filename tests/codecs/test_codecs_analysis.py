"""The measurement helpers give known answers on signals built to have them."""

import numpy as np
import pytest

from rtvoice_codecs.analysis import (
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


def test_tone_amplitude_frequency_and_rounding() -> None:
    x = pcm16_to_array(tone(8000, 1000.0, 8000, amplitude=0.5))
    assert np.max(x) == pytest.approx(16384, abs=1)
    spectrum = np.abs(np.fft.rfft(x))
    assert int(np.argmax(spectrum)) == 1000  # 1 Hz bins over one second
    assert array_to_pcm16([1.4, -1.6, 40000.0, -40000.0]) == np.array([1, -2, 32767, -32768], "<i2").tobytes()


def test_sinad_of_a_tone_with_known_noise() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(48000) / 48000
    signal = 1000.0 * np.sin(2 * np.pi * 1000.0 * t + 0.3) + 50.0  # DC and phase are fitted away
    noise = rng.normal(0.0, 1.0, t.shape[0])
    noise *= 10.0 / np.sqrt(np.mean(noise**2))
    # Signal power 1000²/2, noise power 10²: 10·log10(5000) = 36.99 dB.
    assert sinad_db(signal + noise, 48000, 1000.0) == pytest.approx(36.99, abs=0.05)


def test_level_db() -> None:
    x = np.ones(100)
    assert level_db(x * 0.1, x) == pytest.approx(-20.0)
    assert level_db(np.zeros(10), x) == float("-inf")


def test_image_level_db() -> None:
    t = np.arange(24000) / 24000
    x = np.sin(2 * np.pi * 1000.0 * t) + 0.01 * np.sin(2 * np.pi * 7000.0 * t)
    assert image_level_db(x, 24000, 4000.0) == pytest.approx(-40.0, abs=0.01)
    assert image_level_db(np.sin(2 * np.pi * 1000.0 * t), 24000, 4000.0) < -250.0
    assert image_level_db(np.zeros(100), 24000, 4000.0) == float("-inf")


def test_bandlimited_noise_is_in_band_and_periodic() -> None:
    x = bandlimited_noise(8000, 4000, 300.0, 3400.0, rms=1000.0, seed=1)
    assert np.sqrt(np.mean(x**2)) == pytest.approx(1000.0)
    spectrum = np.abs(np.fft.rfft(x))
    freqs = np.fft.rfftfreq(4000, 1 / 8000)
    assert spectrum[(freqs < 300.0) | (freqs > 3400.0)].max() < 1e-6 * spectrum.max()


def test_ideal_resample_round_trip_and_exactness() -> None:
    x = bandlimited_noise(8000, 2000, 100.0, 3400.0, seed=2)
    up = ideal_resample(x, 8000, 24000)
    assert up.shape[0] == 6000
    assert np.allclose(up[::3], x)  # band-limited interpolation keeps the original samples
    assert np.allclose(ideal_resample(up, 24000, 8000), x)
    with pytest.raises(ValueError):
        ideal_resample(up[:5999], 24000, 8000)


@pytest.mark.parametrize("shift", [0, 5, -7, 123])
def test_lag_of_a_circular_shift(shift: int) -> None:
    x = bandlimited_noise(8000, 2000, 100.0, 3400.0, seed=3)
    assert lag_samples(np.roll(x, shift), x) == pytest.approx(shift, abs=1e-6)


def test_lag_finds_a_fraction_of_a_sample() -> None:
    x = bandlimited_noise(24000, 6000, 100.0, 3400.0, seed=4)
    # Shift by one sample at 24 kHz, then look at 8 kHz: a third of a sample.
    late = ideal_resample(np.roll(x, 1), 24000, 8000)
    early = ideal_resample(x, 24000, 8000)
    assert lag_samples(late, early) == pytest.approx(1 / 3, abs=0.02)
    with pytest.raises(ValueError):
        lag_samples(late, early[:-1])
