"""``rtvoice-gateway loadtest``: a short real run through a serve process, and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rtvoice_gateway.cli import main
from rtvoice_gateway.loadtest.runner import LoadTestError, free_port, underruns_over_10ms


@pytest.mark.slow
def test_a_short_real_run_writes_a_sane_report_and_plots(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "report"
    argv = [
        "loadtest", "--calls", "2", "--seconds", "2", "--systems", "transcode,floor", "--repeat", "2", "--out", str(out)
    ]  # fmt: skip
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "calls up 2/2" in captured.err  # the progress line
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "`rtvoice-gateway loadtest --calls 2 --seconds 2 --systems transcode,floor --repeat 2" in text
    for name in ("latency.png", "cpu.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    every = json.loads((out / "results.json").read_text())
    # --repeat 2: each system twice, interleaved (transcode, floor, transcode, floor)
    assert [(run["mode"], run["repeat"]) for run in every] == [
        ("transcode", 1), ("floor", 1), ("transcode", 2), ("floor", 2)
    ]  # fmt: skip
    assert "median of 2 pairs run side by side" in text
    runs = {run["mode"]: run for run in every if run["repeat"] == 2}
    for run in runs.values():
        assert run["calls_up"] == 2
        assert run["inbound_lost"] == 0 and run["outbound_lost"] == 0
        assert run["inbound"]["count"] > 100  # 2 calls × 2 s of 20 ms frames, less the edges
        assert run["inbound"]["p50"] > 0
        assert run["outbound"]["count"] >= 1 and run["outbound"]["p50"] > 0
        assert run["first_audio"]["count"] == 2
        assert run["cpu_ms_per_call_s"] > 0
    assert (
        runs["transcode"]["violations"] == 0
    )  # nothing the carrier would refuse (the floor sends partial frames)
    assert runs["floor"]["inbound_reordered"] == 0  # μ-law upstream: each frame's index is read back
    assert runs["transcode"]["inbound_reordered"] is None
    # The gateway's own underrun counts came from its /metrics (a count each, whatever it is); the floor
    # has none.
    assert set(runs["transcode"]["underruns_over_10ms"]) == {"gateway", "upstream"}
    assert runs["floor"]["underruns_over_10ms"] is None


@pytest.mark.slow
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="--pin needs two CPUs")
def test_pin_runs_the_system_under_test_on_one_cpu_and_the_generators_on_the_others(tmp_path: Path) -> None:
    out = tmp_path / "report"
    mine = os.sched_getaffinity(0)
    argv = ["loadtest", "--calls", "1", "--seconds", "1", "--systems", "floor", "--pin", "--out", str(out)]
    assert main(argv) == 0
    assert os.sched_getaffinity(0) == mine  # the command gave its process its CPUs back
    first, *rest = sorted(mine)
    (run,) = json.loads((out / "results.json").read_text())
    assert run["cpus"] == [first] and run["calls_up"] == 1  # read from the bridge process while it ran
    text = (out / "report.md").read_text(encoding="utf-8")
    assert f"the system under test on CPU {first}, the load generators (callers, simulator) on CPU " in text
    assert ", ".join(map(str, rest)) in text


def test_pin_on_one_cpu_is_one_line_and_exit_2(tmp_path: Path) -> None:
    one_cpu = (
        "import os, sys; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
        "from rtvoice_gateway.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", one_cpu, "loadtest", "--pin", "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == "rtvoice-gateway loadtest: --pin needs at least two CPUs; this process may use 1"
    )
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["loadtest", "--calls", "10,5"], "call counts must rise"),
        (["loadtest", "--calls", "ten"], "expected comma-separated call counts"),
        (["loadtest", "--loops", "trio"], "choose from asyncio, uvloop"),
        (["loadtest", "--systems", "gateway"], "choose from transcode, passthrough, floor"),
    ],
)
def test_bad_options_are_refused_by_the_parser(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("value", ["0", "11"])
def test_a_bad_repeat_is_one_line(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["loadtest", "--repeat", value]) == 2
    assert (
        capsys.readouterr().err.strip() == f"rtvoice-gateway loadtest: --repeat must be 1 to 10, not {value}"
    )


def test_bad_seconds_and_out_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["loadtest", "--seconds", "0.1"]) == 2
    assert (
        capsys.readouterr().err.strip() == "rtvoice-gateway loadtest: --seconds must be 0.5 to 3600, not 0.1"
    )
    file = tmp_path / "file"
    file.write_text("x")
    assert main(["loadtest", "--out", str(file)]) == 2
    assert capsys.readouterr().err.strip() == f"rtvoice-gateway loadtest: --out {file} is not a folder"


@pytest.mark.parametrize("value", ["-1", "201", "nan"])
def test_a_bad_input_batch_is_one_line(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["loadtest", "--input-batch-ms", value]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"rtvoice-gateway loadtest: --input-batch-ms must be 0 to 200, not {float(value):g}"


def test_the_input_batch_reaches_the_gateways_number_config(tmp_path: Path) -> None:
    from rtvoice_gateway.loadtest.runner import _config
    from rtvoice_gateway.numbers import load_numbers

    for batch in (0.0, 100.0, None):
        config, _ = load_numbers(_config(tmp_path, "transcode", recording=True, input_batch_ms=batch))
        assert config.default is not None
        assert config.default.input_batch_ms == batch
        assert config.default.recording_dir == tmp_path / "recordings"


async def test_a_gateway_whose_metrics_cannot_be_read_is_a_load_test_error() -> None:
    # (the command turns a LoadTestError into one line and exit code 1, never a traceback)
    port = free_port()  # nothing listens there
    with pytest.raises(LoadTestError, match="the gateway's /metrics could not be read"):
        await underruns_over_10ms(f"http://127.0.0.1:{port}")
