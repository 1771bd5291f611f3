"""``rtvoice-gateway dial``: a local softphone that plays the carrier's part of a call over loopback.

It goes through exactly the path of a real call: the signed webhook POST (when ``TWILIO_AUTH_TOKEN`` is
set), the TwiML, the signed WebSocket upgrade, 20 ms μ-law media at real time, mark echoes when the
agent's audio has played, ``clear``, DTMF and ``stop`` (see :class:`~rtvoice_gateway.testing.SimulatedCall`).

The caller's voice comes from a WAV file (``--wav``: spoken once the agent's greeting is over; the call
ends when the file is done and the line has been quiet for a few seconds) or from the microphone
(``--mic``: the sound card through sounddevice, the agent on the speakers; type digits and Enter for
DTMF, Ctrl+C to hang up). ``--out`` writes what was said and heard, caller left and agent right.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import wave
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import httpx2

from rtvoice.audio.wavfile import load_wav
from rtvoice.testing.phone_line import ulaw_from_pcm
from rtvoice_codecs import pcm16_to_ulaw, ulaw_to_pcm16
from rtvoice_gateway.testing import SimulatedCall

__all__ = ["DialError", "DialOptions", "dial", "write_stereo"]

QUIET_AFTER_S = 3.0
GREETING_WAIT_S = 8.0
SOUND_CARD_START_S = 10.0


class DialError(RuntimeError):
    """The call could not be placed (the message is one line for the user)."""


@dataclass
class DialOptions:
    """What ``rtvoice-gateway dial`` was asked to do."""

    base_url: str
    to_number: str = "+15550100001"
    from_number: str = "+15550100123"
    wav: Path | None = None
    mic: bool = False
    out: Path | None = None
    auth_token: str | None = None
    public_url: str | None = None
    speed: float = 1.0
    quiet_s: float = QUIET_AFTER_S


def caller_audio(path: Path) -> bytes:
    """A WAV file of any rate as 8 kHz μ-law.

    Raises:
        DialError: missing, a folder, or not a WAV file.
    """
    if path.is_dir():
        raise DialError(f"--wav {path}: is a folder, not a WAV file")
    try:
        pcm = load_wav(path)
    except FileNotFoundError:
        raise DialError(f"--wav {path}: no such file") from None
    except (ValueError, OSError) as exc:
        raise DialError(f"--wav {path}: {exc}") from None
    return ulaw_from_pcm(pcm)


def write_stereo(path: Path, said: bytes, heard: bytes) -> None:
    """Write the call as a stereo 8 kHz WAV: the caller left, the agent right."""
    left, right = ulaw_to_pcm16(said), ulaw_to_pcm16(heard)
    frames = bytearray()
    for i in range(0, min(len(left), len(right)), 2):
        frames += left[i : i + 2] + right[i : i + 2]
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(bytes(frames))


class _Printer:
    """Prints the call as it happens, on the call's clock."""

    def __init__(self, call: SimulatedCall, stream: TextIO) -> None:
        self.call = call
        self.stream = stream
        self.agent_from: float | None = None
        self.last_sound_ms = 0.0
        self.silent_frames = 0
        self.clears_seen = 0

    def line(self, text: str, at_ms: float | None = None) -> None:
        seconds = (self.call.now_ms if at_ms is None else at_ms) / 1000
        print(f"[{int(seconds // 60):02d}:{seconds % 60:04.1f}] {text}", file=self.stream, flush=True)

    def heard(self, frame: bytes) -> None:
        sound = any(b not in (0xFF, 0x7F) for b in frame)
        now = self.call.now_ms
        if sound:
            if self.agent_from is None:
                self.agent_from = now
            self.silent_frames = 0
            self.last_sound_ms = now
        elif self.agent_from is not None:
            self.silent_frames += 1
            if self.silent_frames * 20 >= 400:
                self.line(
                    f" agent: ({(now - self.silent_frames * 20 - self.agent_from) / 1000:.1f} s of speech)",
                    self.agent_from,
                )
                self.agent_from = None
        if len(self.call.clears) > self.clears_seen:
            self.clears_seen = len(self.call.clears)
            self.line(" agent: (interrupted: the caller spoke)")


