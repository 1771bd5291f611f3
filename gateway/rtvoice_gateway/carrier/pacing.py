"""Outbound pacing: :class:`OutboundPacer` keeps a bounded lead of agent audio queued at the carrier.

Theory of operation
-------------------
The carrier plays what we send in real time and buffers the rest (Twilio: up to 10 minutes). Sending a
whole reply at once would make a barge-in ``clear`` drop seconds of audio, and the played position
would be unknowable without marks; sending exactly at real time leaves no margin, so any scheduling
jitter becomes a gap the caller hears. The pacer sits between the two: it releases 20 ms frames so that
the audio *sent but not yet played* stays within ``lead_ms`` (default 160 ms).

It estimates the carrier's queue with a playout clock: an idle carrier starts a frame when it arrives and
plays each frame for ``frame_ms``, so ``play_end = max(play_end, now) + frame_ms`` per frame sent, and the
unplayed audio at ``now`` is ``play_end - now``. A frame is released when it still fits:
``unplayed + frame_ms <= lead_ms``.

Releases come in steps of ``release_ms`` (default one frame): the pacer waits until a whole step fits
(``unplayed + release_ms <= lead_ms``, or as much as is waiting when less is), then releases every frame
that fits. The shell sends each release as one media message and one mark, so a step of 60 ms sends a
third of the messages (and wakes a third as often) of 20 ms steps, and the carrier still holds at least
``lead_ms - release_ms`` while audio is waiting.

Mark echoes (through :meth:`receive_played`) correct the clock when the carrier falls behind it. An echo
of position ``P`` arriving at ``now`` is late by ``lag = now - (when the clock said P would finish)``.
Part of every lag is the network (audio travelling there, the echo travelling back), which the clock
cannot see and which does not grow the carrier's queue; so the pacer takes the smallest lag seen as that
baseline and shifts its clock later by ``lag - baseline`` only: the time the carrier lost to a stall or a
jitter spike. Later echoes move the shift up or down; a restart from idle or a clear resets it.

The shift is capped at ``lead_ms - release_ms - 40 ms`` (60 ms with the gateway's 160 and 60). An echo
can be late because the way *back* was slow (a busy carrier, a jitter spike on the return path) while the
carrier played on time; a full shift then holds audio back from a carrier that is running dry. Capped,
a wrongly trusted echo still leaves the carrier two frames when a release goes out. (Measured: in a
100-call load test whose simulated carrier was busy enough to echo late, the uncapped hold-back caused
the carrier's playout gaps: 39 over 10 ms in 30 s, against none with no shift at all.) The price: a
carrier that really fell behind by more than the cap holds that much more than ``lead_ms`` until it
catches up; its ``clear`` still drops all of it.

Invariants (tested against a carrier model):

* The estimated unplayed audio never exceeds ``lead_ms``, and with a constant network delay neither does
  the carrier's real queue (audio arrived but not played). Delay jitter adds to it until an echo shows it.
* Nothing queued before :meth:`clear` is released after it.
* With a shell that wakes at :attr:`Release.wake_at` (or later by ``delay``), the carrier's queue stays at
  least ``lead_ms - release_ms - delay`` while audio is waiting, so a late timer does not starve it.

**Underruns, and whose they are.** When the carrier's queue runs dry in the middle of a reply, the caller
hears a gap. The pacer tells the two causes apart on its clock (the same estimate that paces it, echo
corrections included). Frames that were already waiting when the carrier ran dry are released *late*: the
shell polled late (a busy event loop, a late timer); :attr:`Release.late_ms` is the time from the
estimated dry moment to the release. Audio of a reply in progress that is pushed after the carrier ran
dry *starved* it: the audio itself came late (the agent, the upstream); :meth:`push` returns how long the
carrier had been dry. A reply's first audio, and audio after :meth:`clear`, is neither. The shell needs
to pass ``now`` to :meth:`push` for either to be told (without it, waiting audio is taken to have come in
time).

**The barge-in bound.** At any instant the carrier holds at most ``lead_ms`` of agent audio, the frame
being played included (``lead_ms - frame_ms`` queued behind the frame in progress, at worst). When
``speech_started`` reaches us, the shell sends the carrier's ``clear`` at once and calls :meth:`clear`;
the carrier drops its queue when the ``clear`` arrives, so the caller hears at most the frame in progress
(20 ms) plus what plays while the ``clear`` travels (the network's one-way delay, which no pacing can
remove). A carrier that ignored ``clear`` would still play at most ``lead_ms`` more. Nothing queued
before :meth:`clear` is ever sent after it.

Driving it (the shell's side)::

    pacer = OutboundPacer(lead_ms=160, release_ms=60)
    agent audio (μ-law):      pacer.push(mulaw)
    end of the reply:         pacer.end_of_audio()
    whenever anything happens, and at wake_at:
        release = pacer.poll(now)
        frames = stream.send_audio(b"".join(release.frames), frames_per_message=len(release.frames))
        frames += stream.send_mark()
        arm a timer for release.wake_at (None: nothing waits; the next push wakes the shell)
    MarkPlayed (not stale):   pacer.receive_played(event.position_ms, now)
    barge-in:                 stream.clear() first, then pacer.clear(now)

``now`` is monotonic seconds (the shell's clock). ``sent_ms`` of the pacer equals the stream's when every
released frame goes through ``send_audio``, which keeps mark positions and pacer positions on one timeline.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Final

from rtvoice.exceptions import ConfigurationError
from rtvoice_codecs.constants import FRAME_BYTES_ULAW_8K, FRAME_MS, SILENCE_ULAW
from rtvoice_codecs.frames import FrameChunker

__all__ = [
    "DEFAULT_LEAD_MS",
    "DEFAULT_RELEASE_MS",
    "MAX_LEAD_MS",
    "MIN_LEAD_MS",
    "Cleared",
    "OutboundPacer",
    "Release",
]

DEFAULT_LEAD_MS: Final = 160
"""Enough to ride out scheduling jitter of more than 100 ms; little for a ``clear`` to drop."""
MIN_LEAD_MS: Final = 2 * FRAME_MS
"""Below two frames, any wake-up delay starves the carrier."""
MAX_LEAD_MS: Final = 1000
"""Above a second, a carrier without ``clear`` would talk over the caller for too long."""
DEFAULT_RELEASE_MS: Final = FRAME_MS
"""The pacer's own default step: one frame. The gateway releases 60 ms at a time (``OUTBOUND_RELEASE_MS``)."""

