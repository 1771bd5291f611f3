"""The load test's report: markdown (pure text from the results) and PNG plots (matplotlib, Agg).

:func:`render_markdown` checks the issue's targets against the transcoding gateway at the largest step
(ideally 100 calls) beside its floor on the same loop, then lists every run.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rtvoice.realtime.protocol import DEFAULT_INPUT_BATCH_MS
from rtvoice_codecs import FRAME_MS
from rtvoice_gateway.loadtest.analysis import MODES, RunResult, cpu_per_call_slope, mib_per_call_slope

__all__ = ["PLOTS", "Targets", "largest_holding", "plot", "render_markdown", "target_checks"]

PLOTS = ("latency.png", "cpu.png")


@dataclass(frozen=True)
class Targets:
    """The issue's targets (100 transcoded calls with recording, one core)."""

    calls: int = 100
    p99_ms: float = 10.0
    max_gap_ms: float = 10.0
    cpu_vs_floor: float = 1.5
    mib_per_call: float = 0.5
    limit_p99_ms: float = 20.0


def _f(value: float, digits: int = 1) -> str:
    return "–" if math.isnan(value) else f"{value:.{digits}f}"


def _underrun_cells(run: RunResult) -> str:
    counts = run.underruns_over_10ms
    return "–" if counts is None else f"{counts.get('gateway', 0)} / {counts.get('upstream', 0)}"


def _underruns(runs: Sequence[RunResult]) -> str:
    """What the gateway's own clock says of those gaps (for the targets' table)."""
    counts = [r.underruns_over_10ms for r in runs if r.underruns_over_10ms is not None]
    if not counts:
        return ""
    late = sum(c.get("gateway", 0) for c in counts)
    came_late = sum(c.get("upstream", 0) for c in counts)
    return f"; the gateway's clock: {late} sent late, {came_late} came late"


def largest_holding(results: Sequence[RunResult], loop: str, limit_ms: float) -> int | None:
    """The most concurrent transcoded calls whose p99 stayed within ``limit_ms`` both ways in every run of
    the step (and of every smaller step too); inbound, the frames with sound (see
    :attr:`RunResult.worst_p99_ms`)."""
    best = None
    runs = [r for r in results if r.mode == "transcode" and r.loop == loop]
    for calls in sorted({r.calls for r in runs}):
        if any(r.worst_p99_ms > limit_ms or r.calls_up < r.calls for r in runs if r.calls == calls):
            break
        best = calls
    return best


def _floor_of(results: Sequence[RunResult], run: RunResult) -> RunResult | None:
    """The floor run made beside ``run``: same loop, step and repeat."""
    return next(
        (
            r
            for r in results
            if r.mode == "floor" and r.loop == run.loop and r.calls == run.calls and r.repeat == run.repeat
        ),
        None,
    )


def _worst(values: Sequence[float], digits: int = 2) -> tuple[str, float]:
    """The worst (largest) of the runs' values, as text with the median beside it when there are several."""
    known = [v for v in values if not math.isnan(v)]
    if len(known) < len(values) or not known:
        return "–", math.nan
    worst = max(known)
    if len(known) == 1:
        return _f(worst, digits), worst
    return (
        f"{_f(worst, digits)} (worst of {len(known)} runs; median {_f(statistics.median(known), digits)})",
        worst,
    )


