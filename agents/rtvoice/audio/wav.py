"""File-backed devices: a WAV file as the microphone, a WAV file as the speaker, and a null speaker.

They make the agent runnable without sound hardware: in tests, in CI, and in the ``dial`` softphone.

* :class:`WavInputDevice` plays a WAV file into the agent like a microphone, paced at real time (or a
  multiple of it), then goes on like a quiet microphone.
* :class:`WavOutputDevice` is a simulated speaker: it plays queued audio on a real timeline, writes
  what was heard (pauses included) to a WAV file, and reports exactly how much was heard.
* :class:`NullOutputDevice` discards everything and reports it as heard at once.

The file helpers underneath, :func:`~rtvoice.audio.wavfile.load_wav` and
:class:`~rtvoice.audio.wavfile.WavWriter`, live in :mod:`rtvoice.audio.wavfile`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator, Callable
from os import PathLike
from pathlib import Path
from typing import Literal

from rtvoice.audio.devices import AudioInputDevice, AudioOutputDevice
from rtvoice.audio.format import AudioFormat
from rtvoice.audio.playout import PlayoutCounter
from rtvoice.audio.wavfile import WavWriter, load_wav
from rtvoice.exceptions import ConfigurationError

__all__ = ["NullOutputDevice", "WavInputDevice", "WavOutputDevice"]

_log = logging.getLogger(__name__)

_PCM = AudioFormat.PCM16_24K


def _notify(listener: Callable[[], None] | None) -> None:
    """Tell the position listener that ``played_ms`` moved; its failure must not stop the playout."""
    if listener is not None:
        try:
            listener()
        except Exception:
            _log.exception("the position listener failed")


def _check_speed(speed: float) -> float:
    if (
        isinstance(speed, bool)
        or not isinstance(speed, int | float)
        or not math.isfinite(speed)
        or speed <= 0
    ):
        raise ConfigurationError(f"speed must be a positive number, not {speed!r}")
    return float(speed)


# ----------------------------------------------------------------------------------------------- input


#: Pacing waits up to this long are plain sleeps (stop() then takes effect within this time).
_SHORT_WAIT_S = 0.1


class WavInputDevice(AudioInputDevice):
    """A WAV file as the microphone.

    The file is read and converted to PCM16 24 kHz mono at construction (:func:`load_wav`), so a bad file
    fails early. :meth:`stream_chunks` then yields ``chunk_ms`` chunks paced like a real microphone: each
    chunk is delivered when its last sample would have been captured, at ``speed`` times real time. At
    the end of the file the device goes on like a quiet microphone, yielding silence chunks at the same
    pace until stopped; with ``end="stop"`` the iteration ends instead.

    Args:
        path: the WAV file.
        realtime: pace the chunks in real time (times ``speed``). False: yield them as fast as the
            consumer reads (with ``end="silence"`` that is an endless stream of silence after the file).
        speed: pacing multiplier; 10 delivers 10 s of audio per second.
        chunk_ms: duration of each chunk; the last chunk of the file may be shorter.
        end: what happens after the file: ``"silence"`` (quiet microphone) or ``"stop"`` (iteration ends).

    Raises:
        FileNotFoundError: the file does not exist.
        ConfigurationError: the file is not a usable WAV file, or an argument is out of range.
    """

    def __init__(
        self,
        path: str | PathLike[str],
        *,
        realtime: bool = True,
        speed: float = 1.0,
        chunk_ms: int = 20,
        end: Literal["silence", "stop"] = "silence",
    ) -> None:
        if isinstance(chunk_ms, bool) or not isinstance(chunk_ms, int) or chunk_ms <= 0:
            raise ConfigurationError(f"chunk_ms must be a positive whole number, not {chunk_ms!r}")
        if end not in ("silence", "stop"):
            raise ConfigurationError(f'end must be "silence" or "stop", not {end!r}')
        self.path = Path(path)
        self.realtime = realtime
        self.speed = _check_speed(speed)
        self.chunk_ms = chunk_ms
        self.end = end
        self._audio = load_wav(self.path)
        self._chunk_bytes = _PCM.bytes_for(chunk_ms)
        self._pos = 0  # bytes of the file already yielded
        self._streamed_ms = 0.0  # audio yielded since start(), file and silence
        self._active = False
        self._stopped = asyncio.Event()
        self._finished = asyncio.Event()

    @property
    def duration_ms(self) -> float:
        """Duration of the file's audio, in milliseconds."""
        return _PCM.ms_for(len(self._audio))

    @property
    def streamed_ms(self) -> float:
        """Milliseconds of audio yielded since :meth:`start`, the trailing silence included."""
        return self._streamed_ms

    @property
    def finished(self) -> bool:
        """True once the last chunk of the file has been yielded."""
        return self._finished.is_set()

    async def wait_finished(self) -> None:
        """Wait until the last chunk of the file has been yielded."""
        await self._finished.wait()

    @property
    def is_active(self) -> bool:
        """True between :meth:`start` and :meth:`stop`, and until the file ends with ``end="stop"``."""
        return self._active

    async def start(self) -> None:
        """Rewind to the start of the file and open the "microphone"."""
        self._pos = 0
        self._streamed_ms = 0.0
        self._finished.clear()
        self._stopped = asyncio.Event()  # fresh, in case the last run was on another event loop
        self._active = True

    async def stop(self) -> None:
        """Stop; a running :meth:`stream_chunks` ends promptly, without waiting for its next chunk."""
        self._active = False
        self._stopped.set()

    def _next_chunk(self) -> tuple[bytes, bool] | None:
        """Return the next chunk and whether it is the file's last, or None when the stream ends."""
        if self._pos < len(self._audio):
            chunk = self._audio[self._pos : self._pos + self._chunk_bytes]
            self._pos += len(chunk)
            return chunk, self._pos >= len(self._audio)
        if not self._finished.is_set():
            self._finished.set()  # an empty file is finished before its first chunk
        if self.end == "stop":
            return None
        return _PCM.silence(self.chunk_ms), False

    async def stream_chunks(self) -> AsyncIterator[bytes]:
        """Yield the file in ``chunk_ms`` chunks, then silence (or end, with ``end="stop"``).

        Ends when :meth:`stop` is called; yields nothing before :meth:`start`.
        """
        loop = asyncio.get_running_loop()
        # The clock starts when someone listens, not at start(): an agent that connects slowly should
        # not get a burst of backlog. Resuming a second iteration continues the same timeline.
        t0 = loop.time() - self._streamed_ms / 1000.0 / self.speed
        while self._active:
            next_chunk = self._next_chunk()
            if next_chunk is None:
                self._active = False
                return
            chunk, last_of_file = next_chunk
            self._streamed_ms += _PCM.ms_for(len(chunk))
            if self.realtime:
                delay = t0 + self._streamed_ms / 1000.0 / self.speed - loop.time()
                if 0 < delay <= _SHORT_WAIT_S:
                    # A plain sleep for the usual 20-100 ms chunk: waiting on the stop event with a timeout
                    # costs a cancellation per chunk, which the agent benchmark shows.
                    await asyncio.sleep(delay)
                elif delay > 0:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(delay):
                            await self._stopped.wait()
            else:
                await asyncio.sleep(0)  # stay cooperative when the consumer never awaits
            if self._stopped.is_set():
                return
            if last_of_file:
                self._finished.set()
            yield chunk


