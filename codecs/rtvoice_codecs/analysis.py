"""Signal measurements for tests and benchmarks: tones, SINAD, levels, band-limited noise, lag.

Pure numpy and deterministic (noise takes a seed). The measurements follow one convention: the signal
under test is a numpy float array in PCM16 units (use :func:`pcm16_to_array`), powers are mean squares,
and levels are in dB relative to the reference named by the function.
"""

import numpy as np
import numpy.typing as npt

__all__ = [
    "array_to_pcm16",
    "bandlimited_noise",
    "ideal_resample",
    "image_level_db",
    "lag_samples",
    "level_db",
    "pcm16_to_array",
    "sinad_db",
    "tone",
]

FloatArray = npt.NDArray[np.float64]

_FULL_SCALE = 32767.0
_LAG_OVERSAMPLING = 16


def pcm16_to_array(pcm: bytes) -> FloatArray:
    """PCM16 little-endian bytes to a float64 array in PCM16 units (no scaling)."""
    return np.frombuffer(pcm, "<i2").astype(np.float64)


def array_to_pcm16(x: npt.ArrayLike) -> bytes:
    """Round and saturate an array in PCM16 units to PCM16 little-endian bytes."""
    y = np.clip(np.rint(np.asarray(x, dtype=np.float64)), -32768.0, 32767.0)
    return y.astype("<i2").tobytes()


def tone(rate: int, freq: float, samples: int, *, amplitude: float = 0.5, phase: float = 0.0) -> bytes:
    """A sine as PCM16 bytes.

    Args:
        rate: Sample rate in Hz.
        freq: Frequency in Hz.
        samples: Number of samples.
        amplitude: Peak amplitude as a fraction of full scale (0.5 is -6 dBFS).
        phase: Starting phase in radians.

    Returns:
        PCM16 little-endian bytes.
    """
    t = np.arange(samples, dtype=np.float64) / rate
    return array_to_pcm16(amplitude * _FULL_SCALE * np.sin(2 * np.pi * freq * t + phase))


def sinad_db(x: FloatArray, rate: int, freq: float) -> float:
    """Signal to noise-and-distortion ratio of a tone, in dB.

    The tone's amplitude, phase and any DC offset are fitted by least squares, so gain and delay do
    not count as error; everything else (aliases, images, filter noise, rounding) does.

    Args:
        x: The signal, PCM16 units.
        rate: Its sample rate in Hz.
        freq: The tone's frequency in Hz.

    Returns:
        ``10·log10(fitted tone power / residual power)``.
    """
    t = np.arange(x.shape[0], dtype=np.float64) / rate
    basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t), np.ones_like(t)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, x, rcond=None)
    fitted = basis[:, :2] @ coef[:2]
    residual = x - basis @ coef
    return float(10 * np.log10(np.mean(fitted**2) / max(float(np.mean(residual**2)), 1e-30)))


def level_db(x: FloatArray, reference: FloatArray) -> float:
    """RMS level of ``x`` relative to the RMS level of ``reference``, in dB (``-inf`` if ``x`` is silent)."""
    num = float(np.mean(x**2))
    if num == 0.0:
        return float("-inf")
    return float(10 * np.log10(num / float(np.mean(reference**2))))


def image_level_db(x: FloatArray, rate: int, above_hz: float) -> float:
    """Power at and above ``above_hz`` relative to the whole signal's power, in dB.

    For a tone upsampled from a lower rate this is its images. Use a whole number of the tone's periods
    (e.g. one second of an integer-Hz tone) so the tone does not leak across bins.
    """
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(x.shape[0], 1.0 / rate)
    high = float(spectrum[freqs >= above_hz].sum())
    if high == 0.0:
        return float("-inf")
    return float(10 * np.log10(high / float(spectrum.sum())))


def bandlimited_noise(
    rate: int, samples: int, low_hz: float, high_hz: float, *, rms: float = 3000.0, seed: int = 0
) -> FloatArray:
    """Periodic noise with a flat spectrum between ``low_hz`` and ``high_hz`` and nothing else.

    It repeats every ``samples`` samples exactly, so :func:`ideal_resample` gives its exact band-limited
    version at another rate. Values are floats in PCM16 units (not rounded).
    """
    rng = np.random.default_rng(seed)
    freqs = np.fft.rfftfreq(samples, 1.0 / rate)
    band = (freqs >= low_hz) & (freqs <= high_hz)
    spectrum = np.where(band, np.exp(2j * np.pi * rng.random(freqs.shape[0])), 0.0)
    x = np.fft.irfft(spectrum, samples)
    return x * (rms / float(np.sqrt(np.mean(x**2))))


def ideal_resample(x: FloatArray, in_rate: int, out_rate: int) -> FloatArray:
    """Exact resampling of one period of a periodic, band-limited signal (by zero-padding its spectrum).

    Raises:
        ValueError: If one period is not a whole number of samples at ``out_rate``.
    """
    n_out, remainder = divmod(x.shape[0] * out_rate, in_rate)
    if remainder:
        raise ValueError("one period must be a whole number of samples at both rates")
    spectrum = np.fft.rfft(x)
    bins = min(spectrum.shape[0], n_out // 2 + 1)
    out = np.zeros(n_out // 2 + 1, dtype=np.complex128)
    out[:bins] = spectrum[:bins]
    resampled: FloatArray = np.fft.irfft(out, n_out) * (n_out / x.shape[0])
    return resampled


def lag_samples(x: FloatArray, reference: FloatArray) -> float:
    """How many samples ``x`` lags ``reference`` (both one period of the same periodic signal).

    Circular cross-correlation, interpolated to 1/16 sample (band-limited, by zero-padding the cross
    spectrum) and refined with a parabola through the peak. Positive means ``x`` is late.

    Raises:
        ValueError: If the two have different lengths.
    """
    n = x.shape[0]
    if reference.shape[0] != n:
        raise ValueError(f"lengths differ: {n} != {reference.shape[0]}")
    fine = _LAG_OVERSAMPLING * n
    corr = np.fft.irfft(np.fft.rfft(x) * np.conj(np.fft.rfft(reference)), fine)
    k = int(np.argmax(corr))
    before, peak, after = corr[(k - 1) % fine], corr[k], corr[(k + 1) % fine]
    denom = before - 2 * peak + after
    frac = 0.5 * (before - after) / denom if denom != 0 else 0.0
    lag = (k + float(frac)) / _LAG_OVERSAMPLING
    return lag - n if lag > n / 2 else lag
