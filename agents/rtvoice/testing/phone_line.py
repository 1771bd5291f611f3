"""Devices that behave like a phone line: 20 ms G.711 μ-law frames in and out at real time.

A phone gateway's devices see the carrier's side of a call: a frame of 8 kHz μ-law every 20 ms from the
caller, however quiet, and 20 ms frames sent back that the carrier plays on its own clock, reporting how
far it got (Twilio echoes *marks*). These two devices reproduce that without a carrier, for tests and for
``scripts/bench agent --calls``:

* :class:`PhoneLineMicrophone` sends the caller's audio (μ-law bytes, see :func:`ulaw_from_wav`) as 20 ms
  frames paced at real time (times ``speed``), then silence frames for as long as the call lasts, always
  in ``AudioFormat.PCMU_8K``. In ``"transcode"`` mode (the default) its ``session_format`` is PCM16 24 kHz:
  the agent decodes and resamples the frames as it sends them, the work a gateway does when the model
  speaks PCM; in ``"passthrough"`` mode the session speaks μ-law.
* :class:`PhoneLineSpeaker` takes the assistant's audio (PCM16 24 kHz, resampled and encoded to μ-law;
  or μ-law as is), cuts it into exact 20 ms frames, and one pacing task plays them at real time, 60 ms
  (``report_every_ms``) at a time: the gateway sends agent audio in 60 ms steps, each followed by a
  mark. After each step the line "echoes its mark": the position is reported to a
  :class:`~rtvoice.audio.PlayoutCounter` and the position listener is called, as a carrier device does
  when a mark comes back. The partial last frame of an item is sent on :meth:`PhoneLineSpeaker.end_of_audio`,
  or when the line would otherwise run dry.

Both count what they did (frames in and out, silence padding), so tests can check the line's timeline.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from os import PathLike
from typing import Literal

from rtvoice.audio.devices import AudioInputDevice, AudioOutputDevice
from rtvoice.audio.format import AudioFormat
from rtvoice.audio.playout import PlayoutCounter
from rtvoice.audio.wavfile import load_wav
from rtvoice.exceptions import ConfigurationError
from rtvoice_codecs import FrameChunker, StreamResampler, pcm16_to_ulaw

__all__ = ["PhoneLineMicrophone", "PhoneLineMode", "PhoneLineSpeaker", "ulaw_from_pcm", "ulaw_from_wav"]

_log = logging.getLogger(__name__)

PhoneLineMode = Literal["transcode", "passthrough"]
"""``"transcode"``: the agent gets and gives PCM16 24 kHz; ``"passthrough"``: μ-law 8 kHz, untouched."""

FRAME_MS = 20
_ULAW = AudioFormat.PCMU_8K
_PCM = AudioFormat.PCM16_24K
_FRAME_BYTES = _ULAW.bytes_for(FRAME_MS)  # 160
_SILENCE_FRAME = _ULAW.silence(FRAME_MS)
#: Pacing waits up to this long are plain sleeps (stop() then takes effect within this time).
_SHORT_WAIT_S = 0.1


def _check_mode(mode: str) -> PhoneLineMode:
    if mode == "transcode":
        return "transcode"
    if mode == "passthrough":
        return "passthrough"
    raise ConfigurationError(f'mode must be "transcode" or "passthrough", not {mode!r}')


def _check_speed(speed: float) -> float:
    if (
        isinstance(speed, bool)
        or not isinstance(speed, int | float)
        or not speed > 0
        or speed == float("inf")
    ):
        raise ConfigurationError(f"speed must be a positive number, not {speed!r}")
    return float(speed)


def ulaw_from_wav(path: str | PathLike[str]) -> bytes:
    """Read a WAV file (any rate, channels, sample format) and return it as 8 kHz G.711 μ-law.

    The conversion goes through ``rtvoice_codecs``: PCM16 24 kHz (as :func:`~rtvoice.audio.load_wav`
    reads it), the low-delay FIR down to 8 kHz, then μ-law. Convert once and share the bytes between
    calls: a minute is 480 kB.

    Raises:
        FileNotFoundError: the file does not exist.
        ConfigurationError: the file is not a usable WAV file.
    """
    return ulaw_from_pcm(load_wav(path))


def ulaw_from_pcm(pcm: bytes) -> bytes:
    """PCM16 24 kHz (a whole clip) as 8 kHz μ-law, through the low-delay FIR (its tail flushed)."""
    down = StreamResampler(_PCM.sample_rate, _ULAW.sample_rate)
    return pcm16_to_ulaw(down.process(pcm) + down.flush())


async def _pause(delay: float, stopped: asyncio.Event) -> None:
    """Sleep ``delay`` seconds, or less if ``stopped`` is set first (checked after short sleeps)."""
    if delay <= 0:
        await asyncio.sleep(0)
    elif delay <= _SHORT_WAIT_S:
        await asyncio.sleep(delay)  # a plain sleep: waiting on the event with a timeout costs more
    else:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await stopped.wait()


class PhoneLineMicrophone(AudioInputDevice):
    """The caller's side of a phone line: 20 ms μ-law frames at real time, then silence until stopped.

    Args:
        caller_ulaw: the caller's audio, 8 kHz μ-law (:func:`ulaw_from_wav`); shared, never copied.
        mode: both yield the μ-law frames (``format`` is ``PCMU_8K``). ``"transcode"`` (default) asks for a
            PCM16 24 kHz session (``session_format``): the agent decodes and resamples them as it sends
            them, as with the gateway's phone microphone; ``"passthrough"`` keeps the session in μ-law.
        speed: pacing multiplier; 10 sends 10 s of frames per second of wall time.

    Raises:
        ConfigurationError: an unknown mode or a speed that is not a positive number.
    """

    def __init__(self, caller_ulaw: bytes, *, mode: PhoneLineMode = "transcode", speed: float = 1.0) -> None:
        self.mode = _check_mode(mode)
        self.speed = _check_speed(speed)
        self._caller = caller_ulaw
        self._frames_sent = 0
        self._active = False
        self._stopped = asyncio.Event()
        self._finished = asyncio.Event()

    @property
    def format(self) -> AudioFormat:
        """μ-law 8 kHz, the line's frames."""
        return _ULAW

    @property
    def session_format(self) -> AudioFormat:
        """PCM16 24 kHz when transcoding (the agent converts), μ-law 8 kHz in pass-through."""
        return _PCM if self.mode == "transcode" else _ULAW

    @property
    def is_active(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._active

    @property
    def frames_sent(self) -> int:
        """20 ms frames yielded since :meth:`start`, the caller's audio and the silence after it."""
        return self._frames_sent

    @property
    def caller_frames(self) -> int:
        """How many frames the caller's audio fills (the last one padded with silence)."""
        return -(-len(self._caller) // _FRAME_BYTES)

    @property
    def finished(self) -> bool:
        """True once the caller's last frame has been yielded."""
        return self._finished.is_set()

    async def wait_finished(self) -> None:
        """Wait until the caller's last frame has been yielded (silence follows)."""
        await self._finished.wait()

    async def start(self) -> None:
        """Rewind to the start of the caller's audio and open the line."""
        self._frames_sent = 0
        self._finished.clear()
        self._stopped = asyncio.Event()  # fresh, in case the last run was on another event loop
        self._active = True
        if not self._caller:
            self._finished.set()

    async def stop(self) -> None:
        """Hang up; a running :meth:`stream_chunks` ends promptly."""
        self._active = False
        self._stopped.set()

    def _frame(self, index: int) -> bytes:
        start = index * _FRAME_BYTES
        if start >= len(self._caller):
            return _SILENCE_FRAME
        frame = self._caller[start : start + _FRAME_BYTES]
        if len(frame) < _FRAME_BYTES:
            frame += _SILENCE_FRAME[len(frame) :]
        return frame

    async def stream_chunks(self) -> AsyncIterator[bytes]:
        """Yield a frame every 20 ms (divided by ``speed``) until :meth:`stop`; nothing before :meth:`start`."""
        loop = asyncio.get_running_loop()
        frame_s = FRAME_MS / 1000.0 / self.speed
        t0 = loop.time() - self._frames_sent * frame_s  # a second iteration continues the timeline
        caller_frames = self.caller_frames
        while self._active:
            index = self._frames_sent
            ulaw = self._frame(index)
            # Like a line: the frame is delivered when its last sample has arrived.
            await _pause(t0 + (index + 1) * frame_s - loop.time(), self._stopped)
            if self._stopped.is_set():
                return
            self._frames_sent = index + 1
            if self._frames_sent >= caller_frames:
                self._finished.set()
            yield ulaw


class PhoneLineSpeaker(AudioOutputDevice):
    """The carrier's side of the assistant's audio: exact 20 ms μ-law frames played at real time.

    :meth:`play_chunk` converts (``"transcode"``: PCM16 24 kHz resampled to 8 kHz and encoded, with
    ``rtvoice_codecs``; ``"passthrough"``: μ-law as is) and cuts the audio into 20 ms frames. One pacing
    task, owned by the device, plays them ``report_every_ms`` at a time (fewer when fewer are queued):
    each frame takes 20 ms (divided by ``speed``), and when a step has played its position is reported,
    like a mark echo, to the device's :class:`~rtvoice.audio.PlayoutCounter`; the position listener is
    then called. When nothing is queued the task sleeps until audio arrives.

    The partial last frame (audio not filling 20 ms) is sent, padded with μ-law silence, on
    :meth:`end_of_audio`, or when the line would otherwise run dry. Padding never counts in
    ``played_ms``: positions are on the agent's timeline (the audio it queued, in ms of :attr:`format`).
    :meth:`clear_buffer` drops the queued frames and the converter state; the frame being played is
    not counted any more (a carrier's clear echoes the pending marks at once).

    Args:
        mode: ``"transcode"`` (default, ``format`` PCM16 24 kHz) or ``"passthrough"`` (``PCMU_8K``).
        speed: playout speed; 10 plays 10 s per second of wall time.
        max_buffered_ms: how far ahead :meth:`play_chunk` may queue before it waits for playout.
        on_frame: called with every frame sent to the line (160 μ-law bytes), e.g. to record it.
        report_every_ms: play this much between position reports (a multiple of 20 ms); 60 by default,
            as the gateway sends 60 ms steps with a mark each (``OUTBOUND_RELEASE_MS``); 20 reports every
            frame.

    Raises:
        ConfigurationError: an unknown mode, or a speed, buffer size or report step that is not positive
            (or not a multiple of 20 ms).
    """

    def __init__(
        self,
        *,
        mode: PhoneLineMode = "transcode",
        speed: float = 1.0,
        max_buffered_ms: int = 60_000,
        on_frame: Callable[[bytes], None] | None = None,
        report_every_ms: int = 60,
    ) -> None:
        self.mode = _check_mode(mode)
        self.speed = _check_speed(speed)
        if (
            isinstance(report_every_ms, bool)
            or not isinstance(report_every_ms, int)
            or report_every_ms < FRAME_MS
            or report_every_ms % FRAME_MS
        ):
            raise ConfigurationError(
                f"report_every_ms must be a positive multiple of {FRAME_MS}, not {report_every_ms!r}"
            )
        self._frames_per_report = report_every_ms // FRAME_MS
        if isinstance(max_buffered_ms, bool) or not isinstance(max_buffered_ms, int) or max_buffered_ms < 20:
            raise ConfigurationError(f"max_buffered_ms must be a whole number >= 20, not {max_buffered_ms!r}")
        self._max_frames = max_buffered_ms // FRAME_MS
        self._on_frame = on_frame
        self._downsampler = (
            StreamResampler(_PCM.sample_rate, _ULAW.sample_rate) if mode == "transcode" else None
        )
        self._chunker = FrameChunker.for_encoding("ulaw", _ULAW.sample_rate)
        # Frames waiting for the line: (frame, its mark: the position at its end, the counter's generation).
        self._frames: collections.deque[tuple[bytes, float, int]] = collections.deque()
        self._counter = PlayoutCounter()
        self._sent_position = 0.0  # the position at the end of the last frame framed
        self._listener: Callable[[], None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._wakeup = asyncio.Event()
        self._space = asyncio.Event()
        self.frames_played = 0
        """Frames the line has played since :meth:`start` (audio and padding; idle time sends none)."""
        self.padded_frames = 0
        """Partial frames sent padded with silence (end of audio, or the line running dry)."""

    @property
    def format(self) -> AudioFormat:
        """PCM16 24 kHz when transcoding, μ-law 8 kHz in pass-through."""
        return _PCM if self.mode == "transcode" else _ULAW

    @property
    def played_ms(self) -> float:
        """Milliseconds of queued audio the line has played (by its mark echoes) since :meth:`start`."""
        return self._counter.played_ms

    @property
    def is_playing(self) -> bool:
        """True while audio queued by :meth:`play_chunk` has not been played, a partial frame included."""
        return self._counter.is_playing

    @property
    def queued_frames(self) -> int:
        """Whole frames waiting for the line."""
        return len(self._frames)

    def set_position_listener(self, listener: Callable[[], None] | None) -> None:
        """Call ``listener`` after every frame whose mark moved ``played_ms`` (None: stop calling)."""
        self._listener = listener

    async def start(self) -> None:
        """Start the pacing task. Idempotent while running."""
        if self._task is not None:
            return
        self._reset_line()
        self._counter = PlayoutCounter()
        self._sent_position = 0.0
        self.frames_played = self.padded_frames = 0
        self._task = asyncio.get_running_loop().create_task(self._playout(), name="PhoneLineSpeaker")

    async def stop(self) -> None:
        """Stop the pacing task and drop what is queued."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise
        self._reset_line()
        self._counter.clear()
        self._space.set()  # release a play_chunk waiting for room

    async def play_chunk(self, chunk: bytes) -> None:
        """Convert and frame ``chunk``; waits only while ``max_buffered_ms`` is already queued."""
        while self._task is not None and len(self._frames) >= self._max_frames:
            self._space.clear()
            await self._space.wait()
        if not chunk:
            return
        self._counter.queue(self.format.ms_for(len(chunk)))
        ulaw = chunk if self._downsampler is None else pcm16_to_ulaw(self._downsampler.process(chunk))
        self._frame(self._chunker.push(ulaw))

    async def end_of_audio(self) -> None:
        """The item's audio is complete: frame the converter's tail and the partial last frame now."""
        self._flush(end_of_item=True)

    async def clear_buffer(self) -> None:
        """Barge-in: drop the queued frames, the partial frame and the converter's state."""
        self._reset_line()
        self._counter.clear()
        self._sent_position = self._counter.queued_ms
        self._space.set()

    # -- internals ---------------------------------------------------------------------------------

    def _reset_line(self) -> None:
        self._frames.clear()
        self._chunker.reset()
        if self._downsampler is not None:
            self._downsampler.reset()

    def _frame(self, frames: list[bytes]) -> None:
        if not frames:
            return
        queued = self._counter.queued_ms
        generation = self._counter.generation
        for frame in frames:
            # Positions follow the frames, but never past the audio queued: the resampler's tail and the
            # padding are not the agent's audio.
            self._sent_position = min(self._sent_position + FRAME_MS, queued)
            self._frames.append((frame, self._sent_position, generation))
        self._wakeup.set()

    def _flush(self, *, end_of_item: bool) -> None:
        frames: list[bytes] = []
        if end_of_item and self._downsampler is not None:
            tail = self._downsampler.flush()  # the filter's last 2 ms; it starts afresh for the next item
            if tail:
                frames = self._chunker.push(pcm16_to_ulaw(tail))
        if self._chunker.pending:
            self.padded_frames += 1
            frames += self._chunker.flush()
        self._frame(frames)
        if end_of_item and self._frames and self._frames[-1][2] == self._counter.generation:
            # The item ends with the last frame queued: its mark is the end of what was queued, exactly.
            frame, _, generation = self._frames.pop()
            self._sent_position = self._counter.queued_ms
            self._frames.append((frame, self._sent_position, generation))

    async def _playout(self) -> None:
        loop = asyncio.get_running_loop()
        frame_s = FRAME_MS / 1000.0 / self.speed
        due = loop.time()
        while True:
            if not self._frames:
                if self._chunker.pending:
                    self._flush(
                        end_of_item=False
                    )  # the line would run dry: send the partial frame rather than silence
                else:
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    due = max(due, loop.time())  # after idling, the next frame starts now
                    continue
            # One step: up to report_every_ms of frames sent together, then one mark.
            step = min(self._frames_per_report, len(self._frames))
            for _ in range(step):
                frame, position, generation = self._frames.popleft()
                if self._on_frame is not None:
                    self._on_frame(frame)
            self._space.set()
            due += frame_s * step
            await asyncio.sleep(max(0.0, due - loop.time()))
            self.frames_played += step
            # The mark echo: the line has played up to ``position``.
            if self._counter.report(position, generation=generation) and self._listener is not None:
                try:
                    self._listener()
                except Exception:
                    _log.exception("the position listener failed")