def target_checks(results: Sequence[RunResult], targets: Targets) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) for each loop's transcoding runs at the target's calls (or the largest
    step, marked as such). With several runs of a step (``--repeat``), latency and memory are the worst
    run's, losses and gaps add up, and the CPU ratio is the median of the ratios of the runs made side by
    side with the floor's. ``met`` is None when it cannot be told."""
    rows: list[tuple[str, str, bool | None]] = []
    for loop in sorted({r.loop for r in results}):
        runs = sorted((r for r in results if r.mode == "transcode" and r.loop == loop), key=lambda r: r.calls)
        if not runs:
            continue
        calls = targets.calls if any(r.calls == targets.calls for r in runs) else runs[-1].calls
        step = sorted((r for r in runs if r.calls == calls), key=lambda r: r.repeat)
        at = f"{calls} calls, {loop}" + ("" if calls == targets.calls else " (largest step run)")
        inbound, inbound_worst = _worst([r.inbound.p99 for r in step])
        sound, sound_worst = _worst([r.inbound_sound.p99 for r in step])
        outbound, outbound_worst = _worst([r.outbound.p99 for r in step])
        memory, memory_worst = _worst([r.mib_per_call for r in step], 3)
        lost_in, lost_out = sum(r.inbound_lost for r in step), sum(r.outbound_lost for r in step)
        gaps = sum(r.gaps_over_10ms for r in step)
        longest = max((r.gaps.max for r in step if not math.isnan(r.gaps.max)), default=math.nan)
        # (gateway ms, floor ms, ratio) of each run made side by side with a floor run
        pairs = [
            (r.cpu_ms_per_call_s, f.cpu_ms_per_call_s, r.cpu_ms_per_call_s / f.cpu_ms_per_call_s)
            for r in step
            if (f := _floor_of(results, r)) is not None
        ]
        ratio = statistics.median(p[2] for p in pairs) if pairs else math.nan
        if len(pairs) > 1:
            cpu = (
                f"{_f(ratio, 2)}× (median of {len(pairs)} pairs run side by side: "
                + ", ".join(f"{_f(q, 2)}× ({_f(g, 2)} vs {_f(f, 2)})" for g, f, q in pairs)
                + " ms per call-second)"
            )
        else:
            gateway_ms, floor_ms = (
                (pairs[0][0], _f(pairs[0][1], 2)) if pairs else (step[0].cpu_ms_per_call_s, "–")
            )
            cpu = f"{_f(ratio, 2)}× ({_f(gateway_ms, 2)} vs {floor_ms} ms per call-second)"
        rows += [
            (
                f"inbound added latency p99 ≤ {targets.p99_ms:g} ms ({at})",
                f"{inbound} ms",
                None if math.isnan(inbound_worst) else inbound_worst <= targets.p99_ms,
            ),
            (
                f"inbound added latency p99 ≤ {targets.p99_ms:g} ms, frames with sound ({at})",
                f"{sound} ms",
                None if math.isnan(sound_worst) else sound_worst <= targets.p99_ms,
            ),
            (
                f"outbound added latency p99 ≤ {targets.p99_ms:g} ms ({at})",
                f"{outbound} ms",
                None if math.isnan(outbound_worst) else outbound_worst <= targets.p99_ms,
            ),
            (f"0 frames lost ({at})", f"{lost_in} in, {lost_out} out", lost_in == 0 and lost_out == 0),
            (
                f"no playout gap > {targets.max_gap_ms:g} ms ({at})",
                f"{gaps} gaps over, longest {_f(longest)} ms{_underruns(step)}",
                gaps == 0,
            ),
            (
                f"CPU ≤ {targets.cpu_vs_floor:g}× the floor ({at})",
                cpu,
                None if math.isnan(ratio) else ratio <= targets.cpu_vs_floor,
            ),
            (
                f"memory ≤ {targets.mib_per_call:g} MiB per call ({at})",
                f"{memory} MiB",
                None if math.isnan(memory_worst) else memory_worst <= targets.mib_per_call,
            ),
        ]
        slope = cpu_per_call_slope(runs)
        floor_slope = cpu_per_call_slope([r for r in results if r.mode == "floor" and r.loop == loop])
        marginal = slope / floor_slope if floor_slope > 0 else math.nan
        rows.append(
            (
                f"marginal CPU ≤ {targets.cpu_vs_floor:g}× the floor's ({loop}, slope over the steps "
                "whose machine was not saturated)",
                f"{_f(marginal, 2)}× ({_f(slope, 2)} vs {_f(floor_slope, 2)} ms per added call-second)",
                None if math.isnan(marginal) else marginal <= targets.cpu_vs_floor,
            )
        )
        best = largest_holding(results, loop, targets.limit_p99_ms)
        largest = max(r.calls for r in runs)
        rows.append(
            (
                f"largest N with p99 ≤ {targets.limit_p99_ms:g} ms, inbound frames with sound ({loop})",
                "none" if best is None else (f"{best}" + (" (every step held)" if best == largest else "")),
                None,
            )
        )
    return rows


