"""Recording a live session: device audio in any format onto a :class:`CallRecorder`'s timeline.

The agent feeds it as audio moves: every microphone chunk (placed by arrival on the call's clock), every
assistant chunk handed to the speaker (placed where the speaker will play it: now plus what is queued
ahead of it), and every barge-in clear (the unplayed rest is cut). G.711 devices are decoded and
resampled to the recording's 24 kHz PCM16 with the project's low-delay resampler.

Cost on the event loop: microphone chunks are kept as they come (a list append) and converted and
placed together every ``ADVANCE_EVERY_MS`` (400 ms) of call time, when the timeline renders finished
audio; when the session converts a G.711 microphone for the upstream anyway, the recorder is given that
audio already converted (:meth:`SessionRecorder.add_converted_caller`) and placed the same way
(the converters and the timeline give the same bytes however the audio is split), and the file is appended
every 400 ms of audio with its header updated at each append (``WRITE_EVERY_MS``). A process killed
mid-call leaves a valid WAV file that lacks less than 800 ms (400 + 400) of the call. Measured with 50
calls in one process (``scripts/bench agent --calls``), 400 ms steps instead of 200 halved what recording
adds to a call's CPU (the appends, the advances and the caller's conversion all happen half as often).
"""

from __future__ import annotations

from os import PathLike

from rtvoice.audio.convert import ToPcm24
from rtvoice.audio.format import AudioFormat
from rtvoice.recording.recorder import CallRecorder

__all__ = ["ADVANCE_EVERY_MS", "WRITE_EVERY_MS", "SessionRecorder", "ToPcm24"]

ADVANCE_EVERY_MS = 400.0
"""Call time between two advances of the timeline (the caller's chunks are placed together at each)."""
WRITE_EVERY_MS = 400.0
"""Audio appended to the file at a time; the header is updated with every append."""

_PCM24_BYTES_PER_MS = AudioFormat.PCM16_24K.bytes_per_ms
_SAME_MS = 1e-6  # start times computed two ways (sums of chunk lengths) that name the same sample


class SessionRecorder:
    """A :class:`CallRecorder` fed with a session's device audio.

    Args:
        path: the WAV file to write.
        stereo: caller left, assistant right (instead of a mono mix).
        input_format: the microphone's format.
        output_format: the speaker's format.
    """

    def __init__(
        self,
        path: str | PathLike[str],
        *,
        stereo: bool,
        input_format: AudioFormat,
        output_format: AudioFormat,
    ) -> None:
        self._recorder = CallRecorder(
            path, stereo=stereo, write_every_ms=WRITE_EVERY_MS, header_every_ms=WRITE_EVERY_MS
        )
        self._caller = ToPcm24(input_format)
        self._assistant = ToPcm24(output_format)
        self._advanced_ms = 0.0
        self._held: list[bytes] = []  # caller chunks not placed yet, contiguous from _held_start_ms
        self._held_start_ms = 0.0
        self._held_end_ms = 0.0
        self._held_pcm: list[bytes] = []  # converted caller audio not placed yet, from _held_pcm_start_ms
        self._held_pcm_start_ms = 0.0
        self._held_pcm_end_ms = 0.0

    @property
    def recorder(self) -> CallRecorder:
        """The recorder underneath (its file, counters and timeline)."""
        return self._recorder

    def add_caller(self, chunk: bytes, start_ms: float, now_ms: float) -> None:
        """A microphone chunk that began at ``start_ms`` on the call's clock; every ``ADVANCE_EVERY_MS``
        of call time, place the chunks kept since (as one) and hand what became final to the file."""
        if self._held and start_ms != self._held_end_ms:
            self._place_caller()  # not contiguous: the timeline decides where this one goes
        if not self._held:
            self._held_start_ms = start_ms
        self._held.append(chunk)
        self._held_end_ms = now_ms
        self.tick(now_ms)

    def add_converted_caller(self, pcm: bytes, start_ms: float) -> None:
        """Caller audio already in the recording's PCM16 24 kHz, whose first sample began at ``start_ms``:
        the session's own conversion of what it sent upstream, so the recorder does not convert the same
        audio again. Placed at the next advance (:meth:`tick`), after the chunks of :meth:`add_caller`."""
        if self._held_pcm and abs(start_ms - self._held_pcm_end_ms) > _SAME_MS:
            self._place_caller()  # (earlier audio first: the timeline takes the caller's audio in order)
            self._place_converted()  # not contiguous: the timeline decides where this one goes
        if not self._held_pcm:
            self._held_pcm_start_ms = start_ms
        self._held_pcm.append(pcm)
        self._held_pcm_end_ms = start_ms + len(pcm) / _PCM24_BYTES_PER_MS

    @property
    def next_tick_ms(self) -> float:
        """The call time from which :meth:`tick` advances again (before it, a tick does nothing)."""
        return self._advanced_ms + ADVANCE_EVERY_MS

    def tick(self, now_ms: float) -> None:
        """The call's clock reached ``now_ms``: every ``ADVANCE_EVERY_MS``, place the caller audio kept
        since the last advance and hand what became final to the file."""
        if now_ms - self._advanced_ms >= ADVANCE_EVERY_MS:
            self._place_caller()
            self._place_converted()
            self._recorder.advance(now_ms)
            self._advanced_ms = now_ms

    def _place_caller(self) -> None:
        if not self._held:
            return
        held = self._held[0] if len(self._held) == 1 else b"".join(self._held)
        self._held.clear()
        self._recorder.add_caller(self._caller.convert(held), self._held_start_ms)

    def _place_converted(self) -> None:
        if not self._held_pcm:
            return
        held = self._held_pcm[0] if len(self._held_pcm) == 1 else b"".join(self._held_pcm)
        self._held_pcm.clear()
        self._recorder.add_caller(held, self._held_pcm_start_ms)

    def add_assistant(self, audio: bytes, at_ms: float) -> None:
        """Assistant audio the speaker will start playing at ``at_ms``."""
        self._recorder.schedule_agent(self._assistant.convert(audio), at_ms)

    def cut_assistant(self, at_ms: float) -> None:
        """Barge-in: drop the assistant audio scheduled from ``at_ms`` on."""
        self._recorder.cut_agent(at_ms)

    def close(self, now_ms: float) -> None:
        """Write the rest and finalise the file."""
        try:
            self._place_caller()
            self._place_converted()
        finally:
            self._recorder.close(now_ms)
