"""Input batching (``input_batch_ms``): microphone chunks joined into fewer appends while the caller is
silent, each chunk sent at once while the caller speaks (by the server's VAD)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from openai.types.realtime import RealtimeClientEvent
from pydantic import TypeAdapter

from rtvoice import RealtimeAgent
from rtvoice.audio.convert import ToPcm24
from rtvoice.audio.format import AudioFormat
from rtvoice.exceptions import ConfigurationError, LocalProtocolError
from rtvoice.realtime import (
    DEFAULT_INPUT_BATCH_MS,
    MAX_INPUT_BATCH_MS,
    Action,
    ClearPlayback,
    RealtimeProtocol,
    SendJSON,
    SessionConfig,
    SessionReady,
    UserSpeechStarted,
    UserSpeechStopped,
)
from rtvoice.realtime.protocol import MAX_APPEND_BYTES, SOUND_THRESHOLD
from rtvoice_codecs import pcm16_to_alaw, pcm16_to_ulaw

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "realtime"
CLIENT_EVENT = TypeAdapter(RealtimeClientEvent)
U4 = "item_CT8f5aUsr4Zt6M"  # the user item of the fixture user_barges_in
PCM_20MS = 960  # bytes of PCM16 24 kHz
ULAW = SessionConfig(input_format=AudioFormat.PCMU_8K, output_format=AudioFormat.PCMU_8K)


def fixture(name: str) -> list[str]:
    return (FIXTURES / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()


def checked(actions: list[Action]) -> list[Action]:
    for action in actions:
        if isinstance(action, SendJSON):
            CLIENT_EVENT.validate_json(action.text)
    return actions


def batching(batch_ms: float, config: SessionConfig | None = None) -> RealtimeProtocol:
    protocol = RealtimeProtocol(config or SessionConfig(), input_batch_ms=batch_ms)
    created, updated = fixture("session_start")[:2]
    protocol.receive_json(created, 0.0)
    assert protocol.receive_json(updated, 0.0) == [SessionReady()]
    assert protocol.receive_playback(0, now=0.0) == []
    return protocol


def appended(actions: list[Action]) -> list[bytes]:
    """The audio of every append in ``actions`` (each one validated as a client event)."""
    out = []
    for action in checked(actions):
        assert isinstance(action, SendJSON)
        event = json.loads(action.text)
        assert event["type"] == "input_audio_buffer.append"
        out.append(base64.b64decode(event["audio"]))
    return out


def frame(index: int, size: int = PCM_20MS) -> bytes:
    """A distinct silent chunk (below SOUND_THRESHOLD), so that joins and order can be checked byte for
    byte: PCM16 samples of ``index % 200``, or (160 bytes) μ-law codes 0xF0-0xFF, all within ±124."""
    if size == 160:
        return bytes([0xF0 + index % 16]) * size
    return bytes([index % 200, 0]) * (size // 2)


def loud(size: int = PCM_20MS, *, level: int = SOUND_THRESHOLD + 1) -> bytes:
    """A chunk with one sample just beyond the threshold (PCM16), the rest silent."""
    return level.to_bytes(2, "little", signed=True) + bytes(size - 2)


def speech_event(kind: str) -> str:
    event: dict[str, str | int] = {
        "type": f"input_audio_buffer.speech_{kind}",
        "event_id": f"event_{kind}",
        "item_id": "item_u1",
    }
    event["audio_start_ms" if kind == "started" else "audio_end_ms"] = 1000
    return json.dumps(event)


def test_silent_caller_chunks_go_in_batches_of_the_configured_length() -> None:
    protocol = batching(60)
    sent: list[list[bytes]] = [appended(protocol.send_audio(frame(i))) for i in range(2)]
    assert protocol.held_audio_ms == 40.0
    sent += [appended(protocol.send_audio(frame(i))) for i in range(2, 7)]
    assert sent[:2] == [[], []]
    assert sent[2] == [frame(0) + frame(1) + frame(2)]
    assert sent[3:5] == [[], []]
    assert sent[5] == [frame(3) + frame(4) + frame(5)]
    assert sent[6] == []
    assert protocol.held_audio_ms == 20.0
    # A chunk that fills a batch on its own goes at once, after what was held.
    assert appended(protocol.send_audio(frame(7, 3 * PCM_20MS))) == [frame(6) + frame(7, 3 * PCM_20MS)]


@pytest.mark.parametrize("level", [SOUND_THRESHOLD + 1, -SOUND_THRESHOLD - 1, 20000])
def test_a_chunk_with_sound_goes_at_once_with_what_was_held(level: int) -> None:
    # The caller's sound is never held for a batch: a speech start reaches the server at once.
    protocol = batching(60)
    assert protocol.send_audio(frame(0)) == []
    assert appended(protocol.send_audio(loud(level=level))) == [frame(0) + loud(level=level)]
    assert appended(protocol.send_audio(loud(level=level))) == [loud(level=level)]
    assert protocol.held_audio_ms == 0.0
    # At the threshold itself it is still silence.
    assert protocol.send_audio(loud(level=SOUND_THRESHOLD)) == []


@pytest.mark.parametrize(
    ("audio_format", "encode"),
    [(AudioFormat.PCMU_8K, pcm16_to_ulaw), (AudioFormat.PCMA_8K, pcm16_to_alaw)],
)
def test_g711_sound_is_measured_after_decoding(audio_format: AudioFormat, encode: object) -> None:
    config = SessionConfig(input_format=audio_format, output_format=audio_format)
    protocol = batching(60, config)
    quiet = encode(bytes(320))  # type: ignore[operator]
    sound = encode(loud(320, level=2000))  # type: ignore[operator]
    assert protocol.send_audio(quiet) == []
    assert appended(protocol.send_audio(sound)) == [quiet + sound]


def test_from_speech_start_every_chunk_goes_at_once_the_first_with_what_was_held() -> None:
    protocol = batching(60, ULAW)
    assert protocol.send_audio(frame(0, 160)) == []
    # Only the microphone's calls send audio, so appends stay in order whatever the shell awaits.
    started = checked(protocol.receive_json(speech_event("started"), now=1.0))
    assert started == [UserSpeechStarted("item_u1", 1000)]
    assert protocol.held_audio_ms == 20.0
    assert [appended(protocol.send_audio(frame(i, 160))) for i in (1, 2, 3)] == [
        [frame(0, 160) + frame(1, 160)],
        [frame(2, 160)],
        [frame(3, 160)],
    ]
    assert checked(protocol.receive_json(speech_event("stopped"), now=2.0)) == [
        UserSpeechStopped("item_u1", 1000)
    ]
    assert [appended(protocol.send_audio(frame(i, 160))) for i in (4, 5, 6)] == [
        [],
        [],
        [frame(4, 160) + frame(5, 160) + frame(6, 160)],
    ]


def test_a_barge_in_sends_nothing_ahead_of_the_clear() -> None:
    protocol = batching(60)
    for line in fixture("audio_turn"):
        checked(protocol.receive_json(line, 1.0))
    protocol.receive_playback(500, now=1.5)
    assert protocol.send_audio(frame(1)) == []
    [speech_started] = [line for line in fixture("user_barges_in") if "speech_started" in line]
    actions = checked(protocol.receive_json(speech_started, 1.5))
    assert actions[0] == ClearPlayback()
    assert actions[-1] == UserSpeechStarted(U4, 5210)
    assert not any('"input_audio_buffer.append"' in a.text for a in actions if isinstance(a, SendJSON))
    assert appended(protocol.send_audio(frame(2))) == [frame(1) + frame(2)]


def test_flush_audio_sends_what_is_held_once() -> None:
    protocol = batching(200)
    assert protocol.flush_audio() == []
    for i in range(3):
        assert protocol.send_audio(frame(i)) == []
    assert appended(protocol.flush_audio()) == [frame(0) + frame(1) + frame(2)]
    assert protocol.flush_audio() == []


def test_no_batch_by_default_in_the_core() -> None:
    protocol = batching(0)
    assert [appended(protocol.send_audio(frame(i))) for i in range(3)] == [[frame(0)], [frame(1)], [frame(2)]]
    assert protocol.flush_audio() == []


def test_a_batch_never_exceeds_the_append_limit() -> None:
    protocol = batching(60)
    assert protocol.send_audio(frame(0)) == []
    big = bytes(MAX_APPEND_BYTES - 100)  # fits alone, not after what is held
    assert appended(protocol.send_audio(big)) == [frame(0), big]


def test_chunks_are_still_checked_when_held() -> None:
    protocol = batching(60)
    with pytest.raises(Exception, match="even"):
        protocol.send_audio(bytes(961))
    assert protocol.held_audio_ms == 0.0


@pytest.mark.parametrize("value", [-1, MAX_INPUT_BATCH_MS + 1, float("nan"), True, "60"])
def test_invalid_batch_lengths_are_refused(value: object) -> None:
    with pytest.raises(ConfigurationError, match="input_batch_ms"):
        RealtimeProtocol(SessionConfig(), input_batch_ms=value)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="input_batch_ms"):
        RealtimeAgent(api_key="sk-test", input_batch_ms=value)  # type: ignore[arg-type]


def test_the_agent_batches_by_default() -> None:
    assert RealtimeAgent(api_key="sk-test").input_batch_ms == DEFAULT_INPUT_BATCH_MS == 60.0
    assert RealtimeAgent(api_key="sk-test", input_batch_ms=0).input_batch_ms == 0.0


# ------------------------------------------------------------- G.711 chunks converted by the session


class CountingConverter:
    """The agent's converter (μ-law to PCM16 24 kHz), counting its calls."""

    def __init__(self) -> None:
        self.inner = ToPcm24(AudioFormat.PCMU_8K)
        self.calls = 0

    def __call__(self, audio: bytes) -> bytes:
        self.calls += 1
        return self.inner.convert(audio)


