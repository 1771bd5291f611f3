"""The audio device interfaces: what the agent needs from a microphone and from a speaker.

These are the 0.7.0 ABCs, unchanged, so devices written for 0.7.0 (the README's ``CustomMicrophone`` and
``CustomSpeaker``) keep working. Two optional extensions have defaults, so old devices need not know
about them:

``format``
    The device's native audio format (:class:`~rtvoice.audio.format.AudioFormat`). Default: 16-bit PCM
    at 24 kHz mono, the only format 0.7.0 knew. A phone device returns ``AudioFormat.PCMU_8K`` and the
    agent then asks the Realtime API for μ-law, so nothing is transcoded.

``AudioInputDevice.session_format``
    The format the Realtime session receives the microphone's audio in. Default: ``format`` (nothing is
    converted). A G.711 device may return ``AudioFormat.PCM16_24K``: the agent then converts its chunks
    itself as it sends them, so silent 20 ms frames that wait for a batch (``input_batch_ms``) are
    converted together, for a third of the cost of converting every frame in the device. The phone
    devices of this project transcode this way.

``AudioOutputDevice.played_ms``
    How much of the queued audio the listener has actually heard. The agent needs this on barge-in to
    tell the server where the assistant was cut off (``conversation.item.truncate``'s ``audio_end_ms``).
    Default: None, "unknown": the agent then estimates it from the wall clock, which overshoots when
    playback lags behind generation (it usually does: audio arrives faster than real time).

The output contract, in order of what the agent does:

1. ``await play_chunk(chunk)`` queues audio. It should return quickly; the agent sends audio a few
   seconds ahead of playback, so the device buffers it rather than blocking until it is heard.
2. ``played_ms`` reports the cumulative milliseconds heard since ``start()``: monotonic, counting only
   audio that reached the listener. Silence the device inserts while idle does not count.
3. On barge-in the agent calls ``await clear_buffer()``, which drops every queued chunk not yet heard.
   Once it returns, ``played_ms`` no longer grows from the dropped audio (audio already handed to the
   hardware, at most one device buffer, may still finish and count).
4. ``await end_of_audio()`` says the audio of the current assistant item is complete: a device that
   sends fixed-size frames (20 ms on a phone line) sends its last partial frame now instead of waiting
   for more. Default: nothing to do.
5. A device that learns its position from events (a phone line's mark echoes) calls the listener set by
   :meth:`AudioOutputDevice.set_position_listener` when ``played_ms`` moved; the agent then reads it at
   once instead of waiting for its next poll. Devices that can only be polled need not do anything.

``is_playing`` (output) and ``is_active`` (input) are 0.7.0's and kept for compatibility: the agent
never reads them (it knows what it queued and what was played), so they are no longer abstract.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable

from rtvoice.audio.format import AudioFormat

__all__ = ["AudioInputDevice", "AudioOutputDevice"]


class AudioInputDevice(ABC):
    """A source of user audio: a microphone, a phone call, a file.

    The agent calls :meth:`start`, then iterates :meth:`stream_chunks` and sends every chunk to the
    Realtime API as it arrives, and finally calls :meth:`stop`.
    """

    @abstractmethod
    async def start(self) -> None:
        """Open the audio source. Called once before :meth:`stream_chunks`."""

    @abstractmethod
    async def stop(self) -> None:
        """Release the audio source; a running :meth:`stream_chunks` should end soon after."""

    @abstractmethod
    def stream_chunks(self) -> AsyncIterator[bytes]:
        """Yield audio chunks as they are captured, in :attr:`format` (PCM16 24 kHz mono by default).

        Implement it as an async generator (``async def stream_chunks(self): ... yield chunk``). Chunks
        may be any size; about 20 ms each keeps turn detection responsive. Yield them at the pace they
        are captured. The iteration ends when the device stops or the source runs out.
        """

    @property
    def is_active(self) -> bool:
        """True between :meth:`start` and :meth:`stop` (0.7.0's; the agent does not read it). Default False."""
        return False

    @property
    def format(self) -> AudioFormat:
        """The format of the chunks :meth:`stream_chunks` yields. Default: PCM16 at 24 kHz."""
        return AudioFormat.PCM16_24K

    @property
    def session_format(self) -> AudioFormat:
        """The format the Realtime session should receive this audio in. Default: :attr:`format`.

        ``AudioFormat.PCM16_24K`` for a G.711 device makes the agent convert the chunks (decoded and
        resampled to 24 kHz, in batches); any other pair is refused with ``ConfigurationError``.
        """
        return self.format


class AudioOutputDevice(ABC):
    """A sink for assistant audio: a speaker, a phone call, a file.

    See the module docstring for the full contract between the agent and a speaker.
    """

    @abstractmethod
    async def start(self) -> None:
        """Open the sink. ``played_ms`` counts from here."""

    @abstractmethod
    async def stop(self) -> None:
        """Close the sink. Audio still queued is not played."""

    @abstractmethod
    async def play_chunk(self, chunk: bytes) -> None:
        """Queue ``chunk`` (in :attr:`format`) for playback after the audio already queued.

        Should return once the chunk is queued, not once it is heard.
        """

    @abstractmethod
    async def clear_buffer(self) -> None:
        """Drop all queued audio not yet heard (the user interrupted the assistant)."""

    @property
    def is_playing(self) -> bool:
        """True while queued audio remains to be heard (0.7.0's; the agent does not read it). Default False."""
        return False

    async def end_of_audio(self) -> None:
        """The current assistant item's audio is complete: flush a partial frame, if the device keeps one.

        Called after the item's last :meth:`play_chunk`. Default: nothing.
        """
        return None

    def set_position_listener(self, listener: Callable[[], None] | None) -> None:
        """Register ``listener`` to be called (on the event loop) when ``played_ms`` has moved.

        For devices that learn their position from events; polled devices ignore it (the default).
        """
        return None

    @property
    def format(self) -> AudioFormat:
        """The format :meth:`play_chunk` expects. Default: PCM16 at 24 kHz."""
        return AudioFormat.PCM16_24K

    @property
    def played_ms(self) -> float | None:
        """Milliseconds of queued audio heard since :meth:`start`, or None when the device cannot tell.

        Monotonic, and counts only audio that reached the listener: not silence inserted while idle, not
        audio dropped by :meth:`clear_buffer`. None (the default) makes the agent estimate by wall clock.
        """
        return None