async def dial(
    options: DialOptions, *, stream: TextIO = sys.stdout, hang_up: asyncio.Event | None = None
) -> SimulatedCall:
    """Place one call and hold it until it ends (or ``hang_up`` is set: Ctrl+C).

    Raises:
        DialError: the gateway cannot be reached, refused the call, or the input is unusable.
    """
    audio = caller_audio(options.wav) if options.wav is not None else b""
    call = SimulatedCall(
        options.base_url,
        to_number=options.to_number,
        from_number=options.from_number,
        auth_token=options.auth_token,
        public_url=options.public_url,
        speed=options.speed,
    )
    printer = _Printer(call, stream)
    call.on_heard = printer.heard
    # The sound card is opened and started before the call is placed: a missing or busy one is a
    # one-line error (raised inside the task group below it was an ExceptionGroup traceback) and no call
    # is made; and the call's clock starts only once audio flows (see _SoundCard.start).
    sound_card = _SoundCard.open(call) if options.mic else None
    try:
        if sound_card is not None:
            await sound_card.start()
        return await _place_call(call, printer, options, audio, sound_card, hang_up)
    finally:
        if sound_card is not None:
            sound_card.close()


async def _place_call(
    call: SimulatedCall,
    printer: _Printer,
    options: DialOptions,
    audio: bytes,
    sound_card: _SoundCard | None,
    hang_up: asyncio.Event | None,
) -> SimulatedCall:
    try:
        twiml = await call.dial()
    except httpx2.HTTPStatusError as exc:
        raise DialError(
            f"the gateway refused the call: HTTP {exc.response.status_code} {exc.response.text[:100]}"
        ) from None
    except httpx2.HTTPError as exc:
        raise DialError(
            f"cannot reach the gateway at {options.base_url}: {type(exc).__name__} {exc}"
        ) from None
    if twiml.stream_url is None:
        for said in twiml.says:
            printer.line(f"gateway says: {said}")
        printer.line("gateway hung up" if twiml.hangup else "no media stream in the TwiML")
        return call
    try:
        await call.connect()
    except OSError as exc:
        raise DialError(f"the media stream could not be opened: {exc}") from None
    except Exception as exc:  # websockets' handshake refusals (HTTP 403)
        raise DialError(f"the gateway refused the media stream: {exc}") from None
    printer.line(f"connected to {options.to_number} (call {call.call_sid})")
    async with asyncio.TaskGroup() as tasks:
        runner = tasks.create_task(call.run())
        if hang_up is not None:
            tasks.create_task(_hang_up_when(hang_up, call, runner))
        if sound_card is not None:
            await _talk_through_sound_card(runner, printer, sound_card)
        else:
            await _talk_from_wav(call, runner, printer, audio, options.quiet_s / options.speed)
        if not runner.done():
            call.hang_up()
        await runner
    printer.line(f"call ended ({call.closed_by})")
    if options.out is not None:
        write_stereo(options.out, bytes(call.said), bytes(call.heard))
        printer.line(f"the call is in {options.out} (caller left, agent right)")
    return call


