"""A phone line: one carrier media stream, and the microphone and speaker the agent sees on it.

:class:`PhoneLine` is the asyncio shell around the pure parts: the carrier core
(:class:`~rtvoice_gateway.carrier.twilio.TwilioMediaStream`: wire messages in and out, marks, generations)
and the :class:`~rtvoice_gateway.carrier.pacing.OutboundPacer` (a bounded lead of agent audio at the
carrier). It runs two tasks for the call's task group: the **reader** (carrier messages → events) and the
**sender** (the pacer's frames → the socket, each release followed by a mark).

The devices:

* :class:`PhoneMicrophone` yields the caller's audio: 20 ms μ-law frames. With ``audio="transcode"`` (the
  default) its ``session_format`` is PCM16 24 kHz and the agent transcodes them as it sends them (a 2 ms
  low-delay resampler; silent frames that wait for a batch are converted together); with
  ``audio="passthrough"`` the Realtime session speaks ``audio/pcmu``. Its queue is bounded (2 s); when the
  agent falls behind, the oldest frames are dropped and counted.
* :class:`PhoneSpeaker` takes the agent's audio, transcodes it back to μ-law and hands it to the pacer.
  ``played_ms`` comes from the mark echoes (each release carries a mark ``g{generation}:{position}``),
  between echoes from the pacer's playout clock; ``clear_buffer()`` sends ``clear`` at once, so the caller
  hears at most the frame in progress plus the network's delay (see docs/carriers.md). Stale echoes that
  Twilio returns after a ``clear`` never move the position. ``end_of_audio()`` sends the reply's last
  partial frame padded with silence.

Positions: the carrier's timeline counts every 20 ms frame sent (silence padding and audio dropped by a
``clear`` included); the agent's counts only its own audio that was heard. ``offset`` maps one to the
other: it grows by each padding and, at a ``clear``, becomes what was sent minus what was heard.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Literal

from starlette.websockets import WebSocket, WebSocketDisconnect

from rtvoice.audio import AudioFormat, AudioInputDevice, AudioOutputDevice
from rtvoice.audio.playout import PlayoutCounter
from rtvoice_codecs import FRAME_BYTES_ULAW_8K, FRAME_MS, StreamResampler, pcm16_to_ulaw
from rtvoice_gateway.carrier.events import (
    AudioReceived,
    CallStarted,
    CallStopped,
    DigitPressed,
    InboundEvent,
    MarkPlayed,
    ProtocolViolation,
)
from rtvoice_gateway.carrier.pacing import OutboundPacer
from rtvoice_gateway.carrier.twilio import TwilioMediaStream

__all__ = ["AudioMode", "PhoneLine", "PhoneMicrophone", "PhoneSpeaker"]

log = logging.getLogger("rtvoice_gateway.phone")

AudioMode = Literal["transcode", "passthrough"]
#: Caller audio the microphone keeps while the agent is not reading (2 s of 20 ms frames).
MIC_QUEUE_FRAMES = 100
#: Refused carrier messages logged per kind and call (the rest are only counted).
VIOLATIONS_LOGGED = 5


class PhoneMicrophone(AudioInputDevice):
    """The caller's audio from a :class:`PhoneLine` (created by the line).

    The line's reader feeds it and the agent's microphone task takes the frames: a bounded deque and
    one future per wait (an ``asyncio.Queue`` costs about twice as much per frame, measured with perf at
    100 calls).
    """

    def __init__(self, mode: AudioMode) -> None:
        self.mode = mode
        self._frames: deque[bytes] = deque()
        self._waiter: asyncio.Future[None] | None = None  # the reader's wait, while it waits
        self._ended = False
        self._active = False
        self.dropped_frames = 0
        """Caller frames dropped because the agent did not read them for 2 s."""

    @property
    def format(self) -> AudioFormat:
        """μ-law 8 kHz, the carrier's frames as they came."""
        return AudioFormat.PCMU_8K

    @property
    def session_format(self) -> AudioFormat:
        """PCM16 24 kHz (transcoding: the agent converts) or μ-law 8 kHz (pass-through)."""
        return AudioFormat.PCM16_24K if self.mode == "transcode" else AudioFormat.PCMU_8K

    @property
    def is_active(self) -> bool:
        """Between start() and the end of the call."""
        return self._active

    async def start(self) -> None:
        """Nothing to open: the line feeds the queue."""
        self._active = True

    async def stop(self) -> None:
        """End the iteration."""
        self._active = False
        self.end()

    def end(self) -> None:
        """The line ended: the iteration stops after what is queued."""
        self._ended = True
        _resolve(self._waiter)

    def feed(self, mulaw: bytes) -> None:
        """One frame of caller μ-law from the line (never blocks; the oldest frame goes when full)."""
        frames = self._frames
        if len(frames) >= MIC_QUEUE_FRAMES:
            frames.popleft()
            if not self.dropped_frames:
                log.warning("the agent is not reading the caller's audio: dropping the oldest frames")
            self.dropped_frames += 1
        frames.append(mulaw)
        _resolve(self._waiter)

    async def stream_chunks(self) -> AsyncIterator[bytes]:
        """The caller's audio, 20 ms at a time, until the line ends."""
        frames = self._frames
        while True:
            if frames:
                yield frames.popleft()
            elif self._ended:
                return
            else:
                waiter = self._waiter = asyncio.get_running_loop().create_future()
                try:
                    await waiter
                finally:
                    self._waiter = None


