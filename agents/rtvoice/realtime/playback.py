"""Playback bookkeeping: where each assistant audio item sits on the playback stream, and how much of it
was heard.

Theory of operation
-------------------
Everything the protocol sends to the output device forms one **playback stream**, measured in
milliseconds from the start of the session. ``cursor`` is the stream's end: the total ms queued so far.
Each :class:`PlayAudio <rtvoice.realtime.PlayAudio>` appends to it, recorded as a *segment*: which item,
where on the stream it starts, where in the item it starts, how long it is. Consecutive deltas of the same
item extend the last segment, so there is normally one segment per item.

The **position** is how far playback has got on that stream:

* *device mode* (after the first :meth:`PlaybackTracker.report`): the output device's own count of
  milliseconds actually heard, clamped to ``cursor``;
* *clock mode* (the device cannot tell; the rtvoice 0.7 approach, as a fallback): real time elapsed since
  audio was queued onto an idle stream, clamped to ``cursor``.

From the position and the segments follows which item is playing and how many of its milliseconds were
played: the segment containing the position gives ``item_start + (position - stream_start)``. Segments
wholly behind the position are pruned. Playback has *finished* when the position is within
:data:`EPSILON_MS` of ``cursor``.

A **clear** (barge-in) drops every segment ahead of the position and moves ``cursor`` back to it: the
unplayed rest never reaches the listener, so audio queued afterwards starts where playback stopped, just
as the device sees it. If the device knows exactly where it stopped (its count may be ahead of the last
report), :meth:`PlaybackTracker.report_cleared` moves the cursor, and everything queued since, to that.

Invariants: segments are contiguous and in stream order, the last one ends at ``cursor``; a position never
exceeds ``cursor``; an item's played ms never exceeds what was received of it.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from rtvoice.exceptions import LocalProtocolError

__all__ = ["EPSILON_MS", "AudioItem", "Cut", "PlaybackTracker"]

EPSILON_MS = 1.0
_ROUNDING_MS = (
    1e-3  # a device's position may come back lower by float rounding (ticks vs floats): not a step back
)
"""Playback within this many ms of the end counts as finished.