async def _hang_up_when(event: asyncio.Event, call: SimulatedCall, runner: asyncio.Task[None]) -> None:
    waiter = asyncio.ensure_future(event.wait())
    await asyncio.wait({waiter, runner}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if event.is_set():
        call.hang_up()


async def _talk_from_wav(
    call: SimulatedCall, runner: asyncio.Task[None], printer: _Printer, audio: bytes, quiet_s: float
) -> None:
    # The greeting first: wait until the agent spoke and stopped (or a few seconds of nothing).
    waited = 0.0
    while not runner.done() and waited < GREETING_WAIT_S / call.speed:
        if printer.agent_from is None and call.heard.strip(b"\xff\x7f"):
            break
        await asyncio.sleep(0.05)
        waited += 0.05
    if audio and not runner.done():
        printer.line("caller: (speaking from the WAV file)")
        call.say(audio)
        while call.saying and not runner.done():  # noqa: ASYNC110 - the call object's state
            await asyncio.sleep(0.05)
    spoke_until = call.now_ms
    quiet_ms = quiet_s * 1000 * call.speed
    while not runner.done():
        heard_until = printer.last_sound_ms
        if call.now_ms - max(spoke_until, heard_until) >= quiet_ms:
            printer.line(f"the line has been quiet for {quiet_ms / 1000:.0f} s: hanging up")
            return
        await asyncio.sleep(0.05)


class _SoundCard:
    """The microphone and speakers of a ``--mic`` call: 8 kHz 16-bit mono in 20 ms blocks (PortAudio)."""

    def __init__(self, microphone: Any, speaker: Any, blocks: list[int], live: threading.Event) -> None:
        self.microphone = microphone
        self.speaker = speaker
        self.blocks = blocks  # blocks recorded, blocks played
        self.live = live  # the call runs: what the microphone records is sent

    @classmethod
    def open(cls, call: SimulatedCall) -> _SoundCard:
        """Open the default input and output for ``call`` (not started yet).

        Raises:
            DialError: sounddevice or PortAudio is missing, or the default devices cannot be opened.
        """
        try:
            import sounddevice as sd
        except (ImportError, OSError) as exc:
            raise DialError(
                f"--mic needs the sound card: {exc} (pip install -e '.[audio]', and PortAudio)"
            ) from None
        loop = asyncio.get_running_loop()
        playback: deque[bytes] = deque(maxlen=500)
        heard = call.on_heard
        blocks = [0, 0]
        live = threading.Event()

        def on_heard(frame: bytes) -> None:
            if heard is not None:
                heard(frame)
            playback.append(ulaw_to_pcm16(frame))

        call.on_heard = on_heard

        def captured(indata: Any, frames: int, time_info: Any, status: Any) -> None:
            blocks[0] += 1
            if live.is_set():
                loop.call_soon_threadsafe(call.say, pcm16_to_ulaw(bytes(indata)))

        pending = bytearray()

        def play(outdata: Any, frames: int, time_info: Any, status: Any) -> None:
            blocks[1] += 1
            while len(pending) < frames * 2 and playback:
                pending.extend(playback.popleft())
            chunk = bytes(pending[: frames * 2]).ljust(frames * 2, b"\x00")
            del pending[: frames * 2]
            outdata[:] = chunk

        try:
            microphone = sd.RawInputStream(
                samplerate=8000, channels=1, dtype="int16", blocksize=160, callback=captured
            )
        except Exception as exc:  # PortAudio errors: no device, busy device
            raise DialError(f"--mic: the microphone cannot be opened: {exc}") from None
        try:
            speaker = sd.RawOutputStream(
                samplerate=8000, channels=1, dtype="int16", blocksize=160, callback=play
            )
        except Exception as exc:
            microphone.close()
            raise DialError(f"--mic: the speakers cannot be opened: {exc}") from None
        return cls(microphone, speaker, blocks, live)

    async def start(self) -> None:
        """Start both streams and wait until audio flows through them.

        A device can take seconds to deliver its first block (PortAudio on PulseAudio's ALSA plugin
        takes about two). Were the call running meanwhile, the agent's first words would queue up for
        the speakers and stay that late for the whole call.

        Raises:
            DialError: a stream cannot start or stays silent for ``SOUND_CARD_START_S``.
        """
        try:
            self.microphone.start()
            self.speaker.start()
        except Exception as exc:
            raise DialError(f"--mic: the sound card cannot be started: {exc}") from None
        deadline = asyncio.get_running_loop().time() + SOUND_CARD_START_S
        while min(self.blocks) < 5:
            if asyncio.get_running_loop().time() > deadline:
                recorded, played = self.blocks
                raise DialError(
                    f"--mic: the sound card did not start within {SOUND_CARD_START_S:.0f} s "
                    f"({recorded} blocks recorded, {played} played)"
                )
            await asyncio.sleep(0.02)

    def close(self) -> None:
        self.live.clear()
        for stream in (self.microphone, self.speaker):
            if not stream.closed:
                stream.close()


async def _talk_through_sound_card(
    runner: asyncio.Task[None], printer: _Printer, sound_card: _SoundCard
) -> None:
    call = printer.call
    loop = asyncio.get_running_loop()
    stop = threading.Event()

    def keyboard() -> None:  # digits and Enter: DTMF
        for text in sys.stdin:
            if stop.is_set():
                return
            for digit in text.strip():
                asyncio.run_coroutine_threadsafe(call.press(digit), loop)

    if sys.stdin.isatty():
        threading.Thread(target=keyboard, daemon=True, name="dial-keyboard").start()
    sound_card.live.set()
    printer.line("talk now (digits + Enter for DTMF, Ctrl+C to hang up)")
    with contextlib.suppress(asyncio.CancelledError):
        await runner
    sound_card.live.clear()
    stop.set()