def test_ulaw_chunks_on_a_pcm_session_are_converted_a_batch_at_a_time() -> None:
    protocol = batching(60)  # a PCM16 24 kHz session
    convert = CountingConverter()
    protocol.convert_input(AudioFormat.PCMU_8K, convert)
    sent = []
    for i in range(6):
        sent += appended(protocol.send_audio(frame(i, 160)))
        assert protocol.held_audio_ms == (0.0 if i % 3 == 2 else 20.0 * (i % 3 + 1))
    assert convert.calls == 2  # six silent frames, two batches, two conversions
    voice = pcm16_to_ulaw(loud(320, level=4000))
    assert protocol.send_audio(frame(6, 160)) == []
    sent += appended(protocol.send_audio(voice))  # sound: at once, with what was held, one conversion
    assert convert.calls == 3
    frames = b"".join(frame(i, 160) for i in range(7)) + voice
    assert b"".join(sent) == ToPcm24(AudioFormat.PCMU_8K).convert(frames)  # same bytes as all at once
    assert [len(a) for a in sent] == [3 * PCM_20MS, 3 * PCM_20MS, 2 * PCM_20MS]


def test_converted_chunks_are_limited_by_what_they_become() -> None:
    protocol = batching(0)
    protocol.convert_input(AudioFormat.PCMU_8K, ToPcm24(AudioFormat.PCMU_8K).convert)
    limit = MAX_APPEND_BYTES // 6  # μ-law bytes that fill an append once resampled to PCM16 24 kHz
    with pytest.raises(LocalProtocolError, match=f"exceeds {limit}"):
        protocol.send_audio(bytes(limit + 1))
    assert protocol.send_audio(bytes(161))  # any length of μ-law is whole samples
