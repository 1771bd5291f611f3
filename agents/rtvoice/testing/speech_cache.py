"""Synthesised replies for one simulator: made off the event loop, shared, and bounded in bytes.

espeak-ng runs as a subprocess and takes tens of milliseconds per sentence; run on the event loop it
stalls every connection of the server. :class:`SpeechCache` runs synthesis on a small thread pool the
simulator owns (started and shut down with it), shares one result between every connection that says the
same text at the same rate and speed (a load test's hundred calls say the same lines), and forgets the
least recently used audio beyond ``max_bytes``.

The voice is not part of the key: every Realtime voice is spoken by the same espeak-ng voice, so it does
not change the audio.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from rtvoice.exceptions import ConfigurationError

__all__ = ["SpeechCache", "SpeechKey"]

log = logging.getLogger("rtvoice.testing.simulator")

#: ``(text, sample_rate, speed)``.
SpeechKey = tuple[str, int, float]


class SpeechCache:
    """PCM16 of ``synthesize(text, rate, speed)``, computed on worker threads and kept up to a byte bound.

    Args:
        synthesize: the synthesiser (pure; it runs on worker threads).
        max_bytes: audio kept, least recently used dropped first.
        threads: worker threads (synthesis beyond that many texts at once waits its turn).
    """

    def __init__(
        self, synthesize: Callable[[str, int, float], bytes], *, max_bytes: int, threads: int = 2
    ) -> None:
        if max_bytes < 0 or threads < 1:
            raise ConfigurationError("max_bytes must be >= 0 and threads >= 1")
        self._synthesize = synthesize
        self.max_bytes = max_bytes
        self._threads = threads
        self._audio: OrderedDict[SpeechKey, bytes] = OrderedDict()
        self._bytes = 0
        self._pending: dict[SpeechKey, asyncio.Future[bytes]] = {}
        self._executor: ThreadPoolExecutor | None = None
        #: Syntheses run (on a thread or, for a miss, on the caller's thread); for tests.
        self.syntheses = 0

    @property
    def size_bytes(self) -> int:
        """Bytes of audio held."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._audio)

    def open(self) -> None:
        """Start the worker threads (idempotent)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self._threads, thread_name_prefix="rtvoice-sim-speech")

    def close(self) -> None:
        """Stop the worker threads (queued syntheses are dropped) and forget the audio."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        self._audio.clear()
        self._bytes = 0

    def get(self, text: str, sample_rate: int, speed: float) -> bytes:
        """The audio, from the cache, or synthesised here and now (on the caller's thread) on a miss."""
        key = (text, sample_rate, speed)
        audio = self._audio.get(key)
        if audio is not None:
            self._audio.move_to_end(key)
            return audio
        self.syntheses += 1
        audio = self._synthesize(*key)
        self._store(key, audio)
        return audio

    async def prepare(self, keys: Iterable[SpeechKey]) -> None:
        """Synthesise every key not cached yet on the worker threads; a key already being synthesised
        (for another connection) is awaited, not synthesised twice. Failures are left for :meth:`get`
        to raise where the audio is needed."""
        if self._executor is None:
            return
        loop = asyncio.get_running_loop()
        waits: list[asyncio.Future[bytes]] = []
        for key in dict.fromkeys(keys):
            if key in self._audio:
                continue
            future = self._pending.get(key)
            if future is None:
                self.syntheses += 1
                future = loop.run_in_executor(self._executor, self._synthesize, *key)
                self._pending[key] = future
                future.add_done_callback(functools.partial(self._finished, key))
            waits.append(future)
        for future in waits:
            # Shielded: a connection that goes away must not cancel audio other connections wait for.
            try:
                await asyncio.shield(future)
            except asyncio.CancelledError:
                if not future.cancelled():  # this task was cancelled, not the synthesis (closed cache)
                    raise
            except Exception as exc:  # reported by get(), where the audio is used
                log.debug("speech synthesis failed ahead of time: %s", exc)

    def _finished(self, key: SpeechKey, future: asyncio.Future[bytes]) -> None:
        self._pending.pop(key, None)
        if future.cancelled() or future.exception() is not None:
            return
        self._store(key, future.result())

    def _store(self, key: SpeechKey, audio: bytes) -> None:
        if key in self._audio or len(audio) > self.max_bytes:
            return
        self._audio[key] = audio
        self._bytes += len(audio)
        while self._bytes > self.max_bytes:
            _, dropped = self._audio.popitem(last=False)
            self._bytes -= len(dropped)