def _batching(input_batch_ms: float | None) -> str:
    if input_batch_ms == 0:
        return (
            "The gateway sent every caller frame as it came (`--input-batch-ms 0`), silent or not, so "
            "**frames with sound** and all frames see the same path."
        )
    batch = DEFAULT_INPUT_BATCH_MS if input_batch_ms is None else input_batch_ms
    return (
        "The agent holds *silent* caller frames (no sample beyond about -40 dBFS) while the caller is not "
        f"speaking, to send them in appends of {batch:g} ms (`input_batch_ms`), so silence waits up to "
        f"{max(0.0, batch - FRAME_MS):g} ms by design (`--input-batch-ms 0` turns it off); **frames with sound** "
        "are never held, and their column is the latency the caller's voice sees."
    )


def render_markdown(
    results: Sequence[RunResult],
    *,
    command: str,
    machine: str,
    seconds: float,
    targets: Targets | None = None,
    stopped_early: str | None = None,
    input_batch_ms: float | None = None,
) -> str:
    """The report (``input_batch_ms``: the gateway's, when the run set it)."""
    targets = targets or Targets()
    out = [
        "# rtvoice-gateway load report",
        "",
        f"Produced by: `{command}`",
        "",
        f"Machine: {machine}",
        "",
        "Every call is a simulated Twilio call (one driver process, real time, espeak-ng speech with pauses, "
        "a tool call and a barge-in per round) through the system under test in its own process, to the "
        "Realtime simulator in a third process at the real API's pace; all on loopback. Each step runs "
        "the gateway transcoding (recording every call), the gateway in μ-law pass-through (recording), "
        f"and the floor: a bare bridge forwarding μ-law untouched. Figures cover a {seconds:g} s steady "
        "window per run, after every call is up.",
        "",
        "The machine is shared with other work while this runs, so absolute figures are noisy; the ratios "
        "between the rows of one step (same moment, same load, same loop) are what to read.",
        "",
    ]
    busy = [r.machine_busy_percent for r in results if not math.isnan(r.machine_busy_percent)]
    if busy:
        out += [
            f"The machine's CPUs were {min(busy):.0f}–{max(busy):.0f}% busy during the windows (every process, "
            "other work included; the column *machine busy %*). Where they were near 100%, every process "
            "waited for a CPU and the latencies measure the machine, not the code: read the figures of "
            "runs whose machine was not saturated, and the ratios to the floor.",
            "",
        ]
    if stopped_early:
        out += [f"The ramp stopped early: {stopped_early}.", ""]
    out += ["## Targets", "", "| target | measured | met |", "|---|---|---|"]
    for target, measured, met in target_checks(results, targets):
        out.append(f"| {target} | {measured} | {'–' if met is None else ('yes' if met else '**no**')} |")
    out += ["", "## Every run", ""]
    out += [
        "| system | loop | calls (up) | inbound p50 / p99 / max ms | inbound, frames with sound: p50 / p99 ms "
        "| outbound p50 / p99 / max ms "
        "| lost in / out | late in / out | reordered | playout gaps > 10 ms (longest ms) "
        "| underruns > 10 ms by the gateway's clock: sent late / came late "
        "| first audio p50 / p99 ms | response p50 / p99 ms | talk-over p50 / p99 ms (barge-ins) "
        "| tool calls | CPU ms per call-s | CPU % | MiB per call | load generator CPU % (callers / simulator) | machine busy % |",
        "|" + "---|" * 20,
    ]
    repeated = any(r.repeat > 1 for r in results)
    for r in sorted(
        results,
        key=lambda r: (r.loop, r.calls, r.repeat, list(MODES).index(r.mode) if r.mode in MODES else 9),
    ):
        out.append(
            f"| {r.label}{f', run {r.repeat}' if repeated else ''} | {r.loop} | {r.calls} ({r.calls_up}) "
            f"| {_f(r.inbound.p50, 2)} / {_f(r.inbound.p99, 2)} / {_f(r.inbound.max, 1)} "
            f"| {_f(r.inbound_sound.p50, 2)} / {_f(r.inbound_sound.p99, 2)} "
            f"| {_f(r.outbound.p50, 2)} / {_f(r.outbound.p99, 2)} / {_f(r.outbound.max, 1)} "
            f"| {r.inbound_lost} / {r.outbound_lost} | {r.inbound_late} / {r.outbound_late} "
            f"| {'–' if r.inbound_reordered is None else r.inbound_reordered} "
            f"| {r.gaps_over_10ms} ({_f(r.gaps.max)}) "
            f"| {_underrun_cells(r)} "
            f"| {_f(r.first_audio.p50, 0)} / {_f(r.first_audio.p99, 0)} "
            f"| {_f(r.response.p50, 0)} / {_f(r.response.p99, 0)} "
            f"| {_f(r.talk_over.p50, 0)} / {_f(r.talk_over.p99, 0)} ({r.barge_ins}) "
            f"| {r.tool_calls} | {_f(r.cpu_ms_per_call_s, 2)} | {_f(r.cpu_percent, 0)} | {_f(r.mib_per_call, 3)} "
            f"| {_f(r.driver_cpu_percent, 0)} / {_f(r.upstream_cpu_percent, 0)} | {_f(r.machine_busy_percent, 0)} |"
        )
    notes = [f"{r.label}, {r.loop}, {r.calls} calls: {n}" for r in results for n in r.notes]
    if notes:
        out += ["", *[f"- {n}" for n in notes]]
    slopes = []
    for loop in sorted({r.loop for r in results}):
        for mode in MODES:
            slope = mib_per_call_slope([r for r in results if r.mode == mode and r.loop == loop])
            if not math.isnan(slope):
                slopes.append(f"{MODES[mode]} on {loop}: {slope:.3f} MiB per call")
    if slopes:
        out += [
            "",
            "Resident memory against calls (least-squares slope over the steps): " + "; ".join(slopes) + ".",
        ]
    out += [
        "",
        "![added latency against concurrent calls](latency.png)",
        "",
        "![CPU against concurrent calls](cpu.png)",
        "",
        "## How to read it",
        "",
        "- **inbound**: the carrier sends a media frame → the Realtime simulator receives the "
        "`input_audio_buffer.append` carrying it (one monotonic clock for both processes). With μ-law "
        "upstream each frame carries its index in its first samples, so loss and reordering are exact; "
        "transcoded, appends are paired with frames in order (a lost frame shows as a step in the "
        "pairing) and reordering cannot be seen (–). " + _batching(input_batch_ms),
        "- **Arrival** at either end is when a message came off the socket (the connection stamps it as "
        "it parses the frame), not when the load generator's handler got to it; and the generators "
        "(callers, simulator) run with the garbage collector paused during a run. Both are instruments: "
        "their own pauses (full collections of 100–200 ms, a reader busy with the message before) were "
        "being counted as latency the system under test added.",
        "- **outbound**: the simulator sends a reply's first `output_audio.delta` → the carrier receives "
        "its first media message. Later deltas are not timed: the gateway holds them on purpose, keeping "
        "160 ms queued at the carrier while the API sends three times faster than real time. Lost: audio "
        "of a completed, uninterrupted reply that never reached the carrier.",
        "- **late**: a frame (inbound) or a reply's first audio (outbound) that took more than 20 ms.",
        "- **playout gap**: the carrier's buffer ran dry in the middle of a reply; how long from the tick "
        "(at the time it was due) until more audio came (the carrier plays a frame per 20 ms tick, so a "
        "real gap is heard as at least 20 ms). Audio that had arrived before the tick was due is no gap.",
        "- **underruns by the gateway's clock**: the gateway's own count "
        "(`rtvoice_outbound_underrun_seconds` in its `/metrics`, over 10 ms, in the window) of the times its "
        "pacer estimated the carrier ran dry mid-reply: *sent late* when the audio was waiting in the "
        "gateway (its event loop woke late: the gateway's fault), *came late* when the agent's audio came "
        "from the simulator after the carrier ran dry. Playout gaps the carrier saw that neither count "
        "happened on the way to the carrier or in it: the gateway sent the audio in time.",
        "- **first audio**: the stream's start → the first agent media frame (the greeting).",
        "- **response**: the caller's last frame → the first agent media frame; mostly the turn "
        "detector's 600 ms of silence and the simulated model's 450 ms.",
        "- **talk-over**: agent audio the caller still heard after starting to barge in, until the "
        "`clear`; mostly the turn detector's reaction time.",
        "- **CPU** and **memory**: the process under test (`/proc/PID/stat`, `/proc/PID/statm`) over the "
        "window; memory per call is loaded minus idle resident memory, divided by the calls.",
    ]
    return "\n".join(out) + "\n"


