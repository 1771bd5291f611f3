"""Server-side turn detection for the Realtime simulator: ``server_vad`` and an approximate ``semantic_vad``.

Theory of operation
-------------------
The detector works on the *input audio timeline*: the milliseconds of audio appended to the input buffer
so far this session (reference §4: ``audio_start_ms`` counts from the start of all audio written this
session). It never reads a clock, so the same audio always gives the same events, at the same
positions, however it is split into chunks.

Audio is PCM16 little-endian mono at ``sample_rate`` (8000, 16000, 24000 or any multiple of 100 Hz). It
is cut into 10 ms analysis frames on a grid anchored at the start of the session; bytes that do not fill
a frame (including an odd trailing byte) are carried over to the next :meth:`receive_audio` call.

Each frame is *voiced* when its RMS level is above :func:`threshold_dbfs` of the settings' ``threshold``:

    dBFS = -70 + 50 * threshold      (0.0 → -70 dBFS, 0.5 → -45 dBFS, 1.0 → -20 dBFS)

so at the default 0.5 normal speech (about -20 dBFS) triggers and line noise (-60 dBFS) does not, and a
higher threshold needs louder audio, as in the real API. The real server runs a neural model whose
``threshold`` is a probability; this mapping is a documented stand-in, not a copy.

States::

    SILENT ──(min_speech_duration_ms of consecutive voiced frames)──▶ SPEAKING   emits SpeechStarted
    SPEAKING ──(silence_duration_ms of consecutive unvoiced frames)──▶ SILENT    emits SpeechStopped

- The onset is the start of the *first* voiced frame of the run that confirmed speech, even though the
  event is only emitted once the run is long enough (a 10 ms click is not speech).
  ``SpeechStarted.audio_start_ms = max(floor, onset - prefix_padding_ms)``: the padding reaches back
  into the buffer but never before ``floor``, the point where the input buffer last started empty
  (session start, the previous turn's commit at ``SpeechStopped`` or a :meth:`reset`), because that
  audio has already been committed or cleared.
- While speaking, every voiced frame extends the speech; the end is the end of the last voiced frame.
  The stop is declared only once ``silence_duration_ms`` of continuous unvoiced audio has been
  *received* after it, and ``SpeechStopped.audio_end_ms = end + silence_duration_ms``, which is the
  timeline position at which it is emitted (exactly, when ``silence_duration_ms`` is a multiple of 10).
  This matches the SDK docstring: the end of audio sent to the model "includes the
  min_silence_duration_ms".

``semantic_vad`` is approximated by ``server_vad`` with a silence duration chosen by eagerness (see
:meth:`ServerVadSettings.semantic`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rtvoice.exceptions import ConfigurationError

__all__ = [
    "FRAME_MS",
    "SEMANTIC_SILENCE_MS",
    "ServerVadSettings",
    "SpeechStarted",
    "SpeechStopped",
    "VadEvent",
    "VoiceActivityDetector",
    "threshold_dbfs",
]

FRAME_MS = 10
"""Length of one analysis frame."""

SEMANTIC_SILENCE_MS: dict[str, int] = {"low": 900, "medium": 500, "auto": 500, "high": 300}
"""Silence before a turn ends, per ``semantic_vad`` eagerness. The real model waits for a complete
thought, up to 8 s / 4 s / 2 s for low / medium / high; a fixed pause keeps only the ordering."""


def threshold_dbfs(threshold: float) -> float:
    """Map the API's 0..1 ``threshold`` to the RMS level (dBFS) a 10 ms frame must exceed.

    Args:
        threshold: The ``turn_detection.threshold`` value, 0..1.

    Returns:
        ``-70 + 50 * threshold``: -70 dBFS at 0, -45 dBFS at the default 0.5, -20 dBFS at 1.
    """
    return -70.0 + 50.0 * threshold


@dataclass(frozen=True)
class ServerVadSettings:
    """The ``server_vad`` parameters the detector uses (reference §2, ``audio.input.turn_detection``).

    Attributes:
        threshold: 0..1; higher needs louder audio (see :func:`threshold_dbfs`).
        prefix_padding_ms: Audio before the onset included in ``audio_start_ms``.
        silence_duration_ms: Continuous silence after the last voiced frame that ends the turn.
        min_speech_duration_ms: Consecutive voiced audio needed before speech is declared; shorter
            bursts (clicks) are ignored. Not an API parameter.

    Raises:
        ConfigurationError: A value is out of range.
    """

    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500
    min_speech_duration_ms: int = 2 * FRAME_MS

    def __post_init__(self) -> None:
        if not (0.0 <= self.threshold <= 1.0) or math.isnan(self.threshold):
            raise ConfigurationError(f"threshold must be within 0..1, got {self.threshold}")
        if self.prefix_padding_ms < 0:
            raise ConfigurationError(f"prefix_padding_ms must be >= 0, got {self.prefix_padding_ms}")
        if self.silence_duration_ms < 0:
            raise ConfigurationError(f"silence_duration_ms must be >= 0, got {self.silence_duration_ms}")
        if self.min_speech_duration_ms < FRAME_MS:
            raise ConfigurationError(
                f"min_speech_duration_ms must be >= {FRAME_MS}, got {self.min_speech_duration_ms}"
            )

    @classmethod
    def semantic(cls, eagerness: str = "auto") -> ServerVadSettings:
        """Approximate ``semantic_vad`` with the given eagerness.

        Args:
            eagerness: ``"low"`` (900 ms of silence), ``"medium"`` or ``"auto"`` (500 ms) or
                ``"high"`` (300 ms). Threshold and prefix padding keep their defaults.

        Returns:
            The equivalent ``server_vad`` settings.

        Raises:
            ConfigurationError: ``eagerness`` is not one of the API's values.
        """
        try:
            silence_ms = SEMANTIC_SILENCE_MS[eagerness]
        except KeyError:
            raise ConfigurationError(
                f"semantic_vad eagerness must be one of {sorted(SEMANTIC_SILENCE_MS)}, got {eagerness!r}"
            ) from None
        return cls(silence_duration_ms=silence_ms)


@dataclass(frozen=True)
class SpeechStarted:
    """Speech began; becomes ``input_audio_buffer.speech_started``.

    Attributes:
        audio_start_ms: Onset minus prefix padding, clamped to the start of the current buffer.
    """

    audio_start_ms: int


@dataclass(frozen=True)
class SpeechStopped:
    """Speech ended; becomes ``input_audio_buffer.speech_stopped`` (and, in the simulator, a commit).

    Attributes:
        audio_end_ms: End of the last voiced frame plus ``silence_duration_ms``.
    """

    audio_end_ms: int


VadEvent = SpeechStarted | SpeechStopped


class VoiceActivityDetector:
    """Energy-based turn detection over PCM16 mono audio, on the input audio timeline.

    Args:
        settings: Detection parameters.
        sample_rate: Sample rate of the PCM16 input; a multiple of 100 Hz so a 10 ms frame is whole.

    Raises:
        ConfigurationError: ``sample_rate`` is not a positive multiple of 100.
    """

    def __init__(self, settings: ServerVadSettings, sample_rate: int = 24000) -> None:
        if sample_rate <= 0 or sample_rate % 100:
            raise ConfigurationError(f"sample_rate must be a positive multiple of 100 Hz, got {sample_rate}")
        self._settings = settings
        self._sample_rate = sample_rate
        self._frame_samples = sample_rate * FRAME_MS // 1000
        # A frame is voiced when its mean square exceeds this; comparing powers avoids a log per frame.
        self._power_threshold = (32768.0 * 10.0 ** (threshold_dbfs(settings.threshold) / 20.0)) ** 2
        self._min_speech_frames = -(-settings.min_speech_duration_ms // FRAME_MS)
        self._silence_frames = -(-settings.silence_duration_ms // FRAME_MS)
        self._carry = b""
        self._frames = 0  # whole frames analysed so far: the frame grid on the session timeline
        self._received_bytes = 0
        self._floor_ms = 0
        self._reset_detection()

    def _reset_detection(self) -> None:
        self._speaking = False
        self._voiced_run = 0  # consecutive voiced frames while silent (pending onset)
        self._unvoiced_run = 0  # consecutive unvoiced frames while speaking
        self._onset_frame: int | None = None
        self._end_frame: int | None = None  # frame index just past the last voiced frame

    @property
    def settings(self) -> ServerVadSettings:
        """The settings this detector was built with."""
        return self._settings

    @property
    def sample_rate(self) -> int:
        """Sample rate of the expected PCM16 input."""
        return self._sample_rate

    @property
    def audio_ms(self) -> int:
        """Milliseconds of audio received so far this session, partial frames included (rounded down)."""
        return (self._received_bytes // 2) * 1000 // self._sample_rate

    @property
    def speaking(self) -> bool:
        """Whether speech has started and not yet stopped."""
        return self._speaking

    def speech_bounds_ms(self) -> tuple[int, int | None] | None:
        """Where the current or most recent speech lies on the timeline, without padding or silence.

        Returns:
            ``(onset_ms, end_ms)``, where ``end_ms`` is the end of the last voiced frame so far (it can
            still grow while :attr:`speaking`), or ``None`` before any speech since the last reset.
        """
        if self._onset_frame is None:
            return None
        end = None if self._end_frame is None else self._end_frame * FRAME_MS
        return self._onset_frame * FRAME_MS, end

    def reset(self) -> None:
        """Forget any speech in progress, as after ``input_audio_buffer.clear``.

        The timeline continues (``audio_ms`` keeps counting, as the API's ``audio_start_ms`` counts all
        audio written this session) and the frame grid stays aligned to it, so a partial frame received
        before the reset is still completed by the next chunk. Prefix padding of the next speech never
        reaches back before this point, because that audio was cleared. Emits nothing, even mid-speech.
        """
        self._reset_detection()
        self._floor_ms = self.audio_ms

    def receive_audio(self, pcm: bytes) -> list[VadEvent]:
        """Feed input audio and return the events it completes, in timeline order.

        Args:
            pcm: PCM16 little-endian mono at :attr:`sample_rate`, of any length (even odd).

        Returns:
            ``SpeechStarted`` and ``SpeechStopped`` events; concatenated over calls, the list is the
            same however the audio is split into chunks.
        """
        self._received_bytes += len(pcm)
        data = self._carry + pcm
        frame_bytes = 2 * self._frame_samples
        whole = len(data) // frame_bytes
        self._carry = data[whole * frame_bytes :]
        if whole == 0:
            return []
        samples = np.frombuffer(data, dtype="<i2", count=whole * self._frame_samples).astype(np.float64)
        power = np.mean(np.square(samples.reshape(whole, self._frame_samples)), axis=1)
        events: list[VadEvent] = []
        for is_voiced in (power > self._power_threshold).tolist():
            event = self._receive_frame(is_voiced)
            if event is not None:
                events.append(event)
        return events

    def _receive_frame(self, voiced: bool) -> VadEvent | None:
        index = self._frames
        self._frames += 1
        if not self._speaking:
            if not voiced:
                self._voiced_run = 0
                return None
            self._voiced_run += 1
            if self._voiced_run < self._min_speech_frames:
                return None
            onset = index - self._voiced_run + 1
            self._speaking = True
            self._unvoiced_run = 0
            self._onset_frame = onset
            self._end_frame = index + 1
            onset_ms = onset * FRAME_MS
            # min(): after a reset mid-frame the onset frame may begin a few ms before the floor.
            start_ms = max(min(self._floor_ms, onset_ms), onset_ms - self._settings.prefix_padding_ms)
            return SpeechStarted(audio_start_ms=start_ms)
        if voiced:
            self._unvoiced_run = 0
            self._end_frame = index + 1
            return None
        self._unvoiced_run += 1
        if self._unvoiced_run < self._silence_frames:
            return None
        assert self._end_frame is not None  # set when speech started
        end_ms = self._end_frame * FRAME_MS + self._settings.silence_duration_ms
        self._speaking = False
        self._voiced_run = 0
        # The simulator commits the buffer here, so the next turn's padding starts after this point.
        self._floor_ms = end_ms
        return SpeechStopped(audio_end_ms=end_ms)
