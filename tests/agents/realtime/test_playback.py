"""PlaybackTracker: the playback stream, in device mode and in wall-clock mode."""

from __future__ import annotations

import pytest

from rtvoice.exceptions import LocalProtocolError
from rtvoice.realtime.playback import EPSILON_MS, PlaybackTracker

PCM16 = 48  # bytes per ms


def ms(value: float) -> int:
    """Bytes of ``value`` ms of PCM16 at 24 kHz."""
    return int(value * PCM16)


def test_device_mode_positions_come_from_reports_clamped_to_the_stream() -> None:
    tracker = PlaybackTracker(PCM16)
    before = tracker.device_reports
    tracker.report(0)
    assert (before, tracker.device_reports) == (False, True)
    tracker.queue("a", "r", ms(300), now=0.0)
    assert tracker.cursor == 300
    tracker.report(120)
    assert tracker.position(now=99.0) == 120  # the clock plays no part
    assert tracker.is_playing(now=0.0)
    tracker.report(5000)  # the device counts more than we queued: clamped
    assert tracker.position(now=0.0) == 300
    assert not tracker.is_playing(now=0.0)
    assert tracker.drain_deadline() is None


def test_finished_within_epsilon() -> None:
    tracker = PlaybackTracker(PCM16)
    tracker.report(0)
    tracker.queue("a", "r", ms(100), now=0.0)
    tracker.report(100 - EPSILON_MS - 0.01)
    assert tracker.is_playing(now=0.0)
    tracker.report(100 - EPSILON_MS)
    assert not tracker.is_playing(now=0.0)


def test_clock_mode_starts_when_audio_reaches_an_idle_stream() -> None:
    tracker = PlaybackTracker(PCM16)
    tracker.queue("a", "r", ms(250), now=10.0)
    assert tracker.position(now=10.1) == pytest.approx(100)
    assert tracker.position(now=9.0) == 0  # a clock that went backwards counts as no time
    assert tracker.drain_deadline() == pytest.approx(10.25)
    tracker.queue("a", "r", ms(250), now=10.2)  # still playing: appended, no new anchor
    assert tracker.drain_deadline() == pytest.approx(10.5)
    # After the stream ran dry, new audio starts playing when it arrives.
    tracker.queue("b", "r2", ms(100), now=20.0)
    assert tracker.position(now=20.05) == pytest.approx(550)
    assert tracker.drain_deadline() == pytest.approx(20.1)


def test_clear_cuts_the_playing_item_and_everything_queued_after_it() -> None:
    tracker = PlaybackTracker(PCM16)
    tracker.report(0)
    tracker.queue("a", "r1", ms(100), now=0.0)
    tracker.queue("b", "r2", ms(100), now=0.0)
    tracker.queue("a", "r1", ms(100), now=0.0)  # interleaved: a second segment of "a"
    tracker.report(150)  # half of "b" played
    cuts = tracker.clear(now=0.0)
    assert [(cut.item.item_id, cut.played_ms) for cut in cuts] == [("b", 50), ("a", 100)]
    a = tracker.item("a")
    assert a is not None and a.cut and a.heard_ms == 100 and a.received_ms == 200
    assert tracker.cursor == 150  # the unplayed rest is gone
    assert tracker.clear(now=0.0) == []


def test_an_item_cut_by_an_earlier_segment_is_cut_once() -> None:
    tracker = PlaybackTracker(PCM16)
    tracker.report(0)
    tracker.queue("a", "r", ms(100), now=0.0)
    tracker.queue("b", "r", ms(100), now=0.0)
    tracker.queue("a", "r", ms(100), now=0.0)
    tracker.report(40)
    assert [(cut.item.item_id, cut.played_ms) for cut in tracker.clear(now=0.0)] == [("a", 40), ("b", 0)]


