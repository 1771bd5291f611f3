"""Tests for rtvoice.testing.speech: espeak-ng synthesis, the tone fallback and PCM16 helpers."""

from __future__ import annotations

import math
import wave
from pathlib import Path

import numpy as np
import pytest

from rtvoice.exceptions import ConfigurationError
from rtvoice.testing import speech
from rtvoice.testing.speech import (
    SpeechSynthesisError,
    clear_synthesis_cache,
    espeak_available,
    parse_wav,
    pcm16_to_ulaw,
    read_wav,
    resample,
    silence,
    synthesize,
    trim_silence,
    ulaw_to_pcm16,
    wav_bytes,
    write_wav,
)

needs_espeak = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")

SENTENCE = "Thank you for calling. How can I help you today?"


def duration_ms(pcm: bytes, sample_rate: int) -> float:
    return len(pcm) / 2 / sample_rate * 1000


def loudest_frame_dbfs(pcm: bytes, sample_rate: int) -> float:
    frame = sample_rate // 100
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    count = samples.size // frame
    power = np.mean(np.square(samples[: count * frame].reshape(count, frame)), axis=1)
    return 10 * math.log10(float(np.max(power)) / 32768.0**2)


def dominant_hz(pcm: bytes, sample_rate: int) -> float:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(samples.size, 1 / sample_rate)[int(np.argmax(spectrum))])


