"""The metric definitions and the per-call observer: bounded labels, cumulative usage counted once, one
registry per gateway."""

from __future__ import annotations

import time

import pytest
from prometheus_client import REGISTRY

from rtvoice import events as ev
from rtvoice.usage import UsageTracker
from rtvoice_gateway.metrics import MAX_TOOL_LABELS, OTHER, CallMetrics, GatewayMetrics

NUMBER = "+15550100001"


def sample(metrics: GatewayMetrics, name: str, **labels: str) -> float:
    found = metrics.registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


def usage(audio_in: int, text_in: int, cached_audio: int, audio_out: int) -> dict[str, object]:
    return {
        "input_tokens": audio_in + text_in,
        "output_tokens": audio_out,
        "input_token_details": {
            "audio_tokens": audio_in,
            "text_tokens": text_in,
            "cached_tokens": cached_audio,
            "cached_tokens_details": {"audio_tokens": cached_audio},
        },
        "output_token_details": {"audio_tokens": audio_out},
    }


def test_each_gateway_has_its_own_registry_and_the_default_one_is_untouched() -> None:
    one, two = GatewayMetrics([NUMBER]), GatewayMetrics([NUMBER])
    one.call_ended(NUMBER, "completed", 12.0)
    assert sample(one, "rtvoice_calls_total", number=NUMBER, outcome="completed") == 1
    assert sample(two, "rtvoice_calls_total", number=NUMBER, outcome="completed") == 0
    assert (
        REGISTRY.get_sample_value("rtvoice_calls_total", {"number": NUMBER, "outcome": "completed"}) is None
    )
    assert b'rtvoice_calls_total{number="+15550100001",outcome="completed"} 1.0' in one.render()


def test_labels_are_bounded() -> None:
    metrics = GatewayMetrics([NUMBER])
    assert metrics.number(NUMBER) == NUMBER and metrics.number("+15550109999") == OTHER
    metrics.call_ended(OTHER, "something new", 1.0)
    assert sample(metrics, "rtvoice_calls_total", number=OTHER, outcome="error") == 1
    known = {f"tool_{n}" for n in range(MAX_TOOL_LABELS + 10)}
    labels = {metrics.tool(name, known) for name in sorted(known)}
    assert len(labels) == MAX_TOOL_LABELS + 1 and OTHER in labels
    assert metrics.tool("not_a_tool_of_the_agent", known) == OTHER
    assert metrics.tool(sorted(known)[0], known) == sorted(known)[0]  # a labelled name stays labelled


def test_the_observer_counts_cumulative_usage_once_and_prices_it() -> None:
    metrics = GatewayMetrics([NUMBER])
    observer = CallMetrics(metrics, NUMBER, [], webhook_at=0.0)
    tracker = UsageTracker()
    tracker.add_response("resp_1", "gpt-realtime", usage(100, 20, 40, 50))
    first = tracker.report()
    observer.on_event(ev.UsageUpdated(report=first))
    observer.on_event(ev.UsageUpdated(report=first))  # the same report again adds nothing
    tracker.add_response("resp_2", "gpt-realtime", usage(200, 0, 100, 80))
    observer.usage(tracker.report())  # the call's end: the final report
    assert sample(metrics, "rtvoice_tokens_total", direction="input", modality="audio") == 300
    assert sample(metrics, "rtvoice_tokens_total", direction="input", modality="text") == 20
    assert sample(metrics, "rtvoice_tokens_total", direction="cached", modality="audio") == 140
    assert sample(metrics, "rtvoice_tokens_total", direction="output", modality="audio") == 130
    cost = float(tracker.report().cost.total)
    assert cost > 0 and abs(sample(metrics, "rtvoice_cost_usd_total") - cost) < 1e-9


def test_the_observer_times_turns_and_counts_events() -> None:
    metrics = GatewayMetrics([NUMBER])
    observer = CallMetrics(metrics, NUMBER, ["lookup"], webhook_at=0.0)
    observer.audio_sent()  # the greeting: first audio, no turn ended yet
    observer.audio_sent()
    assert sample(metrics, "rtvoice_first_audio_seconds_count", number=NUMBER) == 1
    assert sample(metrics, "rtvoice_response_latency_seconds_count", number=NUMBER) == 0
    observer.on_event(ev.UserStoppedSpeaking())
    observer.on_event(ev.UserStartedSpeaking())  # the caller went on: the turn is not over
    observer.audio_sent()
    assert sample(metrics, "rtvoice_response_latency_seconds_count", number=NUMBER) == 0
    observer.on_event(ev.UserStoppedSpeaking())
    observer.audio_sent()
    observer.audio_sent()  # the rest of the same reply
    assert sample(metrics, "rtvoice_response_latency_seconds_count", number=NUMBER) == 1
    observer.on_event(ev.AgentInterrupted(item_id="item_1", played_ms=800))
    observer.on_event(ev.ToolFinished(call_id="c1", name="lookup", ok=True, duration_s=0.2))
    observer.on_event(ev.ToolFinished(call_id="c2", name="lookup", ok=False, error="x", duration_s=0.1))
    observer.on_event(ev.AgentErrorEvent(error=ev.AgentError(type="server_error", message="boom")))
    observer.on_event(ev.AgentErrorEvent(error=ev.AgentError(type="made_up_error", message="?")))
    observer.on_event(ev.AgentErrorEvent(error=ev.AgentError(type="device_error", message="local")))
    observer.dropped("mic_queue_full")
    assert sample(metrics, "rtvoice_barge_ins_total", number=NUMBER) == 1
    assert sample(metrics, "rtvoice_tool_duration_seconds_count", tool="lookup") == 2
    assert sample(metrics, "rtvoice_tool_failures_total", tool="lookup") == 1
    assert sample(metrics, "rtvoice_upstream_errors_total", type="server_error") == 1
    assert sample(metrics, "rtvoice_upstream_errors_total", type=OTHER) == 1
    assert sample(metrics, "rtvoice_upstream_errors_total", type="device_error") == 0
    assert sample(metrics, "rtvoice_frames_dropped_total", reason="mic_queue_full") == 1


def test_underruns_are_observed_by_cause_in_seconds() -> None:
    metrics = GatewayMetrics([NUMBER])
    observer = CallMetrics(metrics, NUMBER, (), time.monotonic())
    observer.underrun("gateway", 30.0)
    observer.underrun("upstream", 4.0)
    observer.underrun("upstream", 1500.0)
    observer.underrun("elsewhere", 1.0)  # not a cause of ours: bounded as other
    name = "rtvoice_outbound_underrun_seconds"
    assert sample(metrics, f"{name}_count", cause="gateway") == 1
    assert sample(metrics, f"{name}_sum", cause="gateway") == pytest.approx(0.03)
    assert sample(metrics, f"{name}_bucket", cause="gateway", le="0.02") == 0
    assert sample(metrics, f"{name}_bucket", cause="gateway", le="0.05") == 1
    assert sample(metrics, f"{name}_count", cause="upstream") == 2
    assert sample(metrics, f"{name}_bucket", cause="upstream", le="0.01") == 1
    assert sample(metrics, f"{name}_bucket", cause="upstream", le="1.0") == 1
    assert sample(metrics, f"{name}_count", cause=OTHER) == 1
