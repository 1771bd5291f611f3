"""PlayoutCounter: the one piece of arithmetic every output device uses for ``played_ms``."""

from __future__ import annotations

import doctest
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

import rtvoice.audio.playout
from rtvoice.audio import PlayoutCounter
from rtvoice.audio.playout import TICKS_PER_MS

TICK_MS = 1 / TICKS_PER_MS


def test_module_examples_hold() -> None:
    result = doctest.testmod(rtvoice.audio.playout, raise_on_error=False)
    assert result.attempted > 0 and result.failed == 0


def test_starts_empty() -> None:
    counter = PlayoutCounter()
    assert (counter.played_ms, counter.queued_ms, counter.pending_ms, counter.dropped_ms) == (0, 0, 0, 0)
    assert counter.generation == 0
    assert not counter.is_playing


def test_advance_counts_only_queued_audio() -> None:
    counter = PlayoutCounter()
    counter.queue(30.0)
    assert counter.advance(20.0) == 20.0
    playing = [counter.is_playing]
    assert counter.advance(20.0) == 10.0  # the slot's last 10 ms were padding
    playing.append(counter.is_playing)
    assert playing == [True, False]
    assert counter.played_ms == 30.0
    assert counter.advance(20.0) == 0.0  # silence while idle is not heard audio
    assert counter.played_ms == 30.0


def test_report_is_absolute_and_clamped_to_the_queue() -> None:
    counter = PlayoutCounter()
    counter.queue(50.0)
    assert counter.report(20.0) == 20.0
    assert counter.report(20.0) == 0.0  # a repeat
    assert counter.report(80.0) == 30.0  # past the end: only what was queued was heard
    assert counter.played_ms == 50.0 and counter.pending_ms == 0.0


def test_report_backwards_is_an_error_but_rounding_is_not() -> None:
    counter = PlayoutCounter()
    counter.queue(100.0)
    counter.report(60.0)
    assert counter.report(60.0 - 1e-9) == 0.0  # the same tick
    with pytest.raises(ValueError, match="went backwards"):
        counter.report(40.0)
    assert counter.played_ms == 60.0


def test_clear_drops_the_rest_and_starts_a_generation() -> None:
    counter = PlayoutCounter()
    counter.queue(100.0)
    counter.advance(40.0)
    assert counter.clear() == 60.0
    assert (counter.played_ms, counter.queued_ms, counter.dropped_ms, counter.generation) == (40, 40, 60, 1)
    assert not counter.is_playing
    assert counter.advance(20.0) == 0.0  # the slot in progress after the clear holds no queued audio
    assert counter.clear() == 0.0
    assert counter.generation == 2


def test_stale_reports_are_ignored_after_a_clear() -> None:
    counter = PlayoutCounter()
    counter.queue(100.0)
    sent_in = counter.generation
    counter.report(20.0, generation=sent_in)
    counter.clear()
    counter.queue(100.0)  # new audio reuses positions 20..120
    assert counter.report(80.0, generation=sent_in) == 0.0  # a mark of the dropped audio
    assert counter.played_ms == 20.0
    assert counter.report(50.0, generation=counter.generation) == 30.0
    with pytest.raises(ValueError, match="generation"):
        counter.report(60.0, generation=counter.generation + 1)


@pytest.mark.parametrize("bad", [-1.0, math.inf, -math.inf, math.nan, True, "20", None])
def test_bad_durations_are_refused(bad: object) -> None:
    counter = PlayoutCounter()
    counter.queue(10.0)
    for call in (counter.queue, counter.advance):
        with pytest.raises(ValueError, match=r"ms\b|milliseconds"):
            call(bad)  # type: ignore[arg-type]
    if bad != -1.0:
        with pytest.raises(ValueError, match="finite"):
            counter.report(bad)  # type: ignore[arg-type]
    assert (counter.played_ms, counter.queued_ms) == (0.0, 10.0)  # a refused call changes nothing


@pytest.mark.parametrize("bytes_per_ms", [8, 16, 32, 48, 96])  # G.711 8 kHz, PCM16 8/16/24/48 kHz
def test_byte_derived_durations_add_up_exactly(bytes_per_ms: int) -> None:
    # 1001-byte chunks are 20.854166... ms at 24 kHz: an hour of them must still add up exactly.
    counter = PlayoutCounter()
    chunks = 3_600_000 * bytes_per_ms // 1001
    for _ in range(chunks):
        counter.queue(1001 / bytes_per_ms)
    assert counter.queued_ms == chunks * 1001 / bytes_per_ms
    played_slots = 0
    while counter.advance(20.0):
        played_slots += 1
    assert not counter.is_playing
    assert counter.played_ms == counter.queued_ms
    assert played_slots == math.ceil(counter.queued_ms / 20)


def test_repr_shows_the_numbers() -> None:
    counter = PlayoutCounter()
    counter.queue(40.0)
    counter.advance(15.0)
    assert repr(counter) == "PlayoutCounter(played_ms=15, pending_ms=25, dropped_ms=0, generation=0)"


_ms = st.floats(min_value=0.0, max_value=5000.0, allow_nan=False, allow_infinity=False)
_op = st.one_of(
    st.tuples(st.just("queue"), _ms),
    st.tuples(st.just("advance"), _ms),
    st.tuples(st.just("report_ahead"), _ms),
    st.tuples(st.just("stale_report"), _ms),
    st.tuples(st.just("clear"), st.just(0.0)),
)


@given(st.lists(_op, max_size=60))
def test_invariants_hold_for_any_sequence(ops: list[tuple[str, float]]) -> None:
    counter = PlayoutCounter()
    total_queued = 0.0
    generation_before = counter.generation
    for op, ms in ops:
        played_before = counter.played_ms
        pending_before = counter.pending_ms
        if op == "queue":
            counter.queue(ms)
            total_queued += round(ms * TICKS_PER_MS) / TICKS_PER_MS  # kept to the tick
        elif op == "advance":
            moved = counter.advance(ms)
            assert 0.0 <= moved <= ms + TICK_MS
        elif op == "report_ahead":
            moved = counter.report(counter.played_ms + ms, generation=counter.generation)
            assert 0.0 <= moved <= pending_before
        elif op == "stale_report":
            if counter.generation > 0:
                assert counter.report(counter.played_ms + ms, generation=counter.generation - 1) == 0.0
        else:
            dropped = counter.clear()
            assert dropped == pending_before
            assert counter.generation == generation_before + 1
            assert not counter.is_playing
        generation_before = counter.generation
        assert counter.played_ms >= played_before  # monotonic
        assert 0.0 <= counter.played_ms <= counter.queued_ms
        assert counter.pending_ms == pytest.approx(counter.queued_ms - counter.played_ms, abs=1e-9)
        assert counter.is_playing == (counter.pending_ms > 0)
        # Everything queued is heard, still pending or dropped: nothing is created or lost.
        assert counter.queued_ms + counter.dropped_ms == pytest.approx(total_queued, abs=1e-9)
