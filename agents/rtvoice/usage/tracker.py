"""Token usage of a call, collected as it runs and priced on demand.

:class:`UsageTracker` takes three kinds of usage, each de-duplicated by its natural key (a repeated add
is ignored and returns False, so replayed or duplicated server events never count twice):

* Realtime responses, from ``response.done.response.usage``, keyed by response id;
* input transcriptions, from ``conversation.item.input_audio_transcription.completed.usage``, keyed by
  ``(item_id, content_index)``: token counts or a duration in seconds;
* chat completions made by the supervisor, keyed by a call id the caller chooses.

:meth:`UsageTracker.report` returns an immutable :class:`UsageReport`: totals per model and kind, the
records, and a :class:`~rtvoice.usage.pricing.CostEstimate`. It costs O(records + models), so a report
can be taken at any moment of a call; it is a snapshot that later additions do not change. A lock
makes the tracker safe to read from another thread (a metrics exporter) while the call's task writes.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType

from openai.types.realtime import RealtimeResponseUsage

from rtvoice.exceptions import RemoteProtocolError
from rtvoice.usage.pricing import CostEstimate, PricingCatalog, UsageKind
from rtvoice.usage.tokens import TokenUsage, TranscriptionUsage, parse_transcription_usage

__all__ = ["UsageRecord", "UsageReport", "UsageTracker"]


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One counted use: a response, a transcription or a chat call."""

    kind: UsageKind
    id: str
    """The response id, the transcribed item's id, or the chat call id."""
    model: str
    tokens: TokenUsage
    content_index: int | None = None
    """The transcribed content part (transcriptions only)."""
    seconds: Decimal | None = None
    """Seconds of audio, for a transcription billed by duration."""


@dataclass(frozen=True, slots=True)
class UsageReport:
    """A snapshot of a call's usage and its estimated cost.

    ``realtime``, ``transcription`` and ``llm`` total each kind; ``total`` adds all three;
    ``by_model`` totals per model name (all kinds); ``transcription_seconds`` is the audio billed by
    duration.
    """

    realtime: TokenUsage
    transcription: TokenUsage
    llm: TokenUsage
    total: TokenUsage
    transcription_seconds: Decimal
    by_model: Mapping[str, TokenUsage]
    records: tuple[UsageRecord, ...]
    cost: CostEstimate


