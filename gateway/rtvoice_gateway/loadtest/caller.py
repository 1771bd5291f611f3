"""The load test's callers: :class:`~rtvoice_gateway.testing.SimulatedCall` with a stopwatch, and their script.

:class:`TimedCall` stamps every media frame it sends (and writes the frame's index into its first samples,
see :func:`~rtvoice_gateway.loadtest.stats.tag_frame`), every media message and ``clear`` it receives,
and follows its playout buffer (:class:`~rtvoice_gateway.loadtest.stats.PlayoutGaps`).

:func:`converse` plays one caller: a question, then a request that makes the agent call its tool, then,
while the agent reads the tool's answer, a barge-in, then a goodbye; again and again until told to stop.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from rtvoice.audio import AudioFormat
from rtvoice.realtime.protocol import has_sound
from rtvoice.testing import speech
from rtvoice.testing.arrivals import StampedClientConnection
from rtvoice.testing.phone_line import ulaw_from_pcm
from rtvoice_gateway.loadtest.stats import PlayoutGaps, tag_frame
from rtvoice_gateway.testing import SimulatedCall

__all__ = ["LINES", "CallerScript", "TimedCall", "converse"]

FRAME_BYTES = 160


@dataclass(frozen=True)
class Line:
    """One thing the caller says; ``barge_in``: said over the agent's reply to the previous line."""

    text: str
    barge_in: bool = False


#: The caller's part, in a loop. The simulator hears the k-th utterance as the k-th line (its transcript
#: script), so the second makes the echoing model call the agent's ``opening_hours`` tool.
LINES = (
    Line("Hello, are you open tonight?"),
    Line("Please call opening_hours."),
    Line("Sorry, a table for four at eight, please.", barge_in=True),
    Line("Thank you, goodbye."),
)


@dataclass(frozen=True)
class CallerScript:
    """The caller's lines as 8 kHz μ-law (espeak-ng speech), synthesised once for every call."""

    lines: tuple[tuple[Line, bytes], ...]

    @classmethod
    def synthesize(cls) -> CallerScript:
        """Speak every line (blocking: run it in a thread)."""
        spoken = []
        for line in LINES:
            pcm = speech.trim_silence(speech.synthesize(line.text), sample_rate=24000)
            spoken.append((line, ulaw_from_pcm(pcm)))
        return cls(tuple(spoken))


class TimedCall(SimulatedCall):
    """A simulated call that records when each frame went and came (``time.monotonic()``).

    Arrivals are stamped when a message came off the socket (:mod:`rtvoice.testing.arrivals`), and the
    playout follows each tick's due time, not the time the tick ran: a caller process that is late (it
    shares a CPU with the Realtime simulator) neither delays what it saw arrive nor makes the gateway's
    audio look late.
    """

    connection_class = StampedClientConnection

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(base_url, **kwargs)
        self.connected_at: float | None = None
        self.sent_at: list[float] = []  # the k-th media frame's send time; its payload carries k
        self.sound: list[bool] = []  # the k-th media frame carries sound (the agent never holds it)
        self.media: list[tuple[float, int]] = []  # (arrival, μ-law bytes)
        self.clear_times: list[float] = []
        self.audio_ticks: list[float] = []  # ticks that played agent audio
        self.gaps = PlayoutGaps()
        self.caller_stops: list[float] = []  # the last frame of each (not barge-in) line
        self.barge_ins: list[float] = []  # the first frame of each barge-in line
        self.said_lines = 0
        self.speech_started_at = 0.0  # the latest line's first and last frame
        self.speech_stopped_at = 0.0
        self._speech_frames = 0  # frames of said lines not sent yet (the outbox holds only those)
        self._speaking = False

    async def connect(self, *, stream_url: str | None = None, signature: str | None = None) -> None:
        """Open the stream; time to first audio counts from here."""
        await super().connect(stream_url=stream_url, signature=signature)
        self.connected_at = time.monotonic()

    def _frame_out(self, frame: bytes) -> bytes:
        tagged = tag_frame(frame, len(self.sent_at))
        now = time.monotonic()
        self.sent_at.append(now)
        self.sound.append(has_sound(tagged, AudioFormat.PCMU_8K))
        if self._speech_frames:  # this frame came from the outbox: the caller's speech
            self._speech_frames -= 1
            if not self._speaking:
                self._speaking = True
                self.speech_started_at = now
            if not self._speech_frames:
                self._speaking = False
                self.speech_stopped_at = now
        return tagged

    def say(self, mulaw: bytes) -> None:
        """Queue a line; its frames are the caller's speech (timed from the first one sent)."""
        before = len(self._outbox)
        super().say(mulaw)
        self._speech_frames += len(self._outbox) - before

    async def _play_one(self) -> None:
        had_frame = len(self._queue.audio) >= FRAME_BYTES
        self.gaps.tick(self.tick_due, had_frame=had_frame)
        if had_frame:
            self.audio_ticks.append(time.monotonic())
        await super()._play_one()

    async def _handle(self, text: str) -> None:
        now = self.arrived_at
        if '"media"' in text:
            before = self._queue.queued_total
            await super()._handle(text)
            received = self._queue.queued_total - before
            if received > 0:
                self.media.append((now, received))
                self.gaps.audio_arrived(now)
            return
        if '"clear"' in text:
            self.clear_times.append(now)
            self.gaps.cleared()
        await super()._handle(text)

    @property
    def playing(self) -> bool:
        """Agent audio is queued at the carrier."""
        return bool(self._queue.audio)


async def _until(condition: Any, limit_s: float) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.05)
    return bool(condition())


async def _quiet(call: TimedCall, *, for_s: float = 0.4, limit_s: float = 8.0) -> None:
    """Wait until no agent audio has come or played for ``for_s`` (at most ``limit_s``)."""

    def quiet() -> bool:
        last = max([call.media[-1][0]] if call.media else [0.0])
        return not call.playing and time.monotonic() - last >= for_s

    await _until(quiet, limit_s)


async def converse(call: TimedCall, script: CallerScript, stop: asyncio.Event) -> None:
    """Play the caller's lines until ``stop`` is set (the call must be connected and running)."""
    await _until(lambda: call.media, 6.0)  # the greeting
    number = 0
    while not stop.is_set():
        line, audio = script.lines[number % len(script.lines)]
        number += 1
        if line.barge_in:
            # Speak once the agent's reply has played for 700 ms.
            heard_before = len(call.audio_ticks)
            await _until(lambda n=heard_before: len(call.audio_ticks) - n >= 35 or stop.is_set(), 8.0)
            if stop.is_set():
                return
        else:
            await _quiet(call)
            if stop.is_set():
                return
        call.say(audio)
        call.said_lines += 1
        await _until(lambda: not call.saying, 10.0)
        await asyncio.sleep(0.05)  # the last frame's tick
        stopped = call.speech_stopped_at
        (call.barge_ins if line.barge_in else call.caller_stops).append(
            call.speech_started_at if line.barge_in else stopped
        )
        # The agent starts answering before the next line.
        await _until(lambda t=stopped: stop.is_set() or bool(call.media and call.media[-1][0] > t), 5.0)
