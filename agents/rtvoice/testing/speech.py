"""The simulated assistant's voice and test utterances: speech synthesis and small PCM16 helpers.

:func:`synthesize` speaks with the ``espeak-ng`` command when it is installed (the project's scripts
install it), so the gateway, the VAD and the tests see real speech with real pauses between words.
Where it is missing, it falls back to a deterministic tone pattern: syllable-like bursts of a few hundred
Hz separated by short gaps, lasting about 60 ms per character, so durations still grow with the text.

All audio here is PCM16 little-endian mono, passed as ``bytes``.
"""

from __future__ import annotations

import functools
import io
import shutil
import subprocess
import wave
from os import PathLike
from typing import Literal

import numpy as np
import numpy.typing as npt
import soxr

from rtvoice.exceptions import ConfigurationError, VoiceAgentError
from rtvoice_codecs import pcm16_to_ulaw, ulaw_to_pcm16

__all__ = [
    "ESPEAK_SAMPLE_RATE",
    "SpeechSynthesisError",
    "clear_synthesis_cache",
    "espeak_available",
    "parse_wav",
    "pcm16_to_ulaw",
    "read_wav",
    "resample",
    "silence",
    "synthesize",
    "trim_silence",
    "ulaw_to_pcm16",
    "wav_bytes",
    "write_wav",
]

ESPEAK_SAMPLE_RATE = 22050
"""Rate of the WAV ``espeak-ng --stdout`` writes."""

ESPEAK_TIMEOUT_S = 30.0
"""Generous: espeak-ng renders a sentence in milliseconds; this only stops a hung process."""

# espeak-ng accepts 80..450 words per minute; outside that it clamps silently, so clamp visibly here.
_ESPEAK_MIN_WPM = 80
_ESPEAK_MAX_WPM = 450

_TONE_CHAR_MS = 60.0  # per character at 175 wpm and speed 1.0
_TONE_GAP_MS = 20.0  # silence closing each syllable, so bursts read as separate syllables
_TONE_RAMP_MS = 8.0  # raised-cosine edges: no clicks, like a voiced onset
_TONE_AMPLITUDE = 8000.0  # about -12 dBFS peak, a normal speech level
_SYLLABLE_CHARS = 3

Engine = Literal["auto", "espeak", "tones"]


class SpeechSynthesisError(VoiceAgentError, RuntimeError):
    """``espeak-ng`` is missing, failed, timed out or produced audio that cannot be read."""


@functools.cache
def espeak_available() -> bool:
    """Whether the ``espeak-ng`` command is on ``PATH`` (checked once per process).

    Returns:
        True when :func:`synthesize` will use real speech.
    """
    return shutil.which("espeak-ng") is not None


def synthesize(
    text: str,
    *,
    sample_rate: int = 24000,
    voice: str = "en-us",
    words_per_minute: int = 175,
    speed: float = 1.0,
    engine: Engine = "auto",
) -> bytes:
    """Speak ``text`` as PCM16 mono; results are cached, so repeating a sentence is free.

    Args:
        text: What to say. Text without any non-space character gives empty audio.
        sample_rate: Output rate in Hz.
        voice: An espeak-ng voice name (``espeak-ng --voices``); ignored by the tone fallback.
        words_per_minute: Base speaking rate.
        speed: Multiplies the speaking rate (0.5 is half as fast, so about twice as long).
        engine: ``"auto"`` uses espeak-ng when :func:`espeak_available`, else tones; ``"espeak"`` or
            ``"tones"`` force one.

    Returns:
        PCM16 little-endian mono at ``sample_rate``. espeak-ng output keeps its own short leading and
        trailing silence (use :func:`trim_silence` to drop it); tone output starts at once.

    Raises:
        ConfigurationError: A rate, speed or engine is invalid.
        SpeechSynthesisError: espeak-ng was required or chosen and failed (see the message).
    """
    if sample_rate <= 0:
        raise ConfigurationError(f"sample_rate must be positive, got {sample_rate}")
    if words_per_minute <= 0:
        raise ConfigurationError(f"words_per_minute must be positive, got {words_per_minute}")
    if not speed > 0:
        raise ConfigurationError(f"speed must be positive, got {speed}")
    if engine not in ("auto", "espeak", "tones"):
        raise ConfigurationError(f"engine must be 'auto', 'espeak' or 'tones', got {engine!r}")
    if not text.strip():
        return b""
    use_espeak = engine == "espeak" or (engine == "auto" and espeak_available())
    # The engine is part of the cache key, so a forced or monkeypatched fallback never returns speech.
    if use_espeak:
        return _espeak_cached(text, sample_rate, voice, words_per_minute, speed)
    return _tones_cached(text, sample_rate, words_per_minute, speed)


