"""The measuring simulator reads every 20 ms frame of an append, batched or not."""

from __future__ import annotations

import base64
import json

from rtvoice_gateway.loadtest.stats import tag_frame
from rtvoice_gateway.loadtest.upstream import MeasuringSimulator

SPEECH = bytes(range(20, 180))  # loud μ-law codes, one 20 ms frame


def append(audio: bytes) -> str:
    return json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(audio).decode()})


def test_a_batched_mulaw_append_gives_the_tag_of_each_of_its_frames() -> None:
    batch = b"".join(tag_frame(SPEECH, index) for index in (7, 8, 9))
    assert MeasuringSimulator._tags(append(batch), pcmu=True) == [7, 8, 9]


def test_a_single_frame_and_an_untagged_one() -> None:
    assert MeasuringSimulator._tags(append(tag_frame(SPEECH, 42)), pcmu=True) == [42]
    assert MeasuringSimulator._tags(append(SPEECH), pcmu=True) == [-1]


def test_a_pcm16_append_counts_its_frames_untagged() -> None:
    assert MeasuringSimulator._tags(append(bytes(960 * 3)), pcmu=False) == [-1, -1, -1]
    assert MeasuringSimulator._tags(append(bytes(960)), pcmu=False) == [-1]
    # Counted from the base64 text's length, padding included, without decoding it.
    for size, frames in ((960 * 5 + 1, 5), (960 * 5 + 2, 5), (960 * 5 + 700, 6), (100, 1), (1, 1)):
        assert MeasuringSimulator._tags(append(bytes(size)), pcmu=False) == [-1] * frames, size


def test_a_message_without_audio_counts_as_one_unread_frame() -> None:
    assert MeasuringSimulator._tags('{"type": "input_audio_buffer.append"}', pcmu=True) == [-1]