def sine(freq: float, ms: int, sample_rate: int, amplitude: float = 10000.0) -> bytes:
    t = np.arange(ms * sample_rate // 1000) / sample_rate
    return np.round(amplitude * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes()


# --- espeak-ng ---------------------------------------------------------------------------------------


@needs_espeak
@pytest.mark.parametrize("sample_rate", [8000, 16000, 24000])
def test_espeak_speaks_at_the_requested_rate(sample_rate: int) -> None:
    pcm = synthesize(SENTENCE, sample_rate=sample_rate, engine="espeak")
    assert len(pcm) % 2 == 0
    # 10 words at 175 wpm is about 3.4 s of speech, plus pauses at punctuation.
    assert 2000 < duration_ms(pcm, sample_rate) < 6000
    assert loudest_frame_dbfs(pcm, sample_rate) > -30.0
    native = synthesize(SENTENCE, sample_rate=speech.ESPEAK_SAMPLE_RATE, engine="espeak")
    expected_samples = len(native) / 2 * sample_rate / speech.ESPEAK_SAMPLE_RATE
    assert abs(len(pcm) / 2 - expected_samples) <= 1


@needs_espeak
def test_espeak_longer_text_gives_longer_audio() -> None:
    short = synthesize("Hello.", engine="espeak")
    longer = synthesize("Hello. Your table for two is booked for seven tonight.", engine="espeak")
    assert duration_ms(longer, 24000) > 2 * duration_ms(short, 24000)


@needs_espeak
def test_espeak_speed_and_words_per_minute_change_the_rate() -> None:
    normal = duration_ms(synthesize(SENTENCE, engine="espeak"), 24000)
    fast = duration_ms(synthesize(SENTENCE, engine="espeak", speed=1.5), 24000)
    slow = duration_ms(synthesize(SENTENCE, engine="espeak", words_per_minute=100), 24000)
    assert fast < 0.85 * normal
    assert slow > 1.4 * normal


@needs_espeak
def test_espeak_results_are_cached_and_reproducible() -> None:
    first = synthesize("Cached sentence for the cache test.", engine="espeak")
    assert synthesize("Cached sentence for the cache test.", engine="espeak") is first
    clear_synthesis_cache()
    again = synthesize("Cached sentence for the cache test.", engine="espeak")
    assert again is not first
    assert again == first


@needs_espeak
def test_auto_engine_uses_espeak_when_installed() -> None:
    assert synthesize(SENTENCE) == synthesize(SENTENCE, engine="espeak")
    assert synthesize(SENTENCE) != synthesize(SENTENCE, engine="tones")


@needs_espeak
def test_text_that_looks_like_an_option_is_spoken() -> None:
    pcm = synthesize("-v is not a voice flag here", engine="espeak")
    assert duration_ms(pcm, 24000) > 1000


@needs_espeak
def test_espeak_unknown_voice_is_a_clear_error() -> None:
    with pytest.raises(SpeechSynthesisError, match="voice does not exist"):
        synthesize("Hello.", voice="zzq-nonexistent", engine="espeak")


def test_missing_espeak_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A PATH without espeak-ng: the real lookup fails, as on a machine without the package.
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SpeechSynthesisError, match="not installed"):
        synthesize("Nobody can say this.", engine="espeak")


# --- Tone fallback -----------------------------------------------------------------------------------


def test_tones_are_deterministic_and_scale_with_the_text() -> None:
    first = synthesize(SENTENCE, engine="tones")
    clear_synthesis_cache()
    again = synthesize(SENTENCE, engine="tones")
    assert again is not first
    assert again == first
    # About 60 ms per character at the default rate.
    assert duration_ms(first, 24000) == pytest.approx(60 * len(SENTENCE), abs=20)
    assert len(synthesize(SENTENCE + " And more.", engine="tones")) > len(first)


def test_tones_sound_like_syllables_of_a_few_hundred_hz() -> None:
    pcm = synthesize("Hello there", sample_rate=8000, engine="tones")
    assert 100 <= dominant_hz(pcm, 8000) <= 600
    assert loudest_frame_dbfs(pcm, 8000) > -20
    samples = np.frombuffer(pcm, dtype="<i2")
    # Gaps between syllables and at the space: some 10 ms frames are silent, most are not.
    frames = samples[: samples.size // 80 * 80].reshape(-1, 80)
    silent = int(np.sum(np.all(frames == 0, axis=1)))
    assert 0 < silent < frames.shape[0] // 2


@pytest.mark.parametrize("text", ["a", "!", "...", "7"])
def test_tones_are_never_empty_for_non_empty_text(text: str) -> None:
    pcm = synthesize(text, engine="tones")
    assert pcm
    assert np.any(np.frombuffer(pcm, dtype="<i2") != 0)


def test_tone_speed_and_rate_scale_the_duration() -> None:
    normal = len(synthesize(SENTENCE, engine="tones"))
    assert len(synthesize(SENTENCE, engine="tones", speed=2.0)) == pytest.approx(normal / 2, rel=0.02)
    assert len(synthesize(SENTENCE, engine="tones", words_per_minute=350)) == pytest.approx(
        normal / 2, rel=0.02
    )
    at_8k = len(synthesize(SENTENCE, engine="tones", sample_rate=8000))
    assert at_8k == pytest.approx(normal / 3, rel=0.02)


def test_auto_engine_falls_back_to_tones_without_espeak(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(speech, "espeak_available", lambda: False)
    assert synthesize(SENTENCE) == synthesize(SENTENCE, engine="tones")


def test_blank_text_is_silent_and_bad_arguments_are_refused() -> None:
    assert synthesize("") == b""
    assert synthesize("  \n") == b""
    with pytest.raises(ConfigurationError):
        synthesize("x", sample_rate=0)
    with pytest.raises(ConfigurationError):
        synthesize("x", speed=0)
    with pytest.raises(ConfigurationError):
        synthesize("x", words_per_minute=-5)
    with pytest.raises(ConfigurationError):
        synthesize("x", engine="festival")  # type: ignore[arg-type]


# --- PCM16 helpers -----------------------------------------------------------------------------------


def _pcm(*samples: int) -> bytes:
    return np.array(samples, dtype="<i2").tobytes()


def test_trim_silence_keeps_the_loud_part() -> None:
    pcm = _pcm(0, 10, -299, 300, -301, 5, 1200, -40, 0, 0)
    assert trim_silence(pcm, sample_rate=8000) == _pcm(-301, 5, 1200)
    assert trim_silence(pcm, sample_rate=8000, threshold=1000) == _pcm(1200)
    assert trim_silence(_pcm(0, 299, -300), sample_rate=8000) == b""
    padded = silence(100, sample_rate=8000) + _pcm(5000) + silence(100, sample_rate=8000)
    assert trim_silence(padded, sample_rate=8000, keep_ms=10) == _pcm(*[0] * 80, 5000, *[0] * 80)
    assert trim_silence(padded, sample_rate=8000, keep_ms=500) == padded


def test_silence_has_the_right_length() -> None:
    assert silence(20, sample_rate=8000) == bytes(320)
    assert silence(1000) == bytes(48000)
    assert silence(0) == b""
    with pytest.raises(ConfigurationError):
        silence(-1)


def test_wav_file_round_trip(tmp_path: Path) -> None:
    pcm = sine(440, 250, 16000)
    path = tmp_path / "tone.wav"
    write_wav(path, pcm, sample_rate=16000)
    assert read_wav(path) == (pcm, 16000)
    with wave.open(str(path), "rb") as reader:  # a standard reader agrees on the format
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) == (1, 2, 16000)
        assert reader.getnframes() == len(pcm) // 2


def test_parse_wav_ignores_placeholder_sizes_like_espeak_stdout() -> None:
    pcm = sine(300, 100, 22050)
    data = bytearray(wav_bytes(pcm, sample_rate=22050))
    # espeak-ng --stdout cannot seek back, so it leaves huge placeholder sizes in the header.
    data[4:8] = (0x7FFFF024).to_bytes(4, "little")
    data[40:44] = (0x7FFFF000).to_bytes(4, "little")
    assert parse_wav(bytes(data)) == (pcm, 22050)


def test_read_wav_refuses_stereo(tmp_path: Path) -> None:
    path = tmp_path / "stereo.wav"
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(2)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        writer.writeframes(bytes(64))
    with pytest.raises(ConfigurationError, match="mono"):
        read_wav(path)


def test_ulaw_round_trips_every_code() -> None:
    codes = bytes(range(256))
    pcm = ulaw_to_pcm16(codes)
    assert len(pcm) == 512
    back = pcm16_to_ulaw(pcm)
    # 0x7F and 0xFF both decode to 0, which encodes as 0xFF; every other code is exact.
    assert [i for i in range(256) if back[i] != codes[i]] == [0x7F]
    assert np.frombuffer(pcm, dtype="<i2")[[0x00, 0x80, 0xFF]].tolist() == [-32124, 32124, 0]


def test_resample_keeps_pitch_and_scales_length() -> None:
    pcm = sine(1000, 500, 24000)
    down = resample(pcm, 24000, 8000)
    assert len(down) == len(pcm) // 3
    assert dominant_hz(down, 8000) == pytest.approx(1000, abs=5)
    up = resample(down, 8000, 16000)
    assert len(up) == 2 * len(down)
    assert dominant_hz(up, 16000) == pytest.approx(1000, abs=5)
    assert resample(pcm, 24000, 24000) is pcm
    assert resample(b"", 24000, 8000) == b""
    with pytest.raises(ConfigurationError):
        resample(b"\x00", 24000, 8000)
    with pytest.raises(ConfigurationError):
        resample(pcm, 0, 8000)
