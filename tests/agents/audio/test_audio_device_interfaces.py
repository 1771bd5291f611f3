"""The device ABCs: the README's CustomMicrophone/CustomSpeaker subclass them unchanged and work."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator
from typing import Any

import pytest

from rtvoice.audio import AudioFormat, AudioInputDevice, AudioOutputDevice

# Copied verbatim from the 0.7.0 README ("Custom audio devices"), without the RealtimeAgent lines.
README_DEVICES = textwrap.dedent(
    """
    from collections.abc import AsyncIterator
    from rtvoice.audio import AudioInputDevice

    class CustomMicrophone(AudioInputDevice):
        def __init__(self):
            self._active = False

        async def start(self) -> None:
            self._active = True
            # open your audio source here

        async def stop(self) -> None:
            self._active = False
            # release resources here

        async def stream_chunks(self) -> AsyncIterator[bytes]:
            while self._active:
                chunk = await self._read_pcm_chunk()  # raw 16-bit PCM, 24 kHz mono
                yield chunk

        @property
        def is_active(self) -> bool:
            return self._active

    from rtvoice.audio import AudioOutputDevice

    class CustomSpeaker(AudioOutputDevice):
        def __init__(self):
            self._playing = False

        async def start(self) -> None:
            self._playing = True

        async def stop(self) -> None:
            self._playing = False

        async def play_chunk(self, chunk: bytes) -> None:
            # write raw 16-bit PCM audio to your sink
            await self._write_to_device(chunk)

        async def clear_buffer(self) -> None:
            # discard buffered audio (called on user interruption)
            await self._flush()

        @property
        def is_playing(self) -> bool:
            return self._playing
    """
)


def _readme_classes() -> tuple[type[Any], type[Any]]:
    namespace: dict[str, Any] = {}
    exec(compile(README_DEVICES, "README.md", "exec"), namespace)
    return namespace["CustomMicrophone"], namespace["CustomSpeaker"]


async def test_readme_microphone_subclasses_and_streams() -> None:
    microphone_cls, _ = _readme_classes()
    assert issubclass(microphone_cls, AudioInputDevice)

    mic: Any = microphone_cls()
    reads = 0

    # The README leaves its audio source abstract; give this instance one.
    async def read_pcm_chunk() -> bytes:
        nonlocal reads
        reads += 1
        if reads == 3:
            await mic.stop()
        return bytes([reads]) * 960

    mic._read_pcm_chunk = read_pcm_chunk
    assert isinstance(microphone_cls(), AudioInputDevice)
    assert mic.format is AudioFormat.PCM16_24K  # the extension's default
    assert not mic.is_active
    await mic.start()
    assert mic.is_active
    chunks = [chunk async for chunk in mic.stream_chunks()]
    assert chunks == [bytes([1]) * 960, bytes([2]) * 960, bytes([3]) * 960]
    assert not mic.is_active


async def test_readme_speaker_subclasses_and_plays() -> None:
    _, speaker_cls = _readme_classes()
    assert issubclass(speaker_cls, AudioOutputDevice)

    speaker: Any = speaker_cls()
    written: list[bytes] = []

    async def write_to_device(chunk: bytes) -> None:
        written.append(chunk)

    async def flush() -> None:
        written.clear()

    speaker._write_to_device = write_to_device
    speaker._flush = flush
    assert speaker.format is AudioFormat.PCM16_24K
    assert speaker.played_ms is None  # unknown: the agent falls back to a wall-clock estimate
    await speaker.start()
    assert speaker.is_playing
    await speaker.play_chunk(b"\x01\x00")
    assert written == [b"\x01\x00"]
    await speaker.clear_buffer()
    assert written == []
    await speaker.stop()
    assert not speaker.is_playing


def test_abstract_methods_are_required() -> None:
    class NoStream(AudioInputDevice):
        async def start(self) -> None: ...

        async def stop(self) -> None: ...

        @property
        def is_active(self) -> bool:
            return True

    with pytest.raises(TypeError, match="stream_chunks"):
        NoStream()  # type: ignore[abstract]

    class NoClear(AudioOutputDevice):
        async def start(self) -> None: ...

        async def stop(self) -> None: ...

        async def play_chunk(self, chunk: bytes) -> None: ...

        @property
        def is_playing(self) -> bool:
            return False

    with pytest.raises(TypeError, match="clear_buffer"):
        NoClear()  # type: ignore[abstract]


async def test_extensions_can_be_overridden() -> None:
    class PhoneSpeaker(AudioOutputDevice):
        def __init__(self) -> None:
            self.heard = 0.0

        async def start(self) -> None: ...

        async def stop(self) -> None: ...

        async def play_chunk(self, chunk: bytes) -> None:
            self.heard += self.format.ms_for(len(chunk))

        async def clear_buffer(self) -> None: ...

        @property
        def is_playing(self) -> bool:
            return False

        @property
        def format(self) -> AudioFormat:
            return AudioFormat.PCMU_8K

        @property
        def played_ms(self) -> float | None:
            return self.heard

    class PhoneMicrophone(AudioInputDevice):
        async def start(self) -> None: ...

        async def stop(self) -> None: ...

        async def stream_chunks(self) -> AsyncIterator[bytes]:
            yield AudioFormat.PCMU_8K.silence(20)

        @property
        def is_active(self) -> bool:
            return True

        @property
        def format(self) -> AudioFormat:
            return AudioFormat.PCMU_8K

    speaker = PhoneSpeaker()
    await speaker.play_chunk(bytes(160))
    assert speaker.played_ms == 20.0
    assert [c async for c in PhoneMicrophone().stream_chunks()] == [b"\xff" * 160]
