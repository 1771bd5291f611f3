"""RecordingTimeline: every segment at its place, silences kept, barge-in cut exactly, bounded memory."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rtvoice.recording.timeline as timeline_module
from rtvoice.exceptions import ConfigurationError, LocalProtocolError
from rtvoice.recording import RecordingTimeline

S_PER_MS = 24  # samples per millisecond at 24 kHz

Pcm = npt.NDArray[np.int16]


def ramp(ms: int, first: int = 1) -> bytes:
    """``ms`` of audio whose samples are first, first+1, ... (never zero, so never mistaken for silence)."""
    n = ms * S_PER_MS
    return ((np.arange(n) + first - 1) % 30000 + 1).astype("<i2").tobytes()


def samples(pcm: bytes) -> Pcm:
    return np.frombuffer(pcm, "<i2")


def stereo(frames: bytes) -> tuple[Pcm, Pcm]:
    x = samples(frames).reshape(-1, 2)
    return x[:, 0], x[:, 1]


def at(ms: float) -> int:
    return round(ms * S_PER_MS)


# --------------------------------------------------------------------------------------- placement


def test_caller_replies_and_pauses_are_each_at_their_sample_position() -> None:
    tl = RecordingTimeline(stereo=True)
    out = b""
    caller_1 = [ramp(20, 1 + 480 * k) for k in range(50)]  # 0-1000 ms, in 20 ms chunks
    caller_2 = [ramp(20, 7 + 480 * k) for k in range(25)]  # 1500-2000 ms after a 500 ms pause
    reply_1, reply_2 = ramp(300, 11), ramp(200, 13)
    script: list[tuple[float, str, bytes, float]] = []
    for k, chunk in enumerate(caller_1):
        script.append((20 * k + 20, "caller", chunk, 20 * k))  # arrives when its last sample is captured
    for k, chunk in enumerate(caller_2):
        script.append((1500 + 20 * k + 20, "caller", chunk, 1500 + 20 * k))
    script.append((1100, "agent", reply_1, 1200))  # sent at 1100, heard from 1200
    script.append((2400, "agent", reply_2, 2500))
    script.sort(key=lambda e: e[0])
    now = 0.0
    for when, kind, pcm, start in script:
        while now + 100 <= when:  # the agent's 100 ms recording task
            now += 100
            out += tl.advance(now)
        if kind == "caller":
            tl.add_caller(pcm, start)
        else:
            tl.schedule_agent(pcm, start)
    out += tl.advance(2900)
    out += tl.finish(3000)

    left, right = stereo(out)
    assert len(left) == at(3000)
    expected_left = np.zeros(at(3000), np.int16)
    expected_left[: at(1000)] = samples(b"".join(caller_1))
    expected_left[at(1500) : at(2000)] = samples(b"".join(caller_2))
    expected_right = np.zeros(at(3000), np.int16)
    expected_right[at(1200) : at(1500)] = samples(reply_1)
    expected_right[at(2500) : at(2700)] = samples(reply_2)
    np.testing.assert_array_equal(left, expected_left)
    np.testing.assert_array_equal(right, expected_right)
    assert tl.caller_ms == 1500 and tl.agent_ms == 500 and tl.agent_cut_ms == 0


def test_mono_sums_both_voices_and_clips_to_16_bits() -> None:
    tl = RecordingTimeline(hold_ms=0)
    loud = np.array([30000, -30000, 1000, 0], "<i2").tobytes()
    also = np.array([30000, -30000, -3000, 5], "<i2").tobytes()
    tl.add_caller(loud, 0)
    tl.schedule_agent(also, 0)
    out = samples(tl.finish(1))
    assert out[:4].tolist() == [32767, -32768, -2000, 5]
    assert not out[4:].any() and len(out) == at(1)


def test_stereo_puts_the_caller_left_and_the_agent_right() -> None:
    tl = RecordingTimeline(stereo=True, hold_ms=0)
    tl.add_caller(ramp(10, 100), 0)
    tl.schedule_agent(ramp(10, 200), 5)
    left, right = stereo(tl.finish(20))
    assert tl.channels == 2 and tl.frame_bytes == 4
    np.testing.assert_array_equal(left[: at(10)], samples(ramp(10, 100)))
    assert not left[at(10) :].any()
    np.testing.assert_array_equal(right[at(5) : at(15)], samples(ramp(10, 200)))
    assert not right[: at(5)].any() and not right[at(15) :].any()


def test_agent_chunks_queue_back_to_back_like_a_speaker() -> None:
    tl = RecordingTimeline(stereo=True, hold_ms=0)
    tl.schedule_agent(ramp(100, 1), 100)
    tl.schedule_agent(ramp(50, 2), 100)  # sent while the first plays: heard right after it
    tl.schedule_agent(ramp(50, 3), 400)  # the speaker went quiet in between
    assert tl.scheduled_until_ms == 450
    _, right = stereo(tl.finish(500))
    np.testing.assert_array_equal(right[at(100) : at(200)], samples(ramp(100, 1)))
    np.testing.assert_array_equal(right[at(200) : at(250)], samples(ramp(50, 2)))
    assert not right[at(250) : at(400)].any()
    np.testing.assert_array_equal(right[at(400) : at(450)], samples(ramp(50, 3)))


# ------------------------------------------------------------------------------------------ barge-in


def test_barge_in_cut_removes_exactly_the_unplayed_agent_audio() -> None:
    tl = RecordingTimeline(stereo=True, hold_ms=0)
    reply = ramp(1000, 1)
    tl.schedule_agent(reply, 500)
    first = tl.advance(700)
    dropped = tl.cut_agent(900.5)  # mid-chunk, mid-millisecond
    tl.schedule_agent(ramp(100, 9), 950)  # the next reply starts where it is played, not after 1500
    _, right = stereo(first + tl.finish(1200))
    cut_at = at(900.5)
    assert dropped == (at(1500) - cut_at) / S_PER_MS
    np.testing.assert_array_equal(right[at(500) : cut_at], samples(reply)[: cut_at - at(500)])
    assert not right[cut_at : at(950)].any()
    np.testing.assert_array_equal(right[at(950) : at(1050)], samples(ramp(100, 9)))
    assert not right[at(1050) :].any()
    assert tl.agent_cut_ms == dropped and tl.agent_ms == 1000 - dropped + 100


def test_cut_drops_every_later_chunk_and_the_rest_of_the_straddling_one() -> None:
    tl = RecordingTimeline(stereo=True, hold_ms=0)
    for k in range(5):
        tl.schedule_agent(ramp(100, 1 + k), 0)  # 0-500 ms, queued
    assert tl.cut_agent(250) == 250
    assert tl.scheduled_until_ms == 250
    _, right = stereo(tl.finish(600))
    assert np.max(np.flatnonzero(right)) == at(250) - 1
    np.testing.assert_array_equal(right[at(200) : at(250)], samples(ramp(100, 3))[: at(50)])


def test_a_cut_cannot_reach_back_into_audio_already_emitted() -> None:
    tl = RecordingTimeline(stereo=True, hold_ms=0)
    tl.schedule_agent(ramp(500, 1), 0)
    heard = tl.advance(300)
    assert tl.cut_agent(100) == 200  # the first 300 ms were played and written: only the rest goes
    _, right = stereo(heard + tl.finish(600))
    np.testing.assert_array_equal(right[: at(300)], samples(ramp(500, 1))[: at(300)])
    assert not right[at(300) :].any()


def test_agent_audio_scheduled_in_the_already_written_past_starts_at_the_written_position() -> None:
    tl = RecordingTimeline(stereo=True, hold_ms=0)
    written = tl.advance(1000)
    tl.schedule_agent(ramp(100, 1), 500)  # a late report of audio that "started" at 500 ms
    assert tl.agent_shifted_ms == 500
    _, right = stereo(written + tl.finish(1100))
    np.testing.assert_array_equal(right[at(1000) :], samples(ramp(100, 1)))
    assert not right[: at(1000)].any()


def test_agent_audio_is_held_back_until_its_time_has_passed() -> None:
    tl = RecordingTimeline(stereo=True)
    tl.schedule_agent(ramp(2000, 1), 0)
    for k in range(25):  # caller audio keeps coming, so only the agent's schedule could run ahead
        tl.add_caller(ramp(20, 1), 20 * k)
    out = tl.advance(500)
    assert len(out) == at(500) * 4  # up to now, not to the end of the scheduled reply
    tl.cut_agent(500)
    _, right = stereo(out + tl.finish(600))
    assert np.max(np.flatnonzero(right)) == at(500) - 1


def test_finish_drops_unheard_agent_audio_and_keeps_every_caller_sample() -> None:
    tl = RecordingTimeline(stereo=True)
    tl.add_caller(ramp(300, 5), 0)
    tl.add_caller(ramp(300, 6), 250)  # overlaps: goes right after, so the caller track ends at 600
    tl.schedule_agent(ramp(1000, 1), 100)
    left, right = stereo(tl.finish(400))
    assert len(left) == at(600)  # the caller's audio outlasts the call's end and is kept
    np.testing.assert_array_equal(left, samples(ramp(300, 5) + ramp(300, 6)))
    assert np.max(np.flatnonzero(right)) == at(400) - 1
    assert tl.agent_cut_ms == 700 and tl.finished


# ------------------------------------------------------------------------------- caller: jitter, gaps


def test_caller_chunks_late_within_the_jitter_tolerance_stay_contiguous() -> None:
    tl = RecordingTimeline(stereo=True, jitter_ms=100, hold_ms=200)
    chunks = [ramp(20, 1 + 480 * k) for k in range(10)]
    lateness = [0, 30, 5, 90, 0, 60, 60, 0, 99, 10]
    out = b""
    for k, (chunk, late) in enumerate(zip(chunks, lateness, strict=True)):
        arrival = 20 * k + 20 + late
        out += tl.advance(arrival)
        tl.add_caller(chunk, arrival - 20)
    left, _ = stereo(out + tl.finish(400))
    np.testing.assert_array_equal(left[: at(200)], samples(b"".join(chunks)))
    assert tl.caller_shifted_ms == 0


def test_a_caller_gap_beyond_the_tolerance_is_kept_as_silence() -> None:
    tl = RecordingTimeline(stereo=True, jitter_ms=100)
    tl.add_caller(ramp(100, 1), 0)
    tl.add_caller(ramp(100, 2), 350)  # 250 ms after the previous chunk ended: a real pause
    left, _ = stereo(tl.finish(450))
    np.testing.assert_array_equal(left[: at(100)], samples(ramp(100, 1)))
    assert not left[at(100) : at(350)].any()
    np.testing.assert_array_equal(left[at(350) : at(450)], samples(ramp(100, 2)))


def test_a_caller_chunk_later_than_the_hold_is_shifted_never_dropped() -> None:
    tl = RecordingTimeline(stereo=True, jitter_ms=100, hold_ms=100)
    tl.add_caller(ramp(20, 1), 0)
    written = tl.advance(300)  # nothing came for 280 ms: silence is written up to 200 ms
    assert len(written) == at(200) * 4
    tl.add_caller(ramp(20, 2), 20)  # captured at 20 ms, arrives only now
    assert tl.caller_shifted_ms == 180
    left, _ = stereo(written + tl.finish(300))
    nonzero = left[left != 0]
    np.testing.assert_array_equal(nonzero, samples(ramp(20, 1) + ramp(20, 2)))
    np.testing.assert_array_equal(left[at(200) : at(220)], samples(ramp(20, 2)))


def test_caller_audio_is_copied_so_a_reused_buffer_does_not_change_it() -> None:
    tl = RecordingTimeline(hold_ms=0)
    buffer = bytearray(ramp(10, 1))
    tl.add_caller(buffer, 0)
    buffer[:] = bytes(len(buffer))
    assert samples(tl.finish(10)).tolist() == samples(ramp(10, 1)).tolist()


# ------------------------------------------------------------------------------- advance mechanics


def test_advance_waits_for_caller_audio_then_writes_silence_after_the_hold() -> None:
    tl = RecordingTimeline(hold_ms=500)
    tl.add_caller(ramp(100, 1), 0)
    assert len(tl.advance(300)) == at(100) * 2  # caller audio is known up to 100 ms only
    assert len(tl.advance(550)) == 0  # still within the hold after the last caller audio
    assert len(tl.advance(900)) == at(300) * 2  # 900 - 500 = 400 ms
    assert tl.position_ms == 400


def test_advance_max_ms_bounds_each_result_and_time_going_back_returns_nothing() -> None:
    tl = RecordingTimeline(hold_ms=0)
    sizes = []
    while chunk := tl.advance(2500, max_ms=1000):
        sizes.append(len(chunk))
    assert sizes == [at(1000) * 2, at(1000) * 2, at(500) * 2]
    assert tl.advance(1000) == b""
    assert tl.position_frames == at(2500)


def test_empty_chunks_change_nothing() -> None:
    tl = RecordingTimeline(hold_ms=0)
    tl.add_caller(b"", 500)
    tl.schedule_agent(b"", 100)
    assert tl.caller_ms == 0 and tl.agent_ms == 0 and tl.buffered_ms == 0
    tl.add_caller(ramp(10, 1), 0)  # still the first caller chunk: placed where it says
    assert samples(tl.finish(10)).tolist() == samples(ramp(10, 1)).tolist()


@st.composite
def call_scripts(draw: st.DrawFn) -> tuple[list[tuple[int, str, int, int]], int]:
    """A call as (event time ms, kind, start ms, duration ms); caller chunks in capture order.

    Caller chunks arrive late by up to 100 ms more than the previous event time allows, with real pauses
    between some; agent audio is scheduled ahead of the event time; cuts happen at the event time.
    """
    events: list[tuple[int, str, int, int]] = []
    clock = 0
    captured = 0  # where the caller's next chunk starts
    for _ in range(draw(st.integers(1, 30))):
        kind = draw(st.sampled_from(["caller", "caller", "caller", "pause", "agent", "cut"]))
        if kind == "caller":
            duration = draw(st.integers(1, 100))
            clock = max(clock, captured + duration + draw(st.integers(0, 100)))
            events.append((clock, "caller", clock - duration, duration))  # start as arrival suggests
            captured += duration
        elif kind == "pause":
            captured += draw(st.integers(250, 1500))
        elif kind == "agent":
            clock += draw(st.integers(0, 200))
            events.append((clock, "agent", clock + draw(st.integers(0, 1000)), draw(st.integers(1, 800))))
        else:
            clock += draw(st.integers(0, 300))
            events.append((clock, "cut", clock, 0))
    return events, clock + draw(st.integers(0, 1000))


def play(
    tl: RecordingTimeline,
    events: list[tuple[int, str, int, int]],
    end: int,
    advances: list[tuple[float, float | None]],
) -> bytes:
    """Run the script; before event i, advance to a time between the previous event and this one."""
    out = b""
    previous = 0
    for i, (when, kind, start, duration) in enumerate(events):
        if i < len(advances):
            fraction, max_ms = advances[i]
            out += tl.advance(previous + fraction * (when - previous), max_ms=max_ms)
        previous = when
        if kind == "caller":
            tl.add_caller(ramp(duration, 1 + i), start)
        elif kind == "agent":
            tl.schedule_agent(ramp(duration, 1 + 2 * i), start)
        else:
            tl.cut_agent(start)
    return out + tl.finish(end)


advance_points = st.lists(st.tuples(st.floats(0, 1), st.one_of(st.none(), st.floats(1, 300))), max_size=30)


@settings(max_examples=150, deadline=None)
@given(script=call_scripts(), advances=advance_points, as_stereo=st.booleans())
def test_output_does_not_depend_on_when_or_how_often_advance_is_called(
    script: tuple[list[tuple[int, str, int, int]], int],
    advances: list[tuple[float, float | None]],
    as_stereo: bool,
) -> None:
    events, end = script
    in_one_go = play(RecordingTimeline(stereo=as_stereo), events, end, [])
    in_steps = play(RecordingTimeline(stereo=as_stereo), events, end, advances)
    assert in_steps == in_one_go


@settings(max_examples=150, deadline=None)
@given(script=call_scripts(), advances=advance_points)
def test_the_mono_mix_is_the_clipped_sum_of_the_stereo_channels(
    script: tuple[list[tuple[int, str, int, int]], int], advances: list[tuple[float, float | None]]
) -> None:
    # Mono writes a window where one voice is alone as that voice's samples, without mixing; whatever the
    # windows, the result must be the two channels summed and clipped.
    events, end = script
    mono = np.frombuffer(play(RecordingTimeline(), events, end, advances), "<i2")
    stereo = np.frombuffer(play(RecordingTimeline(stereo=True), events, end, []), "<i2").reshape(-1, 2)
    summed = np.clip(stereo.astype(np.int32).sum(axis=1), -32768, 32767)
    np.testing.assert_array_equal(mono, summed)


@settings(max_examples=150, deadline=None)
@given(
    chunks=st.lists(st.tuples(st.integers(1, 60), st.integers(0, 400)), min_size=1, max_size=40),
    advances=st.lists(st.floats(0, 1), max_size=40),
    hold_ms=st.sampled_from([0, 30, 100, 500]),
)
def test_caller_audio_is_never_dropped_duplicated_or_reordered_whatever_the_jitter(
    chunks: list[tuple[int, int]], advances: list[float], hold_ms: int
) -> None:
    tl = RecordingTimeline(stereo=True, jitter_ms=100, hold_ms=hold_ms)
    sent = []
    out = b""
    captured = clock = 0
    for i, (duration, late) in enumerate(chunks):
        arrival = max(clock, captured + duration + late)
        if i < len(advances):
            out += tl.advance(clock + advances[i] * (arrival - clock))
        clock = arrival
        pcm = ramp(duration, 1 + 97 * i)
        tl.add_caller(pcm, arrival - duration)
        sent.append(pcm)
        captured += duration
    left, right = stereo(out + tl.finish(clock))
    np.testing.assert_array_equal(left[left != 0], samples(b"".join(sent)))
    assert not right.any()


# ------------------------------------------------------------------------------------------ memory


def test_memory_is_bounded_by_the_audio_scheduled_ahead_not_by_the_call_length() -> None:
    tl = RecordingTimeline()
    worst = 0.0
    frames = 0
    reply_until = 0
    for tick in range(10 * 60 * 50):  # ten minutes of 20 ms caller chunks
        now = 20 * tick + 20
        tl.add_caller(ramp(20, 1), now - 20)
        if tick % 500 == 0:  # every 10 s a 6 s reply, all sent at once (faster than real time)
            reply_until = now + 6000
            tl.schedule_agent(ramp(6000, 3), now)
        if tick % 500 == 200 and now < reply_until:
            tl.cut_agent(now)  # the caller barges in 4 s into it
        if tick % 5 == 0:
            frames += len(tl.advance(now)) // 2
        worst = max(worst, tl.buffered_ms)
    frames += len(tl.finish(10 * 60 * 1000 + 20)) // 2
    assert frames == at(10 * 60 * 1000 + 20)
    assert tl.agent_cut_ms == 60 * 2000
    # One reply scheduled ahead (6 s) plus a caller chunk and an advance period, whatever the length.
    assert worst <= 6000 + 20 + 100 + 20


# ------------------------------------------------------------------------------------------ errors


def test_malformed_inputs_raise_local_protocol_error() -> None:
    tl = RecordingTimeline()
    with pytest.raises(LocalProtocolError, match="even number of bytes"):
        tl.add_caller(b"\x00", 0)
    with pytest.raises(LocalProtocolError, match="finite"):
        tl.schedule_agent(b"\x00\x00", float("nan"))
    with pytest.raises(LocalProtocolError, match="finite"):
        tl.advance(float("inf"))
    with pytest.raises(LocalProtocolError, match="finite"):
        tl.cut_agent(True)
    tl.finish(0)
    assert tl.finish(10) == b""  # idempotent
    with pytest.raises(LocalProtocolError, match="finished"):
        tl.add_caller(b"\x00\x00", 0)
    with pytest.raises(LocalProtocolError, match="finished"):
        tl.advance(10)


@pytest.mark.parametrize(
    "kwargs",
    [{"sample_rate": 0}, {"sample_rate": 24000.0}, {"jitter_ms": -1}, {"hold_ms": float("nan")}],
)
def test_bad_configuration_raises(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        RecordingTimeline(**kwargs)  # type: ignore[arg-type]


def test_other_sample_rates_count_time_in_their_own_samples() -> None:
    tl = RecordingTimeline(sample_rate=8000, hold_ms=0)
    tl.schedule_agent(np.full(80, 9, "<i2").tobytes(), 5)  # 10 ms at 8 kHz
    out = samples(tl.finish(20))
    assert len(out) == 160 and np.flatnonzero(out).tolist() == list(range(40, 120))
    assert tl.agent_ms == 10


def test_the_core_reads_no_clock_and_does_no_io() -> None:
    tree = ast.parse(Path(timeline_module.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {
        (node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
    }
    assert not imported & {
        "asyncio",
        "time",
        "socket",
        "os",
        "io",
        "pathlib",
        "uuid",
        "datetime",
        "threading",
    }
