"""Token usage of a call and what it cost: collected as the call runs, priced with exact Decimals.

* :class:`TokenUsage`: token counts by modality (input, cached, output), addable.
* :class:`UsageTracker`: takes Realtime responses, input transcriptions and supervisor chat calls,
  de-duplicated; :meth:`UsageTracker.report` returns a :class:`UsageReport` snapshot with a
  :class:`CostEstimate`.
* :class:`PricingCatalog`: a dated, overridable price table (:class:`ModelPrice` per model).
"""

from rtvoice.usage.pricing import (
    BUILTIN_PRICES,
    BUILTIN_PRICING_DATE,
    BUILTIN_PRICING_SOURCE,
    CostEstimate,
    CostLineItem,
    ModelPrice,
    PriceLike,
    PriceValue,
    PricingCatalog,
    UsageKind,
)
from rtvoice.usage.tokens import TokenUsage, TranscriptionUsage, parse_transcription_usage
from rtvoice.usage.tracker import UsageRecord, UsageReport, UsageTracker

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
    "TokenUsage",
    "TranscriptionUsage",
    "UsageKind",
    "UsageRecord",
    "UsageReport",
    "UsageTracker",
    "parse_transcription_usage",
]
