"""Prices and cost estimates: a dated, overridable price table and exact Decimal arithmetic.

A :class:`PricingCatalog` maps model names to :class:`ModelPrice` entries in USD per 1M tokens (text,
audio and image; input, cached input and output) or per minute of audio (transcription by duration).
Any price may be unknown (``None``): usage that needs it is left out of the total, and the
:class:`CostEstimate` says so (``is_complete=False`` and a note naming the model), rather than printing
a number that looks precise and is not.

Cached tokens are a subset of the input tokens. They are charged at the cached rate and the rest of the
input at the full rate, never both. All arithmetic is :class:`~decimal.Decimal` in a private context
(50 significant digits), whatever the caller's decimal context says, so token costs are exact; only a
per-minute price divided by 60 can round, at the 50th digit.

Built-in prices (:data:`BUILTIN_PRICES`, read 2026-12-03) come from OpenAI's model pages and pricing
page; every model :class:`~rtvoice.options.RealtimeModel` and :class:`~rtvoice.options.TranscriptionModel`
list, and ChatOpenAI's default ``gpt-4o-mini``, has an entry (or its alias has), and each entry names its
source. Prices change: pass your own with :meth:`PricingCatalog.with_overrides`.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Literal

from rtvoice.exceptions import ConfigurationError
from rtvoice.usage.tokens import TokenUsage

__all__ = [
    "BUILTIN_PRICES",
    "BUILTIN_PRICING_DATE",
    "BUILTIN_PRICING_SOURCE",
    "CostEstimate",
    "CostLineItem",
    "ModelPrice",
    "PriceLike",
    "PriceValue",
    "PricingCatalog",
    "UsageKind",
]

UsageKind = Literal["realtime", "transcription", "llm"]
"""What the usage paid for: a Realtime response, an input transcription, or a chat (supervisor) call."""

PriceValue = Decimal | int | str | None
"""A price as given: Decimal, int, or a decimal string such as ``"0.40"``; None when unknown."""

_PRICE_FIELDS = (
    "text_input",
    "text_cached_input",
    "text_output",
    "audio_input",
    "audio_cached_input",
    "audio_output",
    "image_input",
    "image_cached_input",
    "per_minute",
)
_MILLION = Decimal(1_000_000)
_SIXTY = Decimal(60)
_CONTEXT = decimal.Context(prec=50, rounding=decimal.ROUND_HALF_EVEN, traps=[decimal.InvalidOperation])
# A dated snapshot ("gpt-realtime-2025-08-28") is priced like its alias when it has no entry of its own.
_SNAPSHOT_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")


def _to_price(name: str, value: object) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        # Floats are refused: 0.1 is not one tenth in binary, and prices must be exact.
        raise ConfigurationError(f"{name} must be a Decimal, int or decimal string, not {value!r}")
    try:
        price = Decimal(value)
    except decimal.InvalidOperation as exc:
        raise ConfigurationError(f"{name} is not a decimal number: {value!r}") from exc
    if not price.is_finite() or price < 0:
        raise ConfigurationError(f"{name} must be a finite, non-negative price, not {value!r}")
    return price


@dataclass(frozen=True, slots=True, init=False)
class ModelPrice:
    """One model's prices in USD: per 1M tokens, or per minute of audio. ``None`` means unknown.

    Every price accepts a Decimal, an int or a decimal string (``ModelPrice(text_input="0.60")``);
    floats are refused because they are not exact.

    Args:
        text_input: uncached text input, per 1M tokens.
        text_cached_input: cached text input, per 1M tokens.
        text_output: text output, per 1M tokens.
        audio_input: uncached audio input, per 1M tokens.
        audio_cached_input: cached audio input, per 1M tokens.
        audio_output: audio output, per 1M tokens.
        image_input: uncached image input, per 1M tokens.
        image_cached_input: cached image input, per 1M tokens.
        per_minute: transcription billed by duration (whisper-1), per minute of audio.
        source: where the prices come from (a URL or a note).

    Raises:
        ConfigurationError: a price is negative, not finite, or not a Decimal, int or string.
    """

    text_input: Decimal | None
    text_cached_input: Decimal | None
    text_output: Decimal | None
    audio_input: Decimal | None
    audio_cached_input: Decimal | None
    audio_output: Decimal | None
    image_input: Decimal | None
    image_cached_input: Decimal | None
    per_minute: Decimal | None
    source: str

    def __init__(
        self,
        *,
        text_input: PriceValue = None,
        text_cached_input: PriceValue = None,
        text_output: PriceValue = None,
        audio_input: PriceValue = None,
        audio_cached_input: PriceValue = None,
        audio_output: PriceValue = None,
        image_input: PriceValue = None,
        image_cached_input: PriceValue = None,
        per_minute: PriceValue = None,
        source: str = "",
    ) -> None:
        given = locals()
        for name in _PRICE_FIELDS:
            object.__setattr__(self, name, _to_price(f"ModelPrice.{name}", given[name]))
        if not isinstance(source, str):
            raise ConfigurationError(f"ModelPrice.source must be a string, not {source!r}")
        object.__setattr__(self, "source", source)

    @classmethod
    def from_mapping(cls, prices: Mapping[str, PriceValue], *, base: ModelPrice | None = None) -> ModelPrice:
        """Build a price from a mapping of field names, on top of ``base`` (all unknown by default).

        Raises:
            ConfigurationError: an unknown field name, or a bad price.
        """
        unknown = set(prices) - {*_PRICE_FIELDS, "source"}
        if unknown:
            raise ConfigurationError(
                f"unknown price field(s) {sorted(unknown)}; known: {', '.join(_PRICE_FIELDS)}, source"
            )
        start = base if base is not None else cls()
        merged: dict[str, object] = {name: getattr(start, name) for name in (*_PRICE_FIELDS, "source")}
        merged.update(prices)
        return cls(**merged)  # type: ignore[arg-type]  # the values are checked in __init__


PriceLike = ModelPrice | Mapping[str, PriceValue]
"""A whole :class:`ModelPrice`, or a mapping of the fields to change (``{"audio_output": "20"}``)."""


@dataclass(frozen=True, slots=True)
class CostLineItem:
    """One priced quantity: ``quantity`` units of ``category`` for ``model``, at ``unit_price``."""

    kind: UsageKind
    model: str
    category: str
    """``text_input`` (uncached), ``text_cached_input``, ``audio_output``, ..., or ``per_minute``."""
    quantity: Decimal
    """Tokens, or minutes of audio for ``per_minute``."""
    unit: Literal["1M tokens", "minute"]
    unit_price: Decimal
    cost: Decimal


@dataclass(frozen=True, slots=True)
class CostEstimate:
    """What the usage cost, in USD, by the catalog's prices.

    ``total`` is the sum of the line items. When some usage had no price, it is not in the total,
    ``is_complete`` is False and ``notes`` say which model and what was left out.
    """

    total: Decimal
    line_items: tuple[CostLineItem, ...]
    pricing_date: str
    source: str
    is_complete: bool
    notes: tuple[str, ...] = ()
    currency: str = "USD"


def _tokens(source: str, *prices: str | None) -> ModelPrice:
    """Token prices in the order text in / cached / out, audio in / cached / out, image in / cached."""
    return ModelPrice.from_mapping({**dict(zip(_PRICE_FIELDS, prices, strict=False)), "source": source})


_MODELS = "https://developers.openai.com/api/docs/models/"
_PRICING = "https://developers.openai.com/api/docs/pricing"
# The pricing page's tables as mirrored in public price tables (read 2026-12-03): used only where the model
# page itself was not available; each entry that relies on it says so.
_MIRROR = f"{_PRICING} as mirrored in public price tables (the model page was not available)"

BUILTIN_PRICING_DATE = "2026-12-03"
"""When the built-in prices were read."""
BUILTIN_PRICING_SOURCE = (
    f"OpenAI model pages ({_MODELS}<model>) and pricing page ({_PRICING}), read {BUILTIN_PRICING_DATE}; "
    "list prices, which may change; each entry names its own source"
)

BUILTIN_PRICES: Mapping[str, ModelPrice] = MappingProxyType(
    {
        # Realtime models, USD per 1M tokens: text in / cached / out, audio in / cached / out, image in / cached.
        # Dated snapshots without an entry are priced as their alias (gpt-realtime-2025-08-28, ...).
        "gpt-realtime": _tokens(
            f"{_MODELS}gpt-realtime; image rates: {_MIRROR}",
            *("4", "0.40", "16", "32", "0.40", "64", "5", "0.50"),
        ),
        "gpt-realtime-1.5": _tokens(
            f"{_MODELS}gpt-realtime-1.5", *("4", "0.40", "16", "32", "0.40", "64", "5", "0.50")
        ),
        "gpt-realtime-2": _tokens(
            f"{_MODELS}gpt-realtime-2", *("4", "0.40", "24", "32", "0.40", "64", "5", "0.50")
        ),
        "gpt-realtime-2.1": _tokens(
            f"{_MODELS}gpt-realtime-2.1", *("4", "0.40", "24", "32", "0.40", "64", "5", "0.50")
        ),
        "gpt-realtime-2.1-mini": _tokens(
            f"{_MODELS}gpt-realtime-2.1-mini", *("0.60", "0.06", "2.40", "10", "0.30", "20", "0.80", "0.08")
        ),
        # The default model. Text input $0.60 is on OpenAI's own gpt-realtime-2.1-mini page (its quick
        # comparison); the other rates come from the pricing page as mirrored by several independent public
        # price tables, which agree with each other (and with gpt-realtime-2.1-mini's page).
        "gpt-realtime-mini": _tokens(
            f"{_MODELS}gpt-realtime-2.1-mini (comparison: text input); {_MIRROR}",
            *("0.60", "0.06", "2.40", "10", "0.30", "20", "0.80", "0.08"),
        ),
        "gpt-4o-realtime-preview": _tokens(
            f"{_MODELS}gpt-4o-realtime-preview (shut down; snapshots 2024-12-17 and 2025-06-03)",
            *("5", "2.50", "20", "40", "2.50", "80"),
        ),
        "gpt-4o-realtime-preview-2024-10-01": _tokens(
            "https://openai.com/index/introducing-the-realtime-api/ (launch prices: audio $100 / $200); "
            "cached audio $20 per the pricing page as quoted in "
            "https://community.openai.com/t/help-me-understand-the-realtime-usage-block/1060242",
            *("5", "2.50", "20", "100", "20", "200"),
        ),
        "gpt-4o-mini-realtime-preview": _tokens(
            f"{_MODELS}gpt-4o-mini-realtime-preview", *("0.60", "0.30", "2.40", "10", "0.30", "20")
        ),
        # Chat Completions audio models the SDK also lists for Realtime sessions; no cached rates published.
        "gpt-audio-1.5": _tokens(f"{_MODELS}gpt-audio-1.5", "2.50", None, "10", "32", None, "64"),
        "gpt-audio-mini": _tokens(
            f"{_MODELS}gpt-audio-mini (text); audio: {_MIRROR}", "0.60", None, "2.40", "10", None, "20"
        ),
        # Input transcription billed by duration, USD per minute.
        "whisper-1": ModelPrice(per_minute="0.006", source=f"{_MODELS}whisper-1"),
        "gpt-realtime-whisper": ModelPrice(per_minute="0.017", source=f"{_MODELS}gpt-realtime-whisper"),
        "gpt-live-transcribe": ModelPrice(per_minute="0.017", source=f"{_MODELS}gpt-live-transcribe"),
        "gpt-transcribe": ModelPrice(per_minute="0.0045", source=f"{_MODELS}gpt-transcribe"),
        # Input transcription billed by tokens: text in (the prompt) / out (the transcript), audio in. The
        # model pages list "$2.50 in / $10 out" under a heading that says audio; the pricing page splits
        # them into text tokens (2.50 / 10) and audio tokens (6 in), which is what the usage reports.
        "gpt-4o-transcribe": _tokens(
            f"{_MODELS}gpt-4o-transcribe (text); audio input: {_MIRROR}", "2.50", None, "10", "6"
        ),
        "gpt-4o-transcribe-diarize": _tokens(
            f"{_MODELS}gpt-4o-transcribe-diarize priced as gpt-4o-transcribe; {_MIRROR}",
            "2.50",
            None,
            "10",
            "6",
        ),
        "gpt-4o-mini-transcribe": _tokens(
            f"{_MODELS}gpt-4o-mini-transcribe (text); audio input: {_MIRROR}", "1.25", None, "5", "3"
        ),
        # Chat models for the supervisor (ChatOpenAI's default), USD per 1M tokens.
        "gpt-4o-mini": _tokens(f"{_MODELS}gpt-4o-mini; {_PRICING}", "0.15", "0.075", "0.60"),
    }
)
"""The built-in price table; see :data:`BUILTIN_PRICING_SOURCE`."""


# (category, TokenUsage field for the quantity, cached field subtracted from it or None)
_TOKEN_CATEGORIES: tuple[tuple[str, str, str | None], ...] = (
    ("text_input", "input_text", "cached_text"),
    ("text_cached_input", "cached_text", None),
    ("audio_input", "input_audio", "cached_audio"),
    ("audio_cached_input", "cached_audio", None),
    ("image_input", "input_image", "cached_image"),
    ("image_cached_input", "cached_image", None),
    ("text_output", "output_text", None),
    ("audio_output", "output_audio", None),
)


@dataclass(frozen=True, slots=True)
class _Usage:
    kind: UsageKind
    model: str
    tokens: TokenUsage
    seconds: Decimal = field(default=Decimal(0))


class PricingCatalog:
    """A dated price table: model name → :class:`ModelPrice`.

    Look-ups fall back from a dated snapshot to its alias (``gpt-realtime-2025-08-28`` →
    ``gpt-realtime``) when the snapshot has no entry of its own, with a note in the estimate.

    Args:
        prices: the table; values are :class:`ModelPrice` or mappings of its fields.
        date: when the prices were read (e.g. ``"2026-11"``).
        source: where they come from.

    Raises:
        ConfigurationError: a model name is empty, or a price is malformed.
    """

    def __init__(self, prices: Mapping[str, PriceLike], *, date: str, source: str) -> None:
        table: dict[str, ModelPrice] = {}
        for model, price in prices.items():
            if not isinstance(model, str) or not model:
                raise ConfigurationError(f"model names must be non-empty strings, not {model!r}")
            table[model] = price if isinstance(price, ModelPrice) else ModelPrice.from_mapping(price)
        self._prices: Mapping[str, ModelPrice] = MappingProxyType(table)
        self._date = str(date)
        self._source = str(source)

    @classmethod
    def default(cls) -> PricingCatalog:
        """The built-in table (:data:`BUILTIN_PRICES`, read :data:`BUILTIN_PRICING_DATE`)."""
        return cls(BUILTIN_PRICES, date=BUILTIN_PRICING_DATE, source=BUILTIN_PRICING_SOURCE)

    @property
    def date(self) -> str:
        """When the prices were read."""
        return self._date

    @property
    def source(self) -> str:
        """Where the prices come from."""
        return self._source

    @property
    def prices(self) -> Mapping[str, ModelPrice]:
        """The table (read-only)."""
        return self._prices

    def with_overrides(
        self,
        prices: Mapping[str, PriceLike] | None = None,
        *,
        date: str | None = None,
        source: str | None = None,
    ) -> PricingCatalog:
        """Return a copy with some prices replaced or added.

        A :class:`ModelPrice` replaces the model's entry; a mapping changes only the fields it names
        (``{"gpt-realtime-mini": {"audio_output": "20"}}`` keeps the other known prices).

        Raises:
            ConfigurationError: a malformed price or an unknown field name.
        """
        table = dict(self._prices)
        for model, price in (prices or {}).items():
            table[model] = (
                price
                if isinstance(price, ModelPrice)
                else ModelPrice.from_mapping(price, base=table.get(model))
            )
        return PricingCatalog(
            table,
            date=self._date if date is None else date,
            source=self._source if source is None else source,
        )

    def price_for(self, model: str) -> ModelPrice | None:
        """The model's prices, falling back from a dated snapshot to its alias; None if unknown."""
        price = self._prices.get(model)
        if price is None:
            price = self._prices.get(_SNAPSHOT_SUFFIX.sub("", model))
        return price

    def estimate(self, usages: Iterable[tuple[UsageKind, str, TokenUsage, Decimal]]) -> CostEstimate:
        """Price usage given as ``(kind, model, tokens, transcription seconds)`` tuples.

        Usage of the same kind and model is added up first, so line items are per model and category.
        """
        merged: dict[tuple[UsageKind, str], _Usage] = {}
        for kind, model, tokens, seconds in usages:
            prior = merged.get((kind, model))
            if prior is None:
                merged[(kind, model)] = _Usage(kind, model, tokens, seconds)
            else:
                merged[(kind, model)] = _Usage(kind, model, prior.tokens + tokens, prior.seconds + seconds)
        items: list[CostLineItem] = []
        notes: list[str] = []
        complete = True
        with decimal.localcontext(_CONTEXT):
            for usage in merged.values():
                complete &= self._price_one(usage, items, notes)
            total = sum((item.cost for item in items), Decimal(0))
        return CostEstimate(
            total=total,
            line_items=tuple(items),
            pricing_date=self._date,
            source=self._source,
            is_complete=complete,
            notes=tuple(notes),
        )

    def _price_one(self, usage: _Usage, items: list[CostLineItem], notes: list[str]) -> bool:
        """Add the usage's line items; return False if some of it had no price (with a note)."""
        kind, model, tokens = usage.kind, usage.model, usage.tokens
        price = self.price_for(model)
        if price is None:
            left_out = [f"{tokens.total_tokens} tokens"] if tokens.total_tokens else []
            if usage.seconds:
                left_out.append(f"{usage.seconds} s of audio")
            if not left_out:
                return True
            notes.append(f"no price for model {model!r} ({kind}): {' and '.join(left_out)} not priced")
            return False
        if model not in self._prices:
            notes.append(f"priced {model!r} as {_SNAPSHOT_SUFFIX.sub('', model)!r} ({kind})")
        missing: list[str] = []
        for category, quantity_field, cached_field in _TOKEN_CATEGORIES:
            quantity = getattr(tokens, quantity_field)
            if cached_field is not None:
                # Cached tokens are part of the input: charge them once, at the cached rate.
                quantity -= getattr(tokens, cached_field)
            if quantity <= 0:
                continue
            unit_price: Decimal | None = getattr(price, category)
            if unit_price is None:
                missing.append(f"{quantity} {category} tokens")
                continue
            cost = Decimal(quantity) * unit_price / _MILLION
            items.append(
                CostLineItem(kind, model, category, Decimal(quantity), "1M tokens", unit_price, cost)
            )
        if tokens.unclassified_tokens:
            missing.append(f"{tokens.unclassified_tokens} tokens without a modality breakdown")
        if usage.seconds:
            if price.per_minute is None:
                missing.append(f"{usage.seconds} s of audio (no per-minute price)")
            else:
                minutes = usage.seconds / _SIXTY
                cost = usage.seconds * price.per_minute / _SIXTY
                items.append(
                    CostLineItem(kind, model, "per_minute", minutes, "minute", price.per_minute, cost)
                )
        if missing:
            notes.append(f"model {model!r} ({kind}) has no price for {', '.join(missing)}; not priced")
        return not missing