class PhoneSpeaker(AudioOutputDevice):
    """The agent's voice on a :class:`PhoneLine` (created by the line)."""

    def __init__(self, line: PhoneLine, mode: AudioMode) -> None:
        self._line = line
        self._down = StreamResampler(24000, 8000) if mode == "transcode" else None
        self._counter = PlayoutCounter()
        self._heard = 0.0  # agent ms heard, monotonic: confirmed by marks or estimated by the pacer
        self._echoed_at: float | None = None  # the line's clock when the latest current mark echo arrived
        self._pushed = 0  # μ-law bytes pushed to the pacer since its last frame boundary
        self._listener: Callable[[], None] | None = None

    @property
    def format(self) -> AudioFormat:
        """PCM16 24 kHz (transcoding) or μ-law 8 kHz (pass-through)."""
        return AudioFormat.PCM16_24K if self._down is not None else AudioFormat.PCMU_8K

    @property
    def played_ms(self) -> float:
        """Agent audio heard: the latest mark echo's position plus the time since it came back (the
        carrier plays in real time), or before any echo the pacer's playout clock; never more than was
        sent to the carrier, never less than before."""
        now = self._line.now()
        sent = self._line.pacer.sent_ms - self._line.offset_ms
        if self._echoed_at is not None:
            estimate = self._counter.played_ms + (now - self._echoed_at) * 1000
        else:
            estimate = self._line.pacer.played_ms(now) - self._line.offset_ms
        self._heard = min(self._counter.queued_ms, max(self._heard, min(estimate, sent)))
        return self._heard

    @property
    def is_playing(self) -> bool:
        """Agent audio is queued and not yet heard."""
        return self.played_ms < self._counter.queued_ms

    @property
    def queued_ms(self) -> float:
        """All the agent audio queued so far (less what clears dropped), on the ``played_ms`` timeline."""
        return self._counter.queued_ms

    async def start(self) -> None:
        """Nothing to open: the line is already streaming."""

    async def stop(self) -> None:
        """Nothing to close: the line ends with the call."""

    def set_position_listener(self, listener: Callable[[], None] | None) -> None:
        """Called when a mark echo moved the position."""
        self._listener = listener

    async def play_chunk(self, chunk: bytes) -> None:
        """Queue agent audio (returns at once; the pacer sends it)."""
        if self.played_ms >= self._counter.queued_ms:
            self._echoed_at = None  # the line was idle: until the next echo, the pacer's clock tells
        self._counter.queue(self.format.ms_for(len(chunk)))
        self._push(pcm16_to_ulaw(self._down.process(chunk)) if self._down is not None else chunk)

    async def end_of_audio(self) -> None:
        """The reply is complete: send what the resampler holds and the last partial frame."""
        if self._down is not None:
            self._push(pcm16_to_ulaw(self._down.flush()))
        remainder = self._pushed % FRAME_BYTES_ULAW_8K
        if remainder:
            self._line.offset_ms += (FRAME_BYTES_ULAW_8K - remainder) / 8  # silence padding, not heard
        self._pushed = 0
        self._line.pacer.end_of_audio()
        self._line.wake()

    async def clear_buffer(self) -> None:
        """Barge-in: ``clear`` goes out at once; the unplayed rest is dropped here and at the carrier."""
        heard = self.played_ms
        self._counter.report(max(heard, self._counter.played_ms))
        await self._line.clear()
        self._counter.clear()
        self._echoed_at = None
        if self._down is not None:
            self._down = StreamResampler(24000, 8000)
        self._pushed = 0
        self._line.offset_ms = self._line.pacer.sent_ms - self._counter.played_ms

    def mark_played(self, event: MarkPlayed) -> None:
        """A current mark echo: the carrier played the agent's audio up to ``event.position_ms``."""
        position = event.position_ms - self._line.offset_ms
        if position > self._counter.played_ms:
            self._counter.report(min(position, self._counter.queued_ms))
            self._heard = max(self._heard, self._counter.played_ms)
        self._echoed_at = self._line.now()
        if self._listener is not None:
            self._listener()

    def _push(self, mulaw: bytes) -> None:
        if mulaw:
            line = self._line
            self._pushed += len(mulaw)
            starved_ms = line.pacer.push(mulaw, line.now())
            if starved_ms and line.on_underrun is not None:
                line.on_underrun("upstream", starved_ms)
            line.wake()


