"""Sound card devices: clear errors without devices, lazy import, and the thread-to-loop bridges."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading

import pytest

from rtvoice.audio import SoundDeviceMicrophone, SoundDeviceSpeaker
from rtvoice.audio.sounddevice_io import _PlayoutBuffer, _ThreadToLoopQueue
from rtvoice.exceptions import ConfigurationError

SAFETY_S = 5.0


def _portaudio_state() -> str:
    """ "missing" (no PortAudio library), "no devices" (as on this CI machine), or "devices"."""
    try:
        import sounddevice
    except OSError:
        return "missing"
    try:
        return "devices" if len(sounddevice.query_devices()) > 0 else "no devices"
    except sounddevice.PortAudioError:
        return "no devices"


PORTAUDIO = _portaudio_state()
needs_no_devices = pytest.mark.skipif(PORTAUDIO == "devices", reason="this machine has sound devices")


def _expected_advice(kind: str, alternative: str) -> list[str]:
    if PORTAUDIO == "missing":
        return ["install libportaudio2", alternative]
    return [f"no {kind} device found", "device=", alternative]


@needs_no_devices
async def test_microphone_without_input_device_says_what_to_do() -> None:
    mic = SoundDeviceMicrophone()
    with pytest.raises(ConfigurationError) as info:
        await mic.start()  # really asks PortAudio; this machine has PortAudio but no devices
    for advice in _expected_advice("input", "WavInputDevice"):
        assert advice in str(info.value)
    assert not mic.is_active
    assert [c async for c in mic.stream_chunks()] == []


@needs_no_devices
async def test_speaker_without_output_device_says_what_to_do() -> None:
    speaker = SoundDeviceSpeaker()
    with pytest.raises(ConfigurationError) as info:
        await speaker.start()
    for advice in _expected_advice("output", "WavOutputDevice"):
        assert advice in str(info.value)
    await speaker.stop()  # harmless after a failed start


@pytest.mark.skipif(PORTAUDIO != "no devices", reason="needs PortAudio without sound devices")
async def test_named_device_that_does_not_exist() -> None:
    with pytest.raises(ConfigurationError, match="no input device found \\('Nonexistent Mic'"):
        await SoundDeviceMicrophone(device="Nonexistent Mic").start()


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_importing_rtvoice_audio_does_not_import_sounddevice() -> None:
    result = _run_python("import sys, rtvoice.audio; print('sounddevice' in sys.modules)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_missing_sounddevice_package_names_the_extra() -> None:
    # sys.modules[name] = None makes `import sounddevice` raise ImportError, as on a machine without it.
    code = """
import asyncio, sys
sys.modules["sounddevice"] = None
from rtvoice.audio import SoundDeviceSpeaker
from rtvoice.exceptions import ConfigurationError
try:
    asyncio.run(SoundDeviceSpeaker().start())
except ConfigurationError as exc:
    print(exc)
"""
    result = _run_python(code)
    assert result.returncode == 0, result.stderr
    assert "pip install 'rtvoice-gateway[audio]'" in result.stdout
    assert "WavOutputDevice" in result.stdout


async def test_thread_to_loop_queue_keeps_the_newest_blocks_in_order() -> None:
    queue = _ThreadToLoopQueue(asyncio.get_running_loop(), maxsize=10)

    def producer() -> None:
        for n in range(100):
            queue.put_threadsafe(n.to_bytes(2, "little"))

    thread = threading.Thread(target=producer)
    thread.start()
    await asyncio.to_thread(thread.join)
    for _ in range(3):
        await asyncio.sleep(0)  # let the scheduled call_soon_threadsafe callbacks run
    queue.put_nowait(None)
    received: list[int] = []
    async with asyncio.timeout(SAFETY_S):
        while (item := await queue.get()) is not None:
            received.append(int.from_bytes(item, "little"))
    assert received == list(range(91, 100))  # 9 newest blocks, then the end marker took the last slot
    assert queue.dropped == 91


def test_playout_buffer_fills_pads_and_counts() -> None:
    buffer = _PlayoutBuffer()
    buffer.append(b"\x01\x02" * 3 + b"\x03")  # three samples and half of a fourth
    out = bytearray(b"\xee" * 10)
    assert buffer.fill(out, 10) == 6  # only whole samples are handed out
    assert out == b"\x01\x02" * 3 + b"\x00" * 4
    assert buffer.played_ms == 6 / 48
    assert buffer.queued_bytes == 1
    assert buffer.is_playing  # half a sample is still queued
    buffer.append(b"\x04")
    out = bytearray(4)
    assert buffer.fill(out, 4) == 2
    assert out == b"\x03\x04\x00\x00"
    playing = [buffer.is_playing]
    buffer.append(b"\x05\x06" * 8)
    playing.append(buffer.is_playing)
    buffer.clear()
    playing.append(buffer.is_playing)
    assert playing == [False, True, False]
    assert buffer.fill(bytearray(4), 4) == 0
    assert buffer.played_ms == pytest.approx(8 / 48)  # cleared audio never counts as played


def test_bad_microphone_arguments() -> None:
    with pytest.raises(ConfigurationError):
        SoundDeviceMicrophone(chunk_ms=0)
