"""OutboundPacer: the lead bounds what is queued at the carrier, marks correct the clock, clear drops all.

The property tests run the pacer against a model carrier: frames arrive after a constant network delay,
play back to back in real time, and each release's mark echoes back (after the same delay) when its
frame finished playing.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtvoice.exceptions import ConfigurationError
from rtvoice_gateway.carrier import (
    DEFAULT_LEAD_MS,
    DEFAULT_RELEASE_MS,
    MAX_LEAD_MS,
    MIN_LEAD_MS,
    Cleared,
    OutboundPacer,
    Release,
)

FRAME = 160  # bytes of 20 ms of μ-law
EPS = 1e-6


def frames(n: int, byte: int = 1) -> tuple[bytes, ...]:
    return (bytes([byte]) * FRAME,) * n


def fields(release: Release) -> tuple[object, ...]:
    return release.frames, release.wake_at


def test_defaults() -> None:
    pacer = OutboundPacer()
    assert (pacer.lead_ms, DEFAULT_LEAD_MS, MIN_LEAD_MS, MAX_LEAD_MS) == (160, 160, 40, 1000)
    assert (pacer.release_ms, DEFAULT_RELEASE_MS) == (20, 20)
    assert (pacer.sent_ms, pacer.waiting_ms, pacer.unplayed_ms(0.0), pacer.played_ms(0.0)) == (0, 0, 0.0, 0.0)


@pytest.mark.parametrize("lead_ms", [0, 20, 39, 50, 1020, 2000, -160, True, 160.0, "160"])
def test_a_lead_out_of_bounds_is_refused(lead_ms: object) -> None:
    with pytest.raises(ConfigurationError, match="lead_ms"):
        OutboundPacer(lead_ms)  # type: ignore[arg-type]


@pytest.mark.parametrize("lead_ms", [40, 100, 160, 200, 1000])
def test_leads_in_bounds(lead_ms: int) -> None:
    pacer = OutboundPacer(lead_ms)
    pacer.push(bytes(FRAME * 100))
    assert len(pacer.poll(0.0).frames) == lead_ms // 20


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"frame_ms": 0}, "frame_ms"),
        ({"frame_ms": True}, "frame_ms"),
        ({"frame_ms": 30, "lead_ms": 160}, "multiple of 30"),
        ({"frame_ms": 100, "lead_ms": 100}, "between 200"),
        ({"frame_bytes": 0}, "frame_size"),
        ({"silence": b""}, "silence"),
    ],
)
def test_bad_frames_are_refused(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        OutboundPacer(**kwargs)  # type: ignore[arg-type]


def test_a_burst_of_one_lead_then_one_frame_per_frame() -> None:
    pacer = OutboundPacer(160)
    pacer.push(bytes(FRAME * 20))
    assert pacer.waiting_ms == 400
    assert fields(pacer.poll(100.0)) == (frames(8, 0), pytest.approx(100.02))
    assert pacer.unplayed_ms(100.0) == pytest.approx(160)
    assert fields(pacer.poll(100.01)) == ((), pytest.approx(100.02))  # early: nothing fits yet
    assert fields(pacer.poll(100.02)) == (frames(1, 0), pytest.approx(100.04))
    # A late wake-up catches up at once, and never beyond the lead.
    release = pacer.poll(100.1)
    assert len(release.frames) == 4
    assert pacer.unplayed_ms(100.1) == pytest.approx(160)
    assert (pacer.sent_ms, pacer.waiting_ms) == (260, 140)
    assert pacer.played_ms(100.1) == pytest.approx(100)


@pytest.mark.parametrize(
    ("lead_ms", "release_ms"), [(160, 0), (160, 10), (160, 30), (160, 160), (160, 200), (40, 40), (160, True)]
)
def test_a_release_step_out_of_bounds_is_refused(lead_ms: int, release_ms: object) -> None:
    with pytest.raises(ConfigurationError, match="release_ms"):
        OutboundPacer(lead_ms, release_ms=release_ms)  # type: ignore[arg-type]


def test_releases_in_steps_once_a_whole_step_fits() -> None:
    pacer = OutboundPacer(160, release_ms=60)
    assert pacer.release_ms == 60
    pacer.push(bytes(FRAME * 20))
    assert fields(pacer.poll(100.0)) == (frames(8, 0), pytest.approx(100.06))  # a full lead at once
    assert fields(pacer.poll(100.02)) == ((), pytest.approx(100.06))  # one frame fits, not a step
    assert fields(pacer.poll(100.04)) == ((), pytest.approx(100.06))
    assert fields(pacer.poll(100.06)) == (frames(3, 0), pytest.approx(100.12))
    assert pacer.unplayed_ms(100.06) == pytest.approx(160)
    # A late wake-up still fills the lead, and never beyond it.
    assert len(pacer.poll(100.2).frames) == 7
    assert pacer.unplayed_ms(100.2) == pytest.approx(160)
    assert pacer.waiting_ms == 40
    # What waits is less than a step: it goes as soon as it fits.
    assert fields(pacer.poll(100.24)) == (frames(2, 0), None)


def test_the_end_of_a_reply_goes_when_it_fits() -> None:
    pacer = OutboundPacer(160, release_ms=60)
    pacer.push(bytes(FRAME * 9))
    assert fields(pacer.poll(0.0)) == (frames(8, 0), pytest.approx(0.02))
    assert fields(pacer.poll(0.02)) == (frames(1, 0), None)


def test_nothing_waiting_means_no_wake_up() -> None:
    pacer = OutboundPacer(160)
    assert pacer.poll(0.0) == Release((), None)
    pacer.push(bytes(FRAME * 3))
    assert pacer.poll(0.0) == Release(frames(3, 0), None)
    assert pacer.unplayed_ms(0.06) == pytest.approx(0)
    assert pacer.unplayed_ms(1.0) == 0.0


def test_an_idle_carrier_restarts_the_clock() -> None:
    pacer = OutboundPacer(40)
    pacer.push(bytes(FRAME))
    pacer.poll(0.0)
    pacer.push(bytes(FRAME * 3))
    assert len(pacer.poll(5.0).frames) == 2  # the old play end is long past: a full lead again
    assert pacer.unplayed_ms(5.0) == pytest.approx(40)


def test_a_partial_frame_waits_for_more_audio_or_the_end() -> None:
    pacer = OutboundPacer()
    pacer.push(b"\x01" * 100)
    assert pacer.poll(0.0) == Release((), None)
    pacer.push(b"\x02" * 100)
    assert pacer.poll(0.0) == Release((b"\x01" * 100 + b"\x02" * 60,), None)
    pacer.end_of_audio()
    assert pacer.poll(0.0) == Release((b"\x02" * 40 + b"\xff" * 120,), None)
    pacer.end_of_audio()
    assert pacer.poll(0.0) == Release((), None)


def test_echoes_shift_the_clock_by_their_lag_beyond_the_smallest() -> None:
    pacer = OutboundPacer(400)
    pacer.push(bytes(FRAME * 60))
    assert len(pacer.poll(0.0).frames) == 20  # ends at 0.40 by the clock
    assert len(pacer.poll(0.1).frames) == 5  # 0.50
    assert len(pacer.poll(0.2).frames) == 5  # 0.60
    pacer.receive_played(400, now=0.43)  # 30 ms late: the network's share (the smallest lag so far)
    assert pacer.unplayed_ms(0.43) == pytest.approx(170)
    pacer.receive_played(500, now=0.58)  # 80 ms late: the carrier lost 50 ms to a stall
    assert pacer.unplayed_ms(0.58) == pytest.approx(70)  # the plain clock would say 20
    assert len(pacer.poll(0.58).frames) == 16
    assert pacer.unplayed_ms(0.58) == pytest.approx(390)
    pacer.receive_played(600, now=0.63)  # 30 ms late again: the carrier caught up (it underran)
    assert pacer.unplayed_ms(0.63) == pytest.approx(290)
    pacer.receive_played(650, now=0.7)  # not the end of a release: ignored
    pacer.receive_played(10_000, now=0.7)
    assert pacer.unplayed_ms(0.7) == pytest.approx(220)


def test_a_shift_ends_when_the_carrier_goes_idle() -> None:
    pacer = OutboundPacer(40)
    pacer.push(bytes(FRAME * 6))
    pacer.poll(0.0)
    pacer.receive_played(40, now=0.04)  # baseline: no lag
    pacer.poll(0.04)
    pacer.receive_played(80, now=0.1)  # 20 ms late
    assert pacer.unplayed_ms(0.1) == pytest.approx(0)
    assert len(pacer.poll(0.2).frames) == 2  # idle: the clock restarts at now, unshifted
    assert pacer.unplayed_ms(0.2) == pytest.approx(40)


def test_an_echo_before_anything_was_sent_or_after_a_clear_is_ignored() -> None:
    pacer = OutboundPacer(160)
    pacer.receive_played(0, now=0.0)
    assert pacer.unplayed_ms(0.0) == 0.0
    pacer.push(bytes(FRAME * 4))
    pacer.poll(0.0)
    pacer.clear(0.01)
    pacer.receive_played(80, now=5.0)
    assert pacer.unplayed_ms(0.02) == 0.0


def test_releases_awaiting_an_echo_are_bounded() -> None:
    pacer = OutboundPacer(200)
    pacer.push(bytes(FRAME * 1100))
    for k in range(1050):  # 200 ms at 0.0, then one frame every 20 ms: release k ends at 0.02 k + 0.2
        pacer.poll(k * 0.02)
    pacer.receive_played(1180, now=1.18)  # release 49 was forgotten (1000 are kept): no baseline of 0
    pacer.receive_played(1200, now=1.70)  # release 50, 500 ms late: the baseline
    assert pacer.unplayed_ms(20.98) == pytest.approx(200)
    pacer.receive_played(1220, now=1.82)  # release 51, 600 ms late: 100 ms beyond the baseline
    assert pacer.unplayed_ms(20.98) == pytest.approx(300)


def test_a_shift_is_capped_so_a_late_echo_cannot_starve_the_carrier() -> None:
    # lead 160, release 60: the clock moves at most 60 ms later, so a release still finds 40 ms queued at
    # a carrier that played on time (its echo was late on the way back).
    pacer = OutboundPacer(160, release_ms=60)
    pacer.push(bytes(FRAME * 100))
    assert [len(pacer.poll(t).frames) for t in (0.0, 0.06, 0.12, 0.18)] == [8, 3, 3, 3]  # ends at 0.34
    pacer.receive_played(160, now=0.17)  # 10 ms late: the baseline
    pacer.receive_played(220, now=0.33)  # 110 ms late: 100 beyond the baseline, trusted up to 60
    assert pacer.unplayed_ms(0.33) == pytest.approx(70)  # 10 by the plain clock, 110 with the whole lag
    small = OutboundPacer(40)  # lead 40, release 20: no room for a shift at all
    small.push(bytes(FRAME * 6))
    assert [len(small.poll(t).frames) for t in (0.0, 0.04, 0.06)] == [2, 2, 1]  # ends at 0.10
    small.receive_played(40, now=0.04)  # on time: the baseline
    small.receive_played(80, now=0.09)  # 10 ms late
    assert small.unplayed_ms(0.09) == pytest.approx(10)  # the plain clock's (20 with the lag)


def test_a_release_after_the_carrier_ran_dry_is_late_by_the_dry_time() -> None:
    pacer = OutboundPacer(160, release_ms=60)
    pacer.push(bytes(FRAME * 50), 0.0)
    first = pacer.poll(0.0)
    assert (len(first.frames), first.late_ms) == (8, 0.0)  # a reply's first audio is never late
    assert first.wake_at == pytest.approx(0.06)
    on_time = pacer.poll(0.06)
    assert (len(on_time.frames), on_time.late_ms) == (3, 0.0)
    # The shell oversleeps: the carrier ran dry at 0.22 s with frames waiting here since before.
    late = pacer.poll(0.5)
    assert len(late.frames) == 8
    assert late.late_ms == pytest.approx(280.0)
    assert pacer.poll(late.wake_at or 0.0).late_ms == 0.0  # back on time


def test_audio_that_comes_after_the_carrier_ran_dry_mid_reply_starved_it() -> None:
    pacer = OutboundPacer(160)
    assert pacer.push(bytes(FRAME * 5), 0.0) == 0.0  # a reply's first audio
    assert len(pacer.poll(0.0).frames) == 5  # the carrier plays until 0.1 s
    assert pacer.push(bytes(FRAME * 2), 0.05) == 0.0  # in time
    assert pacer.poll(0.05).late_ms == 0.0
    assert pacer.push(bytes(FRAME * 2), 0.3) == pytest.approx(160.0)  # dry since 0.14 s: starved
    assert pacer.push(bytes(FRAME), 0.31) == 0.0  # the same dry spell, counted once
    assert pacer.poll(0.31).late_ms == 0.0  # not the shell's fault
    assert pacer.push(bytes(FRAME), 2.0) == pytest.approx(1630.0)  # dry since 0.37 s, counted once more
    pacer.poll(2.0)
    pacer.end_of_audio()
    assert pacer.push(bytes(FRAME), 9.0) == 0.0  # the next reply's first audio: the carrier was idle
    assert (
        pacer.push(
            bytes(FRAME),
            9.5,
        )
        == 0.0
    )  # waiting frames: the shell, not the audio, is late
    assert pacer.poll(9.5).late_ms == 0.0  # they came after the carrier was idle: not late either
    assert pacer.push(bytes(FRAME)) == 0.0  # without now, nothing is told
    pacer.clear(10.0)
    assert pacer.push(bytes(FRAME), 20.0) == 0.0  # after a clear: a new reply
    pacer.poll(20.0)
    pacer.end_of_audio()
    assert pacer.push(b"", 30.0) == 0.0  # no audio: no reply begins
    assert pacer.push(bytes(FRAME), 31.0) == 0.0  # so this one starts it, and starved nothing


def test_clear_drops_everything_unsent_and_reports_the_position() -> None:
    pacer = OutboundPacer(160)
    pacer.push(b"\x01" * (FRAME * 20 + 50))
    pacer.poll(0.0)
    cleared = pacer.clear(0.05)
    assert isinstance(cleared, Cleared)
    assert cleared.unsent_ms == 240
    assert cleared.unplayed_ms == pytest.approx(110)
    assert cleared.played_ms == pytest.approx(50)
    assert (pacer.waiting_ms, pacer.sent_ms, pacer.unplayed_ms(0.05)) == (0, 160, 0.0)
    pacer.end_of_audio()  # the dropped partial frame does not come back
    pacer.push(b"\x02" * FRAME * 10)
    assert pacer.poll(0.05).frames == frames(8, 2)


# -- against a model carrier ---------------------------------------------------------------------------


@dataclass
class Carrier:
    """Plays frames back to back in real time from when they arrive (after ``delay``)."""

    delay: float
    ends: list[float] = field(default_factory=list)
    queue_on_arrival: list[float] = field(default_factory=list)  # seconds queued just after each arrival
    gaps: list[float] = field(default_factory=list)
    payloads: list[bytes] = field(default_factory=list)

    def send(self, frame: bytes, now: float) -> float:
        arrival = now + self.delay
        start = max(arrival, self.ends[-1]) if self.ends else arrival
        if self.ends:
            self.gaps.append(start - self.ends[-1])
        self.ends.append(start + 0.02)
        self.queue_on_arrival.append(self.ends[-1] - arrival)
        self.payloads.append(frame)
        return self.ends[-1]


def run(
    pacer: OutboundPacer,
    carrier: Carrier,
    pushes: list[tuple[float, int]],
    wake_delays: list[float],
    clear_at: float | None = None,
) -> list[float]:
    """Drive ``pacer`` like a shell: poll at each push and at each wake-up (late by a wake delay).

    Returns:
        The ``late_ms`` of every release that sent frames.
    """
    events: list[tuple[float, int, str, int]] = [(at, i, "push", n) for i, (at, n) in enumerate(pushes)]
    if clear_at is not None:
        events.append((clear_at, -1, "clear", 0))
    heapq.heapify(events)
    counter, delays = len(pushes), itertools.cycle(wake_delays)
    cleared = False
    lates: list[float] = []
    while events:
        now, _, kind, value = heapq.heappop(events)
        if kind == "push":
            pacer.push(bytes([2 if cleared else 1]) * value, now)
            pacer.end_of_audio()
        elif kind == "echo":
            pacer.receive_played(value, now)
            continue
        elif kind == "clear":
            cleared = True
            pacer.clear(now)  # the model carrier ignores the clear: the worst case
            continue
        release = pacer.poll(now)
        for frame in release.frames:
            played_at = carrier.send(frame, now)
            if cleared:
                assert frame[0] == 2, "old audio sent after a clear"
        if release.frames:  # one mark per release, echoed when its last frame has played
            lates.append(release.late_ms)
            counter += 1
            heapq.heappush(events, (played_at + carrier.delay, counter, "echo", pacer.sent_ms))
        if release.wake_at is not None:
            counter += 1
            heapq.heappush(events, (max(release.wake_at, now) + next(delays), counter, "wake", 0))
    return lates


# (lead_ms, release_ms): a step of one frame up to the lead less one frame
paced = st.integers(2, 25).flatmap(
    lambda n: st.tuples(st.just(n * 20), st.integers(1, n - 1).map(lambda k: k * 20))
)
schedules = st.lists(st.tuples(st.floats(0, 2), st.integers(1, FRAME * 60)), min_size=1, max_size=6)


@settings(deadline=None, max_examples=200)
@given(paced, st.floats(0, 0.1), schedules, st.lists(st.floats(0, 0.05), min_size=1, max_size=5))
def test_the_carrier_never_holds_more_than_the_lead(
    pacing: tuple[int, int], delay: float, pushes: list[tuple[float, int]], wake_delays: list[float]
) -> None:
    lead_ms, release_ms = pacing
    pacer, carrier = OutboundPacer(lead_ms, release_ms=release_ms), Carrier(delay)
    run(pacer, carrier, pushes, wake_delays)
    assert max(carrier.queue_on_arrival) <= lead_ms / 1000 + EPS
    assert len(carrier.payloads) * 20 == pacer.sent_ms
    assert pacer.waiting_ms == 0  # everything went out in the end


@settings(deadline=None, max_examples=200)
@given(
    paced,
    st.floats(0, 0.1),
    st.integers(FRAME * 10, FRAME * 200),
    st.lists(st.floats(0, 1), min_size=1, max_size=5),
)
def test_late_wake_ups_within_the_lead_leave_no_gap(
    pacing: tuple[int, int], delay: float, size: int, fractions: list[float]
) -> None:
    # Any wake-up delay shorter than lead - release step keeps the carrier playing without a gap.
    lead_ms, release_ms = pacing
    slack = (lead_ms - release_ms) / 1000
    pacer, carrier = OutboundPacer(lead_ms, release_ms=release_ms), Carrier(delay)
    lates = run(pacer, carrier, [(0.0, size)], [fraction * slack * 0.99 for fraction in fractions])
    assert max(carrier.gaps, default=0.0) <= EPS
    assert lates == [0.0] * len(lates)


@settings(deadline=None, max_examples=200)
@given(
    paced, st.floats(0, 0.1), st.integers(FRAME * 10, FRAME * 200), st.lists(st.floats(0, 0.5), max_size=5)
)
def test_late_releases_account_for_every_gap_in_a_reply(
    pacing: tuple[int, int], delay: float, size: int, wake_delays: list[float]
) -> None:
    # Whatever the wake-up delays, each gap the carrier plays inside one reply is a release the pacer
    # reports as late, by as much (the network's delay is constant: the clock needs no correction).
    lead_ms, release_ms = pacing
    pacer, carrier = OutboundPacer(lead_ms, release_ms=release_ms), Carrier(delay)
    lates = run(pacer, carrier, [(0.0, size)], wake_delays or [0.0])
    assert [round(late, 6) for late in lates if late > EPS * 1000] == [
        round(gap * 1000, 6) for gap in carrier.gaps if gap > EPS
    ]


@settings(deadline=None, max_examples=200)
@given(
    paced, st.floats(0, 0.1), schedules, st.floats(0, 3), st.lists(st.floats(0, 0.05), min_size=1, max_size=5)
)
def test_after_a_clear_the_caller_hears_at_most_the_lead(
    pacing: tuple[int, int],
    delay: float,
    pushes: list[tuple[float, int]],
    clear_at: float,
    wake_delays: list[float],
) -> None:
    # Even a carrier that ignores the clear plays at most the lead of old audio after it (a real one
    # drops it); no old frame is sent after it (checked in run()).
    lead_ms, release_ms = pacing
    pacer, carrier = OutboundPacer(lead_ms, release_ms=release_ms), Carrier(delay)
    run(pacer, carrier, pushes, wake_delays, clear_at=clear_at)
    old_ends = [end for end, payload in zip(carrier.ends, carrier.payloads, strict=True) if payload[0] == 1]
    unplayed_at_clear = max([end - (clear_at + delay) for end in old_ends] + [0.0])
    assert unplayed_at_clear <= lead_ms / 1000 + EPS