def clear_synthesis_cache() -> None:
    """Forget every cached :func:`synthesize` result."""
    _espeak_cached.cache_clear()
    _tones_cached.cache_clear()


@functools.lru_cache(maxsize=256)
def _espeak_cached(text: str, sample_rate: int, voice: str, words_per_minute: int, speed: float) -> bytes:
    wpm = min(_ESPEAK_MAX_WPM, max(_ESPEAK_MIN_WPM, round(words_per_minute * speed)))
    # Text goes in on stdin, never argv, so text starting with "-" is not taken for an option;
    # "-b 1" says it is UTF-8.
    command = ["espeak-ng", "-b", "1", "-v", voice, "-s", str(wpm), "--stdout"]
    try:
        result = subprocess.run(
            command, input=text.encode("utf-8"), capture_output=True, timeout=ESPEAK_TIMEOUT_S, check=False
        )
    except FileNotFoundError as exc:
        raise SpeechSynthesisError("espeak-ng is not installed (Debian package espeak-ng)") from exc
    except subprocess.TimeoutExpired as exc:
        raise SpeechSynthesisError(f"espeak-ng did not finish within {ESPEAK_TIMEOUT_S} s") from exc
    stderr = result.stderr.decode("utf-8", "replace").strip()
    if result.returncode != 0:
        raise SpeechSynthesisError(f"espeak-ng exited with status {result.returncode}: {stderr}")
    try:
        pcm, rate = parse_wav(result.stdout)
    except (ConfigurationError, wave.Error, EOFError) as exc:
        # An unknown voice makes espeak-ng print an error yet exit 0 with no audio.
        raise SpeechSynthesisError(f"espeak-ng produced no readable WAV: {stderr or exc}") from exc
    if not pcm:
        raise SpeechSynthesisError(f"espeak-ng produced no audio for {text!r}: {stderr}")
    return resample(pcm, rate, sample_rate)


@functools.lru_cache(maxsize=256)
def _tones_cached(text: str, sample_rate: int, words_per_minute: int, speed: float) -> bytes:
    char_ms = _TONE_CHAR_MS * (175 / words_per_minute) / speed
    segments: list[npt.NDArray[np.float64]] = []

    def burst(chars: str) -> None:
        total = round(len(chars) * char_ms * sample_rate / 1000)
        gap = min(round(_TONE_GAP_MS * sample_rate / 1000), total // 3)
        voiced = total - gap
        # Pitch from the syllable's letters: deterministic, and varied like intonation.
        pitch = 140.0 + 15.0 * (sum(map(ord, chars)) % 8)
        t = np.arange(voiced) / sample_rate
        wave_ = np.sin(2 * np.pi * pitch * t) + 0.5 * np.sin(2 * np.pi * 2 * pitch * t)
        ramp = min(round(_TONE_RAMP_MS * sample_rate / 1000), voiced // 2)
        envelope = np.ones(voiced)
        if ramp:
            edge = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / ramp)
            envelope[:ramp] = edge
            envelope[voiced - ramp :] = edge[::-1]
        segments.append(wave_ * envelope * (_TONE_AMPLITUDE / 1.5))
        segments.append(np.zeros(gap))

    syllable = ""
    for char in text:
        if char.isalnum():
            syllable += char
            if len(syllable) == _SYLLABLE_CHARS:
                burst(syllable)
                syllable = ""
            continue
        if syllable:
            burst(syllable)
            syllable = ""
        # Spaces and punctuation are pauses of the same length as a character.
        segments.append(np.zeros(round(char_ms * sample_rate / 1000)))
    if syllable:
        burst(syllable)
    samples = np.concatenate(segments)
    if not np.any(samples):
        # Only punctuation (e.g. "..."): still audible, so a non-empty text is never silent.
        return _tones_cached("a" * max(1, len(text.strip())), sample_rate, words_per_minute, speed)
    return np.round(samples).astype("<i2").tobytes()


def trim_silence(pcm: bytes, *, sample_rate: int, threshold: int = 300, keep_ms: int = 0) -> bytes:
    """Drop leading and trailing near-silence.

    Args:
        pcm: PCM16 mono.
        sample_rate: Rate of ``pcm``, used for ``keep_ms``.
        threshold: Samples with an absolute value at or below this count as silence (300 is about
            -41 dBFS).
        keep_ms: Silence to keep on each side of the sound, where there is that much.

    Returns:
        The audio from the first to the last sample louder than ``threshold`` (plus ``keep_ms``), or
        empty bytes when nothing is louder.

    Raises:
        ConfigurationError: ``pcm`` has an odd length.
    """
    samples = _samples(pcm)
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > threshold)
    if loud.size == 0:
        return b""
    keep = keep_ms * sample_rate // 1000
    start = max(0, int(loud[0]) - keep)
    end = min(samples.size, int(loud[-1]) + 1 + keep)
    return pcm[2 * start : 2 * end]


