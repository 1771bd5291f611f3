"""``PlayoutCounter``: how much of the audio an output device queued has been heard (pure bookkeeping).

Every output device answers the same question for the agent, ``played_ms``, and each used to keep its own
arithmetic for it. This is the one implementation: no asyncio, no I/O, no clock. The device says what it
queued, what the listener has heard (a relative step when it plays in slots, an absolute position when the
far end reports one, like a phone line's mark echoes) and when the unplayed rest was dropped; the counter
keeps the numbers consistent and refuses impossible ones.

The numbers, all milliseconds of queued audio since the counter was made:

* ``played_ms``: heard. Never decreases.
* ``queued_ms``: where the end of the queue will be on that same timeline, ``played_ms + pending_ms``.
  It grows with :meth:`PlayoutCounter.queue` and falls back to ``played_ms`` on
  :meth:`PlayoutCounter.clear`, which drops the unplayed rest.
* ``pending_ms``: queued and not yet heard; ``is_playing`` is ``pending_ms > 0``.
* ``dropped_ms``: everything :meth:`PlayoutCounter.clear` threw away.

Durations are kept as whole ticks of 1/48000 ms (about 21 ns), so the durations of any numbers of samples
at 8, 16, 24 or 48 kHz add up exactly however long the call: a 400 ms clip queued in odd-sized chunks
plays out as exactly 400.0 ms, and ``is_playing`` turns False exactly when the last sample is heard.

A position report (:meth:`PlayoutCounter.report`) is on the ``played_ms`` timeline, so after a clear the
positions of new audio reuse the numbers the dropped audio had. Reports that were in flight when the audio
was cleared (a mark echoed for audio that no longer exists) would then be misread, so every clear starts a
new ``generation``: a device tags what it sends with the generation current at the time and passes it back
with the report, and reports from an older generation are ignored.

    >>> counter = PlayoutCounter()
    >>> counter.queue(60.0)
    >>> counter.advance(20.0)  # one 20 ms slot heard
    20.0
    >>> counter.played_ms, counter.pending_ms, counter.is_playing
    (20.0, 40.0, True)
    >>> counter.clear()  # barge-in: the rest is dropped
    40.0
    >>> counter.report(60.0, generation=0)  # a late report for the dropped audio
    0.0
    >>> counter.played_ms, counter.is_playing, counter.generation
    (20.0, False, 1)
"""

from __future__ import annotations

import math

__all__ = ["PlayoutCounter"]

#: The counter's resolution: one sample at 48 kHz is 1000 ticks, at 8 kHz 6000.
TICKS_PER_MS = 48_000


def _ticks(name: str, value: float) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number of milliseconds, not {value!r}")
    return round(value * TICKS_PER_MS)


class PlayoutCounter:
    """Queued, played and dropped milliseconds of one output device; see the module docstring.

    Not thread-safe: a device whose audio is consumed on another thread (a sound card callback) guards it
    with the same lock as its buffer.
    """

    __slots__ = ("_dropped", "_generation", "_played", "_queued")

    def __init__(self) -> None:
        # In ticks (TICKS_PER_MS): integers, so sums are exact.
        self._played = 0
        self._queued = 0
        self._dropped = 0
        self._generation = 0

    def __repr__(self) -> str:
        return (
            f"PlayoutCounter(played_ms={self.played_ms:g}, pending_ms={self.pending_ms:g}, "
            f"dropped_ms={self.dropped_ms:g}, generation={self._generation})"
        )

    @property
    def played_ms(self) -> float:
        """Milliseconds of queued audio heard. Never decreases."""
        return self._played / TICKS_PER_MS

    @property
    def queued_ms(self) -> float:
        """The end of the queue on the heard timeline: ``played_ms + pending_ms``."""
        return self._queued / TICKS_PER_MS

    @property
    def pending_ms(self) -> float:
        """Milliseconds queued and not yet heard."""
        return (self._queued - self._played) / TICKS_PER_MS

    @property
    def dropped_ms(self) -> float:
        """Milliseconds dropped by :meth:`clear`, in total."""
        return self._dropped / TICKS_PER_MS

    @property
    def generation(self) -> int:
        """How many times :meth:`clear` has run; tags position reports (see :meth:`report`)."""
        return self._generation

    @property
    def is_playing(self) -> bool:
        """True while queued audio remains to be heard."""
        return self._queued > self._played

    def queue(self, ms: float) -> None:
        """Count ``ms`` more milliseconds queued after the audio already queued.

        Raises:
            ValueError: ``ms`` is negative, infinite or not a number.
        """
        ticks = _ticks("queued audio", ms)
        if ticks < 0:
            raise ValueError(f"cannot queue a negative duration ({ms!r} ms)")
        self._queued += ticks

    def advance(self, ms: float) -> float:
        """The listener heard ``ms`` more milliseconds (a slot played); return how much of it was queued audio.

        At most ``pending_ms`` counts: a slot longer than what was queued was padded with silence, which
        is not heard audio.

        Raises:
            ValueError: ``ms`` is negative, infinite or not a number.
        """
        ticks = _ticks("played audio", ms)
        if ticks < 0:
            raise ValueError(f"played audio cannot go backwards (advance by {ms!r} ms)")
        return self._move_to(self._played + ticks)

    def report(self, position_ms: float, *, generation: int | None = None) -> float:
        """The listener has heard up to ``position_ms`` (absolute, on the ``played_ms`` timeline).

        Returns how much ``played_ms`` moved. A position past ``queued_ms`` counts as ``queued_ms`` (the
        far end cannot have heard audio it was never sent; padding is not audio). A report tagged with an
        older ``generation`` than the current one refers to audio dropped since, and is ignored (returns
        0.0). A position equal to ``played_ms`` (to the tick) is a repeat and changes nothing.

        Raises:
            ValueError: ``position_ms`` is not finite or goes backwards, or ``generation`` is in the future.
        """
        position = _ticks("position", position_ms)
        if generation is not None:
            if generation > self._generation:
                raise ValueError(
                    f"report from generation {generation}, but only {self._generation} clears happened"
                )
            if generation < self._generation:
                return 0.0
        if position < self._played:
            raise ValueError(
                f"played position went backwards: reported {position_ms!r} ms after {self.played_ms!r} ms"
            )
        return self._move_to(position)

    def clear(self) -> float:
        """Drop the queued audio not yet heard; return how many milliseconds were dropped.

        ``played_ms`` stays, ``queued_ms`` falls back to it, and a new ``generation`` starts.
        """
        dropped = self._queued - self._played
        self._dropped += dropped
        self._queued = self._played
        self._generation += 1
        return dropped / TICKS_PER_MS

    def _move_to(self, position: int) -> float:
        moved = max(0, min(position, self._queued) - self._played)
        self._played += moved
        return moved / TICKS_PER_MS
