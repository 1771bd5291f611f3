"""One run's figures from both ends' records, and the report that lists them."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from rtvoice_gateway.loadtest.analysis import (
    CallData,
    Process,
    RunResult,
    SessionData,
    analyse,
    cpu_per_call_slope,
    mib_per_call_slope,
)
from rtvoice_gateway.loadtest.report import Targets, largest_holding, plot, render_markdown, target_checks
from rtvoice_gateway.loadtest.stats import Reply


def call(caller: str, start: float, *, latency_s: float = 0.002) -> tuple[CallData, SessionData]:
    sent = [start + k * 0.02 for k in range(500)]  # 10 s of frames
    appends = [(t + latency_s, k) for k, t in enumerate(sent)]
    media = [(start + 1.005, 1600), (start + 1.2, 1600), (start + 6.01, 1600)]
    replies = [Reply(start + 1.0, 400, True), Reply(start + 6.0, 200, True)]
    data = CallData(
        caller=caller,
        connected_at=start,
        ended_at=start + 10,
        sent_at=sent,
        media=media,
        clears=[start + 7.1],
        audio_ticks=[start + 6.9 + k * 0.02 for k in range(10)],
        gaps=[(start + 1.3, 12.0)],
        caller_stops=[start + 5.0],
        barge_ins=[start + 7.0],
    )
    return data, SessionData(caller, pcmu=True, appends=appends, replies=replies, function_calls=1)


def test_analyse_pairs_each_call_with_its_session_and_summarises_the_window() -> None:
    (a, sa), (b, sb) = call("+15550000000", 100.0), call("+15550000001", 100.0, latency_s=0.004)
    result = analyse(
        mode="transcode",
        loop="asyncio",
        calls=[a, b],
        sessions=[sb, sa],  # in any order
        window=(100.49, 109.01),
        process=Process(cpu_s=0.6, window_s=2.0, rss_idle_mib=50.0, rss_loaded_mib=51.0),
    )
    assert result.calls == result.calls_up == 2
    assert result.inbound.count == 2 * 426  # frames 25 to 450
    assert result.inbound.p50 == pytest.approx(2.0)
    assert result.inbound.max == pytest.approx(4.0)
    assert result.inbound_lost == result.inbound_reordered == 0
    assert result.outbound.count == 4
    assert result.outbound.p50 == pytest.approx(5.0)
    assert result.first_audio.p50 == pytest.approx(1005.0)
    assert result.response.p50 == pytest.approx(1010.0)  # caller stop 105.0 → media at 106.01
    assert result.talk_over.p50 == pytest.approx(100.0)  # ticks 7.0 .. 7.08 before the clear at 7.1
    assert result.barge_ins == 2
    assert result.gaps_over_10ms == 2
    assert result.tool_calls == 2
    assert result.cpu_ms_per_call_s == pytest.approx(150.0)
    assert result.cpu_percent == pytest.approx(30.0)
    assert result.mib_per_call == pytest.approx(0.5)
    assert result.notes == []


def test_a_call_without_a_session_is_noted() -> None:
    (a, _), (b, sb) = call("+15550000000", 100.0), call("+15550000001", 100.0)
    result = analyse(
        mode="floor",
        loop="asyncio",
        calls=[a, b],
        sessions=[sb],
        window=(100.49, 109.01),
        process=Process(0.1, 1.0, 10.0, 10.0),
    )
    assert result.inbound.count == 426
    assert result.notes == ["1 call(s) had no Realtime session to pair with"]


def result(
    mode: str, calls: int, *, p99: float = 5.0, cpu: float = 10.0, mib: float = 0.2, loop: str = "asyncio"
) -> RunResult:
    (c, s) = call("+15550000000", 100.0)
    base = analyse(
        mode=mode, loop=loop, calls=[c], sessions=[s], window=(100.49, 109.01), process=Process(1, 1, 0, 0)
    )
    summary = dataclasses.replace(base.inbound, p99=p99)
    return dataclasses.replace(
        base,
        calls=calls,
        calls_up=calls,
        inbound=summary,
        inbound_sound=summary,
        outbound=summary,
        cpu_ms_per_call_s=cpu,
        rss_idle_mib=100.0,
        rss_loaded_mib=100.0 + mib * calls,
    )


@pytest.mark.parametrize("tagged", [True, False])
def test_frames_with_sound_are_summarised_apart(tagged: bool) -> None:
    # As the agent batches: silent frames are held until three are, or a frame with sound comes; then
    # they go together, in order, 2 ms after the last one's send.
    data, session = call("+15550000000", 100.0)
    data.sound = [k % 5 == 0 for k in range(len(data.sent_at))]
    session.pcmu = tagged
    appends: list[tuple[float, int]] = []
    held: list[int] = []
    for k, t in enumerate(data.sent_at):
        held.append(k)
        if data.sound[k] or len(held) == 3:
            appends += [(t + 0.002, j) for j in held]
            held = []
    session.appends = appends
    result = analyse(
        mode="transcode",
        loop="asyncio",
        calls=[data],
        sessions=[session],
        window=(100.49, 109.01),
        process=Process(cpu_s=0.6, window_s=2.0, rss_idle_mib=50.0, rss_loaded_mib=51.0),
    )
    assert result.inbound.max == pytest.approx(42.0)  # silence waited
    assert result.inbound_sound.count == 426 // 5 + 1
    assert result.inbound_sound.p99 == pytest.approx(2.0)  # the voice did not


def test_largest_holding_reads_the_frames_with_sound_inbound() -> None:
    # Silence waiting 40 ms for a batch breaks no limit; the caller's voice late by 30 ms does.
    quiet_waits = result("transcode", 10, p99=40)
    quiet_waits = dataclasses.replace(
        quiet_waits,
        inbound_sound=dataclasses.replace(quiet_waits.inbound, p99=3.0),
        outbound=quiet_waits.inbound_sound,
    )
    quiet_waits = dataclasses.replace(
        quiet_waits, outbound=dataclasses.replace(quiet_waits.outbound, p99=4.0)
    )
    assert quiet_waits.worst_p99_ms == 4.0
    assert largest_holding([quiet_waits], "asyncio", 20) == 10
    voice_late = dataclasses.replace(
        quiet_waits, inbound_sound=dataclasses.replace(quiet_waits.inbound, p99=30.0)
    )
    assert largest_holding([voice_late], "asyncio", 20) is None


def test_largest_holding_stops_at_the_first_broken_step() -> None:
    runs = [result("transcode", 10, p99=5), result("transcode", 25, p99=30), result("transcode", 50, p99=8)]
    assert largest_holding(runs, "asyncio", 20) == 10
    assert largest_holding(runs, "uvloop", 20) is None
    assert largest_holding([result("transcode", 10, p99=25)], "asyncio", 20) is None


def test_targets_compare_the_gateway_with_its_floor_on_the_same_loop() -> None:
    runs = [
        result("transcode", 100, p99=8, cpu=12, mib=0.4),
        result("floor", 100, cpu=10),
        result("floor", 100, cpu=1, loop="uvloop"),
    ]
    checks = {
        target.split(" (")[0]: (measured, met) for target, measured, met in target_checks(runs, Targets())
    }
    assert checks["inbound added latency p99 ≤ 10 ms"] == ("8.00 ms", True)
    assert checks["CPU ≤ 1.5× the floor"][1] is True
    assert checks["CPU ≤ 1.5× the floor"][0].startswith("1.20×")
    assert checks["memory ≤ 0.5 MiB per call"] == ("0.400 MiB", True)
    assert checks["no playout gap > 10 ms"][1] is False
    worse = target_checks([result("transcode", 100, p99=12, cpu=20), result("floor", 100, cpu=10)], Targets())
    assert [met for _, _, met in worse][:3] == [False, False, False]  # inbound, with sound, outbound
    assert "2.00×" in worse[5][1] and worse[5][2] is False


def repeated(mode: str, repeat: int, *, cpu: float, p99: float = 5.0) -> RunResult:
    run = result(mode, 100, cpu=cpu, p99=p99)
    run.repeat = repeat
    return run


def test_repeated_runs_pair_each_gateway_run_with_the_floor_beside_it() -> None:
    # --repeat 3: the machine was slower during the first pair; the median pair decides the CPU target,
    # the worst run the latency, and losses and gaps add up.
    runs = [
        repeated("transcode", 1, cpu=16, p99=9),
        repeated("floor", 1, cpu=10),
        repeated("transcode", 2, cpu=13, p99=4),
        repeated("floor", 2, cpu=10),
        repeated("transcode", 3, cpu=14, p99=5),
        repeated("floor", 3, cpu=10),
    ]
    checks = {
        target.split(" (")[0]: (measured, met) for target, measured, met in target_checks(runs, Targets())
    }
    cpu, met = checks["CPU ≤ 1.5× the floor"]
    assert cpu.startswith("1.40× (median of 3 pairs run side by side: 1.60× (16.00 vs 10.00), 1.30×")
    assert met is True
    assert checks["inbound added latency p99 ≤ 10 ms"] == ("9.00 (worst of 3 runs; median 5.00) ms", True)
    assert checks["no playout gap > 10 ms"][0].startswith("3 gaps over")  # one per run
    runs[0] = repeated("transcode", 1, cpu=16, p99=25)  # one run of the step broke the limit: it did not hold
    assert largest_holding(runs, "asyncio", 20.0) is None
    text = render_markdown(runs, command="c", machine="m", seconds=20, stopped_early=None)
    assert "| gateway, transcoding, run 2 | asyncio | 100 (100) |" in text
    assert "| floor: bare bridge, run 3 | asyncio |" in text


def test_the_report_names_its_command_every_run_and_the_plots() -> None:
    runs = [result("transcode", 10), result("passthrough", 10), result("floor", 10), result("transcode", 25)]
    text = render_markdown(
        runs,
        command="rtvoice-gateway loadtest --calls 10,25",
        machine="test box",
        seconds=20,
        stopped_early=None,
    )
    assert "`rtvoice-gateway loadtest --calls 10,25`" in text
    assert "test box" in text
    assert text.count("| gateway, transcoding | asyncio |") == 2
    assert "| floor: bare bridge | asyncio | 10 (10) |" in text
    assert "![added latency against concurrent calls](latency.png)" in text
    assert "largest N with p99 ≤ 20 ms, inbound frames with sound (asyncio) | 25 (every step held)" in text
    assert "0.200 MiB per call" in text  # the memory slope


def test_the_report_gives_the_gateways_own_underrun_counts_beside_the_carriers_gaps() -> None:
    gateway, floor = result("transcode", 100), result("floor", 100)
    gateway.underruns_over_10ms = {"gateway": 2, "upstream": 7}
    text = render_markdown([gateway, floor], command="c", machine="m", seconds=20, stopped_early=None)
    assert "; the gateway's clock: 2 sent late, 7 came late |" in text  # the targets' gap row
    assert "| 2 / 7 |" in text  # the gateway's row of every run
    assert text.count("| – |") >= 1  # the floor's: none
    assert "underruns by the gateway's clock" in text  # how to read it


def test_the_report_says_how_the_gateway_batched_silence() -> None:
    runs = [result("transcode", 10), result("floor", 10)]

    def text(batch: float | None) -> str:
        return render_markdown(runs, command="c", machine="m", seconds=20, input_batch_ms=batch)

    assert "appends of 60 ms (`input_batch_ms`), so silence waits up to 40 ms" in text(None)
    assert "appends of 100 ms (`input_batch_ms`), so silence waits up to 80 ms" in text(100)
    unbatched = text(0)
    assert "sent every caller frame as it came (`--input-batch-ms 0`)" in unbatched
    assert "silence waits" not in unbatched


def test_mib_per_call_slope_needs_two_steps() -> None:
    assert math.isnan(mib_per_call_slope([result("transcode", 10)]))
    assert mib_per_call_slope(
        [result("transcode", 10, mib=0.3), result("transcode", 50, mib=0.3)]
    ) == pytest.approx(0.3)


def test_marginal_cpu_is_the_slope_over_unsaturated_steps() -> None:
    # 20 ms/s fixed plus 3 ms per call-second: per-call averages fall with N, the slope does not.
    runs = [result("transcode", n, cpu=(20 + 3 * n) / n) for n in (10, 25, 50)]
    assert cpu_per_call_slope(runs) == pytest.approx(3.0)
    saturated = dataclasses.replace(result("transcode", 100, cpu=1.0), machine_busy_percent=99.0)
    assert cpu_per_call_slope([*runs, saturated]) == pytest.approx(3.0)  # left out
    assert math.isnan(cpu_per_call_slope(runs[:1]))
    floors = [result("floor", n, cpu=(20 + 2 * n) / n) for n in (10, 25, 50)]
    rows = {target: (measured, met) for target, measured, met in target_checks([*runs, *floors], Targets())}
    (key,) = [t for t in rows if t.startswith("marginal CPU")]
    assert rows[key] == ("1.50× (3.00 vs 2.00 ms per added call-second)", True)


@pytest.mark.parametrize("repeats", [1, 3])
def test_plots_are_written(tmp_path: Path, repeats: int) -> None:
    pytest.importorskip("matplotlib")
    runs = [
        dataclasses.replace(result(m, n, p99=n / 10 + k, cpu=10 + k), repeat=k + 1)
        for n in (10, 25)
        for k in range(repeats)
        for m in ("transcode", "passthrough", "floor")
    ]
    paths = plot(runs, tmp_path)
    assert [p.name for p in paths] == ["latency.png", "cpu.png"]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size > 10_000
