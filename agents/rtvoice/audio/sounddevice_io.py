"""The sound card as microphone and speaker, through the ``sounddevice`` package (PortAudio).

``sounddevice`` is the optional ``audio`` extra and needs the PortAudio shared library, so it is
imported only when a device starts: ``import rtvoice`` works on machines without either. A missing
package, library or device raises :class:`~rtvoice.exceptions.ConfigurationError` saying what to do.

PortAudio calls our callbacks on its own thread. The microphone hands each captured block to the event
loop with ``loop.call_soon_threadsafe`` into a bounded queue (when the agent falls behind, the oldest
block is dropped and counted: a live microphone cannot wait). The speaker's callback pulls from a
lock-protected byte buffer and counts what it hands to PortAudio in a
:class:`~rtvoice.audio.playout.PlayoutCounter` (under the same lock), which is what ``played_ms`` reports.
The speaker can only be polled: it does not call a position listener.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

from rtvoice.audio.devices import AudioInputDevice, AudioOutputDevice
from rtvoice.audio.format import AudioFormat
from rtvoice.audio.playout import PlayoutCounter
from rtvoice.exceptions import ConfigurationError

__all__ = ["SoundDeviceMicrophone", "SoundDeviceSpeaker"]

_log = logging.getLogger(__name__)

_PCM = AudioFormat.PCM16_24K


def _import_sounddevice() -> Any:
    """Import ``sounddevice``, translating its failures into advice."""
    try:
        import sounddevice
    except ImportError as exc:
        raise ConfigurationError(
            "sound card devices need the sounddevice package: pip install 'rtvoice-gateway[audio]' "
            "(or use WavInputDevice / WavOutputDevice)"
        ) from exc
    except OSError as exc:  # sounddevice raises OSError when the PortAudio library is missing
        raise ConfigurationError(
            f"PortAudio is not available ({exc}): install libportaudio2 (apt-get install libportaudio2; "
            "brew install portaudio on macOS), or use WavInputDevice / WavOutputDevice"
        ) from exc
    return sounddevice


def _query_device(sd: Any, device: int | str | None, kind: str, alternative: str) -> Any:
    try:
        return sd.query_devices(device, kind=kind)
    except (ValueError, sd.PortAudioError) as exc:
        which = "the default" if device is None else repr(device)
        raise ConfigurationError(
            f"no {kind} device found ({which}: {exc}); pass device=... (list them with "
            f"`python -m sounddevice`) or use {alternative}"
        ) from exc


class _ThreadToLoopQueue:
    """A bounded queue fed from a foreign thread and read on the event loop; drops the oldest when full.

    ``None`` is the end-of-stream marker.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, maxsize: int) -> None:
        self._loop = loop
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize)
        self.dropped = 0

    def put_threadsafe(self, item: bytes) -> None:
        """Queue ``item``; safe to call from any thread."""
        try:
            self._loop.call_soon_threadsafe(self.put_nowait, item)
        except RuntimeError:
            pass  # the loop is closed: nobody is listening any more

    def put_nowait(self, item: bytes | None) -> None:
        """Queue ``item`` on the loop's thread, dropping the oldest item when full."""
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 100 == 0:
                _log.warning("microphone consumer is too slow; %d audio blocks dropped", self.dropped)
        self._queue.put_nowait(item)

    async def get(self) -> bytes | None:
        """Return the next item, waiting for one."""
        return await self._queue.get()


class SoundDeviceMicrophone(AudioInputDevice):
    """The sound card's input as the microphone: PCM16 24 kHz mono in ``chunk_ms`` blocks.

    Args:
        device: a PortAudio device index or name substring; None for the system default.
        chunk_ms: block duration.
        max_queued_chunks: blocks held while the agent is busy; beyond that the oldest is dropped.

    Raises:
        ConfigurationError: ``chunk_ms`` or ``max_queued_chunks`` is not positive.
    """

    def __init__(
        self, device: int | str | None = None, chunk_ms: int = 20, *, max_queued_chunks: int = 50
    ) -> None:
        if chunk_ms <= 0 or max_queued_chunks <= 0:
            raise ConfigurationError("chunk_ms and max_queued_chunks must be positive")
        self.device = device
        self.chunk_ms = chunk_ms
        self._max_queued = max_queued_chunks
        self._stream: Any = None
        self._queue: _ThreadToLoopQueue | None = None

    @property
    def dropped_chunks(self) -> int:
        """Blocks dropped because the agent read too slowly, since :meth:`start`."""
        return self._queue.dropped if self._queue is not None else 0

    @property
    def is_active(self) -> bool:
        """True while the input stream is open."""
        return self._stream is not None

    async def start(self) -> None:
        """Open and start the input stream.

        Raises:
            ConfigurationError: sounddevice or PortAudio is missing, or there is no usable input device.
        """
        if self._stream is not None:
            return
        sd = _import_sounddevice()
        _query_device(sd, self.device, "input", "WavInputDevice")
        queue = _ThreadToLoopQueue(asyncio.get_running_loop(), self._max_queued)

        def callback(indata: Any, frames: int, time: Any, status: Any) -> None:
            # PortAudio's thread: copy the block out of PortAudio's buffer and hand it over, nothing more.
            queue.put_threadsafe(bytes(indata))

        try:
            stream = sd.RawInputStream(
                samplerate=_PCM.sample_rate,
                channels=1,
                dtype="int16",
                blocksize=_PCM.sample_rate * self.chunk_ms // 1000,
                device=self.device,
                callback=callback,
            )
            stream.start()
        except (ValueError, sd.PortAudioError) as exc:
            raise ConfigurationError(
                f"cannot open input device {self.device!r} for 24 kHz mono PCM16: {exc}; "
                "pass another device=... or use WavInputDevice"
            ) from exc
        self._queue, self._stream = queue, stream

    async def stop(self) -> None:
        """Stop and close the stream; :meth:`stream_chunks` ends after the blocks already captured."""
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.stop()
            stream.close()
        if self._queue is not None:
            self._queue.put_nowait(None)

    async def stream_chunks(self) -> AsyncIterator[bytes]:
        """Yield captured blocks until :meth:`stop`."""
        queue = self._queue
        if queue is None or self._stream is None:
            return
        while (chunk := await queue.get()) is not None:
            yield chunk


