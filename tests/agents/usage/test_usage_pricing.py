"""PricingCatalog and CostEstimate: exact Decimal arithmetic, cached tokens once, honest gaps, overrides."""

from __future__ import annotations

import decimal
import inspect
from decimal import Decimal

import pytest

from rtvoice import RealtimeAgent
from rtvoice.exceptions import ConfigurationError
from rtvoice.llm import ChatOpenAI
from rtvoice.options import RealtimeModel, TranscriptionModel
from rtvoice.usage import (
    BUILTIN_PRICING_DATE,
    ModelPrice,
    PricingCatalog,
    TokenUsage,
)

ZERO = Decimal(0)
CALL = TokenUsage(
    input_text=1000,
    input_audio=5000,
    cached_text=200,
    cached_audio=1000,
    output_text=300,
    output_audio=2000,
)


def test_cached_tokens_are_charged_at_the_cached_rate_and_only_there() -> None:
    estimate = PricingCatalog.default().estimate([("realtime", "gpt-realtime", CALL, ZERO)])
    # By hand, per 1M tokens: 800 text x $4, 200 cached text x $0.40, 4000 audio x $32,
    # 1000 cached audio x $0.40, 300 text out x $16, 2000 audio out x $64.
    assert estimate.total == Decimal("0.0032") + Decimal("0.00008") + Decimal("0.128") + Decimal(
        "0.0004"
    ) + Decimal("0.0048") + Decimal("0.128")
    assert estimate.total == Decimal("0.26448")
    assert estimate.is_complete and estimate.notes == ()
    by_category = {item.category: (item.quantity, item.cost) for item in estimate.line_items}
    assert by_category["text_input"] == (Decimal(800), Decimal("0.0032"))
    assert by_category["audio_cached_input"] == (Decimal(1000), Decimal("0.0004"))
    assert sum(item.cost for item in estimate.line_items) == estimate.total
    assert (
        estimate.pricing_date == BUILTIN_PRICING_DATE == "2026-12-03"
        and "developers.openai.com" in estimate.source
    )
    assert estimate.currency == "USD"


def test_every_builtin_realtime_model_uses_its_own_row() -> None:
    catalog = PricingCatalog.default()
    one_each = TokenUsage(
        input_text=1_000_000, input_audio=1_000_000, output_text=1_000_000, output_audio=1_000_000
    )
    totals = {
        model: catalog.estimate([("realtime", model, one_each, ZERO)]).total
        for model in ("gpt-realtime", "gpt-realtime-1.5", "gpt-realtime-2", "gpt-realtime-2.1-mini")
    }
    assert totals == {
        "gpt-realtime": Decimal(4 + 16 + 32 + 64),
        "gpt-realtime-1.5": Decimal(4 + 16 + 32 + 64),
        "gpt-realtime-2": Decimal(4 + 24 + 32 + 64),
        "gpt-realtime-2.1-mini": Decimal("0.60") + Decimal("2.40") + Decimal(10) + Decimal(20),
    }


def test_transcription_by_duration_and_chat_tokens_are_priced() -> None:
    catalog = PricingCatalog.default()
    whisper = catalog.estimate([("transcription", "whisper-1", TokenUsage(), Decimal("90"))])
    assert whisper.total == Decimal("0.009")  # 1.5 min x $0.006
    assert whisper.line_items[0].unit == "minute" and whisper.line_items[0].quantity == Decimal("1.5")
    chat = TokenUsage(input_text=10_000, cached_text=2_000, output_text=500)
    llm = catalog.estimate([("llm", "gpt-4o-mini", chat, ZERO)])
    assert llm.total == Decimal("0.0012") + Decimal("0.00015") + Decimal("0.0003")


