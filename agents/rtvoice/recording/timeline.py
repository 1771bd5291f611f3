"""The call's audio on one timeline: what the caller said and what the caller heard, in real time.

Theory of operation
-------------------
Everything is counted in *samples* of the output rate since the call started; the public methods take
milliseconds (``at_ms``, ``now_ms``, given by the caller: this module never reads a clock) and round them
to the nearest sample. Two tracks sit on the timeline:

* **caller** audio is placed where it was captured. Chunks arrive in order; each is placed at the
  *caller cursor* (the end of the previous chunk) as long as it claims to start no more than
  ``jitter_ms`` after it, so network jitter, small overlaps and clock drift never drop, duplicate or
  reorder a sample. A chunk that starts more than ``jitter_ms`` after the cursor marks a real gap (the
  microphone paused): silence fills it and the chunk goes where it says.
* **agent** audio is placed where it will be *played*. :meth:`RecordingTimeline.schedule_agent` queues a
  chunk at ``at_ms`` or right after the audio already scheduled, whichever is later (a speaker plays
  its queue back to back). :meth:`RecordingTimeline.cut_agent` is barge-in: everything scheduled at or
  after the cut goes, including the unplayed rest of a chunk that straddles it.

The output is produced by :meth:`RecordingTimeline.advance` in order and exactly once: the frames from
the previous call's end up to a *final* position, with digital silence wherever neither track has audio.
A position is final when nothing can change it any more:

* agent audio up to ``now`` has been played and can no longer be cut, so the final position never
  passes ``now``;
* caller audio for a moment may still be on its way. While caller audio keeps arriving the timeline
  follows the caller cursor; when none arrives it waits ``hold_ms`` before writing silence for the
  caller. So ``final = min(now, max(caller cursor, now - hold_ms))``.

A caller chunk that arrives later than that (its place was already written) is moved to the first free
position instead of being dropped; ``caller_shifted_ms`` counts such moves. With ``hold_ms`` at least
``jitter_ms`` plus the longest chunk, a chunk that is late by no more than ``jitter_ms`` never moves, and
the output does not depend on when or how often :meth:`~RecordingTimeline.advance` is called.

Invariants: the segments of each track are sorted and do not overlap; nothing before the final position
is kept in memory, so memory is bounded by the agent audio scheduled ahead (a few seconds) plus
``hold_ms`` of caller audio, not by the length of the call.

Mixing: mono sums the tracks and clips to 16 bits (as rtvoice 0.7.0 did); stereo puts the caller on the
left channel and the agent on the right.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rtvoice.exceptions import ConfigurationError, LocalProtocolError

__all__ = ["RecordingTimeline"]

_Samples = npt.NDArray[np.int16]
_INT16_MIN, _INT16_MAX = -32768, 32767


@dataclass(slots=True)
class _Segment:
    start: int  # sample position of samples[0]
    samples: _Samples  # a read-only view; trimming slices it, never copies

    @property
    def end(self) -> int:
        return self.start + len(self.samples)


class _Track:
    """One voice's audio on the timeline: sorted, non-overlapping segments."""

    __slots__ = ("buffered", "end", "segments")

    def __init__(self) -> None:
        self.segments: deque[_Segment] = deque()
        self.end = 0  # where the last placed audio ends (the caller cursor, or the agent queue's end)
        self.buffered = 0  # samples held in memory

    def place(self, start: int, samples: _Samples) -> None:
        # Callers guarantee start >= end, which keeps the segments sorted and disjoint.
        self.segments.append(_Segment(start, samples))
        self.end = start + len(samples)
        self.buffered += len(samples)

    def render(self, out: npt.NDArray[np.int16] | npt.NDArray[np.int32], first: int) -> None:
        """Add this track's audio into ``out``, whose element 0 is sample position ``first``."""
        last = first + len(out)
        for seg in self.segments:
            if seg.start >= last:
                break
            # Audio before ``first`` was forgotten when it was emitted, and no segment is empty, so
            # every segment that starts before ``last`` overlaps the window.
            a, b = max(seg.start, first), min(seg.end, last)
            out[a - first : b - first] += seg.samples[a - seg.start : b - seg.start]

    def silent_before(self, last: int) -> bool:
        """True when no audio of this track starts before ``last`` (after what was forgotten)."""
        return not self.segments or self.segments[0].start >= last

    def covering(self, first: int, last: int) -> _Samples | None:
        """This track's samples for ``[first, last)`` when one segment holds all of them, else None."""
        if not self.segments:
            return None
        seg = self.segments[0]
        if seg.start > first or seg.start + len(seg.samples) < last:
            return None
        return seg.samples[first - seg.start : last - seg.start]

    def forget_before(self, position: int) -> None:
        """Drop audio before ``position`` (it has been emitted)."""
        segments = self.segments
        while segments and segments[0].end <= position:
            self.buffered -= len(segments.popleft().samples)
        if segments and segments[0].start < position:
            head = segments[0]
            k = position - head.start
            head.samples = head.samples[k:]
            head.start = position
            self.buffered -= k

    def cut(self, position: int) -> int:
        """Drop audio at or after ``position``; return how many samples went."""
        dropped = 0
        segments = self.segments
        while segments and segments[-1].start >= position:
            dropped += len(segments.pop().samples)
        if segments and segments[-1].end > position:
            tail = segments[-1]
            keep = position - tail.start
            dropped += len(tail.samples) - keep
            tail.samples = tail.samples[:keep]
        self.buffered -= dropped
        self.end = min(self.end, position)
        return dropped