Devices that resample or re-frame audio (24 kHz PCM to 8 kHz μ-law) report positions that can fall short
of the exact byte count by a fraction of a millisecond; without a tolerance such audio would never finish.
"""


class AudioItem:
    """One assistant audio item: how much of it arrived, and whether (and where) it was cut off."""

    __slots__ = (
        "closed",
        "cut",
        "dropped_ms",
        "heard_ms",
        "item_id",
        "queued_segments",
        "received_ms",
        "response_id",
    )

    def __init__(self, item_id: str, response_id: str) -> None:
        self.item_id = item_id
        self.response_id = response_id
        self.received_ms = 0.0  # queued for playback
        self.dropped_ms = 0.0  # generated after an interruption, never played
        self.cut = False
        self.heard_ms = 0.0  # meaningful once cut
        self.closed = False  # its response is done: no more audio will come
        self.queued_segments = 0

    @property
    def generated_ms(self) -> float:
        """Everything the server generated for this item, played or not."""
        return self.received_ms + self.dropped_ms

    @property
    def heard_fraction(self) -> float:
        """Share of the generated audio that was heard (1.0 unless cut)."""
        if not self.cut:
            return 1.0
        generated = self.generated_ms
        return min(self.heard_ms / generated, 1.0) if generated > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Cut:
    """An item whose queued audio a clear dropped, and how much of it had been played."""

    item: AudioItem
    played_ms: float


class _Segment:
    __slots__ = ("item", "item_start", "length", "stream_start")

    def __init__(self, item: AudioItem, stream_start: float, item_start: float, length: float) -> None:
        self.item = item
        self.stream_start = stream_start
        self.item_start = item_start
        self.length = length


class PlaybackTracker:
    """The playback stream of one session (see the module docstring).

    Args:
        bytes_per_ms: of the output format: 48 for PCM16 at 24 kHz, 8 for G.711.
    """

    def __init__(self, bytes_per_ms: int) -> None:
        self.bytes_per_ms = bytes_per_ms
        self._items: dict[str, AudioItem] = {}
        self._segments: deque[_Segment] = deque()
        self._cursor = 0.0
        self._reported: float | None = None
        self._anchor_position = 0.0
        self._anchor_time = 0.0
        self._clear_cursor: float | None = None

    @property
    def device_reports(self) -> bool:
        """True once the device has reported a position (device mode); False in clock mode."""
        return self._reported is not None

    @property
    def cursor(self) -> float:
        """Milliseconds queued on the playback stream so far (its end)."""
        return self._cursor

    def item(self, item_id: str) -> AudioItem | None:
        """The bookkeeping of ``item_id``, while it is still needed."""
        return self._items.get(item_id)

    def _item(self, item_id: str, response_id: str) -> AudioItem:
        item = self._items.get(item_id)
        if item is None:
            item = self._items[item_id] = AudioItem(item_id, response_id)
        return item

    def queue(self, item_id: str, response_id: str, nbytes: int, now: float) -> AudioItem:
        """Record ``nbytes`` of ``item_id`` queued to the device at ``now``."""
        item = self._item(item_id, response_id)
        ms = nbytes / self.bytes_per_ms
        if self._reported is None and self.position(now) >= self._cursor:
            # Clock mode: the stream was idle, so this audio starts playing now.
            self._anchor_position, self._anchor_time = self._cursor, now
        last = self._segments[-1] if self._segments else None
        if last is not None and last.item is item:
            last.length += ms
        else:
            self._segments.append(_Segment(item, self._cursor, item.received_ms, ms))
            item.queued_segments += 1
        item.received_ms += ms
        self._cursor += ms
        return item

    def drop(self, item_id: str, response_id: str, nbytes: int) -> AudioItem:
        """Record ``nbytes`` of ``item_id`` generated after an interruption and not played.

        An item that was not cut yet (all it had queued was played, or cleared) is cut here, heard up to
        what it had received.
        """
        item = self._item(item_id, response_id)
        if not item.cut:
            item.cut = True
            item.heard_ms = item.received_ms
        item.dropped_ms += nbytes / self.bytes_per_ms
        return item

    def report(self, played_ms_total: float) -> None:
        """Take the device's count of milliseconds heard since the session started (device mode).

        Raises:
            LocalProtocolError: negative, not finite, or less than an earlier report (by more than a
                microsecond: float rounding between a device's ticks and its estimates is not a step back).
        """
        played_ms_total = self._not_backwards(played_ms_total)
        self._reported = played_ms_total
        self._prune(min(played_ms_total, self._cursor))

    def _not_backwards(self, played_ms_total: float) -> float:
        _check_position(played_ms_total)
        reported = self._reported
        if reported is not None and played_ms_total < reported:
            if reported - played_ms_total <= _ROUNDING_MS:
                return reported  # the same position, rounded another way
            raise LocalProtocolError(
                f"playback position went backwards: {played_ms_total} ms after {reported} ms"
            )
        return played_ms_total

    def report_cleared(self, played_ms_total: float) -> None:
        """Take the device's exact count at the moment it executed the last clear.

        Moves the cursor, and every segment queued since the clear, by the difference to the position
        the clear assumed.

        Raises:
            LocalProtocolError: no clear happened since the last such report, or the value is invalid.
        """
        if self._clear_cursor is None:
            _check_position(played_ms_total)
            raise LocalProtocolError("receive_playback_cleared() without a ClearPlayback before it")
        played_ms_total = self._not_backwards(played_ms_total)
        shift = played_ms_total - self._clear_cursor
        for segment in self._segments:
            segment.stream_start += shift
        self._cursor += shift
        self._clear_cursor = None
        self._reported = played_ms_total

    def position(self, now: float) -> float:
        """How far playback has got on the stream, in ms."""
        if self._reported is not None:
            return min(self._reported, self._cursor)
        elapsed_ms = max(0.0, now - self._anchor_time) * 1000.0
        return min(self._cursor, self._anchor_position + elapsed_ms)

    def is_playing(self, now: float) -> bool:
        """True while queued audio remains to be played (beyond :data:`EPSILON_MS`)."""
        return self.position(now) < self._cursor - EPSILON_MS

    def drain_deadline(self) -> float | None:
        """In clock mode, the time at which the queued audio will have played; None in device mode."""
        if self._reported is not None:
            return None
        return self._anchor_time + (self._cursor - self._anchor_position) / 1000.0

    def clear(self, now: float) -> list[Cut]:
        """Drop every queued segment ahead of the position, and move the cursor back to it.

        Returns:
            One :class:`Cut` per item that lost audio, in stream order; the first is the item that was
            playing. Each cut item is marked ``cut`` with ``heard_ms`` = its played ms.
        """
        position = self.position(now)
        self._prune(position)
        cuts: list[Cut] = []
        for segment in self._segments:
            item = segment.item
            item.queued_segments -= 1
            if item.cut:  # a later segment of an item already cut by an earlier one
                continue
            played = min(segment.item_start + max(0.0, position - segment.stream_start), item.received_ms)
            item.cut = True
            item.heard_ms = played
            cuts.append(Cut(item, played))
        self._segments.clear()
        self._cursor = self._clear_cursor = position
        for cut in cuts:
            self._forget_if_done(cut.item)
        return cuts

    def close_response(self, response_id: str) -> list[AudioItem]:
        """Mark the items of a finished response as complete; returns them (in arrival order)."""
        items = [item for item in self._items.values() if item.response_id == response_id]
        for item in items:
            item.closed = True
            self._forget_if_done(item)
        return items

    def _prune(self, position: float) -> None:
        segments = self._segments
        while segments and segments[0].stream_start + segments[0].length <= position:
            item = segments.popleft().item
            item.queued_segments -= 1
            self._forget_if_done(item)

    def _forget_if_done(self, item: AudioItem) -> None:
        # Nothing refers to an item whose response is done and whose audio has left the stream.
        if item.closed and item.queued_segments == 0:
            self._items.pop(item.item_id, None)


def _check_position(played_ms_total: float) -> None:
    if not math.isfinite(played_ms_total) or played_ms_total < 0:
        raise LocalProtocolError(f"played_ms_total must be a finite number >= 0, not {played_ms_total!r}")