def test_arithmetic_is_exact_whatever_the_callers_decimal_context() -> None:
    catalog = PricingCatalog.default()
    odd = TokenUsage(input_audio=123_457, output_audio=98_761, input_text=7, cached_text=3)
    with decimal.localcontext(decimal.Context(prec=3)):  # a caller's context must not round our sums
        estimate = catalog.estimate([("realtime", "gpt-realtime-2.1-mini", odd, ZERO)] * 3)
    expected = 3 * (
        Decimal(123_457) * Decimal(10)
        + Decimal(98_761) * Decimal(20)
        + 4 * Decimal("0.60")
        + 3 * Decimal("0.06")
    )
    assert estimate.total == expected / Decimal(1_000_000)
    assert estimate.total == Decimal("9.62937774")  # 3 x (1,234,570 + 1,975,220 + 2.4 + 0.18) / 1M


def test_usage_of_a_model_without_a_price_makes_the_estimate_incomplete() -> None:
    catalog = PricingCatalog.default()
    estimate = catalog.estimate(
        [("realtime", "gpt-realtime", CALL, ZERO), ("realtime", "my-finetune", CALL, ZERO)]
    )
    assert not estimate.is_complete
    assert estimate.total == Decimal("0.26448")  # the unpriced model is left out, not guessed
    assert len(estimate.notes) == 1 and "'my-finetune'" in estimate.notes[0]


def test_a_model_with_only_some_prices_is_priced_where_it_can_and_flagged() -> None:
    catalog = PricingCatalog.default()  # gpt-audio-1.5 has no published cached rates
    uncached = TokenUsage(input_text=1_000_000, output_audio=1_000_000)
    no_cache = catalog.estimate([("realtime", "gpt-audio-1.5", uncached, ZERO)])
    assert no_cache.is_complete and no_cache.total == Decimal("2.50") + Decimal(64)
    with_cache = catalog.estimate([("realtime", "gpt-audio-1.5", CALL, ZERO)])
    assert not with_cache.is_complete
    # 800 text x $2.50, 4000 audio x $32, 300 text out x $10, 2000 audio out x $64; the cached 1200 left out.
    assert with_cache.total == (800 * Decimal("2.50") + 4000 * 32 + 300 * 10 + 2000 * 64) / Decimal(1_000_000)
    assert "'gpt-audio-1.5'" in with_cache.notes[0]
    assert "200 text_cached_input" in with_cache.notes[0] and "1000 audio_cached_input" in with_cache.notes[0]


def test_every_model_the_library_accepts_is_priced() -> None:
    """The defaults (gpt-realtime-mini, ChatOpenAI's gpt-4o-mini) and every enum member have a price."""
    catalog = PricingCatalog.default()
    realtime = [model.value for model in RealtimeModel]
    transcription = [model.value for model in TranscriptionModel]
    assert inspect.signature(RealtimeAgent.__init__).parameters["model"].default == "gpt-realtime-mini"
    assert inspect.signature(ChatOpenAI.__init__).parameters["model"].default == "gpt-4o-mini"
    for model in (*realtime, *transcription, "gpt-4o-mini"):
        price = catalog.price_for(model)
        assert price is not None, model
        assert price.source, model
    # A realtime response of every modality is priced completely for every realtime model...
    every = TokenUsage(input_text=10, input_audio=20, output_text=30, output_audio=40)
    for model in realtime:
        assert catalog.estimate([("realtime", model, every, ZERO)]).is_complete, model
    # ...and so is each transcription model's usage: tokens, or a duration.
    tokens = TokenUsage(input_text=5, input_audio=50, output_text=10)
    for model in transcription:
        price = catalog.price_for(model)
        assert price is not None
        usage = (TokenUsage(), Decimal(30)) if price.per_minute is not None else (tokens, ZERO)
        assert catalog.estimate([("transcription", model, *usage)]).is_complete, model


def test_the_default_model_is_priced_in_full() -> None:
    estimate = PricingCatalog.default().estimate([("realtime", "gpt-realtime-mini", CALL, ZERO)])
    # By hand, per 1M tokens: 800 text x $0.60, 200 cached x $0.06, 4000 audio x $10, 1000 cached x $0.30,
    # 300 text out x $2.40, 2000 audio out x $20.
    expected = (
        800 * Decimal("0.60")
        + 200 * Decimal("0.06")
        + 4000 * 10
        + 1000 * Decimal("0.30")
        + 300 * Decimal("2.40")
        + 2000 * 20
    ) / Decimal(1_000_000)
    assert estimate.is_complete and estimate.total == expected == Decimal("0.081512")


