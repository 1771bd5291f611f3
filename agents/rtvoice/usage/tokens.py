"""Token counts by modality, read from the Realtime API's usage objects.

``response.done.response.usage`` (:class:`openai.types.realtime.RealtimeResponseUsage`) reports input and
output tokens with a per-modality breakdown; cached tokens are a *subset* of the input tokens, with their
own breakdown. ``conversation.item.input_audio_transcription.completed.usage`` is either token counts
(``type: "tokens"``) or a duration (``type: "duration"``, seconds). :class:`TokenUsage` keeps the
breakdown as the API gives it, so pricing can charge cached tokens at the cached rate only.

A usage object whose totals exceed its breakdown (the API always sends the breakdown, but a proxy or a
future model may not) keeps the difference as ``unclassified_*`` tokens rather than guessing a modality;
they count in the totals and make a cost estimate incomplete.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Literal

import pydantic
from openai.types.realtime import RealtimeResponseUsage
from openai.types.realtime.conversation_item_input_audio_transcription_completed_event import (
    Usage as TranscriptionUsage,
)
from openai.types.realtime.conversation_item_input_audio_transcription_completed_event import (
    UsageTranscriptTextUsageDuration,
    UsageTranscriptTextUsageTokens,
)

from rtvoice.exceptions import RemoteProtocolError

__all__ = ["TokenUsage", "TranscriptionUsage", "parse_transcription_usage"]

_TRANSCRIPTION_USAGE: pydantic.TypeAdapter[TranscriptionUsage] = pydantic.TypeAdapter(TranscriptionUsage)


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Token counts by modality; ``+`` adds two of them.

    ``input_*`` include the cached tokens of the same modality (``cached_* <= input_*``), as in the API.
    """

    input_text: int = 0
    input_audio: int = 0
    input_image: int = 0
    cached_text: int = 0
    cached_audio: int = 0
    cached_image: int = 0
    output_text: int = 0
    output_audio: int = 0
    unclassified_input: int = 0
    """Input tokens the usage counted in its total but not in any modality."""
    unclassified_cached: int = 0
    """Cached tokens counted in the total but not in any modality (part of the input tokens)."""
    unclassified_output: int = 0
    """Output tokens counted in the total but not in any modality."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"TokenUsage.{f.name} must be a non-negative int, not {value!r}")

    def __add__(self, other: TokenUsage) -> TokenUsage:
        if not isinstance(other, TokenUsage):
            return NotImplemented
        return TokenUsage(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @property
    def input_tokens(self) -> int:
        """All input tokens, cached ones included."""
        return self.input_text + self.input_audio + self.input_image + self.unclassified_input

    @property
    def cached_tokens(self) -> int:
        """Cached input tokens (a subset of :attr:`input_tokens`)."""
        return self.cached_text + self.cached_audio + self.cached_image + self.unclassified_cached

    @property
    def output_tokens(self) -> int:
        """All output tokens."""
        return self.output_text + self.output_audio + self.unclassified_output

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    @property
    def unclassified_tokens(self) -> int:
        """Input and output tokens without a modality (cached ones are part of the input)."""
        return self.unclassified_input + self.unclassified_output

    @classmethod
    def from_realtime(cls, usage: RealtimeResponseUsage | Mapping[str, object]) -> TokenUsage:
        """Read ``response.done.response.usage``: the SDK's model or its dict.

        Raises:
            RemoteProtocolError: the usage is malformed (wrong types, negative counts).
        """
        if not isinstance(usage, RealtimeResponseUsage):
            try:
                usage = RealtimeResponseUsage.model_validate(usage)
            except pydantic.ValidationError as exc:
                raise RemoteProtocolError(f"malformed response usage: {exc}") from exc
        details = usage.input_token_details
        cached_details = details.cached_tokens_details if details is not None else None
        output_details = usage.output_token_details
        in_text = _count(details.text_tokens if details else None)
        in_audio = _count(details.audio_tokens if details else None)
        in_image = _count(details.image_tokens if details else None)
        c_text = _count(cached_details.text_tokens if cached_details else None)
        c_audio = _count(cached_details.audio_tokens if cached_details else None)
        c_image = _count(cached_details.image_tokens if cached_details else None)
        # Cached tokens are a subset of the input of the same modality; a breakdown that says
        # otherwise is taken at its cached word (the input total then covers the difference).
        in_text, in_audio, in_image = max(in_text, c_text), max(in_audio, c_audio), max(in_image, c_image)
        out_text = _count(output_details.text_tokens if output_details else None)
        out_audio = _count(output_details.audio_tokens if output_details else None)
        input_total = _count(usage.input_tokens)
        cached_total = _count(details.cached_tokens if details else None)
        output_total = _count(usage.output_tokens)
        return cls(
            input_text=in_text,
            input_audio=in_audio,
            input_image=in_image,
            cached_text=c_text,
            cached_audio=c_audio,
            cached_image=c_image,
            output_text=out_text,
            output_audio=out_audio,
            unclassified_input=max(0, input_total - in_text - in_audio - in_image),
            unclassified_cached=max(0, cached_total - c_text - c_audio - c_image),
            unclassified_output=max(0, output_total - out_text - out_audio),
        )


def parse_transcription_usage(
    usage: TranscriptionUsage | Mapping[str, object],
) -> tuple[Literal["tokens"], TokenUsage] | tuple[Literal["duration"], Decimal]:
    """Read ``input_audio_transcription.completed.usage``: token counts or a duration in seconds.

    Token usage maps audio and text input tokens to ``input_audio``/``input_text`` and the transcript
    to ``output_text``. A duration is returned as an exact :class:`~decimal.Decimal` of the seconds as
    sent (``3.456`` stays ``Decimal("3.456")``).

    Raises:
        RemoteProtocolError: the usage is malformed.
    """
    if not isinstance(usage, UsageTranscriptTextUsageTokens | UsageTranscriptTextUsageDuration):
        try:
            usage = _TRANSCRIPTION_USAGE.validate_python(usage)
        except pydantic.ValidationError as exc:
            raise RemoteProtocolError(f"malformed transcription usage: {exc}") from exc
    if isinstance(usage, UsageTranscriptTextUsageDuration):
        seconds = Decimal(str(usage.seconds))  # the shortest repr: 3.456 stays 3.456, inf and nan too
        if not seconds.is_finite() or seconds < 0:
            raise RemoteProtocolError(f"transcription duration must be >= 0 seconds, not {usage.seconds!r}")
        return "duration", seconds
    details = usage.input_token_details
    in_audio = _count(details.audio_tokens if details else None)
    in_text = _count(details.text_tokens if details else None)
    input_total = _count(usage.input_tokens)
    return "tokens", TokenUsage(
        input_text=in_text,
        input_audio=in_audio,
        output_text=_count(usage.output_tokens),
        unclassified_input=max(0, input_total - in_text - in_audio),
    )


def _count(value: int | None) -> int:
    if value is None:
        return 0
    if value < 0:
        raise RemoteProtocolError(f"token counts must not be negative, got {value}")
    return value