def test_report_cleared_realigns_audio_queued_since_the_clear() -> None:
    tracker = PlaybackTracker(PCM16)
    tracker.report(0)
    tracker.queue("a", "r", ms(500), now=0.0)
    tracker.report(200)
    tracker.clear(now=0.0)
    tracker.queue("b", "r2", ms(300), now=0.0)  # queued from 200 on, as far as we know
    tracker.report_cleared(230)  # the device had played 230 ms
    assert tracker.cursor == 530
    with pytest.raises(LocalProtocolError, match="without a ClearPlayback"):
        tracker.report_cleared(230)  # once per clear
    tracker.report(330)
    [cut] = tracker.clear(now=0.0)
    assert (cut.item.item_id, cut.played_ms) == ("b", 100)


def test_report_cleared_rejects_going_backwards() -> None:
    tracker = PlaybackTracker(PCM16)
    tracker.report(0)
    tracker.queue("a", "r", ms(500), now=0.0)
    tracker.report(200)
    tracker.clear(now=0.0)
    with pytest.raises(LocalProtocolError, match="backwards"):
        tracker.report_cleared(150)
    with pytest.raises(LocalProtocolError, match="finite"):
        tracker.report_cleared(float("inf"))


def test_a_position_lower_only_by_float_rounding_is_the_same_position() -> None:
    # A phone device reported 1539.1698759999708 ms from its clock, then 1539.169875 from its tick counter
    # after a clear: the session used to fail on it ("went backwards").
    tracker = PlaybackTracker(PCM16)
    tracker.queue("a", "r", ms(3000), now=0.0)
    tracker.report(1539.1698759999708)
    tracker.report(1539.169875)
    assert tracker.position(now=0.0) == 1539.1698759999708
    tracker.clear(now=0.0)
    tracker.report_cleared(1539.169875)
    assert tracker.position(now=0.0) == 1539.1698759999708
    with pytest.raises(LocalProtocolError, match="backwards"):
        tracker.report(1539.1)  # a tenth of a millisecond is a step back


def test_report_cleared_in_clock_mode_switches_to_device_mode() -> None:
    tracker = PlaybackTracker(PCM16)
    tracker.queue("a", "r", ms(500), now=0.0)
    tracker.clear(now=0.3)
    tracker.report_cleared(310)
    assert tracker.device_reports
    assert tracker.position(now=0.0) == 310


def test_items_are_forgotten_once_done_and_played() -> None:
    tracker = PlaybackTracker(PCM16)
    tracker.report(0)
    tracker.queue("a", "r", ms(100), now=0.0)
    assert [item.item_id for item in tracker.close_response("r")] == ["a"]
    assert tracker.item("a") is not None  # still queued
    tracker.report(100)
    assert tracker.item("a") is None
    assert tracker.close_response("r") == []


def test_dropped_audio_cuts_an_item_at_what_it_had_received() -> None:
    tracker = PlaybackTracker(PCM16)
    tracker.report(0)
    tracker.queue("a", "r", ms(200), now=0.0)
    tracker.report(200)
    item = tracker.drop("a", "r", ms(300))
    assert item.cut and item.heard_ms == 200 and item.generated_ms == 500
    assert item.heard_fraction == pytest.approx(0.4)
    tracker.drop("a", "r", ms(100))
    assert item.heard_ms == 200 and item.heard_fraction == pytest.approx(200 / 600)


def test_heard_fraction() -> None:
    tracker = PlaybackTracker(PCM16)
    fresh = tracker.queue("a", "r", ms(100), now=0.0)
    assert fresh.heard_fraction == 1.0  # not cut
    empty = tracker.drop("b", "r", 0)
    assert empty.cut and empty.heard_fraction == 0.0  # nothing generated, nothing heard


@pytest.mark.parametrize("value", [-0.5, float("nan"), float("-inf")])
def test_invalid_reports(value: float) -> None:
    with pytest.raises(LocalProtocolError, match="finite"):
        PlaybackTracker(PCM16).report(value)
