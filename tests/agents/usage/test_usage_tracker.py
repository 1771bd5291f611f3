"""UsageTracker: de-duplicated counting, per-model totals, cost, and snapshots that later adds leave alone."""

from __future__ import annotations

import ast
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openai.types.realtime import RealtimeResponseUsage

import rtvoice.usage.pricing
import rtvoice.usage.tokens
import rtvoice.usage.tracker
from rtvoice.exceptions import RemoteProtocolError
from rtvoice.usage import PricingCatalog, TokenUsage, UsageTracker

RESPONSE: dict[str, Any] = {
    "total_tokens": 8300,
    "input_tokens": 6000,
    "output_tokens": 2300,
    "input_token_details": {
        "text_tokens": 1000,
        "audio_tokens": 5000,
        "cached_tokens": 1200,
        "cached_tokens_details": {"text_tokens": 200, "audio_tokens": 1000},
    },
    "output_token_details": {"text_tokens": 300, "audio_tokens": 2000},
}
RESPONSE_COST = Decimal("0.26448")  # see test_usage_pricing: priced by hand at gpt-realtime rates


def test_each_kind_is_counted_once_per_key() -> None:
    tracker = UsageTracker()
    assert tracker.add_response("resp_1", "gpt-realtime", RESPONSE)
    assert not tracker.add_response("resp_1", "gpt-realtime", RESPONSE)  # replayed response.done
    assert tracker.add_response("resp_2", "gpt-realtime", RealtimeResponseUsage.model_validate(RESPONSE))
    duration = {"type": "duration", "seconds": 30}
    assert tracker.add_transcription("item_1", 0, "whisper-1", duration)
    assert not tracker.add_transcription("item_1", 0, "whisper-1", duration)
    assert tracker.add_transcription("item_1", 1, "whisper-1", duration)  # another content part
    assert tracker.add_llm("chatcmpl_1", "gpt-4o-mini", 1000, 100, cached_tokens=400)
    assert not tracker.add_llm("chatcmpl_1", "gpt-4o-mini", 1000, 100, cached_tokens=400)
    assert not tracker.add_response("resp_3", "gpt-realtime", None)  # a response without usage

    report = tracker.report()
    assert [r.id for r in report.records] == ["resp_1", "resp_2", "item_1", "item_1", "chatcmpl_1"]
    assert report.realtime.total_tokens == 2 * 8300
    assert report.transcription == TokenUsage() and report.transcription_seconds == Decimal(60)
    assert report.llm == TokenUsage(input_text=1000, cached_text=400, output_text=100)
    assert report.total == report.realtime + report.llm
    assert set(report.by_model) == {"gpt-realtime", "whisper-1", "gpt-4o-mini"}
    assert report.by_model["gpt-realtime"].output_audio == 4000
    llm_cost = (600 * Decimal("0.15") + 400 * Decimal("0.075") + 100 * Decimal("0.60")) / 1_000_000
    assert report.cost.total == 2 * RESPONSE_COST + Decimal("0.006") + llm_cost
    assert report.cost.is_complete


def test_a_report_is_a_snapshot_that_later_usage_does_not_change() -> None:
    tracker = UsageTracker()
    tracker.add_response("resp_1", "gpt-realtime", RESPONSE)
    early = tracker.report()
    tracker.add_response("resp_2", "gpt-realtime", RESPONSE)
    tracker.add_transcription("item_1", 0, "whisper-1", {"type": "duration", "seconds": 6})
    late = tracker.report()
    assert early.cost.total == RESPONSE_COST and len(early.records) == 1
    assert early.realtime.total_tokens == 8300 and "whisper-1" not in early.by_model
    assert late.cost.total == 2 * RESPONSE_COST + Decimal("0.0006") and len(late.records) == 3
    with pytest.raises(TypeError):
        early.by_model["x"] = TokenUsage()  # type: ignore[index]


def test_transcription_tokens_and_unpriced_models_show_in_the_report() -> None:
    tracker = UsageTracker()
    tokens = {
        "type": "tokens",
        "input_tokens": 50,
        "output_tokens": 10,
        "total_tokens": 60,
        "input_token_details": {"audio_tokens": 50},
    }
    tracker.add_transcription("item_9", 0, "gpt-4o-transcribe", tokens)
    report = tracker.report()
    assert report.transcription == TokenUsage(input_audio=50, output_text=10)
    assert report.records[0].content_index == 0 and report.records[0].seconds is None
    assert report.cost.is_complete and report.cost.total == Decimal("0.0004")  # 50 x $6 + 10 x $10, per 1M
    tracker.add_transcription("item_9", 1, "my-stt", tokens)
    unpriced = tracker.report().cost
    assert not unpriced.is_complete and "'my-stt'" in unpriced.notes[0]
    assert unpriced.total == Decimal("0.0004")


def test_a_custom_catalog_prices_the_report() -> None:
    catalog = PricingCatalog.default().with_overrides(
        {"gpt-4o-transcribe": {"audio_input": "7", "text_output": "10"}}
    )
    tracker = UsageTracker(catalog)
    tracker.add_transcription(
        "item_9",
        0,
        "gpt-4o-transcribe",
        {
            "type": "tokens",
            "input_tokens": 50,
            "output_tokens": 10,
            "total_tokens": 60,
            "input_token_details": {"audio_tokens": 50},
        },
    )
    report = tracker.report()
    assert tracker.pricing is catalog
    assert report.cost.is_complete and report.cost.total == Decimal("0.00045")  # 50 x $7 + 10 x $10, per 1M


def test_bad_arguments_and_malformed_usage_raise() -> None:
    tracker = UsageTracker()
    with pytest.raises(ValueError, match="response_id"):
        tracker.add_response("", "gpt-realtime", RESPONSE)
    with pytest.raises(ValueError, match="content_index"):
        tracker.add_transcription("item", -1, "whisper-1", {"type": "duration", "seconds": 1})
    with pytest.raises(RemoteProtocolError):
        tracker.add_response("resp_x", "gpt-realtime", {"input_tokens": -3})
    with pytest.raises(RemoteProtocolError):
        tracker.add_llm("c", "gpt-4o-mini", 10, 5, cached_tokens=11)
    with pytest.raises(RemoteProtocolError):
        tracker.add_llm("c", "gpt-4o-mini", -1, 5)
    assert tracker.report().records == ()  # nothing malformed was counted
    assert tracker.add_response("resp_x", "gpt-realtime", RESPONSE)  # a rejected add does not use up the id


@pytest.mark.parametrize("module", [rtvoice.usage.tokens, rtvoice.usage.pricing, rtvoice.usage.tracker])
def test_the_usage_core_reads_no_clock_and_does_no_io(module: object) -> None:
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))  # type: ignore[attr-defined]
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not imported & {"asyncio", "time", "socket", "os", "io", "pathlib", "uuid", "datetime"}
