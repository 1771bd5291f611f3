"""The gateway's Prometheus metrics, served at ``GET /metrics`` (every metric is listed in docs/operations.md).

Each :class:`~rtvoice_gateway.app.Gateway` has its own :class:`GatewayMetrics` with its own
``CollectorRegistry`` (never the process-wide default one), so many gateways can live in one process.
Labels are bounded: ``number`` is a number of the number config or ``other``; ``tool`` is a tool of the
call's agent (at most :data:`MAX_TOOL_LABELS` names, then ``other``); ``type``, ``reason``, ``outcome``
and the token labels come from fixed sets.

A :class:`CallMetrics` watches one call: it listens to the agent's event bus (turns, barge-ins, tools,
errors, usage) and the phone line tells it when agent audio went out and when a frame was dropped.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable
from decimal import Decimal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from rtvoice import events as ev
from rtvoice.usage import TokenUsage, UsageReport

__all__ = ["OTHER", "OUTCOMES", "UNDERRUN_CAUSES", "CallMetrics", "GatewayMetrics"]

OTHER = "other"
#: How a call ended (``rtvoice_calls_total{outcome}``).
OUTCOMES = ("completed", "caller_hung_up", "upstream_lost", "refused", "drained", "error")
#: The most distinct tool names labelled; any further name is counted as ``other``.
MAX_TOOL_LABELS = 64
#: ``rtvoice_upstream_errors_total{type}``: the Realtime API's error types and the runtime's own.
UPSTREAM_ERROR_TYPES = frozenset(
    {
        "invalid_request_error",
        "server_error",
        "rate_limit_exceeded",
        "authentication_error",
        "connection_error",
        "connection_lost",
        "upstream_closed",
    }
)
#: Errors of the call's own parts, not of the upstream.
LOCAL_ERROR_TYPES = frozenset({"device_error", "recording_error", "tool_error"})
_LATENCY_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0)
_CALL_BUCKETS = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)
_UNDERRUN_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
#: ``rtvoice_outbound_underrun_seconds{cause}``: whose the gap in the agent's audio was.
UNDERRUN_CAUSES = ("gateway", "upstream")
_TOOL_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: (direction, modality, TokenUsage field) for ``rtvoice_tokens_total``.
_TOKEN_FIELDS = (
    ("input", "text", "input_text"),
    ("input", "audio", "input_audio"),
    ("input", "image", "input_image"),
    ("input", OTHER, "unclassified_input"),
    ("cached", "text", "cached_text"),
    ("cached", "audio", "cached_audio"),
    ("cached", "image", "cached_image"),
    ("cached", OTHER, "unclassified_cached"),
    ("output", "text", "output_text"),
    ("output", "audio", "output_audio"),
    ("output", OTHER, "unclassified_output"),
)


class GatewayMetrics:
    """Every metric of one gateway, in a registry of its own.

    Args:
        numbers: the configured numbers (``number`` label values; any other is ``other``).
    """

    def __init__(self, numbers: Iterable[str] = ()) -> None:
        self.registry = CollectorRegistry()
        self.numbers = frozenset(numbers)
        self._tools: set[str] = set()
        r = self.registry
        self.calls_active = Gauge(
            "rtvoice_calls_active", "Calls whose media stream is open", ["number"], registry=r
        )
        self.calls = Counter("rtvoice_calls", "Calls ended, by outcome", ["number", "outcome"], registry=r)
        self.call_duration = Histogram(
            "rtvoice_call_duration_seconds",
            "From the accepted media stream to the call's end",
            ["number"],
            buckets=_CALL_BUCKETS,
            registry=r,
        )
        self.first_audio = Histogram(
            "rtvoice_first_audio_seconds",
            "From the voice webhook to the first agent audio frame sent to the carrier",
            ["number"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.response_latency = Histogram(
            "rtvoice_response_latency_seconds",
            "From the end of the caller's turn (speech stopped) to the first agent audio frame sent",
            ["number"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.barge_ins = Counter(
            "rtvoice_barge_ins", "Agent replies the caller interrupted", ["number"], registry=r
        )
        self.tool_duration = Histogram(
            "rtvoice_tool_duration_seconds",
            "Tool calls' run time",
            ["tool"],
            buckets=_TOOL_BUCKETS,
            registry=r,
        )
        self.tool_failures = Counter(
            "rtvoice_tool_failures", "Tool calls that returned an error", ["tool"], registry=r
        )
        self.upstream_errors = Counter(
            "rtvoice_upstream_errors", "Errors of the Realtime session, by type", ["type"], registry=r
        )
        self.upstream_reconnects = Counter(
            "rtvoice_upstream_reconnects",
            "Realtime sessions opened again when the call started because the pre-warm failed",
            registry=r,
        )
        self.frames_dropped = Counter(
            "rtvoice_frames_dropped",
            "Carrier messages refused (by violation kind) and caller frames dropped (mic_queue_full)",
            ["reason"],
            registry=r,
        )
        self.outbound_underruns = Histogram(
            "rtvoice_outbound_underrun_seconds",
            "Times the carrier ran out of agent audio mid-reply, and for how long, by cause: gateway (the "
            "audio was waiting here: the gateway sent it late) or upstream (the agent's audio came late)",
            ["cause"],
            buckets=_UNDERRUN_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "rtvoice_tokens",
            "Tokens used, by direction (input, cached: part of input, output) and modality",
            ["direction", "modality"],
            registry=r,
        )
        self.cost = Counter("rtvoice_cost_usd", "Estimated cost in USD (priced usage only)", registry=r)
        self.requests_refused = Counter(
            "rtvoice_requests_refused",
            "Webhooks and media streams refused, by reason",
            ["reason"],
            registry=r,
        )

    def number(self, to_number: str) -> str:
        """The ``number`` label of a dialled number."""
        return to_number if to_number in self.numbers else OTHER

    def tool(self, name: str, known: Collection[str]) -> str:
        """The ``tool`` label: the name when it is one of the agent's tools (and the cap is not reached)."""
        if name in self._tools:
            return name
        if name in known and len(self._tools) < MAX_TOOL_LABELS:
            self._tools.add(name)
            return name
        return OTHER

    def call_ended(self, number: str, outcome: str, duration_s: float) -> None:
        """Count an ended call (its media stream was open)."""
        self.calls.labels(number, outcome if outcome in OUTCOMES else "error").inc()
        self.call_duration.labels(number).observe(duration_s)

    def call_refused(self, number: str) -> None:
        """Count a call the gateway did not take (draining, no agent, the agent could not be built)."""
        self.calls.labels(number, "refused").inc()

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)


