"""The simulated session's input audio buffer: appended audio, its length, and the VAD watching it (pure).

Every length here is on the *input audio timeline* (milliseconds of audio appended, computed from the byte
count and the session's input format), never on the wall clock. The session (``session.py``) turns what
this buffer reports, speech started or stopped and the committed length, into server events.
"""

from __future__ import annotations

from typing import Any

from rtvoice.testing.session_config import audio_format, vad_settings
from rtvoice.testing.vad import VadEvent, VoiceActivityDetector
from rtvoice.testing.validation import ApiError
from rtvoice_codecs import alaw_to_pcm16, ulaw_to_pcm16

__all__ = ["InputAudioBuffer"]

_MIN_COMMIT_MS = 100.0


class InputAudioBuffer:
    """The uncommitted input audio of one session and the VAD listening to it.

    Attributes:
        input_ms: milliseconds of input audio appended this session.
        buffer_ms: milliseconds appended since the last commit or clear.
    """

    def __init__(self) -> None:
        self.input_ms = 0.0
        self.buffer_ms = 0.0
        self._vad: VoiceActivityDetector | None = None

    def configure(self, input_config: dict[str, Any]) -> None:
        """Set up the VAD for the session's ``audio.input`` (no turn detection: no VAD)."""
        td = input_config.get("turn_detection")
        if not isinstance(td, dict):
            self._vad = None
            return
        _, rate, _ = audio_format(input_config.get("format"))
        self._vad = VoiceActivityDetector(vad_settings(td), sample_rate=rate)

    def append(self, audio: bytes, input_format: dict[str, Any] | None) -> list[VadEvent]:
        """Add appended audio in the session's input format.

        Returns:
            What the VAD heard in it, in order (nothing without turn detection).
        """
        codec, _, bytes_per_ms = audio_format(input_format)
        if codec == "pcmu":
            pcm = ulaw_to_pcm16(audio)
        elif codec == "pcma":
            pcm = alaw_to_pcm16(audio)
        else:
            pcm = audio
        ms = len(audio) / bytes_per_ms
        self.input_ms += ms
        self.buffer_ms += ms
        if self._vad is None:
            return []
        return self._vad.receive_audio(pcm)

    def clear(self) -> None:
        """Drop the uncommitted audio (``input_audio_buffer.clear``)."""
        self.buffer_ms = 0.0
        if self._vad is not None:
            self._vad.reset()

    def take(self, *, manual: bool) -> float:
        """Commit the buffer: its length in ms, and the buffer starts empty again.

        Args:
            manual: a client's ``input_audio_buffer.commit`` (the VAD's own commits are never refused).

        Raises:
            ApiError: a manual commit of less than 100 ms (``input_audio_buffer_commit_empty``).
        """
        if manual and self.buffer_ms < _MIN_COMMIT_MS:
            raise ApiError(
                "input_audio_buffer_commit_empty",
                "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, "
                f"but buffer only has {self.buffer_ms:.2f}ms of audio.",
            )
        audio_ms = self.buffer_ms
        self.buffer_ms = 0.0
        return audio_ms