def _check_ms(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigurationError(f"{name} must be a finite number of milliseconds, not {value!r}")
    if value < 0:
        raise ConfigurationError(f"{name} must not be negative, not {value!r}")
    return float(value)


class RecordingTimeline:
    """Places caller and agent audio on the call's real timeline and emits the finished frames.

    A pure core: no clock, no I/O. Times are milliseconds since the call started, supplied by the
    caller (from a monotonic clock, say). Audio in is PCM16 little-endian mono at ``sample_rate``;
    audio out is PCM16 frames at the same rate, mono (mixed, clipped) or stereo (caller left, agent
    right). See the module docstring for the rules.

    Args:
        sample_rate: the rate of all audio in and out, in Hz.
        stereo: emit two channels (caller left, agent right) instead of a clipped mono mix.
        jitter_ms: a caller chunk claiming to start at most this long after the previous chunk's end is
            placed right after it; a larger gap is kept as silence.
        hold_ms: how long the timeline waits for caller audio before writing silence for it; keep it at
            least ``jitter_ms`` plus the longest caller chunk.

    Raises:
        ConfigurationError: an argument is out of range.
    """

    def __init__(
        self,
        *,
        sample_rate: int = 24000,
        stereo: bool = False,
        jitter_ms: float = 200.0,
        hold_ms: float = 500.0,
    ) -> None:
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
            raise ConfigurationError(f"sample_rate must be a positive whole number, not {sample_rate!r}")
        self._rate = sample_rate
        self._stereo = bool(stereo)
        self._jitter = self._to_samples(_check_ms("jitter_ms", jitter_ms))
        self._hold = self._to_samples(_check_ms("hold_ms", hold_ms))
        self._caller = _Track()
        self._agent = _Track()
        self._caller_started = False
        self._emitted = 0  # every frame before this position has been returned
        self._finished = False
        self._caller_total = 0
        self._agent_total = 0  # scheduled, minus what was cut
        self._agent_cut = 0
        self._caller_shifted = 0
        self._agent_shifted = 0

    # ------------------------------------------------------------------------------------- properties

    @property
    def sample_rate(self) -> int:
        """Frames per second, in and out."""
        return self._rate

    @property
    def stereo(self) -> bool:
        """True when frames are two channels (caller left, agent right)."""
        return self._stereo

    @property
    def channels(self) -> int:
        """1 (mono mix) or 2 (stereo)."""
        return 2 if self._stereo else 1

    @property
    def frame_bytes(self) -> int:
        """Bytes per output frame: 2 for mono, 4 for stereo."""
        return 2 * self.channels

    @property
    def position_frames(self) -> int:
        """Frames emitted so far (the length of the finished recording)."""
        return self._emitted

    @property
    def position_ms(self) -> float:
        """Milliseconds emitted so far."""
        return self._ms(self._emitted)

    @property
    def caller_ms(self) -> float:
        """Caller audio accepted so far, in milliseconds (silence filling gaps not included)."""
        return self._ms(self._caller_total)

    @property
    def agent_ms(self) -> float:
        """Agent audio scheduled so far and not cut, in milliseconds."""
        return self._ms(self._agent_total)

    @property
    def agent_cut_ms(self) -> float:
        """Agent audio dropped by cuts (barge-in) and by :meth:`finish`, in milliseconds."""
        return self._ms(self._agent_cut)

    @property
    def caller_shifted_ms(self) -> float:
        """Total delay applied to caller chunks that arrived after their place was already emitted."""
        return self._ms(self._caller_shifted)

    @property
    def agent_shifted_ms(self) -> float:
        """Total delay applied to agent chunks scheduled to start before the emitted position."""
        return self._ms(self._agent_shifted)

    @property
    def scheduled_until_ms(self) -> float:
        """Where the agent audio scheduled so far ends: the next chunk starts here at the earliest."""
        return self._ms(max(self._agent.end, self._emitted))

    @property
    def buffered_ms(self) -> float:
        """Audio held in memory, both tracks together, in milliseconds."""
        return self._ms(self._caller.buffered + self._agent.buffered)

    @property
    def finished(self) -> bool:
        """True once :meth:`finish` has been called."""
        return self._finished

    # ---------------------------------------------------------------------------------------- inputs

    def add_caller(self, pcm: bytes | bytearray | memoryview, at_ms: float) -> None:
        """Add caller audio captured starting at ``at_ms``.

        For a chunk that has just arrived, that is the arrival time minus the chunk's duration. Chunks
        must be given in the order they were captured. The chunk goes right after the previous one
        unless it claims to start more than ``jitter_ms`` later (then the gap stays silent); if its
        place has already been emitted it goes to the first free position (see ``caller_shifted_ms``).

        Raises:
            LocalProtocolError: the timeline is finished, the PCM has an odd byte count, or ``at_ms``
                is not a finite number.
        """
        samples = self._pcm(pcm)
        start = self._sample("at_ms", at_ms)
        if len(samples) == 0:
            return
        cursor = self._caller.end
        if self._caller_started and start - cursor <= self._jitter:
            start = cursor  # jitter, drift or overlap: the stream is continuous
        self._caller_started = True
        if start < self._emitted:
            self._caller_shifted += self._emitted - start
            start = self._emitted
        self._caller.place(start, samples)
        self._caller_total += len(samples)

    def schedule_agent(self, pcm: bytes | bytearray | memoryview, at_ms: float) -> None:
        """Schedule agent audio expected to start playing at ``at_ms``.

        It is queued after the agent audio scheduled before it if that ends later, as a speaker plays
        its queue. Audio scheduled to start before the emitted position starts there instead (see
        ``agent_shifted_ms``).

        Raises:
            LocalProtocolError: the timeline is finished, the PCM has an odd byte count, or ``at_ms``
                is not a finite number.
        """
        samples = self._pcm(pcm)
        wanted = self._sample("at_ms", at_ms)
        if len(samples) == 0:
            return
        start = max(wanted, self._agent.end)
        if start < self._emitted:
            self._agent_shifted += self._emitted - start
            start = self._emitted
        self._agent.place(start, samples)
        self._agent_total += len(samples)

    def cut_agent(self, at_ms: float) -> float:
        """Barge-in: drop the agent audio scheduled at or after ``at_ms``.

        A chunk that straddles ``at_ms`` keeps its part before it. Audio already emitted cannot be cut,
        so a cut before the emitted position applies at that position. Audio scheduled afterwards
        starts at ``at_ms`` at the earliest.

        Returns:
            The milliseconds of agent audio dropped.

        Raises:
            LocalProtocolError: the timeline is finished, or ``at_ms`` is not a finite number.
        """
        return self._ms(self._cut(self._sample("at_ms", at_ms)))

    # --------------------------------------------------------------------------------------- outputs

    def advance(self, now_ms: float, *, max_ms: float | None = None) -> bytes:
        """Return the frames that became final by ``now_ms``, in order, each exactly once.

        Agent audio is final once its time has passed (it can no longer be cut); caller silence is
        final ``hold_ms`` after the last caller audio. Time going backwards returns nothing.

        Args:
            now_ms: the current time, in milliseconds since the call started.
            max_ms: return at most this much audio (call again for the rest), to bound the size of
                one result after a long pause between calls.

        Raises:
            LocalProtocolError: the timeline is finished, or a time is not a finite number.
        """
        now = self._sample("now_ms", now_ms)
        final = min(now, max(self._caller.end, now - self._hold))
        if max_ms is not None:
            final = min(final, self._emitted + max(1, self._sample("max_ms", max_ms)))
        return self._emit_until(final)

    def finish(self, now_ms: float) -> bytes:
        """End the call at ``now_ms`` and return every frame not yet returned.

        Agent audio scheduled at or after ``now_ms`` was never heard and is dropped; caller audio is
        all kept, even what was placed beyond ``now_ms``. Calling it again returns nothing; every other
        method then raises.

        Raises:
            LocalProtocolError: ``now_ms`` is not a finite number.
        """
        if self._finished:
            return b""
        now = self._sample("now_ms", now_ms)
        self._cut(now)
        final = max(now, self._caller.end)
        data = self._emit_until(final)
        self._finished = True
        return data

    # -------------------------------------------------------------------------------------- internals

    def _cut(self, position: int) -> int:
        dropped = self._agent.cut(max(position, self._emitted))
        self._agent_total -= dropped
        self._agent_cut += dropped
        return dropped

    def _emit_until(self, final: int) -> bytes:
        first = self._emitted
        if final <= first:
            return b""
        n = final - first
        # Mono with one voice alone in the window (most of a call): its samples as they are, no mixing.
        alone = None
        if not self._stereo:
            if self._agent.silent_before(final):
                alone = self._caller
            elif self._caller.silent_before(final):
                alone = self._agent
        if alone is not None:
            covered = alone.covering(first, final)
            if covered is not None:
                data = covered.tobytes()
            else:
                out = np.zeros(n, dtype="<i2")
                alone.render(out, first)
                data = out.tobytes()
        elif self._stereo:
            frames = np.zeros((n, 2), dtype=np.int16)
            self._caller.render(frames[:, 0], first)
            self._agent.render(frames[:, 1], first)
            data = frames.astype("<i2", copy=False).tobytes()
        else:
            mix = np.zeros(n, dtype=np.int32)  # wide enough for the sum of two int16 tracks
            self._caller.render(mix, first)
            self._agent.render(mix, first)
            np.minimum(mix, _INT16_MAX, out=mix)  # in place: np.clip's Python wrapper costs more here
            np.maximum(mix, _INT16_MIN, out=mix)
            data = mix.astype("<i2").tobytes()
        self._caller.forget_before(final)
        self._agent.forget_before(final)
        self._emitted = final
        return data

    def _pcm(self, pcm: bytes | bytearray | memoryview) -> _Samples:
        self._check_open()
        if not isinstance(pcm, bytes):
            pcm = bytes(pcm)  # a private copy: the caller may reuse a mutable buffer
        if len(pcm) % 2:
            raise LocalProtocolError(f"PCM16 audio needs an even number of bytes, got {len(pcm)}")
        return np.frombuffer(pcm, dtype="<i2")

    def _sample(self, name: str, ms: float) -> int:
        self._check_open()
        if isinstance(ms, bool) or not isinstance(ms, int | float) or not math.isfinite(ms):
            raise LocalProtocolError(f"{name} must be a finite number of milliseconds, not {ms!r}")
        # Before the call started is the start of the call.
        return max(0, self._to_samples(ms))

    def _to_samples(self, ms: float) -> int:
        return round(ms * self._rate / 1000)

    def _ms(self, samples: int) -> float:
        return samples * 1000 / self._rate

    def _check_open(self) -> None:
        if self._finished:
            raise LocalProtocolError("the recording timeline is finished")