def silence(ms: int, *, sample_rate: int = 24000) -> bytes:
    """Digital silence.

    Args:
        ms: Duration; the sample count is rounded down.
        sample_rate: Rate in Hz.

    Returns:
        ``ms * sample_rate // 1000`` zero PCM16 samples.

    Raises:
        ConfigurationError: ``ms`` is negative.
    """
    if ms < 0:
        raise ConfigurationError(f"ms must be >= 0, got {ms}")
    return bytes(2 * (ms * sample_rate // 1000))


def wav_bytes(pcm: bytes, *, sample_rate: int) -> bytes:
    """Wrap PCM16 mono in a WAV container, in memory.

    Args:
        pcm: PCM16 little-endian mono.
        sample_rate: Its rate in Hz.

    Returns:
        The bytes of a WAV file.
    """
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(sample_rate)
        writer.writeframes(pcm)
    return buffer.getvalue()


def parse_wav(data: bytes) -> tuple[bytes, int]:
    """Read a mono PCM16 WAV from bytes.

    Sizes in the header are not trusted: ``espeak-ng --stdout`` cannot seek back to fill them in and
    writes a placeholder, so everything up to the end of the data is read.

    Args:
        data: The bytes of a WAV file.

    Returns:
        ``(pcm, sample_rate)``.

    Raises:
        ConfigurationError: The WAV is not 16-bit mono.
        wave.Error: The bytes are not a WAV file.
    """
    with wave.open(io.BytesIO(data), "rb") as reader:
        if reader.getnchannels() != 1 or reader.getsampwidth() != 2:
            raise ConfigurationError(
                f"expected 16-bit mono WAV, got {reader.getnchannels()} channel(s) of "
                f"{8 * reader.getsampwidth()} bits"
            )
        rate = reader.getframerate()
        pcm = reader.readframes(reader.getnframes())
    return pcm[: len(pcm) & ~1], rate


def write_wav(path: str | PathLike[str], pcm: bytes, *, sample_rate: int) -> None:
    """Write PCM16 mono to a WAV file.

    Args:
        path: Where to write.
        pcm: PCM16 little-endian mono.
        sample_rate: Its rate in Hz.
    """
    with open(path, "wb") as file:
        file.write(wav_bytes(pcm, sample_rate=sample_rate))


def read_wav(path: str | PathLike[str]) -> tuple[bytes, int]:
    """Read a mono PCM16 WAV file.

    Args:
        path: The file.

    Returns:
        ``(pcm, sample_rate)``.

    Raises:
        ConfigurationError: The WAV is not 16-bit mono.
        wave.Error: The file is not a WAV file.
    """
    with open(path, "rb") as file:
        return parse_wav(file.read())


def resample(pcm: bytes, in_rate: int, out_rate: int) -> bytes:
    """Resample a whole PCM16 mono buffer at once with soxr's high-quality filter.

    One-shot: each call starts from silence, so do not use it on consecutive chunks of a stream.

    Args:
        pcm: PCM16 little-endian mono at ``in_rate``.
        in_rate: Input rate in Hz.
        out_rate: Output rate in Hz.

    Returns:
        PCM16 at ``out_rate`` (the input unchanged when the rates are equal).

    Raises:
        ConfigurationError: A rate is not positive or ``pcm`` has an odd length.
    """
    if in_rate <= 0 or out_rate <= 0:
        raise ConfigurationError(f"sample rates must be positive, got {in_rate} and {out_rate}")
    if in_rate == out_rate or not pcm:
        return pcm
    out = soxr.resample(_samples(pcm), in_rate, out_rate, quality="HQ")
    return np.asarray(out, dtype="<i2").tobytes()


def _samples(pcm: bytes) -> npt.NDArray[np.int16]:
    if len(pcm) % 2:
        raise ConfigurationError(f"PCM16 needs an even number of bytes, got {len(pcm)}")
    return np.frombuffer(pcm, dtype="<i2")
