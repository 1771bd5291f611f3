"""``rtvoice-gateway dial --mic`` end to end through sounddevice and PortAudio, on virtual sound devices.

No test machine has a sound card, so the test starts its own PulseAudio with two null sinks: ``mic``, whose
monitor is the default source (what PortAudio records), and ``spk``, the default sink (what PortAudio
plays). ``paplay -d mic`` then speaks into the microphone and ``parecord -d spk.monitor`` hears the
speakers. What works as root in CI, with no session bus and no desktop session:

* Debian packages (``scripts/test`` installs them): ``pulseaudio``, ``pulseaudio-utils`` (``pactl``,
  ``paplay``, ``parecord``), ``libasound2-plugins`` (ALSA's ``pulse`` device) and ``libportaudio2``.
* The daemon is this test's child, in the foreground, with everything in a temporary folder: ``HOME`` and
  ``XDG_RUNTIME_DIR`` (mode 0700) point there, and ``pulseaudio --daemonize=no --use-pid-file=no -n
  --exit-idle-time=-1 --disallow-exit --load="module-native-protocol-unix auth-anonymous=1 socket=SOCK"
  --load="module-null-sink sink_name=spk" --load="module-null-sink sink_name=mic"``. ``-n`` skips
  ``default.pa`` (no hardware, no D-Bus modules); running as root is only a warning (``--system`` is
  not needed) and so is the missing D-Bus; ``auth-anonymous=1`` means no cookie file.
* Every client (``pactl``, ``paplay``, ``parecord`` and ``dial``) gets ``PULSE_SERVER=unix:SOCK`` and the
  same ``HOME``; ``pactl set-default-source mic.monitor`` and ``pactl set-default-sink spk``.
* PortAudio's default device is ALSA's ``default``. ``$HOME/.asoundrc`` makes it (and the default
  control) ``type pulse``, the plugin of ``libasound2-plugins``, which follows ``PULSE_SERVER``. (Debian's
  ``pulseaudio`` package also does this with ``/etc/alsa/conf.d/99-pulse.conf`` when a server is
  reachable; the ``.asoundrc`` makes the test independent of that hook.)

The daemon is stopped (SIGTERM, then SIGKILL) when the test ends, so nothing is left running. The test is
skipped, with the daemon's own words, only when PulseAudio is missing or cannot start.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from rtvoice.testing import speech
from support.serve import clean_env
from support.timing import seconds

pytestmark = pytest.mark.slow

TOOLS = ("pulseaudio", "pactl", "paplay", "parecord")
LOUD_RMS = 300  # a 20 ms frame louder than this (of 32767) is sound, not silence
FRAME = 160  # 20 ms at 8 kHz


@dataclass
class Pulse:
    """A running PulseAudio: the environment its clients need."""

    env: dict[str, str]


@pytest.fixture
def pulse(tmp_path: Path) -> Iterator[Pulse]:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip(
            f"PulseAudio cannot start: {', '.join(missing)} not installed "
            "(scripts/test installs pulseaudio pulseaudio-utils libasound2-plugins)"
        )
    home, runtime = tmp_path / "pulse-home", tmp_path / "pulse-run"
    home.mkdir()
    runtime.mkdir(mode=0o700)
    (home / ".asoundrc").write_text("pcm.!default {\n    type pulse\n}\nctl.!default {\n    type pulse\n}\n")
    socket = runtime / "native"
    env = clean_env(HOME=str(home), XDG_RUNTIME_DIR=str(runtime), PULSE_SERVER=f"unix:{socket}")
    log_path = tmp_path / "pulseaudio.log"
    with log_path.open("wb") as log:
        daemon = subprocess.Popen(
            [
                "pulseaudio",
                "--daemonize=no",
                "--use-pid-file=no",
                "-n",
                "--exit-idle-time=-1",
                "--disallow-exit",
                "--log-target=stderr",
                f"--load=module-native-protocol-unix auth-anonymous=1 socket={socket}",
                "--load=module-null-sink sink_name=spk",
                "--load=module-null-sink sink_name=mic",
            ],
            env={k: v for k, v in env.items() if k != "PULSE_SERVER"},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
    try:
        deadline = time.monotonic() + seconds(10)
        while True:
            ready = subprocess.run(["pactl", "info"], env=env, capture_output=True, check=False)
            if ready.returncode == 0:
                break
            if daemon.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"PulseAudio cannot start here: {log_path.read_text(errors='replace')[-600:]}")
            time.sleep(0.1)
        for command in (["set-default-source", "mic.monitor"], ["set-default-sink", "spk"]):
            subprocess.run(["pactl", *command], env=env, check=True, capture_output=True)
        yield Pulse(env)
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=5)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "rtvoice_gateway.cli", *args]


def frame_rms(pcm: np.ndarray) -> np.ndarray:
    """RMS of each 20 ms frame of 8 kHz samples."""
    frames = pcm[: len(pcm) // FRAME * FRAME].astype(np.float64).reshape(-1, FRAME)
    return np.asarray(np.sqrt((frames**2).mean(axis=1)))


def loud_span_s(pcm: np.ndarray) -> tuple[float, float] | None:
    """From the first loud frame to the end of the last one, in seconds (None: silence throughout)."""
    loud = np.flatnonzero(frame_rms(pcm) > LOUD_RMS)
    if len(loud) == 0:
        return None
    return loud[0] * 0.02, (loud[-1] + 1) * 0.02


def read_8k(path: Path) -> np.ndarray:
    with wave.open(str(path)) as wav:
        assert wav.getframerate() == 8000 and wav.getsampwidth() == 2
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        return samples.reshape(-1, wav.getnchannels())


async def next_line_with(stream: asyncio.StreamReader, text: str, seen: list[str]) -> None:
    """Read ``stream`` line by line (into ``seen``) until a line contains ``text``."""
    while True:
        line = (await stream.readline()).decode()
        if not line:
            raise AssertionError(f"dial's output ended before {text!r}: {''.join(seen)}")
        seen.append(line)
        if text in line:
            return


@pytest.mark.serial  # the devices' latency is measured against the call's
async def test_dial_mic_talks_and_listens_through_portaudio(pulse: Pulse, tmp_path: Path) -> None:
    caller = tmp_path / "caller.wav"
    voice = speech.trim_silence(
        speech.synthesize("Hello, are you open tonight?", sample_rate=8000), sample_rate=8000
    )
    speech.write_wav(caller, voice, sample_rate=8000)
    caller_span = loud_span_s(np.frombuffer(voice, dtype="<i2"))
    assert caller_span is not None
    caller_s = caller_span[1] - caller_span[0]

    server = await asyncio.create_subprocess_exec(
        *cli("serve", "--port", "0"), env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    # Both monitors are recorded from the same moment, so their timelines line up: the microphone's says
    # when the caller spoke, the speakers' when the agent was heard.
    microphone, speakers = tmp_path / "microphone.wav", tmp_path / "speakers.wav"
    recorders = [
        await asyncio.create_subprocess_exec(
            "parecord",
            "-d",
            monitor,
            "--file-format=wav",
            "--rate=8000",
            "--channels=1",
            "--format=s16le",
            str(path),
            env=pulse.env,
        )
        for monitor, path in (("mic.monitor", microphone), ("spk.monitor", speakers))
    ]
    out = tmp_path / "call.wav"
    seen: list[str] = []
    dial: asyncio.subprocess.Process | None = None
    try:
        assert server.stdout is not None
        async with asyncio.timeout(seconds(30)):
            line = (await server.stdout.readline()).decode().strip()
        assert line.startswith("listening on http://127.0.0.1:"), line
        url = line.removeprefix("listening on ")
        with (tmp_path / "dial.err").open("wb") as err:
            dial = await asyncio.create_subprocess_exec(
                *cli("dial", url, "--mic", "--out", str(out)),
                env=pulse.env,
                stdout=subprocess.PIPE,
                stderr=err,
            )
        assert dial.stdout is not None
        async with asyncio.timeout(seconds(20)):
            await next_line_with(dial.stdout, "connected to +15550100001", seen)
            connected_at = time.monotonic()  # the call's clock starts now (to within a tick)
            await next_line_with(dial.stdout, "talk now", seen)
            await next_line_with(dial.stdout, " agent: (", seen)  # the greeting is over
            spoke_at = time.monotonic() - connected_at
            player = await asyncio.create_subprocess_exec("paplay", "-d", "mic", str(caller), env=pulse.env)
            assert await player.wait() == 0
            await next_line_with(dial.stdout, " agent: (", seen)  # the answer is over
        await asyncio.sleep(0.5)  # the speakers' own latency: let the last of it reach spk.monitor
        dial.send_signal(signal.SIGINT)  # Ctrl+C hangs up
        async with asyncio.timeout(seconds(15)):
            rest = await dial.stdout.read()
            await dial.wait()
        printed = "".join(seen) + rest.decode()
        assert dial.returncode == 0, printed + (tmp_path / "dial.err").read_text()
        assert "call ended (caller)" in printed, printed
    finally:
        if dial is not None and dial.returncode is None:  # the test failed before the hang-up
            dial.kill()
            await dial.wait()
        for process in (*recorders, server):
            if process.returncode is None:
                process.send_signal(signal.SIGTERM if process is server else signal.SIGINT)
        async with asyncio.timeout(seconds(15)):
            for process in (*recorders, server):
                await process.wait()
    assert server.returncode == 0

    call = read_8k(out)
    said, heard = call[:, 0], call[:, 1]
    # The gateway heard the caller: what dial sent carries the caller's voice, from when paplay spoke
    # (plus the devices' latency), for as long as the voice lasts, and nothing before it (the agent's
    # greeting does not leak from the speakers into the microphone).
    said_span = loud_span_s(said)
    assert said_span is not None, "dial sent only silence: the microphone was not heard"
    assert spoke_at - 0.1 <= said_span[0] <= spoke_at + 1.0, (said_span, spoke_at)
    assert abs((said_span[1] - said_span[0]) - caller_s) <= 0.3, (said_span, caller_s)
    # The agent's speech is on the call: a greeting before the caller spoke, an answer after.
    greeting = loud_span_s(heard[: int(said_span[0] * 8000)])
    answer = loud_span_s(heard[int(said_span[1] * 8000) :])
    assert greeting is not None and answer is not None, "the agent's greeting or answer is missing"
    loud_heard = float((frame_rms(heard) > LOUD_RMS).sum()) * 0.02
    assert loud_heard >= 1.0, loud_heard
    # The speakers played all of it (as much sound on spk.monitor as on the agent's channel) ...
    played = read_8k(speakers)[:, 0]
    loud_played = float((frame_rms(played) > LOUD_RMS).sum()) * 0.02
    assert 0.8 * loud_heard <= loud_played <= 1.2 * loud_heard, (loud_played, loud_heard)
    # ... and promptly: from the caller's voice to the agent's answer takes as long in the room (the
    # microphone's and the speakers' recordings) as on the call, plus only the devices' latency.
    spoken = loud_span_s(read_8k(microphone)[:, 0])
    assert spoken is not None, "paplay did not reach the mic sink"
    after_spoken = int(spoken[1] * 8000)
    answer_played = loud_span_s(played[after_spoken:])
    assert answer_played is not None, "the agent's answer never came out of the speakers"
    in_the_room = after_spoken / 8000 + answer_played[0] - spoken[0]
    on_the_call = said_span[1] + answer[0] - said_span[0]
    # (dial started the call before its devices delivered audio, and the speakers were about a second
    # behind the call all along: this measured 0.7 to 0.9 s; now about 0.1 s.)
    assert -0.1 <= in_the_room - on_the_call <= 0.4, (in_the_room, on_the_call)


def test_dial_mic_without_a_sound_card_is_one_line_and_places_no_call(tmp_path: Path) -> None:
    # ALSA's default device is PulseAudio's, and no PulseAudio is there: PortAudio has no device at all.
    (tmp_path / ".asoundrc").write_text(
        "pcm.!default {\n    type pulse\n}\nctl.!default {\n    type pulse\n}\n"
    )
    env = clean_env(HOME=str(tmp_path), PULSE_SERVER=f"unix:{tmp_path / 'no-such-socket'}")
    # Port 9 (discard) has no gateway: the sound card is opened before the call is placed.
    done = subprocess.run(
        cli("dial", "http://127.0.0.1:9", "--mic"),
        env=env,
        capture_output=True,
        text=True,
        timeout=seconds(30),
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("rtvoice-gateway dial: --mic: the microphone cannot be opened: "), (
        done.stderr
    )
    assert "Traceback" not in done.stderr and "cannot reach the gateway" not in done.stderr
    assert done.stdout == ""