_SHIFT_MARGIN_FRAMES = 2  # what a capped shift still leaves the carrier when a release goes out
_EPSILON = 1e-6  # seconds: float sums of 0.02 must not lose a frame to rounding
_MAX_RELEASES = 1000  # releases awaiting their echo; a shell that never sends marks must not grow this


@dataclass(frozen=True, slots=True)
class Release:
    """What :meth:`OutboundPacer.poll` decided.

    Attributes:
        frames: the frames to send now, oldest first (each exactly one frame long).
        wake_at: when to poll again (monotonic seconds): the moment the next waiting frame fits; None when
            no frame waits.
        late_ms: how long the carrier had been dry, by the pacer's clock, when these frames went out
            although they were waiting before it ran dry (the shell polled late); 0 otherwise.
    """

    frames: tuple[bytes, ...]
    wake_at: float | None
    late_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class Cleared:
    """What :meth:`OutboundPacer.clear` dropped.

    Attributes:
        unsent_ms: audio still waiting in the pacer (never sent).
        unplayed_ms: audio estimated to be queued at the carrier, which the carrier's ``clear`` drops.
        played_ms: the estimated position on the timeline where playback stopped (``sent_ms`` minus
            ``unplayed_ms``): what a truncate should measure from.
    """

    unsent_ms: int
    unplayed_ms: float
    played_ms: float