def _quantile(direction: str, quantile: str, run: RunResult) -> float:
    return float(getattr(getattr(run, direction), quantile))


def _cpu_ms(run: RunResult) -> float:
    return run.cpu_ms_per_call_s


def _cpu_percent(run: RunResult) -> float:
    return run.cpu_percent


def plot(results: Sequence[RunResult], folder: Path) -> list[Path]:
    """Write ``latency.png`` and ``cpu.png`` into ``folder``; returns their paths."""
    from matplotlib.figure import (
        Figure,
    )  # a Figure alone renders with Agg; pyplot's global state is untouched

    series = sorted({(r.mode, r.loop) for r in results}, key=lambda s: (s[1], list(MODES).index(s[0])))

    def line(mode: str, loop: str) -> list[RunResult]:
        return sorted((r for r in results if r.mode == mode and r.loop == loop), key=lambda r: r.calls)

    def median_line(
        runs: list[RunResult], value: Callable[[RunResult], float]
    ) -> tuple[list[int], list[float]]:
        """Each step's median over its runs (``--repeat``), for the line; the runs themselves are dots."""
        steps = sorted({r.calls for r in runs})
        return steps, [statistics.median(value(r) for r in runs if r.calls == n) for n in steps]

    def draw(ax: Any, runs: list[RunResult], value: Callable[[RunResult], float], label: str) -> Any:
        """The median line of ``value``, and a dot per run where a step ran several times; its colour."""
        x, y = median_line(runs, value)
        (drawn,) = ax.plot(x, y, marker="o", label=label)
        if len(runs) > len(x):
            ax.scatter(
                [r.calls for r in runs], [value(r) for r in runs], s=9, color=drawn.get_color(), alpha=0.5
            )
        return drawn.get_color()

    paths = []
    fig = Figure(figsize=(12, 6.5), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, direction in zip(axes, ("inbound", "outbound"), strict=True):
        for mode, loop in series:
            runs = line(mode, loop)
            color = draw(
                ax, runs, functools.partial(_quantile, direction, "p99"), f"{MODES[mode]} ({loop}) p99"
            )
            x, p50 = median_line(runs, functools.partial(_quantile, direction, "p50"))
            ax.plot(x, p50, marker=".", linestyle=":", color=color, label=f"{MODES[mode]} ({loop}) p50")
        ax.axhline(10, color="grey", linestyle="--", linewidth=0.8)
        ax.axhline(20, color="red", linestyle="--", linewidth=0.8)
        ax.set_yscale("log")
        ax.set_title(f"{direction}: added latency per frame")
        ax.set_xlabel("concurrent calls")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("ms (log scale; dashed: 10 and 20 ms)")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=3, fontsize=7)
    paths.append(folder / PLOTS[0])
    fig.savefig(paths[-1], dpi=110)

    fig = Figure(figsize=(12, 5.5), layout="constrained")
    axes = fig.subplots(1, 2)
    for mode, loop in series:
        runs = line(mode, loop)
        values: tuple[Callable[[RunResult], float], ...] = (_cpu_ms, _cpu_percent)
        for ax, value in zip(axes, values, strict=True):
            draw(ax, runs, value, f"{MODES[mode]} ({loop})")
    axes[0].set_title("CPU ms per call-second")
    axes[1].set_title("CPU % of one core (process under test)")
    axes[1].axhline(100, color="red", linestyle="--", linewidth=0.8)
    for ax in axes:
        ax.set_xlabel("concurrent calls")
        ax.grid(alpha=0.3)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=3, fontsize=7)
    paths.append(folder / PLOTS[1])
    fig.savefig(paths[-1], dpi=110)
    return paths
