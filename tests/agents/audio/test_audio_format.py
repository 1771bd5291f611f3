"""AudioFormat: byte/ms arithmetic, silence bytes that decode to zero, wire objects the SDK accepts."""

from __future__ import annotations

import warnings

import pytest
from openai.types.realtime.realtime_audio_formats import AudioPCM, AudioPCMA, AudioPCMU, RealtimeAudioFormats
from pydantic import TypeAdapter

from rtvoice.audio import AudioFormat
from rtvoice.exceptions import ConfigurationError

with warnings.catch_warnings():
    # Python 3.11/3.12 warn that audioop goes away in 3.13, where audioop-lts provides it instead.
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

WIRE_FORMATS: TypeAdapter[AudioPCM | AudioPCMU | AudioPCMA] = TypeAdapter(RealtimeAudioFormats)


def test_pcm16_24k() -> None:
    fmt = AudioFormat.PCM16_24K
    assert (fmt.sample_rate, fmt.sample_width, fmt.bytes_per_ms) == (24000, 2, 48)
    assert fmt.ms_for(960) == 20.0
    assert fmt.ms_for(1) == pytest.approx(1 / 48)
    assert fmt.bytes_for(20) == 960
    assert fmt.bytes_for(0.03) == 2  # rounds to whole samples, never half a sample
    assert fmt.silence(20) == bytes(960)
    assert fmt.to_wire() == {"type": "audio/pcm", "rate": 24000}


@pytest.mark.parametrize(
    ("fmt", "byte", "wire_type"),
    [(AudioFormat.PCMU_8K, 0xFF, "audio/pcmu"), (AudioFormat.PCMA_8K, 0xD5, "audio/pcma")],
)
def test_g711_formats(fmt: AudioFormat, byte: int, wire_type: str) -> None:
    assert (fmt.sample_rate, fmt.sample_width, fmt.bytes_per_ms) == (8000, 1, 8)
    assert fmt.ms_for(160) == 20.0
    assert fmt.silence(20) == bytes([byte]) * 160
    assert fmt.to_wire() == {"type": wire_type}


def test_silence_decodes_to_near_zero() -> None:
    assert audioop.max(audioop.ulaw2lin(AudioFormat.PCMU_8K.silence(10), 2), 2) == 0
    # A-law has no code for zero; 0xD5 is the smallest positive step.
    assert audioop.max(audioop.alaw2lin(AudioFormat.PCMA_8K.silence(10), 2), 2) <= 8
    assert audioop.max(AudioFormat.PCM16_24K.silence(10), 2) == 0


@pytest.mark.parametrize("fmt", list(AudioFormat))
def test_wire_round_trip_through_the_sdk_model(fmt: AudioFormat) -> None:
    model = WIRE_FORMATS.validate_python(fmt.to_wire())
    assert model.model_dump(exclude_unset=True) == fmt.to_wire()
    assert AudioFormat.from_wire(fmt.to_wire()) is fmt
    assert AudioFormat.from_wire(model) is fmt


def test_from_wire_rejects_unknown_formats() -> None:
    assert AudioFormat.from_wire({"type": "audio/pcm"}) is AudioFormat.PCM16_24K  # rate defaults to 24 kHz
    with pytest.raises(ConfigurationError, match="rate"):
        AudioFormat.from_wire({"type": "audio/pcm", "rate": 16000})
    with pytest.raises(ConfigurationError, match="unknown"):
        AudioFormat.from_wire({"type": "g711_ulaw"})
