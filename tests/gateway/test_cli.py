"""The command line: the simulator subcommand as a real process, and the demo call."""

from __future__ import annotations

import asyncio
import io
import json
import re
import signal
import sys
import wave
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from rtvoice_gateway.cli import build_parser, main
from rtvoice_gateway.demo import CALLER_LINES, run_demo
from support.timing import seconds


async def test_simulator_command_prints_its_url_serves_and_stops_on_sigterm() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rtvoice_gateway.cli",
        "simulator",
        "--port",
        "0",
        "--api-key",
        "sk-cli",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), seconds(20))).decode().strip()
        assert line.startswith("listening on ws://127.0.0.1:") and line.endswith("/v1")
        url = line.removeprefix("listening on ") + "/realtime?model=gpt-realtime"
        async with connect(url, additional_headers={"Authorization": "Bearer sk-cli"}) as ws:
            event = json.loads(await asyncio.wait_for(ws.recv(), seconds(5)))
            assert event["type"] == "session.created"
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), seconds(10)) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_simulator_command_reports_a_busy_port(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["simulator", "--port", str(port)]) == 2
    assert "cannot listen" in capsys.readouterr().err


def test_parser_requires_a_command() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args([])


async def test_demo_call_goes_through_the_gateway_books_a_table_and_writes_the_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    out = io.StringIO()
    wav_path = tmp_path / "call.wav"
    assert await run_demo(speed=8, wav_path=str(wav_path), verbose=True, out=out, stereo=True) == 0
    text = out.getvalue()
    spoken = [line.split(": ", 1)[1] for line in text.splitlines() if "caller: " in line]
    assert spoken == CALLER_LINES
    assert "agent: You are all set: a table for two at seven thirty." in text
    assert "tool book_table -> ok" in text
    assert "gateway at http://127.0.0.1:" in text  # it went through the gateway
    # The greeting first, then caller and agent alternate, each line at the start of its utterance.
    stamped = [line for line in text.splitlines() if line.startswith("[")]
    speakers = [line.split("]")[1].split(":")[0].strip() for line in stamped]
    assert speakers == ["agent"] + ["caller", "agent"] * 3
    times = [float(line[1:3]) * 60 + float(line[4:8]) for line in stamped]
    assert times == sorted(times) and times[0] < 2.0
    assert re.search(r"estimated cost \$\d+\.\d{4}", text)
    with wave.open(str(wav_path)) as wav:
        assert (wav.getframerate(), wav.getnchannels()) == (8000, 2)
        frames = wav.readframes(wav.getnframes())
    assert wav.getnframes() / 8000 > 10.0  # four answers, three caller lines, pauses kept
    left = frames[0::4] + frames[1::4]  # rough check: both channels carry sound
    right = frames[2::4] + frames[3::4]
    assert left.strip(b"\x00") and right.strip(b"\x00")


@pytest.mark.parametrize(
    ("where", "message"),
    [("missing/dir/call.wav", "no such folder"), (".", "is a folder")],
)
def test_demo_refuses_an_unwritable_wav_before_the_call(
    where: str,
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--wav", where]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo", "--speed", "0"], "argument --speed: must be a finite number above 0, not '0'"),
        (["demo", "--speed", "nan"], "argument --speed: must be a finite number above 0, not 'nan'"),
        (["demo", "--speed", "inf"], "argument --speed: must be a finite number above 0, not 'inf'"),
        (["demo", "--speed", "fast"], "argument --speed: not a number: 'fast'"),
        (["simulator", "--time-scale", "-1"], "argument --time-scale: must be a finite number above 0"),
        (["simulator", "--generation-speed", "nan"], "argument --generation-speed: must be a finite number"),
        (["serve", "--drain-grace", "-1"], "argument --drain-grace: must be a finite number of 0 or more"),
        (["serve", "--drain-grace", "soon"], "argument --drain-grace: not a number"),
    ],
)
def test_bad_numbers_are_one_clear_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