# ---------------------------------------------------------------------------------------------- output


class WavOutputDevice(AudioOutputDevice):
    """A simulated speaker that plays on a real timeline and records what was heard to a WAV file.

    A playout task, owned by the device (created in :meth:`start`, cancelled and awaited in :meth:`stop`),
    advances in 20 ms slots at ``speed`` times real time. At each slot boundary the slot just heard is
    written to the file and counted, and the next 20 ms are taken from the queue, padded with silence when
    the queue runs short; with nothing queued the slot is silence. So the file is the listener's timeline:
    pauses between replies are kept, and audio dropped by :meth:`clear_buffer` never appears.

    The queue is unbounded: the agent sends audio faster than real time and a few seconds ahead is
    normal; dropping any would corrupt the timeline. ``queued_ms`` shows how far ahead it is. The file is
    written as it plays (24 kHz mono PCM16), so memory stays bounded by the queue.

    ``played_ms`` counts the audio of completed slots, excluding the silence padding (a
    :class:`~rtvoice.audio.playout.PlayoutCounter` keeps it). It is both polled and pushed: at every slot
    boundary where it moved, the listener set with :meth:`set_position_listener` is called. On
    :meth:`stop` the slot in progress is discarded, so the file holds exactly ``position_ms`` of timeline,
    of which ``played_ms`` is queued audio.

    Args:
        path: the WAV file to write (created or truncated on :meth:`start`).
        speed: timeline speed; 10 plays 10 s of audio per second of wall time.

    Raises:
        ConfigurationError: ``speed`` is not a positive number.
    """

    SLOT_MS = 20
    """The playout granularity, like a sound card's period."""

    def __init__(self, path: str | PathLike[str], *, speed: float = 1.0) -> None:
        self.path = Path(path)
        self.speed = _check_speed(speed)
        self._slot_bytes = _PCM.bytes_for(self.SLOT_MS)
        self._queue = bytearray()  # bytearray deletes from the front in O(1)
        self._current = b""  # the slot being heard now
        self._current_audio = 0  # bytes of queued audio in it, the rest is padding
        self._counter = PlayoutCounter()
        self._listener: Callable[[], None] | None = None
        self._slots_done = 0
        self._writer: WavWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []

    @property
    def played_ms(self) -> float:
        """Milliseconds of queued audio heard since :meth:`start` (silence padding excluded)."""
        return self._counter.played_ms

    @property
    def position_ms(self) -> float:
        """Milliseconds of timeline heard since :meth:`start`, silence included: the file's duration."""
        return float(self._slots_done * self.SLOT_MS)

    @property
    def queued_ms(self) -> float:
        """Milliseconds of audio queued and not yet taken into a slot."""
        return _PCM.ms_for(len(self._queue))

    @property
    def is_playing(self) -> bool:
        """True while queued audio remains to be heard, the slot in progress included."""
        return self._counter.is_playing

    def set_position_listener(self, listener: Callable[[], None] | None) -> None:
        """Call ``listener`` at every 20 ms slot boundary where ``played_ms`` moved (None: stop calling)."""
        self._listener = listener

    async def start(self) -> None:
        """Create the file and start the playout task. Idempotent while running.

        Raises:
            OSError: the file cannot be created.
        """
        if self._task is not None:
            return
        self._writer = WavWriter(self.path)
        self._current, self._current_audio = b"", 0
        self._counter = PlayoutCounter()
        self._counter.queue(_PCM.ms_for(len(self._queue)))  # audio queued before start() plays first
        self._slots_done = 0
        self._task = asyncio.get_running_loop().create_task(
            self._playout(), name=f"WavOutputDevice({self.path})"
        )

    async def stop(self) -> None:
        """Stop playout, discard the slot in progress and the queue, and finish the file.

        Raises:
            OSError: writing the file failed during playout.
        """
        task, self._task = self._task, None
        try:
            if task is not None:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    current = asyncio.current_task()
                    if current is not None and current.cancelling():
                        raise  # stop() itself was cancelled; the playout task is done either way
        finally:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
            self._queue.clear()
            self._counter.clear()
            self._current, self._current_audio = b"", 0
            for _, future in self._waiters:
                if not future.done():
                    future.cancel()
            self._waiters.clear()

    async def play_chunk(self, chunk: bytes) -> None:
        """Queue PCM16 24 kHz mono audio; returns at once."""
        self._queue += chunk
        self._counter.queue(_PCM.ms_for(len(chunk)))
        self._wake_waiters()

    async def clear_buffer(self) -> None:
        """Drop the queued audio. The 20 ms slot in progress still finishes, as on a sound card."""
        self._queue.clear()
        self._counter.clear()
        self._counter.queue(_PCM.ms_for(self._current_audio))  # already "in the hardware": still heard
        self._wake_waiters()

    async def wait_until(self, *, position_ms: float | None = None, played_ms: float | None = None) -> None:
        """Wait until the timeline has reached ``position_ms`` and/or ``played_ms`` audio has been heard.

        The wait ends at the 20 ms slot boundary that reaches the target, before the next slot is taken
        from the queue, so audio queued as soon as it returns starts exactly at that boundary.

        Raises:
            asyncio.CancelledError: the device stopped first.
        """

        def reached() -> bool:
            return (position_ms is None or self.position_ms >= position_ms) and (
                played_ms is None or self.played_ms >= played_ms
            )

        await self._wait(reached)

    async def wait_idle(self) -> None:
        """Wait until all queued audio has been heard.

        Raises:
            asyncio.CancelledError: the device stopped first.
        """
        await self._wait(lambda: not self.is_playing)

    async def _wait(self, predicate: Callable[[], bool]) -> None:
        if predicate():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((predicate, future))
        await future

    def _wake_waiters(self) -> None:
        still_waiting = []
        for predicate, future in self._waiters:
            if future.done():
                continue
            if predicate():
                future.set_result(None)
            else:
                still_waiting.append((predicate, future))
        self._waiters = still_waiting

    async def _playout(self) -> None:
        loop = asyncio.get_running_loop()
        slot_s = self.SLOT_MS / 1000.0 / self.speed
        t0 = loop.time()
        tick = 0  # tick k happens at t0 + k * slot_s: slot k-1 ends, slot k begins
        while True:
            delay = t0 + tick * slot_s - loop.time()
            # When late, catch up one slot at a time, yielding in between, so waiters see every
            # boundary and the timeline still follows the wall clock.
            await asyncio.sleep(max(delay, 0.0))
            if tick > 0:
                self._finish_slot()
                # Let the waiters this boundary satisfies run before the next slot is taken, so audio
                # they queue starts exactly here (tasks woken now run before this one resumes).
                self._wake_waiters()
                await asyncio.sleep(0)
            self._begin_slot()
            tick += 1

    def _finish_slot(self) -> None:
        assert self._writer is not None
        self._writer.write(self._current)
        moved = self._counter.advance(_PCM.ms_for(self._current_audio))
        self._slots_done += 1
        self._current, self._current_audio = b"", 0
        if moved:
            _notify(self._listener)

    def _begin_slot(self) -> None:
        # Whole samples only: an odd byte stays queued until its partner arrives.
        take = min(len(self._queue), self._slot_bytes) & ~1
        audio = bytes(self._queue[:take])
        del self._queue[:take]
        self._current = audio + bytes(self._slot_bytes - take)
        self._current_audio = take


