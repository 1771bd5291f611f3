"""The load test's pure statistics: tags, percentiles, pairing frames both ways, gaps, talk-over."""

from __future__ import annotations

import math

import pytest

from rtvoice_gateway.loadtest.stats import (
    PlayoutGaps,
    Reply,
    match_inbound,
    match_outbound,
    percentile,
    read_tag,
    summarize,
    tag_frame,
    talk_over_ms,
)

SPEECH = bytes(range(20, 180))  # loud μ-law codes


@pytest.mark.parametrize("index", [0, 1, 31, 32, 1000, 2**25 - 1])
def test_a_tag_reads_back_and_keeps_the_frame_length(index: int) -> None:
    frame = tag_frame(SPEECH, index)
    assert len(frame) == 160
    assert frame[5:] == SPEECH[5:]
    assert read_tag(frame) == index


def test_an_untagged_frame_has_no_tag() -> None:
    assert read_tag(SPEECH) is None
    assert read_tag(b"\xff") is None


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.99) == 99
    assert percentile(values, 1.0) == 100
    assert math.isnan(percentile([], 0.5))
    summary = summarize([3.0, 1.0, 2.0])
    assert (summary.p50, summary.max, summary.count) == (2.0, 3.0, 3)


def frames(count: int, start: float = 100.0) -> list[float]:
    return [start + k * 0.02 for k in range(count)]


def test_tagged_inbound_sees_latency_loss_and_reordering() -> None:
    sent = frames(10)
    order = [0, 1, 2, 4, 3, 5, 7, 8, 9]  # 6 lost, 3 and 4 swapped
    appends = [(sent[k] + 0.002 + 0.001 * k, k) for k in order]
    got = match_inbound(sent, appends, tagged=True, window=(sent[0], sent[-1]))
    assert got.lost == 1
    assert got.reordered == 1
    assert got.late == 0
    assert got.latencies_ms == pytest.approx([2.0 + k for k in order])


def test_tagged_inbound_counts_only_frames_sent_in_the_window() -> None:
    sent = frames(10)
    appends = [(sent[k] + 0.030, k) for k in range(10)]  # all late
    got = match_inbound(sent, appends, tagged=True, window=(sent[2], sent[5]))
    assert len(got.latencies_ms) == 4
    assert got.late == 4
    assert got.latencies_ms[0] == pytest.approx(30.0)


def test_untagged_inbound_recovers_the_pairing_after_early_and_mid_call_drops() -> None:
    sent = frames(100)
    carried = [k for k in range(3, 100) if k != 50]  # frames 0-2 dropped early, 50 mid-call
    latency = {k: 0.003 for k in carried}
    latency[70] = 0.045  # one frame held up (the next ones queue behind it)
    latency[71] = 0.026
    appends = [(sent[k] + latency[k], -1) for k in carried]
    got = match_inbound(sent, appends, tagged=False, window=(sent[10], sent[-1]))
    assert got.reordered is None
    assert got.lost == 1
    assert len(got.latencies_ms) == len([k for k in carried if k >= 10])
    assert max(got.latencies_ms) == pytest.approx(45.0)
    assert got.late == 2
    assert sorted(got.latencies_ms)[0] == pytest.approx(3.0)


def test_untagged_inbound_with_nothing_received_loses_every_frame_in_the_window() -> None:
    sent = frames(10)
    got = match_inbound(sent, [], tagged=False, window=(sent[0], sent[4]))
    assert got.lost == 5
    assert got.latencies_ms == []


def test_outbound_times_each_replys_first_audio() -> None:
    replies = [Reply(10.0, 400, True), Reply(20.0, 400, True)]
    media = [(10.004, 800), (10.2, 1600), (10.4, 800), (20.012, 3200)]
    got = match_outbound(media, [], replies, window=(0, 100), ended_at=30)
    assert got.replies == 2
    assert got.latencies_ms == pytest.approx([4.0, 12.0])
    assert got.lost == 0
    assert got.late == 0


def test_outbound_counts_audio_of_a_complete_reply_that_never_came() -> None:
    replies = [Reply(10.0, 1000, True), Reply(20.0, 1000, True), Reply(25.0, 1000, False)]
    # Reply 1: 600 ms of its 1000 arrived; reply 2 arrived whole; reply 3 was cancelled (not counted).
    media = [(10.003, 4800), (20.003, 8000), (25.003, 800)]
    got = match_outbound(media, [], replies, window=(0, 100), ended_at=40)
    assert got.lost == math.ceil((1000 - 600 - 40) / 20)


def test_outbound_does_not_count_an_interrupted_reply_as_lost() -> None:
    replies = [Reply(10.0, 2000, True)]
    media = [(10.003, 1600)]
    got = match_outbound(media, [10.5], replies, window=(0, 100), ended_at=40)
    assert got.lost == 0
    assert got.replies == 1


def test_outbound_late_first_audio() -> None:
    got = match_outbound([(10.05, 800)], [], [Reply(10.0, 100, True)], window=(0, 100), ended_at=40)
    assert got.late == 1
    assert got.latencies_ms == pytest.approx([50.0])


def test_playout_gaps_are_dry_stretches_mid_reply_only() -> None:
    gaps = PlayoutGaps(new_reply_s=0.7)
    gaps.audio_arrived(1.0)  # a reply starts: no gap
    for k in range(5):
        gaps.tick(1.0 + k * 0.02, had_frame=True)
    gaps.tick(1.10, had_frame=False)  # dry
    gaps.tick(1.12, had_frame=False)
    gaps.audio_arrived(1.135)  # 35 ms late
    gaps.tick(1.14, had_frame=True)
    gaps.tick(1.16, had_frame=False)  # the reply ended
    gaps.audio_arrived(3.0)  # the next reply, 1.84 s later: not a gap
    gaps.tick(3.0, had_frame=True)
    gaps.tick(3.02, had_frame=False)
    gaps.cleared()  # a barge-in: not a gap either
    gaps.audio_arrived(3.05)
    assert [(at, round(ms, 3)) for at, ms in gaps.gaps] == [(1.10, 35.0)]


def test_audio_that_arrived_before_the_dry_tick_was_due_is_no_gap() -> None:
    # The carrier's process ran the tick due at 1.10 late, before reading audio that had come at 1.095.
    gaps = PlayoutGaps(new_reply_s=0.7)
    gaps.audio_arrived(1.0)
    gaps.tick(1.08, had_frame=True)
    gaps.tick(1.10, had_frame=False)
    gaps.audio_arrived(1.095)
    gaps.tick(1.12, had_frame=True)
    gaps.tick(1.14, had_frame=False)
    gaps.audio_arrived(1.152)  # this one is 12 ms late
    assert [(at, round(ms, 3)) for at, ms in gaps.gaps] == [(1.14, 12.0)]


def test_talk_over_is_agent_audio_heard_from_the_barge_in_to_the_clear() -> None:
    ticks = [5.0 + k * 0.02 for k in range(100)]  # the agent speaks from 5.0 to 7.0
    # Ticks 6.00, 6.02, ... 6.24 each played 20 ms of the agent before the clear at 6.25.
    assert talk_over_ms([6.0], [6.25], ticks) == pytest.approx([260.0])
    assert talk_over_ms([6.0], [9.5], ticks) == []  # no clear within 3 s
