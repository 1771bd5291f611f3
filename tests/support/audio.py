"""Audio for end-to-end tests: caller WAVs from espeak-ng, and a "ramp" voice whose samples say where they are.

The ramp voice makes barge-in measurable from the speaker's output file alone: sample ``i`` of every
assistant item has the value ``i // RAMP_STEP + 1``, so the largest value heard tells how many samples of
the item were played, to within ``RAMP_STEP`` samples (a third of a millisecond at 24 kHz).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rtvoice.testing import speech

__all__ = ["RAMP_STEP", "caller_wav", "ramp_played_ms", "ramp_voice"]

RATE = 24000
RAMP_STEP = 8
MS_PER_CHARACTER = 80


def ramp_voice(text: str, rate: int, speed: float) -> bytes:
    """The simulator's ``synthesize``: a ramp as long as the text would take to say."""
    samples = int(len(text) * MS_PER_CHARACTER / speed * rate / 1000)
    values = (np.arange(samples, dtype=np.int64) // RAMP_STEP + 1).clip(max=32767).astype("<i2")
    return values.tobytes()


def ramp_played_ms(wav_path: Path) -> float:
    """How many ms of the longest ramp item the speaker played, read from its output WAV."""
    pcm, rate = speech.read_wav(wav_path)
    samples = np.frombuffer(pcm, dtype="<i2")
    return float(samples.max()) * RAMP_STEP / rate * 1000


def caller_wav(
    path: Path, lines: Sequence[str], *, lead_ms: int = 500, gaps_ms: Sequence[int] | int = 2500
) -> list[float]:
    """Write a caller WAV: silence, then each line (espeak-ng, trimmed) followed by its gap.

    Returns:
        Where each line starts, in ms from the start of the file.
    """
    gaps = [gaps_ms] * len(lines) if isinstance(gaps_ms, int) else list(gaps_ms)
    pcm = speech.silence(lead_ms, sample_rate=RATE)
    starts: list[float] = []
    for line, gap in zip(lines, gaps, strict=True):
        starts.append(len(pcm) / 2 / RATE * 1000)
        pcm += speech.trim_silence(speech.synthesize(line, sample_rate=RATE), sample_rate=RATE)
        pcm += speech.silence(gap, sample_rate=RATE)
    speech.write_wav(path, pcm, sample_rate=RATE)
    return starts