class _PlayoutBuffer:
    """A byte FIFO shared between the event loop (writer) and PortAudio's thread (reader).

    Its :class:`PlayoutCounter` counts what went in, what was handed out and what was cleared.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data = bytearray()
        self._counter = PlayoutCounter()

    @property
    def played_ms(self) -> float:
        with self._lock:
            return self._counter.played_ms

    @property
    def is_playing(self) -> bool:
        with self._lock:
            return self._counter.is_playing

    @property
    def queued_bytes(self) -> int:
        with self._lock:
            return len(self._data)

    def append(self, chunk: bytes) -> None:
        with self._lock:
            self._data += chunk
            self._counter.queue(_PCM.ms_for(len(chunk)))

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._counter.clear()

    def fill(self, out: Any, nbytes: int) -> int:
        """Copy up to ``nbytes`` of whole samples into ``out``, pad with silence, return the audio bytes."""
        with self._lock:
            take = min(len(self._data), nbytes) & ~1
            out[:take] = self._data[:take]
            del self._data[:take]
            self._counter.advance(_PCM.ms_for(take))
        out[take:nbytes] = bytes(nbytes - take)
        return take


class SoundDeviceSpeaker(AudioOutputDevice):
    """The sound card's output as the speaker: PCM16 24 kHz mono.

    ``played_ms`` counts the audio the stream callback has handed to PortAudio; the device's own output
    latency (typically 10-50 ms) is not subtracted.

    Args:
        device: a PortAudio device index or name substring; None for the system default.
        max_buffered_ms: how far ahead :meth:`play_chunk` may queue before it waits for playback.
    """

    def __init__(self, device: int | str | None = None, *, max_buffered_ms: int = 60_000) -> None:
        self.device = device
        self._max_bytes = _PCM.bytes_for(max_buffered_ms)
        self._buffer = _PlayoutBuffer()
        self._stream: Any = None
        self._space = asyncio.Event()

    @property
    def played_ms(self) -> float:
        """Milliseconds of queued audio handed to PortAudio since :meth:`start`."""
        return self._buffer.played_ms

    @property
    def is_playing(self) -> bool:
        """True while queued audio has not yet been handed to PortAudio."""
        return self._buffer.is_playing

    async def start(self) -> None:
        """Open and start the output stream.

        Raises:
            ConfigurationError: sounddevice or PortAudio is missing, or there is no usable output device.
        """
        if self._stream is not None:
            return
        sd = _import_sounddevice()
        _query_device(sd, self.device, "output", "WavOutputDevice")
        loop = asyncio.get_running_loop()
        buffer = self._buffer = _PlayoutBuffer()
        space = self._space = asyncio.Event()
        max_bytes = self._max_bytes

        def callback(outdata: Any, frames: int, time: Any, status: Any) -> None:
            buffer.fill(outdata, frames * _PCM.sample_width)
            if buffer.queued_bytes < max_bytes:
                try:
                    loop.call_soon_threadsafe(space.set)
                except RuntimeError:
                    pass  # the loop is closed

        try:
            stream = sd.RawOutputStream(
                samplerate=_PCM.sample_rate,
                channels=1,
                dtype="int16",
                blocksize=_PCM.sample_rate * 20 // 1000,
                device=self.device,
                callback=callback,
            )
            stream.start()
        except (ValueError, sd.PortAudioError) as exc:
            raise ConfigurationError(
                f"cannot open output device {self.device!r} for 24 kHz mono PCM16: {exc}; "
                "pass another device=... or use WavOutputDevice"
            ) from exc
        self._stream = stream

    async def stop(self) -> None:
        """Stop and close the stream, dropping queued audio."""
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.stop()
            stream.close()
        self._buffer.clear()
        self._space.set()  # release a play_chunk waiting for room

    async def play_chunk(self, chunk: bytes) -> None:
        """Queue audio; waits only while more than ``max_buffered_ms`` is already queued."""
        while self._stream is not None and self._buffer.queued_bytes >= self._max_bytes:
            self._space.clear()
            await self._space.wait()
        self._buffer.append(chunk)

    async def clear_buffer(self) -> None:
        """Drop queued audio not yet handed to PortAudio."""
        self._buffer.clear()
        self._space.set()
