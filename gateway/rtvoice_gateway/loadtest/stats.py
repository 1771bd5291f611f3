"""The load test's figures from what both ends recorded (pure: no I/O, no clock, no event loop).

Every time is ``time.monotonic()`` seconds; the carrier driver and the Realtime simulator run in two
processes, and Linux's monotonic clock is one clock for every process of the machine, so a frame's send
and arrival can be subtracted.

* **Inbound** (carrier → gateway → Realtime): :func:`match_inbound` pairs each ``input_audio_buffer.append``
  with the carrier frame it carries. With μ-law upstream (pass-through, the floor) every frame carries its
  index in its first samples (:func:`tag_frame`), so the match is exact and loss and reordering are seen.
  Transcoded, the k-th append carries the k-th frame after the frames dropped so far: the last frame
  sent before an append arrived bounds that offset from above, and the offset never decreases, so the
  running minimum from the end recovers it exactly whenever one append after each drop came within a
  frame's time (20 ms); each increase is a lost frame.
* **Outbound** (Realtime → gateway → carrier): :func:`match_outbound` pairs each response's first
  ``output_audio.delta`` with the first media message the carrier got for it. Only the first delta of a
  reply is timed: the gateway deliberately holds the rest (it keeps 160 ms queued at the carrier while
  the API sends three times faster than real time), so their wait is pacing, not cost. Frames lost are
  audio of a completed, uninterrupted reply that never reached the carrier.
* :class:`PlayoutGaps` follows the carrier's playout buffer: a gap is a stretch where it ran dry in the
  middle of a reply, from the tick that found it empty to the arrival of more audio.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "FRAME_S",
    "InboundMatch",
    "OutboundMatch",
    "PlayoutGaps",
    "Summary",
    "match_inbound",
    "match_outbound",
    "percentile",
    "read_tag",
    "summarize",
    "tag_frame",
    "talk_over_ms",
]

FRAME_S = 0.020
#: The 32 quietest μ-law codes: a tag written with them is silence to a VAD (and to a listener).
QUIET = bytes(range(0xF0, 0x100)) + bytes(range(0x70, 0x80))
_QUIET_VALUE = {code: digit for digit, code in enumerate(QUIET)}
TAG_SAMPLES = 5  # 32**5: 33 million frames per call
#: A frame is late past one frame's time.
LATE_MS = 20.0


def tag_frame(frame: bytes, index: int) -> bytes:
    """``frame`` with its first five samples replaced by ``index`` in the quietest μ-law codes."""
    tag = bytearray()
    value = index
    for _ in range(TAG_SAMPLES):
        value, digit = divmod(value, 32)
        tag.append(QUIET[digit])
    return bytes(tag) + frame[TAG_SAMPLES:]


def read_tag(frame: bytes) -> int | None:
    """The index :func:`tag_frame` wrote, or None when the first samples are not a tag."""
    if len(frame) < TAG_SAMPLES:
        return None
    value = 0
    for code in reversed(frame[:TAG_SAMPLES]):
        digit = _QUIET_VALUE.get(code)
        if digit is None:
            return None
        value = value * 32 + digit
    return value


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (0..1); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return float(ordered[min(len(ordered), rank) - 1])


@dataclass(frozen=True)
class Summary:
    """p50, p99, max and count of a sample (NaN when empty)."""

    p50: float
    p99: float
    max: float
    count: int


def summarize(values: Sequence[float]) -> Summary:
    """The :class:`Summary` of ``values``."""
    return Summary(
        percentile(values, 0.5), percentile(values, 0.99), max(values, default=math.nan), len(values)
    )


@dataclass
class InboundMatch:
    """Inbound frames of one call inside the measurement window."""

    latencies_ms: list[float] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    """The carrier frame index of each latency (parallel to ``latencies_ms``)."""
    lost: int = 0
    reordered: int | None = 0
    """None when it cannot be seen (transcoded: the frames carry no index upstream)."""
    late: int = 0


def match_inbound(
    sent: Sequence[float],
    appends: Sequence[tuple[float, int]],
    *,
    tagged: bool,
    window: tuple[float, float],
) -> InboundMatch:
    """Pair appends with carrier frames.

    Args:
        sent: the send time of the carrier's k-th media frame.
        appends: (arrival time, tag) of each append in arrival order; the tag is the frame index read
            from the payload (``tagged``), else ignored.
        tagged: the payloads carry :func:`tag_frame` indexes.
        window: (start, end): only frames sent in it count.
    """
    start, end = window
    result = InboundMatch(reordered=0 if tagged else None)
    if not sent:
        return result
    sent_at = np.asarray(sent, dtype=np.float64)
    in_window = (sent_at >= start) & (sent_at <= end)
    if tagged:
        received = np.zeros(len(sent_at), dtype=bool)
        highest = -1
        reordered = 0
        for arrived, tag in appends:
            if not 0 <= tag < len(sent_at):
                continue
            if tag < highest:
                reordered += 1
            highest = max(highest, tag)
            if in_window[tag] and not received[tag]:
                latency = (arrived - sent_at[tag]) * 1000
                result.latencies_ms.append(float(latency))
                result.frames.append(tag)
            received[tag] = True
        result.reordered = reordered
        # Frames sent in the window whose append never came (the window ends well before the hang-up).
        result.lost = int(np.count_nonzero(in_window & ~received))
    else:
        if not appends:
            result.lost = int(np.count_nonzero(in_window))
            return result
        arrivals = np.asarray([a for a, _ in appends], dtype=np.float64)
        index = np.arange(len(arrivals))
        latest = np.searchsorted(sent_at, arrivals, side="right") - 1  # the last frame sent before
        offset = np.minimum.accumulate((latest - index)[::-1])[::-1]
        valid = offset >= 0
        frame = index + offset
        frame_ok = valid & (frame < len(sent_at))
        matched = frame[frame_ok]
        latency = (arrivals[frame_ok] - sent_at[matched]) * 1000
        counted = in_window[matched]
        result.latencies_ms = [float(x) for x in latency[counted]]
        result.frames = [int(k) for k in matched[counted]]
        offsets = offset[frame_ok][counted]
        result.lost = int(offsets[-1] - offsets[0]) if len(offsets) else int(np.count_nonzero(in_window))
    result.late = sum(1 for x in result.latencies_ms if x > LATE_MS)
    return result


@dataclass(frozen=True)
class Reply:
    """One response as the Realtime simulator sent it."""

    first_delta_at: float
    audio_ms: float
    completed: bool


@dataclass
class OutboundMatch:
    """Replies of one call inside the measurement window."""

    latencies_ms: list[float] = field(default_factory=list)
    lost: int = 0
    late: int = 0
    replies: int = 0


def match_outbound(
    media: Sequence[tuple[float, int]],
    clears: Sequence[float],
    replies: Sequence[Reply],
    *,
    window: tuple[float, float],
    ended_at: float,
    tolerance_ms: float = 40.0,
) -> OutboundMatch:
    """Pair each reply's first delta with the first media message the carrier received after it.

    Args:
        media: (arrival time, μ-law bytes) of each media message at the carrier, in order.
        clears: arrival times of ``clear`` at the carrier.
        replies: the call's responses with audio, in order.
        window: only replies whose first delta went out in it count.
        ended_at: when the call hung up; a reply still playing then is not checked for loss.
        tolerance_ms: silence padding and resampler delay a reply may gain or lose.
    """
    result = OutboundMatch()
    arrivals = [t for t, _ in media]
    ordered = sorted(replies, key=lambda r: r.first_delta_at)
    for number, reply in enumerate(ordered):
        if not window[0] <= reply.first_delta_at <= window[1]:
            continue
        until = ordered[number + 1].first_delta_at if number + 1 < len(ordered) else ended_at
        first = int(np.searchsorted(arrivals, reply.first_delta_at, side="left"))
        if first >= len(arrivals) or arrivals[first] >= until:
            if reply.completed and reply.first_delta_at + reply.audio_ms / 1000 + 1 < ended_at:
                result.lost += max(1, round(reply.audio_ms / 20))
            continue
        result.replies += 1
        latency = (arrivals[first] - reply.first_delta_at) * 1000
        result.latencies_ms.append(latency)
        if latency > LATE_MS:
            result.late += 1
        interrupted = any(reply.first_delta_at <= c < until for c in clears)
        fully_played = reply.first_delta_at + reply.audio_ms / 1000 + 1 < min(until, ended_at)
        if reply.completed and not interrupted and fully_played:
            received_ms = sum(n for t, n in media[first:] if t < until) / 8
            missing = reply.audio_ms - received_ms - tolerance_ms
            if missing > 0:
                result.lost += math.ceil(missing / 20)
    return result


class PlayoutGaps:
    """The carrier's playout buffer running dry mid-reply (fed by the carrier's tick and receiver).

    Args:
        new_reply_s: a dry stretch longer than this is the pause between two replies, not a gap.
    """

    def __init__(self, new_reply_s: float = 0.7) -> None:
        self.new_reply_s = new_reply_s
        self.gaps: list[tuple[float, float]] = []
        """(when the buffer ran dry, for how many ms) of each gap."""
        self._playing = False
        self._dry_since: float | None = None

    def tick(self, now: float, *, had_frame: bool) -> None:
        """The carrier played one frame time: ``had_frame`` when a whole frame of agent audio was queued;
        ``now``: when the tick was due."""
        if had_frame:
            self._playing = True
        elif self._playing and self._dry_since is None:
            self._dry_since = now

    def audio_arrived(self, now: float) -> None:
        """Agent audio reached the carrier."""
        if self._dry_since is not None:
            gap = now - self._dry_since
            # gap <= 0: the audio had arrived before the tick that found the buffer empty was due (the
            # carrier's process had not read it yet): not the gateway's gap.
            if 0 < gap <= self.new_reply_s:
                self.gaps.append((self._dry_since, gap * 1000))
            self._dry_since = None
            self._playing = False

    def cleared(self) -> None:
        """A ``clear``: the reply ended on purpose."""
        self._dry_since = None
        self._playing = False


def talk_over_ms(
    barges: Iterable[float], clears: Sequence[float], audio_ticks: Sequence[float]
) -> list[float]:
    """For each barge-in (the caller's first frame), the agent audio the caller heard until the ``clear``.

    Barge-ins with no clear within 3 s (the agent had stopped anyway) are left out.
    """
    ticks = np.asarray(audio_ticks, dtype=np.float64)
    result = []
    for barge in barges:
        cleared = [c for c in clears if barge <= c <= barge + 3]
        if not cleared:
            continue
        heard = np.count_nonzero((ticks >= barge) & (ticks < cleared[0]))
        result.append(float(heard) * FRAME_S * 1000)
    return result
