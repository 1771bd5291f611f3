"""TokenUsage: read from the SDK's usage models and their dicts, breakdown kept, addable."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from openai.types.realtime import RealtimeResponseUsage
from openai.types.realtime.conversation_item_input_audio_transcription_completed_event import (
    UsageTranscriptTextUsageDuration,
)

from rtvoice.exceptions import RemoteProtocolError
from rtvoice.usage import TokenUsage, parse_transcription_usage

USAGE: dict[str, Any] = {
    "total_tokens": 8300,
    "input_tokens": 6000,
    "output_tokens": 2300,
    "input_token_details": {
        "text_tokens": 1000,
        "audio_tokens": 4990,
        "image_tokens": 10,
        "cached_tokens": 1200,
        "cached_tokens_details": {"text_tokens": 200, "audio_tokens": 1000, "image_tokens": 0},
    },
    "output_token_details": {"text_tokens": 300, "audio_tokens": 2000},
}
EXPECTED = TokenUsage(
    input_text=1000,
    input_audio=4990,
    input_image=10,
    cached_text=200,
    cached_audio=1000,
    output_text=300,
    output_audio=2000,
)


def test_the_sdk_model_and_its_dict_read_the_same() -> None:
    assert TokenUsage.from_realtime(USAGE) == EXPECTED
    assert TokenUsage.from_realtime(RealtimeResponseUsage.model_validate(USAGE)) == EXPECTED
    assert EXPECTED.input_tokens == 6000 and EXPECTED.cached_tokens == 1200
    assert EXPECTED.output_tokens == 2300 and EXPECTED.total_tokens == 8300
    assert EXPECTED.unclassified_tokens == 0


def test_addition_adds_every_field() -> None:
    doubled = EXPECTED + EXPECTED + TokenUsage(unclassified_output=3)
    assert doubled.input_audio == 9980 and doubled.cached_text == 400 and doubled.output_audio == 4000
    assert doubled.total_tokens == 2 * 8300 + 3
    assert TokenUsage() + TokenUsage() == TokenUsage()
    with pytest.raises(TypeError):
        TokenUsage() + 1  # type: ignore[operator]


def test_totals_without_a_breakdown_are_kept_as_unclassified_not_guessed() -> None:
    usage = TokenUsage.from_realtime(
        {"input_tokens": 500, "output_tokens": 70, "input_token_details": {"cached_tokens": 64}}
    )
    assert usage == TokenUsage(unclassified_input=500, unclassified_cached=64, unclassified_output=70)
    assert usage.input_tokens == 500 and usage.cached_tokens == 64 and usage.unclassified_tokens == 570


def test_an_empty_usage_counts_nothing() -> None:
    assert TokenUsage.from_realtime({}) == TokenUsage()


@pytest.mark.parametrize(
    "bad",
    [
        {"input_tokens": -1},
        {"input_tokens": "many"},
        {"output_token_details": {"audio_tokens": -5}},
    ],
)
def test_malformed_usage_raises_remote_protocol_error(bad: dict[str, Any]) -> None:
    with pytest.raises(RemoteProtocolError):
        TokenUsage.from_realtime(bad)


def test_token_usage_refuses_negative_or_non_int_counts() -> None:
    with pytest.raises(ValueError, match="input_text"):
        TokenUsage(input_text=-1)
    with pytest.raises(ValueError, match="output_audio"):
        TokenUsage(output_audio=True)


def test_transcription_usage_is_tokens_or_an_exact_duration() -> None:
    kind, tokens = parse_transcription_usage(
        {
            "type": "tokens",
            "input_tokens": 120,
            "output_tokens": 15,
            "total_tokens": 135,
            "input_token_details": {"audio_tokens": 100, "text_tokens": 20},
        }
    )
    assert kind == "tokens" and tokens == TokenUsage(input_text=20, input_audio=100, output_text=15)
    assert parse_transcription_usage({"type": "duration", "seconds": 3.456}) == ("duration", Decimal("3.456"))
    model = UsageTranscriptTextUsageDuration(type="duration", seconds=2.5)
    assert parse_transcription_usage(model) == ("duration", Decimal("2.5"))


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "duration", "seconds": -1.0},
        {"type": "duration", "seconds": float("nan")},
        {"type": "duration", "seconds": float("inf")},
        {"type": "minutes", "seconds": 1},
        {"type": "tokens"},
    ],
)
def test_malformed_transcription_usage_raises_remote_protocol_error(bad: dict[str, Any]) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_transcription_usage(bad)