class CallMetrics:
    """The metrics of one call: fed by its agent's event bus and its phone line.

    Args:
        metrics: the gateway's metrics.
        number: the call's ``number`` label.
        tools: the agent's tool names.
        webhook_at: ``time.monotonic()`` when the webhook came.
    """

    def __init__(
        self, metrics: GatewayMetrics, number: str, tools: Collection[str], webhook_at: float
    ) -> None:
        self.metrics = metrics
        self.number = number
        self.tools = frozenset(tools)
        self.webhook_at = webhook_at
        self.first_audio_at: float | None = None
        self.turn_ended_at: float | None = None
        self.responses_timed = 0
        self._tokens = TokenUsage()
        self._cost = Decimal(0)

    def on_event(self, event: ev.AgentEvent) -> None:
        """An agent event (subscribed to the call's agent event bus)."""
        m = self.metrics
        if isinstance(event, ev.UserStoppedSpeaking):
            self.turn_ended_at = time.monotonic()
        elif isinstance(event, ev.UserStartedSpeaking):
            self.turn_ended_at = None  # the caller goes on: the turn has not ended yet
        elif isinstance(event, ev.AgentInterrupted):
            m.barge_ins.labels(self.number).inc()
        elif isinstance(event, ev.ToolFinished):
            tool = m.tool(event.name, self.tools)
            m.tool_duration.labels(tool).observe(event.duration_s)
            if not event.ok:
                m.tool_failures.labels(tool).inc()
        elif isinstance(event, ev.AgentErrorEvent):
            kind = event.error.type
            if kind not in LOCAL_ERROR_TYPES:
                m.upstream_errors.labels(kind if kind in UPSTREAM_ERROR_TYPES else OTHER).inc()
        elif isinstance(event, ev.UsageUpdated) and isinstance(event.report, UsageReport):
            self.usage(event.report)

    def audio_sent(self) -> None:
        """The line sent agent audio to the carrier."""
        now = time.monotonic()
        if self.first_audio_at is None:
            self.first_audio_at = now
            self.metrics.first_audio.labels(self.number).observe(now - self.webhook_at)
        if self.turn_ended_at is not None:
            self.metrics.response_latency.labels(self.number).observe(now - self.turn_ended_at)
            self.responses_timed += 1
            self.turn_ended_at = None

    def underrun(self, cause: str, dry_ms: float) -> None:
        """The carrier ran dry mid-reply for ``dry_ms`` (``cause``: ``gateway`` or ``upstream``)."""
        self.metrics.outbound_underruns.labels(cause if cause in UNDERRUN_CAUSES else OTHER).observe(
            dry_ms / 1000
        )

    def dropped(self, reason: str) -> None:
        """The line dropped a frame (``reason``: a violation kind or ``mic_queue_full``)."""
        self.metrics.frames_dropped.labels(reason).inc()

    def usage(self, report: UsageReport) -> None:
        """The call's usage so far (cumulative): what is new since the last report is counted."""
        total = report.total
        for direction, modality, name in _TOKEN_FIELDS:
            new = getattr(total, name) - getattr(self._tokens, name)
            if new > 0:
                self.metrics.tokens.labels(direction, modality).inc(new)
        self._tokens = total
        cost = report.cost.total
        if cost > self._cost:
            self.metrics.cost.inc(float(cost - self._cost))
            self._cost = cost