class NullOutputDevice(AudioOutputDevice):
    """A speaker that discards audio and reports all of it as heard the moment it is queued.

    Useful when nobody listens (batch runs, load tests). ``is_playing`` is always False, so the agent
    never waits for playback; the position listener is called from each :meth:`play_chunk`.

    Args:
        audio_format: the format to claim; PCM16 24 kHz by default.
    """

    def __init__(self, audio_format: AudioFormat = _PCM) -> None:
        self._format = audio_format
        self._counter = PlayoutCounter()
        self._listener: Callable[[], None] | None = None

    @property
    def format(self) -> AudioFormat:
        """The format given at construction."""
        return self._format

    @property
    def played_ms(self) -> float:
        """Milliseconds of audio received since :meth:`start`."""
        return self._counter.played_ms

    @property
    def is_playing(self) -> bool:
        """Always False: nothing is ever pending."""
        return self._counter.is_playing

    def set_position_listener(self, listener: Callable[[], None] | None) -> None:
        """Call ``listener`` after each :meth:`play_chunk` (None: stop calling)."""
        self._listener = listener

    async def start(self) -> None:
        """Reset the counter."""
        self._counter = PlayoutCounter()

    async def stop(self) -> None:
        """Nothing to release."""

    async def play_chunk(self, chunk: bytes) -> None:
        """Count ``chunk`` as heard and discard it."""
        ms = self._format.ms_for(len(chunk))
        self._counter.queue(ms)
        if self._counter.advance(ms):
            _notify(self._listener)

    async def clear_buffer(self) -> None:
        """Nothing is ever queued."""
        self._counter.clear()
