"""One load-test run's figures, from the callers' and the Realtime sessions' records (pure).

A *run* is one system under test (the gateway transcoding, the gateway in μ-law pass-through, or the
floor bridge) on one event loop, with N concurrent calls, measured over a steady window.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rtvoice_gateway.loadtest.stats import (
    Reply,
    Summary,
    match_inbound,
    match_outbound,
    summarize,
    talk_over_ms,
)

__all__ = ["CallData", "Process", "RunResult", "SessionData", "analyse", "mib_per_call_slope"]

MODES = {
    "transcode": "gateway, transcoding",
    "passthrough": "gateway, μ-law pass-through",
    "floor": "floor: bare bridge",
}


@dataclass
class CallData:
    """What one caller recorded (``time.monotonic()`` seconds)."""

    caller: str
    connected_at: float | None
    ended_at: float
    sent_at: list[float]
    media: list[tuple[float, int]]
    clears: list[float]
    audio_ticks: list[float]
    gaps: list[tuple[float, float]]
    caller_stops: list[float]
    barge_ins: list[float]
    violations: int = 0
    sound: list[bool] = field(default_factory=list)
    """Per media frame sent: it carries sound (a sample beyond the agent's silence threshold)."""


@dataclass
class SessionData:
    """What the Realtime simulator recorded for one session."""

    caller: str
    pcmu: bool
    appends: list[tuple[float, int]]
    replies: list[Reply]
    function_calls: int


@dataclass(frozen=True)
class Process:
    """The process under test: CPU seconds over the window, resident memory idle and loaded (MiB)."""

    cpu_s: float
    window_s: float
    rss_idle_mib: float
    rss_loaded_mib: float
    driver_cpu_s: float = math.nan
    upstream_cpu_s: float = math.nan


@dataclass
class RunResult:
    """The figures of one run."""

    mode: str
    loop: str
    calls: int
    calls_up: int
    inbound: Summary
    inbound_lost: int
    inbound_sound: Summary
    """Inbound latency of the frames that carry sound (the caller's voice; silence may wait for a batch)."""
    inbound_reordered: int | None
    inbound_late: int
    outbound: Summary
    outbound_lost: int
    outbound_late: int
    gaps: Summary
    gaps_over_10ms: int
    first_audio: Summary
    response: Summary
    talk_over: Summary
    barge_ins: int
    tool_calls: int
    cpu_ms_per_call_s: float
    cpu_percent: float
    rss_idle_mib: float
    rss_loaded_mib: float
    violations: int
    driver_cpu_percent: float = math.nan
    """The callers' process (the load generator), % of one core over the window."""
    upstream_cpu_percent: float = math.nan
    """The Realtime simulator's process, % of one core."""
    machine_busy_percent: float = math.nan
    """Every CPU of the machine, % busy over the window (other work included)."""
    cpus: list[int] | None = None
    """The CPUs the system under test was allowed to run on, read from it (None: not known)."""
    repeat: int = 1
    """Which run of its system, loop and step this is (``--repeat``: the runs of a step are interleaved)."""
    underruns_over_10ms: dict[str, int] | None = None
    """The gateway's own count of carrier underruns over 10 ms in the window, by cause (``gateway``: the
    audio waited in the gateway; ``upstream``: it came late from the simulator), from its ``/metrics``;
    None for the floor."""
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """``gateway, transcoding`` etc."""
        return MODES.get(self.mode, self.mode)

    @property
    def mib_per_call(self) -> float:
        """Resident memory added per call."""
        return (self.rss_loaded_mib - self.rss_idle_mib) / self.calls if self.calls else math.nan

    @property
    def worst_p99_ms(self) -> float:
        """The larger of the two directions' p99 (NaN counts as a broken limit). Inbound counts the frames
        with sound when there are any: silence may wait for a batch by design, the caller's voice never."""
        inbound = self.inbound_sound.p99 if self.inbound_sound.count else self.inbound.p99
        values = [inbound, self.outbound.p99]
        return math.inf if any(math.isnan(v) for v in values) else max(values)


def analyse(
    *,
    mode: str,
    loop: str,
    calls: Sequence[CallData],
    sessions: Sequence[SessionData],
    window: tuple[float, float],
    process: Process,
) -> RunResult:
    """Pair both ends' records per caller and summarise them over ``window``."""
    by_caller = {s.caller: s for s in sessions if s.caller}
    inbound: list[float] = []
    inbound_sound: list[float] = []
    outbound: list[float] = []
    lost_in = late_in = lost_out = late_out = 0
    reordered: int | None = 0
    gaps: list[float] = []
    first_audio: list[float] = []
    response: list[float] = []
    talk_over: list[float] = []
    barge_ins = 0
    notes: list[str] = []
    unmatched = 0
    for call in calls:
        arrivals = [t for t, _ in call.media]
        if call.connected_at is not None and arrivals:
            first_audio.append((arrivals[0] - call.connected_at) * 1000)
        for stop in call.caller_stops:
            if window[0] <= stop <= window[1]:
                after = int(np.searchsorted(arrivals, stop, side="right"))
                if after < len(arrivals) and arrivals[after] - stop < 10:
                    response.append((arrivals[after] - stop) * 1000)
        barges = [b for b in call.barge_ins if window[0] <= b <= window[1]]
        barge_ins += len(barges)
        talk_over += talk_over_ms(barges, call.clears, call.audio_ticks)
        gaps += [ms for at, ms in call.gaps if window[0] <= at <= window[1]]
        session = by_caller.get(call.caller)
        if session is None:
            unmatched += 1
            continue
        got_in = match_inbound(call.sent_at, session.appends, tagged=session.pcmu, window=window)
        inbound += got_in.latencies_ms
        sound = call.sound
        inbound_sound += [
            ms
            for ms, k in zip(got_in.latencies_ms, got_in.frames, strict=True)
            if k < len(sound) and sound[k]
        ]
        lost_in += got_in.lost
        late_in += got_in.late
        if got_in.reordered is None or reordered is None:
            reordered = None
        else:
            reordered += got_in.reordered
        got_out = match_outbound(
            call.media, call.clears, session.replies, window=window, ended_at=call.ended_at
        )
        outbound += got_out.latencies_ms
        lost_out += got_out.lost
        late_out += got_out.late
    if unmatched:
        notes.append(f"{unmatched} call(s) had no Realtime session to pair with")
    calls_up = sum(1 for c in calls if c.connected_at is not None)
    call_seconds = process.window_s * max(1, calls_up)
    return RunResult(
        mode=mode,
        loop=loop,
        calls=len(calls),
        calls_up=calls_up,
        inbound=summarize(inbound),
        inbound_sound=summarize(inbound_sound),
        inbound_lost=lost_in,
        inbound_reordered=reordered,
        inbound_late=late_in,
        outbound=summarize(outbound),
        outbound_lost=lost_out,
        outbound_late=late_out,
        gaps=summarize(gaps),
        gaps_over_10ms=sum(1 for g in gaps if g > 10),
        first_audio=summarize(first_audio),
        response=summarize(response),
        talk_over=summarize(talk_over),
        barge_ins=barge_ins,
        tool_calls=sum(s.function_calls for s in sessions),
        cpu_ms_per_call_s=process.cpu_s * 1000 / call_seconds if call_seconds else math.nan,
        cpu_percent=process.cpu_s * 100 / process.window_s if process.window_s else math.nan,
        rss_idle_mib=process.rss_idle_mib,
        rss_loaded_mib=process.rss_loaded_mib,
        violations=sum(c.violations for c in calls),
        driver_cpu_percent=process.driver_cpu_s * 100 / process.window_s if process.window_s else math.nan,
        upstream_cpu_percent=process.upstream_cpu_s * 100 / process.window_s
        if process.window_s
        else math.nan,
        notes=notes,
    )


def mib_per_call_slope(results: Sequence[RunResult]) -> float:
    """The least-squares slope of added resident memory against calls (MiB per call); NaN under 2 runs."""
    return _slope([(r.calls, r.rss_loaded_mib - r.rss_idle_mib) for r in results if r.calls])


def _slope(points: Sequence[tuple[int, float]]) -> float:
    """The least-squares slope of y against x over ``points`` (x, y); NaN under two distinct x."""
    if len({n for n, _ in points}) < 2:
        return math.nan
    x = np.asarray([n for n, _ in points], dtype=np.float64)
    y = np.asarray([v for _, v in points], dtype=np.float64)
    slope, _ = np.polyfit(x, y, 1)
    return float(slope)


def cpu_per_call_slope(results: Sequence[RunResult], *, busy_below: float = 80.0) -> float:
    """The marginal CPU of one more call: the least-squares slope of the process's CPU ms per wall second
    against calls, over the runs whose machine was less than ``busy_below`` % busy (on a saturated machine
    the process cannot use the CPU it needs); NaN under two such steps."""
    return _slope(
        [
            (r.calls, r.cpu_ms_per_call_s * r.calls)
            for r in results
            if r.calls and not math.isnan(r.cpu_ms_per_call_s) and not r.machine_busy_percent >= busy_below
        ]
    )
