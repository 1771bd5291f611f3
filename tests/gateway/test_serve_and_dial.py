"""``rtvoice-gateway serve`` and ``dial`` as a user runs them: real processes, loopback, bad input."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from rtvoice.testing import speech
from rtvoice_gateway.cli import main
from support.serve import clean_env
from support.timing import seconds

pytestmark = pytest.mark.slow


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "rtvoice_gateway.cli", *args]


async def test_serve_then_dial_a_wav_through_it(tmp_path: Path) -> None:
    caller = tmp_path / "caller.wav"
    pcm = speech.silence(300) + speech.trim_silence(
        speech.synthesize("Hello, are you open tonight?"), sample_rate=24000
    )
    speech.write_wav(caller, pcm, sample_rate=24000)
    server = await asyncio.create_subprocess_exec(
        *cli("serve", "--port", "0"), env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert server.stdout is not None and server.stderr is not None
        async with asyncio.timeout(seconds(30)):
            line = (await server.stdout.readline()).decode().strip()
        assert line.startswith("listening on http://127.0.0.1:"), line
        url = line.removeprefix("listening on ")
        out = tmp_path / "call.wav"
        dial = await asyncio.create_subprocess_exec(
            *cli("dial", url, "--wav", str(caller), "--out", str(out), "--speed", "4"),
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        async with asyncio.timeout(seconds(60)):
            said, err = await dial.communicate()
        assert dial.returncode == 0, err.decode()
        text = said.decode()
        assert "connected to +15550100001" in text and "agent: (" in text and "call ended (caller)" in text
        with wave.open(str(out)) as wav:
            assert wav.getnchannels() == 2 and wav.getnframes() / 8000 > 3
    finally:
        server.send_signal(signal.SIGTERM)
        async with asyncio.timeout(seconds(15)):
            _, log = await server.communicate()
    assert server.returncode == 0, log.decode()[-2000:]
    logged = log.decode()
    assert '"call_sid": "CA' in logged and '"session_id": "' in logged  # JSON lines, each call's id bound
    assert "signatures are NOT checked" in logged


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["serve", "--port", "99999"], {}, "argument --port: a port is 0 to 65535, not 99999"),
        (["serve", "--config", "/nonexistent/numbers.toml"], {}, "/nonexistent/numbers.toml: no such file"),
        (["serve", "--host", "0.0.0.0"], {}, "HOST 0.0.0.0: without TWILIO_AUTH_TOKEN"),
        (["serve", "--public-url", "voice.example.com"], {}, "PUBLIC_URL: must be an http(s) origin"),
        (["dial", "127.0.0.1:8080", "--wav", "x.wav"], {}, "BASE_URL must start with http://"),
        (
            ["dial", "http://127.0.0.1:9", "--wav", "/nonexistent/x.wav"],
            {},
            "--wav /nonexistent/x.wav: no such file",
        ),
        (["dial", "http://127.0.0.1:9", "--wav", "/"], {}, "--wav /: is a folder"),
        (["dial", "http://127.0.0.1:9", "--wav", "/etc/hostname"], {}, "not a WAV file"),
        (
            ["dial", "http://127.0.0.1:9", "--mic", "--out", "/nonexistent/x.wav"],
            {},
            "no such folder /nonexistent",
        ),
        (["dial", "http://127.0.0.1:9"], {}, "one of the arguments --wav --mic is required"),
    ],
)
def test_bad_input_is_one_line_and_a_non_zero_exit(
    argv: list[str],
    env: dict[str, str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("OPENAI_API_KEY", "TWILIO_AUTH_TOKEN", "PUBLIC_URL", "HOST", "PORT"):
        monkeypatch.delenv(name, raising=False)
    try:
        code = main(argv)
    except SystemExit as exit:  # argparse
        code = exit.code  # type: ignore[assignment]
    assert code != 0
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_dial_to_a_gateway_that_is_not_there(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    caller = tmp_path / "caller.wav"
    speech.write_wav(caller, speech.silence(200), sample_rate=24000)
    assert main(["dial", "http://127.0.0.1:9", "--wav", str(caller)]) == 1
    err = capsys.readouterr().err
    assert "cannot reach the gateway at http://127.0.0.1:9" in err and "Traceback" not in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0 and capsys.readouterr().out.startswith("rtvoice-gateway 0.")


def test_demo_with_an_unreachable_upstream_ends_with_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    assert main(["demo", "--speed", "4"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rtvoice-gateway demo: the call ended early: cannot connect")