class PhoneLine:
    """One media stream over a Starlette WebSocket, and its devices.

    Args:
        ws: the accepted WebSocket.
        stream: the carrier core (bound to the call the stream token grants).
        mode: ``"transcode"`` or ``"passthrough"``.
        lead_ms: agent audio to keep queued at the carrier.
        release_ms: send agent audio in steps of this much (one media message and one mark each);
            default 60 ms, or ``lead_ms - 20`` when the lead is shorter than 80 ms.
        on_digit: called with each DTMF digit the caller presses.
        clock_speed: how much faster than real time the carrier plays (1 in production; a simulated
            carrier in tests and the demo may run faster, and the pacer's clock must follow it).
    """

    def __init__(
        self,
        ws: WebSocket,
        stream: TwilioMediaStream,
        *,
        mode: AudioMode = "transcode",
        lead_ms: int = 160,
        release_ms: int | None = None,
        on_digit: Callable[[str], None] | None = None,
        clock_speed: float = 1.0,
    ) -> None:
        self.ws = ws
        self.clock_speed = clock_speed
        self.stream = stream
        release = min(60, lead_ms - FRAME_MS) if release_ms is None else release_ms
        self.pacer = OutboundPacer(lead_ms, release_ms=release)
        self.offset_ms = 0.0
        self.microphone = PhoneMicrophone(mode)
        self.speaker = PhoneSpeaker(self, mode)
        self.on_digit = on_digit
        self.call: CallStarted | None = None
        self.started = asyncio.Event()
        self.ended = asyncio.Event()
        self.end_reason: str | None = None
        """``stop`` (the carrier ended the stream), ``disconnect`` (the socket closed without one),
        ``violation`` (a fatal protocol violation) or ``closed`` (we hung up)."""
        self.frames_in = 0
        self.on_sent: Callable[[], None] | None = None
        """Called each time audio frames went out to the carrier (metrics)."""
        self.on_dropped: Callable[[str], None] | None = None
        """Called with the reason of each inbound frame dropped: a violation kind or ``mic_queue_full``."""
        self.on_underrun: Callable[[str, float], None] | None = None
        """Called when the carrier ran dry mid-reply, with the cause and the ms it was dry (on the line's
        clock): ``gateway`` (the audio waited here: the sender woke late) or ``upstream`` (the agent's
        audio came late). See :class:`~rtvoice_gateway.carrier.pacing.OutboundPacer`."""
        self._waiter: asyncio.Future[None] | None = None  # the sender's sleep, while it sleeps
        self._woken = False
        self._closed = False

    # -- the tasks --------------------------------------------------------------------------------------

    async def read(self) -> None:
        """Receive until the stream stops or the socket closes; never raises for the caller's sake."""
        try:
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    self._end("disconnect")
                    return
                text, data = message.get("text"), message.get("bytes")
                events = (
                    self.stream.receive_text(text)
                    if text is not None
                    else self.stream.receive_binary(data or b"")
                )
                for event in events:
                    self._handle(event)
                if self.ended.is_set():
                    return
        except (WebSocketDisconnect, RuntimeError):  # RuntimeError: receive after the socket closed
            self._end("disconnect")

    def _handle(self, event: InboundEvent) -> None:
        if isinstance(event, AudioReceived):
            self.frames_in += 1
            dropped = self.microphone.dropped_frames
            self.microphone.feed(event.payload)
            if self.microphone.dropped_frames != dropped and self.on_dropped is not None:
                self.on_dropped("mic_queue_full")
        elif isinstance(event, MarkPlayed):
            if not event.stale:
                self.pacer.receive_played(event.position_ms, self.now())
                self.speaker.mark_played(event)
        elif isinstance(event, CallStarted):
            self.call = event
            self.started.set()
        elif isinstance(event, DigitPressed):
            if self.on_digit is not None:
                self.on_digit(event.digit)
        elif isinstance(event, CallStopped):
            self._end("stop")
        elif isinstance(event, ProtocolViolation):
            if self.on_dropped is not None:
                self.on_dropped(str(event.kind))
            count = self.stream.violations.get(event.kind, 0)
            if event.fatal or count <= VIOLATIONS_LOGGED:  # a flood is counted, not logged line by line
                log.warning("carrier message refused (%s): %s", event.kind, event.detail)
                if count == VIOLATIONS_LOGGED:
                    log.warning("further %s messages on this call are counted, not logged", event.kind)
            if event.fatal:
                self._end("violation")

    async def send_paced(self) -> None:
        """Send the pacer's releases as they fit the lead: each one ``media`` message and a mark."""
        loop = asyncio.get_running_loop()
        while not self.ended.is_set():
            self._woken = False
            release = self.pacer.poll(self.now())
            if release.frames and self.call is not None:
                audio = self.stream.send_audio(
                    b"".join(release.frames), frames_per_message=len(release.frames)
                )
                await self.send(audio + self.stream.send_mark())
                if self.on_sent is not None:
                    self.on_sent()
                if release.late_ms and self.on_underrun is not None:
                    self.on_underrun("gateway", release.late_ms)
            if self._woken:
                continue  # audio came while we were sending: poll again now
            # One future per sleep, resolved by a timer or by wake() (cheaper than Event + timeout).
            waiter = self._waiter = loop.create_future()
            timer = (
                None
                if release.wake_at is None
                else loop.call_later(
                    max(0.0, (release.wake_at - self.now()) / self.clock_speed), _resolve, waiter
                )
            )
            try:
                await waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()

    # -- used by the devices and the call -----------------------------------------------------------------

    def now(self) -> float:
        """The line's clock in seconds: monotonic time, times ``clock_speed``."""
        return time.monotonic() * self.clock_speed

    def wake(self) -> None:
        """New audio for the sender (or the line ended)."""
        self._woken = True
        _resolve(self._waiter)

    async def send(self, frames: list[str]) -> None:
        """Write frames in order (dropped once the socket is gone)."""
        for frame in frames:
            if self._closed:
                return
            try:
                await self.ws.send_text(frame)
            except (WebSocketDisconnect, RuntimeError, OSError):
                self._end("disconnect")
                return

    async def clear(self) -> None:
        """Send ``clear`` now and drop what the pacer holds."""
        await self.send(self.stream.clear())
        self.pacer.clear(self.now())

    def play_other(self, mulaw: bytes) -> None:
        """Play μ-law audio that is not the agent's (DTMF tones) after what is queued.

        It takes whole frames of the carrier's timeline that the agent's position never counts: call it
        when none of the agent's audio is waiting (its later audio then maps exactly).
        """
        self.pacer.push(mulaw)
        self.pacer.end_of_audio()
        self.offset_ms += -(-len(mulaw) // FRAME_BYTES_ULAW_8K) * FRAME_MS
        self.wake()

    async def play_and_wait(self, mulaw: bytes, *, limit_s: float) -> bool:
        """Play μ-law audio (an apology) after what is queued and wait until the carrier confirms it played.

        Returns:
            True when the last mark came back in time.
        """
        self.pacer.push(mulaw)
        self.pacer.end_of_audio()
        self.wake()
        return await self.wait_played(limit_s=limit_s)

    async def wait_played(self, *, limit_s: float) -> bool:
        """Wait until everything sent so far has been played (its mark echoed), the line ends, or timeout."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline and not self.ended.is_set():
            if self.pacer.waiting_ms == 0 and self.stream.played_ms >= self.pacer.sent_ms:
                return True
            await asyncio.sleep(FRAME_MS / 1000 / self.clock_speed)
        return self.pacer.waiting_ms == 0 and self.stream.played_ms >= self.pacer.sent_ms

    async def close(self, code: int = 1000) -> None:
        """Hang up our side: close the socket (Twilio ends ``<Connect>``, and the call with it)."""
        self._end("closed")
        if not self._closed:
            self._closed = True
            with contextlib.suppress(Exception):
                await self.ws.close(code)

    def _end(self, reason: str) -> None:
        if not self.ended.is_set():
            self.end_reason = reason
            self.ended.set()
            self.microphone.end()
            self.wake()


def _resolve(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)