class OutboundPacer:
    """Releases outbound frames so that at most ``lead_ms`` of audio is queued at the carrier.

    Args:
        lead_ms: the most audio sent but not yet played, in ms; a multiple of ``frame_ms`` between
            :data:`MIN_LEAD_MS` and :data:`MAX_LEAD_MS`.
        release_ms: release audio in steps of at least this much (while that much waits); a multiple of
            ``frame_ms`` from one frame up to ``lead_ms - frame_ms``.
        frame_ms: the duration of one frame.
        frame_bytes: the size of one frame (160 for 20 ms of 8 kHz μ-law).
        silence: one sample of silence, to pad the last frame of a reply.

    Raises:
        ConfigurationError: for a lead or frame outside those bounds.
    """

    def __init__(
        self,
        lead_ms: int = DEFAULT_LEAD_MS,
        *,
        release_ms: int = DEFAULT_RELEASE_MS,
        frame_ms: int = FRAME_MS,
        frame_bytes: int = FRAME_BYTES_ULAW_8K,
        silence: bytes = SILENCE_ULAW,
    ) -> None:
        if isinstance(frame_ms, bool) or not isinstance(frame_ms, int) or frame_ms <= 0:
            raise ConfigurationError(f"frame_ms must be a positive integer, got {frame_ms!r}")
        if (
            isinstance(lead_ms, bool)
            or not isinstance(lead_ms, int)
            or not MIN_LEAD_MS <= lead_ms <= MAX_LEAD_MS
            or lead_ms % frame_ms
            or lead_ms < 2 * frame_ms
        ):
            raise ConfigurationError(
                f"lead_ms must be a multiple of {frame_ms} between {max(MIN_LEAD_MS, 2 * frame_ms)} "
                f"and {MAX_LEAD_MS}, got {lead_ms!r}"
            )
        if (
            isinstance(release_ms, bool)
            or not isinstance(release_ms, int)
            or release_ms % frame_ms
            or not frame_ms <= release_ms <= lead_ms - frame_ms
        ):
            raise ConfigurationError(
                f"release_ms must be a multiple of {frame_ms} between {frame_ms} and "
                f"{lead_ms - frame_ms} (lead_ms - frame_ms), got {release_ms!r}"
            )
        try:
            self._chunker = FrameChunker(frame_bytes, silence)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        self._lead_ms = lead_ms
        self._release_frames = release_ms // frame_ms
        self._max_shift = max(0, lead_ms - release_ms - _SHIFT_MARGIN_FRAMES * frame_ms) / 1000
        self._frame_ms = frame_ms
        self._queue: deque[bytes] = deque()
        self._play_end: float | None = None  # when the carrier's queue runs dry, per the corrected clock
        self._shift = 0.0  # seconds the carrier is behind the plain clock, beyond the network baseline
        self._baseline: float | None = None  # the smallest echo lag seen (seconds)
        self._releases: deque[tuple[int, float]] = deque()  # (sent_ms, plain clock's end) per release
        self._sent_ms = 0
        self._waiting_since: float | None = None  # when the oldest waiting frame was pushed, if told
        self._in_reply = False  # audio pushed since the last end_of_audio() or clear()
        self._starved_at: float | None = None  # the dry moment of the last starvation counted

    @property
    def lead_ms(self) -> int:
        """The most audio (ms) the pacer lets the carrier hold unplayed."""
        return self._lead_ms

    @property
    def release_ms(self) -> int:
        """The step audio is released in (while that much waits)."""
        return self._release_frames * self._frame_ms

    @property
    def sent_ms(self) -> int:
        """Milliseconds of audio released so far (the outbound timeline's end)."""
        return self._sent_ms

    @property
    def waiting_ms(self) -> int:
        """Milliseconds of whole frames waiting in the pacer (a partial frame is not counted)."""
        return len(self._queue) * self._frame_ms

    def unplayed_ms(self, now: float) -> float:
        """The estimated audio (ms) sent but not yet played at ``now``."""
        if self._play_end is None:
            return 0.0
        return max(0.0, (self._play_end - now) * 1000)

    def played_ms(self, now: float) -> float:
        """The estimated playout position on the timeline at ``now``: ``sent_ms - unplayed_ms(now)``."""
        return self._sent_ms - self.unplayed_ms(now)

    def push(self, audio: bytes, now: float | None = None) -> float:
        """Queue agent audio of any length; whole frames become ready, a remainder waits for more.

        Args:
            audio: the audio.
            now: monotonic seconds, to tell late releases from starved ones (see the module docstring).

        Returns:
            How long (ms) the carrier had been dry when this audio of a reply in progress came (it starved);
            0 when it was not dry, when this starts a reply, or without ``now``.
        """
        starved_ms = 0.0
        if now is not None:
            play_end = self._play_end
            if (
                self._in_reply
                and play_end is not None
                and play_end < now
                and not self._queue
                and play_end != self._starved_at
            ):
                starved_ms = (now - play_end) * 1000
                self._starved_at = play_end  # one dry spell is counted once
            if not self._queue:
                self._waiting_since = now
        if audio:
            self._in_reply = True
        self._queue.extend(self._chunker.push(audio))
        return starved_ms

    def end_of_audio(self) -> None:
        """The reply is complete: pad its remainder with silence into a last frame and queue it."""
        self._queue.extend(self._chunker.flush())
        self._in_reply = False

    def poll(self, now: float) -> Release:
        """Release every waiting frame that fits in the lead at ``now``, once a step of ``release_ms`` fits.

        Args:
            now: monotonic seconds.

        Returns:
            The frames to send now and when to poll next.
        """
        frame_s = self._frame_ms / 1000
        lead_s = self._lead_ms / 1000
        late_ms = 0.0
        dry_at = self._play_end
        if (
            dry_at is not None
            and dry_at < now
            and self._queue
            and self._waiting_since is not None
            and self._waiting_since <= dry_at
        ):
            late_ms = (now - dry_at) * 1000  # it was waiting here when the carrier ran dry
        if self._play_end is None or self._play_end <= now:
            play_end, self._shift = now, 0.0  # the carrier is idle: the clock restarts at now
        else:
            play_end = self._play_end
        released: list[bytes] = []
        step_s = min(self._release_frames, len(self._queue)) * frame_s
        if self._queue and play_end + step_s - now <= lead_s + _EPSILON:
            while self._queue and play_end + frame_s - now <= lead_s + _EPSILON:
                released.append(self._queue.popleft())
                play_end += frame_s
        if released:
            self._play_end = play_end
            self._sent_ms += self._frame_ms * len(released)
            self._releases.append((self._sent_ms, play_end - self._shift))
            if len(self._releases) > _MAX_RELEASES:
                self._releases.popleft()
        waiting = len(self._queue)
        if released:
            self._waiting_since = now if waiting else None  # what still waits has waited since now, at worst
        wake_at = play_end + min(self._release_frames, waiting) * frame_s - lead_s if waiting else None
        return Release(tuple(released), wake_at, late_ms if released else 0.0)

    def receive_played(self, position_ms: int, now: float) -> None:
        """The carrier confirmed playback up to ``position_ms`` (a current mark echo, placed after a release).

        Compares the echo's lag with the smallest lag seen and shifts the clock by the difference (see the
        module docstring). Positions that do not end a release since the last clear are ignored.
        """
        releases = self._releases
        while releases and releases[0][0] < position_ms:
            releases.popleft()
        if not releases or releases[0][0] != position_ms:
            return
        lag = now - releases.popleft()[1]
        if self._baseline is None or lag < self._baseline:
            self._baseline = lag
        shift = min(lag - self._baseline, self._max_shift)
        assert self._play_end is not None  # a release since the last clear set it
        self._play_end += shift - self._shift
        self._shift = shift

    def clear(self, now: float) -> Cleared:
        """Drop everything not sent yet (and the partial frame); the carrier's queue is being cleared too.

        Call it together with the carrier's ``clear`` (send that first). The timeline keeps its length:
        what the carrier drops is a gap that was never heard.

        Returns:
            What was dropped, and where playback stopped.
        """
        unsent_ms = self.waiting_ms
        unplayed = self.unplayed_ms(now)
        self._queue.clear()
        self._chunker.reset()
        self._releases.clear()
        self._play_end = None
        self._shift = 0.0
        self._waiting_since = None
        self._in_reply = False
        return Cleared(unsent_ms=unsent_ms, unplayed_ms=unplayed, played_ms=self._sent_ms - unplayed)