def _check_id(name: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, not {value!r}")
    return value


class UsageTracker:
    """Collects a call's token usage, de-duplicated, and reports it with a cost estimate.

    Args:
        pricing: the price table; the built-in one (:meth:`PricingCatalog.default`) if omitted.
    """

    def __init__(self, pricing: PricingCatalog | None = None) -> None:
        self._pricing = pricing if pricing is not None else PricingCatalog.default()
        self._lock = threading.Lock()
        self._records: list[UsageRecord] = []
        self._seen: set[tuple[str, str, int]] = set()
        # Running totals, so a report costs O(models) to price, not O(records).
        self._tokens: dict[tuple[UsageKind, str], TokenUsage] = {}
        self._seconds: dict[tuple[UsageKind, str], Decimal] = {}

    @property
    def pricing(self) -> PricingCatalog:
        """The price table used by :meth:`report`."""
        return self._pricing

    def add_response(
        self, response_id: str, model: str, usage: RealtimeResponseUsage | Mapping[str, object] | None
    ) -> bool:
        """Count a Realtime response's usage (``response.done.response.usage``).

        Args:
            response_id: the response's id (``resp_...``); a second add for it is ignored.
            model: the session's model, which the usage is billed at.
            usage: the SDK's :class:`~openai.types.realtime.RealtimeResponseUsage` or its dict; None
                (a response without usage) counts nothing.

        Returns:
            True if the usage was counted, False if it was a duplicate or None.

        Raises:
            ValueError: an empty id or model.
            RemoteProtocolError: the usage is malformed.
        """
        _check_id("response_id", response_id)
        _check_id("model", model)
        if usage is None:
            return False
        tokens = TokenUsage.from_realtime(usage)
        return self._add(
            UsageRecord("realtime", response_id, model, tokens), key=("realtime", response_id, 0)
        )

    def add_transcription(
        self,
        item_id: str,
        content_index: int,
        model: str,
        usage: TranscriptionUsage | Mapping[str, object],
    ) -> bool:
        """Count an input transcription's usage: token counts, or ``{type: duration, seconds}``.

        Args:
            item_id: the transcribed user item.
            content_index: its content part; ``(item_id, content_index)`` is counted once.
            model: the transcription model (``whisper-1``, ...).
            usage: the SDK's usage model or its dict.

        Returns:
            True if the usage was counted, False if it was a duplicate.

        Raises:
            ValueError: an empty id or model, or a negative content index.
            RemoteProtocolError: the usage is malformed.
        """
        _check_id("item_id", item_id)
        _check_id("model", model)
        if isinstance(content_index, bool) or not isinstance(content_index, int) or content_index < 0:
            raise ValueError(f"content_index must be a non-negative int, not {content_index!r}")
        parsed = parse_transcription_usage(usage)
        if parsed[0] == "duration":
            record = UsageRecord("transcription", item_id, model, TokenUsage(), content_index, parsed[1])
        else:
            record = UsageRecord("transcription", item_id, model, parsed[1], content_index)
        return self._add(record, key=("transcription", item_id, content_index))

    def add_llm(
        self,
        call_id: str,
        model: str,
        prompt_tokens: int,
        completion_tokens: int,
        cached_tokens: int = 0,
    ) -> bool:
        """Count a chat-completions call (the supervisor's), as reported in its ``usage``.

        Args:
            call_id: an id for the call (the completion's ``id``); counted once.
            model: the chat model.
            prompt_tokens: input tokens, cached ones included.
            completion_tokens: output tokens.
            cached_tokens: the cached part of ``prompt_tokens``.

        Returns:
            True if the usage was counted, False if it was a duplicate.

        Raises:
            ValueError: an empty id or model.
            RemoteProtocolError: negative counts, or more cached tokens than prompt tokens.
        """
        _check_id("call_id", call_id)
        _check_id("model", model)
        counts = (prompt_tokens, completion_tokens, cached_tokens)
        if any(isinstance(n, bool) or not isinstance(n, int) or n < 0 for n in counts):
            raise RemoteProtocolError(f"token counts must be non-negative ints, not {counts}")
        if cached_tokens > prompt_tokens:
            raise RemoteProtocolError(f"{cached_tokens} cached tokens exceed {prompt_tokens} prompt tokens")
        tokens = TokenUsage(
            input_text=prompt_tokens, cached_text=cached_tokens, output_text=completion_tokens
        )
        return self._add(UsageRecord("llm", call_id, model, tokens), key=("llm", call_id, 0))

    def report(self) -> UsageReport:
        """Return a snapshot of the usage so far and its estimated cost (cheap; call it any time)."""
        with self._lock:
            records = tuple(self._records)
            tokens = dict(self._tokens)
            seconds = dict(self._seconds)
        by_kind: dict[UsageKind, TokenUsage] = {"realtime": TokenUsage(), "transcription": TokenUsage()}
        by_kind["llm"] = TokenUsage()
        by_model: dict[str, TokenUsage] = {}
        for (kind, model), usage in tokens.items():
            by_kind[kind] = by_kind[kind] + usage
            by_model[model] = by_model.get(model, TokenUsage()) + usage
        cost = self._pricing.estimate(
            (kind, model, usage, seconds.get((kind, model), Decimal(0)))
            for (kind, model), usage in tokens.items()
        )
        return UsageReport(
            realtime=by_kind["realtime"],
            transcription=by_kind["transcription"],
            llm=by_kind["llm"],
            total=by_kind["realtime"] + by_kind["transcription"] + by_kind["llm"],
            transcription_seconds=sum(seconds.values(), Decimal(0)),
            by_model=MappingProxyType(by_model),
            records=records,
            cost=cost,
        )

    def _add(self, record: UsageRecord, *, key: tuple[str, str, int]) -> bool:
        with self._lock:
            if key in self._seen:
                return False
            self._seen.add(key)
            self._records.append(record)
            group = (record.kind, record.model)
            self._tokens[group] = self._tokens.get(group, TokenUsage()) + record.tokens
            if record.seconds is not None:
                self._seconds[group] = self._seconds.get(group, Decimal(0)) + record.seconds
            return True