def test_unclassified_tokens_and_unpriced_durations_are_flagged() -> None:
    catalog = PricingCatalog.default()
    vague = catalog.estimate([("realtime", "gpt-realtime", TokenUsage(unclassified_input=100), ZERO)])
    assert not vague.is_complete and "without a modality breakdown" in vague.notes[0]
    minutes_on_token_model = catalog.estimate(
        [("transcription", "gpt-realtime-2", TokenUsage(), Decimal(60))]
    )
    assert not minutes_on_token_model.is_complete and minutes_on_token_model.total == 0


def test_a_dated_snapshot_is_priced_like_its_alias_with_a_note() -> None:
    estimate = PricingCatalog.default().estimate([("realtime", "gpt-realtime-2025-08-28", CALL, ZERO)])
    assert estimate.total == Decimal("0.26448") and estimate.is_complete
    assert estimate.notes == ("priced 'gpt-realtime-2025-08-28' as 'gpt-realtime' (realtime)",)


def test_overrides_change_fields_add_models_and_leave_the_original_alone() -> None:
    base = PricingCatalog.default()
    custom = base.with_overrides(
        {
            "gpt-realtime-mini": {"text_cached_input": "0.06", "text_output": "2.40", "audio_input": 10},
            "gpt-audio-1.5": {"audio_cached_input": "0.40"},
            "my-finetune": ModelPrice(text_input=Decimal("1"), text_output="2", source="contract"),
        },
        date="2027-01",
        source="our contract",
    )
    mini = custom.price_for("gpt-realtime-mini")
    assert mini is not None and mini.text_input == Decimal("0.60") and mini.text_output == Decimal("2.40")
    assert mini.audio_input == Decimal(10) and mini.audio_output == Decimal(20)
    assert custom.date == "2027-01" and custom.source == "our contract"
    estimate = custom.estimate(
        [("llm", "my-finetune", TokenUsage(input_text=500_000, output_text=250_000), ZERO)]
    )
    assert estimate.total == Decimal("1.0") and estimate.pricing_date == "2027-01"
    assert base.price_for("my-finetune") is None
    audio = custom.price_for("gpt-audio-1.5")
    assert audio is not None and audio.audio_cached_input == Decimal("0.40") and audio.audio_input == 32
    original = base.price_for("gpt-audio-1.5")
    assert original is not None and original.audio_cached_input is None


def test_a_catalog_built_from_scratch() -> None:
    catalog = PricingCatalog({"m": {"per_minute": "0.01"}}, date="2026-12", source="test")
    assert set(catalog.prices) == {"m"}
    estimate = catalog.estimate([("transcription", "m", TokenUsage(), Decimal(30))])
    assert estimate.total == Decimal("0.005") and estimate.source == "test"


@pytest.mark.parametrize(
    "bad",
    [
        {"text_input": 0.1},
        {"text_input": "-1"},
        {"text_input": "abc"},
        {"text_input": "NaN"},
        {"colour": "1"},
    ],
)
def test_malformed_prices_raise_configuration_error(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        PricingCatalog.default().with_overrides({"x": bad})  # type: ignore[dict-item]


def test_empty_model_names_are_refused() -> None:
    with pytest.raises(ConfigurationError):
        PricingCatalog({"": ModelPrice()}, date="d", source="s")


def test_an_unknown_model_with_only_audio_seconds_is_flagged_and_one_without_usage_is_not() -> None:
    catalog = PricingCatalog.default()
    seconds = catalog.estimate([("transcription", "new-asr", TokenUsage(), Decimal(12))])
    assert not seconds.is_complete and "12 s of audio" in seconds.notes[0]
    nothing = catalog.estimate([("transcription", "new-asr", TokenUsage(), ZERO)])
    assert nothing.is_complete and nothing.total == 0 and nothing.notes == ()


def test_a_price_source_must_be_text() -> None:
    with pytest.raises(ConfigurationError, match="source"):
        ModelPrice(source=7)  # type: ignore[arg-type]
