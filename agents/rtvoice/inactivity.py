"""The user-inactivity timer (pure: time comes in as ``now``).

The timer runs only while the conversation waits for the user: it is armed when the session is ready,
when the user stops speaking and when the assistant's audio has finished playing, and paused while the
user speaks or the assistant responds. With a timeout of T seconds, the countdown labels fire when
exactly 5, 4, 3, 2 and 1 seconds remain (at T-5, T-4, ... seconds of silence), and the timeout fires at T.
rtvoice 0.7.0 fired each label about a second early (it floored the remaining time); these are exact.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["COUNTDOWN_FROM", "Countdown", "InactivityTimer", "TimedOut"]

COUNTDOWN_FROM = 5


@dataclass(frozen=True, slots=True)
class Countdown:
    """``remaining_seconds`` of silence are left before the timeout."""

    remaining_seconds: int


@dataclass(frozen=True, slots=True)
class TimedOut:
    """The user was silent for the whole timeout."""

    timeout_seconds: float


class InactivityTimer:
    """Tracks user silence against a timeout.

    Args:
        timeout_seconds: how long the user may stay silent.
        countdown_from: the first countdown label (5 in rtvoice); labels above the timeout are skipped.
    """

    def __init__(self, timeout_seconds: float, countdown_from: int = COUNTDOWN_FROM) -> None:
        if timeout_seconds <= 0:
            raise ValueError(f"timeout_seconds must be positive, not {timeout_seconds}")
        self.timeout_seconds = timeout_seconds
        self._labels = [k for k in range(countdown_from, 0, -1) if k < timeout_seconds]
        self._started: float | None = None
        self._next = 0
        self._fired = False

    @property
    def armed(self) -> bool:
        """Whether the timer is counting."""
        return self._started is not None and not self._fired

    def arm(self, now: float) -> None:
        """Start counting from ``now`` (again, if it was counting)."""
        if self._fired:
            return
        self._started = now
        self._next = 0

    def pause(self) -> None:
        """Stop counting (the user speaks or the assistant responds)."""
        self._started = None

    def next_deadline(self) -> float | None:
        """When :meth:`poll` has something to report next, or None while paused or after the timeout."""
        if self._started is None or self._fired:
            return None
        if self._next < len(self._labels):
            return self._started + self.timeout_seconds - self._labels[self._next]
        return self._started + self.timeout_seconds

    def poll(self, now: float) -> list[Countdown | TimedOut]:
        """Everything due at ``now``, in order (each label once; the timeout once)."""
        due: list[Countdown | TimedOut] = []
        while True:
            deadline = self.next_deadline()
            if deadline is None or now < deadline:
                return due
            if self._next < len(self._labels):
                due.append(Countdown(self._labels[self._next]))
                self._next += 1
            else:
                self._fired = True
                due.append(TimedOut(self.timeout_seconds))
