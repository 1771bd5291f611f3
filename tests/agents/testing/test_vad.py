"""Tests for rtvoice.testing.vad: turn detection on the input audio timeline."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtvoice.exceptions import ConfigurationError
from rtvoice.testing.speech import (
    espeak_available,
    pcm16_to_ulaw,
    resample,
    silence,
    synthesize,
    trim_silence,
    ulaw_to_pcm16,
)
from rtvoice.testing.vad import (
    FRAME_MS,
    ServerVadSettings,
    SpeechStarted,
    SpeechStopped,
    VadEvent,
    VoiceActivityDetector,
    threshold_dbfs,
)

needs_espeak = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")

UTTERANCE_A = "Hello, this is the front desk. How can I help you today?"
UTTERANCE_B = "I would like to book a table for two people at seven."


def tone(ms: int, *, sample_rate: int, dbfs: float = -20.0, freq: float = 220.0) -> bytes:
    """A sine whose RMS level is ``dbfs``."""
    n = ms * sample_rate // 1000
    amplitude = 32768.0 * 10 ** (dbfs / 20) * math.sqrt(2)
    samples = amplitude * np.sin(2 * np.pi * freq * np.arange(n) / sample_rate)
    return np.round(samples).astype("<i2").tobytes()


def noise(ms: int, *, sample_rate: int, dbfs: float, seed: int = 7) -> bytes:
    """Gaussian noise whose RMS level is about ``dbfs`` (fixed seed, so reproducible)."""
    n = ms * sample_rate // 1000
    rms = 32768.0 * 10 ** (dbfs / 20)
    samples = np.random.default_rng(seed).normal(0.0, rms, n)
    return np.round(samples).astype("<i2").tobytes()


def feed(detector: VoiceActivityDetector, pcm: bytes, chunk_bytes: int) -> list[VadEvent]:
    events: list[VadEvent] = []
    for i in range(0, len(pcm), chunk_bytes):
        events += detector.receive_audio(pcm[i : i + chunk_bytes])
    return events


def feed_ms(
    pcm: bytes, *, sample_rate: int, chunk_ms: int = 20, vad: ServerVadSettings | None = None
) -> list[VadEvent]:
    detector = VoiceActivityDetector(vad or ServerVadSettings(), sample_rate)
    return feed(detector, pcm, 2 * sample_rate * chunk_ms // 1000)


def pairs(events: Sequence[VadEvent]) -> list[tuple[int, int]]:
    """(audio_start_ms, audio_end_ms) per turn; fails unless events strictly alternate start/stop."""
    assert len(events) % 2 == 0, events
    result = []
    for started, stopped in zip(events[::2], events[1::2], strict=True):
        assert isinstance(started, SpeechStarted), events
        assert isinstance(stopped, SpeechStopped), events
        result.append((started.audio_start_ms, stopped.audio_end_ms))
    return result


def longest_internal_gap_ms(pcm: bytes, *, sample_rate: int, dbfs: float) -> int:
    """Longest run of 10 ms frames quieter than ``dbfs`` inside ``pcm``."""
    frame = sample_rate * FRAME_MS // 1000
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    count = samples.size // frame
    power = np.mean(np.square(samples[: count * frame].reshape(count, frame)), axis=1)
    quiet = power <= (32768.0 * 10 ** (dbfs / 20)) ** 2
    longest = run = 0
    for is_quiet in quiet.tolist():
        run = run + 1 if is_quiet else 0
        longest = max(longest, run)
    return longest * FRAME_MS


# --- Real espeak-ng speech: the acceptance criterion -------------------------------------------------


@pytest.fixture(scope="module")
def two_utterances() -> tuple[bytes, list[tuple[float, float]], bytes]:
    """700 ms silence + A + 1500 ms silence + B + 1500 ms silence at 24 kHz, the true speech spans (ms), A."""
    rate = 24000
    a = trim_silence(synthesize(UTTERANCE_A, sample_rate=rate), sample_rate=rate)
    b = trim_silence(synthesize(UTTERANCE_B, sample_rate=rate), sample_rate=rate)
    a_ms, b_ms = len(a) / 2 / rate * 1000, len(b) / 2 / rate * 1000
    pcm = (
        silence(700, sample_rate=rate)
        + a
        + silence(1500, sample_rate=rate)
        + b
        + silence(1500, sample_rate=rate)
    )
    spans = [(700.0, 700.0 + a_ms), (700.0 + a_ms + 1500.0, 700.0 + a_ms + 1500.0 + b_ms)]
    return pcm, spans, a


@needs_espeak
@pytest.mark.parametrize(
    ("sample_rate", "via_ulaw"), [(24000, False), (16000, False), (8000, False), (8000, True)]
)
def test_espeak_turns_match_where_the_speech_was_placed(
    two_utterances: tuple[bytes, list[tuple[float, float]], bytes], sample_rate: int, via_ulaw: bool
) -> None:
    pcm24, spans, _ = two_utterances
    pcm = resample(pcm24, 24000, sample_rate)
    if via_ulaw:
        # What the simulator does with a Twilio call: 8 kHz μ-law decoded to PCM16.
        pcm = ulaw_to_pcm16(pcm16_to_ulaw(pcm))
    vad = ServerVadSettings()
    turns = pairs(feed_ms(pcm, sample_rate=sample_rate, chunk_ms=20, vad=vad))
    assert len(turns) == 2
    for (start_ms, end_ms), (onset, offset) in zip(turns, spans, strict=True):
        assert abs(start_ms - (onset - vad.prefix_padding_ms)) <= 20
        assert abs(end_ms - (offset + vad.silence_duration_ms)) <= 20


@needs_espeak
def test_espeak_pauses_between_words_do_not_split_an_utterance(
    two_utterances: tuple[bytes, list[tuple[float, float]], bytes],
) -> None:
    _, _, utterance_a = two_utterances
    gap = longest_internal_gap_ms(utterance_a, sample_rate=24000, dbfs=threshold_dbfs(0.5))
    # The utterance really has pauses (a comma and a full stop), yet shorter than the 500 ms silence.
    assert 150 <= gap < 500
    # The same pause does end the turn once the silence needed is shorter than it.
    quick = ServerVadSettings(silence_duration_ms=gap - 50)
    assert len(pairs(feed_ms(utterance_a + silence(1000), sample_rate=24000, vad=quick))) >= 2
    assert len(pairs(feed_ms(utterance_a + silence(1000), sample_rate=24000))) == 1


@needs_espeak
def test_threshold_above_quiet_speech_ignores_it() -> None:
    speech = synthesize(UTTERANCE_B, sample_rate=8000)
    quiet = (np.frombuffer(speech, dtype="<i2") // 10).astype("<i2").tobytes()  # -20 dB
    padded = silence(500, sample_rate=8000) + quiet + silence(1000, sample_rate=8000)
    assert len(pairs(feed_ms(padded, sample_rate=8000))) == 1
    assert feed_ms(padded, sample_rate=8000, vad=ServerVadSettings(threshold=0.9)) == []


# --- Exact timings on synthetic audio ----------------------------------------------------------------


@pytest.mark.parametrize("sample_rate", [8000, 16000, 24000])
def test_events_are_emitted_when_the_timeline_reaches_them(sample_rate: int) -> None:
    pcm = (
        silence(1000, sample_rate=sample_rate)
        + tone(800, sample_rate=sample_rate)
        + silence(1000, sample_rate=sample_rate)
    )
    detector = VoiceActivityDetector(ServerVadSettings(), sample_rate)
    seen: list[tuple[VadEvent, int]] = []
    step = 2 * sample_rate * FRAME_MS // 1000
    for i in range(0, len(pcm), step):
        seen += [(event, detector.audio_ms) for event in detector.receive_audio(pcm[i : i + step])]
    assert seen == [
        # Confirmed after the minimum 20 ms of speech, reported from the onset minus 300 ms padding.
        (SpeechStarted(audio_start_ms=700), 1020),
        # Declared only once 500 ms of silence after the end (1800 ms) has been received.
        (SpeechStopped(audio_end_ms=2300), 2300),
    ]
    assert detector.speech_bounds_ms() == (1000, 1800)
    assert not detector.speaking


def test_prefix_padding_is_clamped_at_the_session_start() -> None:
    pcm = silence(100) + tone(400, sample_rate=24000) + silence(600)
    assert pairs(feed_ms(pcm, sample_rate=24000)) == [(0, 1000)]
    assert pairs(feed_ms(tone(400, sample_rate=24000) + silence(600), sample_rate=24000)) == [(0, 900)]


def test_prefix_padding_does_not_reach_into_the_previous_turn() -> None:
    # The second turn starts 100 ms after the first was declared over (and committed).
    pcm = tone(400, sample_rate=24000) + silence(600) + tone(400, sample_rate=24000) + silence(600)
    assert pairs(feed_ms(pcm, sample_rate=24000)) == [(0, 900), (900, 1900)]
    loose = pcm[: 2 * 24 * 1000] + silence(600) + pcm[2 * 24 * 1000 :]
    assert pairs(feed_ms(loose, sample_rate=24000)) == [(0, 900), (1300, 2500)]


def test_quiet_line_noise_never_triggers_at_the_default_threshold() -> None:
    hiss = noise(10_000, sample_rate=8000, dbfs=-60.0)
    assert feed_ms(hiss, sample_rate=8000) == []
    # A threshold below the noise does hear it: the test above can fail.
    assert feed_ms(hiss, sample_rate=8000, vad=ServerVadSettings(threshold=0.1)) != []


def test_higher_threshold_needs_louder_audio() -> None:
    pcm = silence(500) + tone(500, sample_rate=24000, dbfs=-35.0) + silence(800)
    assert pairs(feed_ms(pcm, sample_rate=24000)) == [(200, 1500)]
    assert feed_ms(pcm, sample_rate=24000, vad=ServerVadSettings(threshold=0.8)) == []


def test_threshold_mapping_is_documented_and_increasing() -> None:
    assert threshold_dbfs(0.0) == -70.0
    assert threshold_dbfs(0.5) == -45.0
    assert threshold_dbfs(1.0) == -20.0
    levels = [threshold_dbfs(t / 10) for t in range(11)]
    assert levels == sorted(levels)


def test_a_click_is_not_speech_but_two_frames_are() -> None:
    click = silence(500) + tone(10, sample_rate=24000) + silence(1000)
    assert feed_ms(click, sample_rate=24000) == []
    short = silence(500) + tone(20, sample_rate=24000) + silence(1000)
    assert pairs(feed_ms(short, sample_rate=24000)) == [(200, 1020)]


def test_a_pause_shorter_than_the_silence_duration_keeps_the_turn() -> None:
    pcm = silence(500) + tone(300, sample_rate=24000) + silence(490) + tone(300, sample_rate=24000)
    assert pairs(feed_ms(pcm + silence(600), sample_rate=24000)) == [(200, 2090)]
    pcm = silence(500) + tone(300, sample_rate=24000) + silence(500) + tone(300, sample_rate=24000)
    assert pairs(feed_ms(pcm + silence(600), sample_rate=24000)) == [(200, 1300), (1300, 2100)]


def test_semantic_eagerness_orders_the_silence_needed() -> None:
    waits = {e: ServerVadSettings.semantic(e).silence_duration_ms for e in ("low", "medium", "auto", "high")}
    assert waits["high"] < waits["medium"] == waits["auto"] < waits["low"]
    assert ServerVadSettings.semantic().silence_duration_ms == waits["auto"]
    # A 700 ms pause ends the turn for eager detectors only.
    pcm = tone(400, sample_rate=24000) + silence(700) + tone(400, sample_rate=24000) + silence(1500)
    turns = {e: len(pairs(feed_ms(pcm, sample_rate=24000, vad=ServerVadSettings.semantic(e)))) for e in waits}
    assert turns == {"low": 1, "medium": 2, "auto": 2, "high": 2}
    with pytest.raises(ConfigurationError, match="eagerness"):
        ServerVadSettings.semantic("eager")


# --- Chunking, reset and configuration --------------------------------------------------------------

_RATE = 8000
_SIGNAL = (
    silence(90, sample_rate=_RATE)
    + tone(130, sample_rate=_RATE)
    + silence(120, sample_rate=_RATE)
    + tone(50, sample_rate=_RATE, dbfs=-40.0)
    + silence(260, sample_rate=_RATE)
    + tone(10, sample_rate=_RATE)
    + silence(40, sample_rate=_RATE)
    + tone(70, sample_rate=_RATE)
    + silence(300, sample_rate=_RATE)
    + b"\x01"  # a trailing odd byte
)
_SETTINGS = ServerVadSettings(prefix_padding_ms=50, silence_duration_ms=200)


def test_synthetic_signal_has_the_expected_turns() -> None:
    detector = VoiceActivityDetector(_SETTINGS, _RATE)
    # Onset 90 ms; a 120 ms pause and a quieter (-40 dBFS) burst continue the turn to 390 ms; 260 ms of
    # silence end it; a 10 ms click is ignored; speech at 700..770 ms pads back only to 650 ms.
    assert pairs(detector.receive_audio(_SIGNAL)) == [(40, 590), (650, 970)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(_SIGNAL)), max_size=40))
def test_events_do_not_depend_on_how_audio_is_split(cuts: list[int]) -> None:
    whole = VoiceActivityDetector(_SETTINGS, _RATE)
    expected = whole.receive_audio(_SIGNAL)
    split = VoiceActivityDetector(_SETTINGS, _RATE)
    bounds = [0, *sorted(cuts), len(_SIGNAL)]
    events: list[VadEvent] = []
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        events += split.receive_audio(_SIGNAL[lo:hi])
    assert events == expected
    assert split.audio_ms == whole.audio_ms


@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, 7, 159, 160, 161, 320, 1001])
def test_fixed_chunk_sizes_give_the_same_events(chunk_bytes: int) -> None:
    expected = VoiceActivityDetector(_SETTINGS, _RATE).receive_audio(_SIGNAL)
    assert feed(VoiceActivityDetector(_SETTINGS, _RATE), _SIGNAL, chunk_bytes) == expected


def test_audio_ms_counts_everything_received() -> None:
    detector = VoiceActivityDetector(ServerVadSettings(), 8000)
    assert detector.audio_ms == 0
    detector.receive_audio(b"\x00" * 15)  # 7.5 samples: less than 1 ms
    assert detector.audio_ms == 0
    detector.receive_audio(b"\x00" * 17)  # 16 samples = 2 ms
    assert detector.audio_ms == 2
    detector.receive_audio(silence(1000, sample_rate=8000))
    assert detector.audio_ms == 1002


def test_reset_forgets_speech_but_keeps_the_timeline() -> None:
    detector = VoiceActivityDetector(ServerVadSettings(), 24000)
    assert detector.speech_bounds_ms() is None
    assert detector.receive_audio(silence(1000) + tone(200, sample_rate=24000)) == [
        SpeechStarted(audio_start_ms=700)
    ]
    assert detector.speech_bounds_ms() == (1000, 1200)
    detector.receive_audio(silence(5))  # half a frame before the clear
    speaking_before = detector.speaking
    detector.reset()
    assert (speaking_before, detector.speaking) == (True, False)
    assert detector.speech_bounds_ms() is None
    assert detector.audio_ms == 1205
    assert detector.receive_audio(silence(100)) == []
    # Speech 100 ms later is a new turn (without the reset it would continue the old one); the
    # timeline went on, and its padding stops at the clear (1205 ms) instead of reaching 1000 ms.
    events = detector.receive_audio(tone(300, sample_rate=24000) + silence(600))
    assert events == [SpeechStarted(audio_start_ms=1205), SpeechStopped(audio_end_ms=2110)]


def test_reset_mid_frame_never_reports_a_start_after_the_onset() -> None:
    detector = VoiceActivityDetector(ServerVadSettings(), 24000)
    detector.receive_audio(silence(1005))
    detector.reset()
    # The frame 1000..1010 is voiced but began before the reset point.
    events = detector.receive_audio(tone(300, sample_rate=24000) + silence(600))
    assert events == [SpeechStarted(audio_start_ms=1000), SpeechStopped(audio_end_ms=1810)]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"threshold": -0.1},
        {"threshold": 1.5},
        {"threshold": math.nan},
        {"prefix_padding_ms": -1},
        {"silence_duration_ms": -1},
        {"min_speech_duration_ms": 0},
    ],
)
def test_invalid_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        ServerVadSettings(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("sample_rate", [0, -8000, 22050, 44101])
def test_sample_rates_without_whole_10ms_frames_are_refused(sample_rate: int) -> None:
    with pytest.raises(ConfigurationError, match="sample_rate"):
        VoiceActivityDetector(ServerVadSettings(), sample_rate)


def test_detector_exposes_its_configuration() -> None:
    vad = ServerVadSettings.semantic("low")
    detector = VoiceActivityDetector(vad, 16000)
    assert detector.settings is vad
    assert detector.sample_rate == 16000
