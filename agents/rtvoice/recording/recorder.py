"""``recording_path``: a call recorded to a WAV file on the call's real timeline, as the call runs.

:class:`CallRecorder` joins the pure :class:`~rtvoice.recording.timeline.RecordingTimeline` to a
:class:`~rtvoice.recording.wav_stream.WavStreamWriter`. The agent feeds it what the caller said and what it
sent to the speaker, and calls :meth:`CallRecorder.advance` every 100 ms or so from its own task; each
call hands the audio that became final to the file, which appends it every ``write_every_ms`` of audio
(200 ms by default) and updates its header every ``header_every_ms`` (500 ms). Memory stays bounded (the
audio scheduled ahead plus ``hold_ms``), and the file is a valid WAV file at every moment: if the
process dies mid-call it lacks less than ``write_every_ms + header_every_ms`` of the audio advanced.

It fixes rtvoice 0.7.0's recorder: pauses are kept, replies sit where they were played, audio cut at
barge-in is left out, the caller is recorded while the agent speaks, the file exists from the start of
the call, and nothing is mixed on the event loop at the end.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

from rtvoice.recording.timeline import RecordingTimeline
from rtvoice.recording.wav_stream import WavStreamWriter

__all__ = ["CallRecorder"]

_WRITE_BLOCK_MS = 1000.0  # one advance writes at most this much at a time, to bound its memory
WRITE_EVERY_MS = 200.0
HEADER_EVERY_MS = 500.0


class CallRecorder:
    """Records a call to a WAV file as it runs: mono mix by default, or caller left / agent right.

    Times are milliseconds since the call started, from the caller's clock. Typical use by the agent:

    * caller audio: ``add_caller(chunk, arrival_ms - chunk_ms)`` (the capture time of its first sample);
    * audio sent to the speaker: ``schedule_agent(chunk, start_ms)``, where ``start_ms`` is when the
      speaker will start playing it (now plus what it still has queued);
    * barge-in: ``cut_agent(now_ms)`` when the speaker's queue is cleared;
    * every ~100 ms: ``advance(now_ms)``; at the end: ``close(now_ms)``.

    Args:
        path: the WAV file to write; created (or truncated) at once.
        stereo: two channels, caller left and agent right, instead of a clipped mono mix.
        sample_rate: the rate of all audio given and written (PCM16 24 kHz from the Realtime API).
        jitter_ms: see :class:`~rtvoice.recording.timeline.RecordingTimeline`.
        hold_ms: see :class:`~rtvoice.recording.timeline.RecordingTimeline`.
        write_every_ms: append to the file in blocks of at least this much audio (0: at every advance).
        header_every_ms: update the WAV header once the file holds this much audio more than it counts.
            A process killed mid-call leaves a valid file lacking less than the sum of the two steps.

    Raises:
        ConfigurationError: an argument is out of range.
        OSError: the file cannot be created.
    """

    def __init__(
        self,
        path: str | PathLike[str],
        *,
        stereo: bool = False,
        sample_rate: int = 24000,
        jitter_ms: float = 200.0,
        hold_ms: float = 500.0,
        write_every_ms: float = WRITE_EVERY_MS,
        header_every_ms: float = HEADER_EVERY_MS,
    ) -> None:
        self._timeline = RecordingTimeline(
            sample_rate=sample_rate, stereo=stereo, jitter_ms=jitter_ms, hold_ms=hold_ms
        )
        self._writer = WavStreamWriter(
            path,
            sample_rate=sample_rate,
            channels=self._timeline.channels,
            write_every_ms=write_every_ms,
            header_every_ms=header_every_ms,
        )
        self._last_now_ms = 0.0
        # What one advance() block holds at most: a shorter one means nothing more is final yet.
        self._block_bytes = round(_WRITE_BLOCK_MS * sample_rate / 1000) * self._timeline.frame_bytes

    @property
    def path(self) -> Path:
        """The WAV file."""
        return self._writer.path

    @property
    def stereo(self) -> bool:
        """True when the file has two channels (caller left, agent right)."""
        return self._timeline.stereo

    @property
    def sample_rate(self) -> int:
        """Frames per second in the file."""
        return self._timeline.sample_rate

    @property
    def duration_ms(self) -> float:
        """Milliseconds of call recorded so far (in the file once the next block or :meth:`close` is due)."""
        return self._writer.duration_ms

    @property
    def bytes_written(self) -> int:
        """Audio bytes recorded so far (the 44-byte header not included)."""
        return self._writer.bytes_written

    @property
    def committed_ms(self) -> float:
        """Milliseconds of call the file's header counts now: what a reader sees, and survives a crash."""
        return self._writer.committed_bytes // self._writer.frame_bytes * 1000 / self._writer.sample_rate

    @property
    def timeline(self) -> RecordingTimeline:
        """The timeline underneath, for its counters (``agent_cut_ms``, ``buffered_ms``, ...)."""
        return self._timeline

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._writer.closed

    def add_caller(self, pcm: bytes | bytearray | memoryview, at_ms: float) -> None:
        """Add caller audio whose first sample was captured at ``at_ms``.

        Raises:
            LocalProtocolError: the recorder is closed, or the audio or time is malformed.
        """
        self._timeline.add_caller(pcm, at_ms)

    def schedule_agent(self, pcm: bytes | bytearray | memoryview, at_ms: float) -> None:
        """Add agent audio that the speaker starts playing at ``at_ms`` (or after what it already has).

        Raises:
            LocalProtocolError: the recorder is closed, or the audio or time is malformed.
        """
        self._timeline.schedule_agent(pcm, at_ms)

    def cut_agent(self, at_ms: float) -> float:
        """Barge-in: drop the agent audio that would have played at or after ``at_ms``.

        Returns:
            The milliseconds of agent audio dropped.

        Raises:
            LocalProtocolError: the recorder is closed, or the time is malformed.
        """
        return self._timeline.cut_agent(at_ms)

    def advance(self, now_ms: float) -> int:
        """Hand the audio that became final by ``now_ms`` to the file (written when its block is due).

        Returns:
            The number of bytes recorded by this call.

        Raises:
            LocalProtocolError: the recorder is closed, or the time is malformed.
            OSError: the file could not be written.
        """
        # In blocks, so a long gap between calls never builds one huge buffer.
        timeline = self._timeline
        frames = timeline.advance(now_ms, max_ms=_WRITE_BLOCK_MS)  # validates now_ms first
        self._last_now_ms = max(self._last_now_ms, float(now_ms))
        written = 0
        while frames:
            self._writer.write(frames)
            written += len(frames)
            if len(frames) < self._block_bytes:
                break  # less than a whole block: nothing more is final yet
            frames = timeline.advance(now_ms, max_ms=_WRITE_BLOCK_MS)
        return written

    def flush(self) -> None:
        """Write everything recorded so far to the file and update its header now.

        Raises:
            ValueError: the recorder is closed.
            OSError: the file could not be written.
        """
        self._writer.flush()

    def close(self, now_ms: float | None = None) -> None:
        """End the recording at ``now_ms`` and close the file. Idempotent.

        Agent audio that would have played at or after ``now_ms`` is left out; all caller audio is
        kept. Without ``now_ms``, the call ends at the latest time given to :meth:`advance`.

        Raises:
            LocalProtocolError: the time is malformed.
            OSError: the file could not be written; it is closed anyway and stays valid.
        """
        if self._writer.closed:
            return
        end = self._last_now_ms if now_ms is None else now_ms
        try:
            self.advance(end)
            self._writer.write(self._timeline.finish(end))
        finally:
            self._writer.close()

    def __enter__(self) -> CallRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
