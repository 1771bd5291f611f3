"""deploy/grafana/rtvoice-gateway.json: a Grafana dashboard over the gateway's metrics, with a panel for each
thing an operator watches, every query on a metric the gateway exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD: dict[str, Any] = json.loads((ROOT / "deploy" / "grafana" / "rtvoice-gateway.json").read_text())
PANELS: list[dict[str, Any]] = DASHBOARD["panels"]
EXPRS = [target["expr"] for panel in PANELS for target in panel["targets"]]


def used_metrics() -> set[str]:
    return {name for expr in EXPRS for name in re.findall(r"\b(rtvoice_[a-z_]+)\b", expr)}


def test_the_dashboard_is_importable() -> None:
    assert DASHBOARD["uid"] and DASHBOARD["title"] and DASHBOARD["schemaVersion"] >= 36
    assert [var["name"] for var in DASHBOARD["templating"]["list"]] == ["datasource"]
    ids = [panel["id"] for panel in PANELS]
    assert len(ids) == len(set(ids))
    for panel in PANELS:
        assert panel["datasource"]["uid"] == "${datasource}" and panel["targets"], panel["title"]
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24
    # No two panels overlap on the grid.
    cells = [
        (x, y)
        for p in PANELS
        for x in range(p["gridPos"]["x"], p["gridPos"]["x"] + p["gridPos"]["w"])
        for y in range(p["gridPos"]["y"], p["gridPos"]["y"] + p["gridPos"]["h"])
    ]
    assert len(cells) == len(set(cells))


@pytest.mark.parametrize(
    ("subject", "metric"),
    [
        ("active calls", "rtvoice_calls_active"),
        ("calls by outcome", "rtvoice_calls_total"),
        ("call durations", "rtvoice_call_duration_seconds_bucket"),
        ("response latency", "rtvoice_response_latency_seconds_bucket"),
        ("barge-ins", "rtvoice_barge_ins_total"),
        ("tool failures", "rtvoice_tool_failures_total"),
        ("upstream errors", "rtvoice_upstream_errors_total"),
        ("frames dropped", "rtvoice_frames_dropped_total"),
        ("tokens", "rtvoice_tokens_total"),
        ("cost", "rtvoice_cost_usd_total"),
    ],
)
def test_a_panel_shows(subject: str, metric: str) -> None:
    assert metric in used_metrics(), f"no panel shows {subject} ({metric})"


def test_response_latency_shows_p50_and_p99() -> None:
    latency = [e for e in EXPRS if "rtvoice_response_latency_seconds_bucket" in e]
    assert {re.search(r"histogram_quantile\((0\.\d+),", e)[1] for e in latency} >= {"0.5", "0.99"}  # type: ignore[index]
    outcome = [e for e in EXPRS if "rtvoice_calls_total" in e and "by (outcome)" in e]
    assert outcome


def test_every_metric_queried_is_one_the_gateway_exports() -> None:
    metrics = pytest.importorskip(
        "rtvoice_gateway.metrics", reason="the metrics module (issue 12, /metrics) is on another branch"
    )
    exported: set[str] = set()
    for family in metrics.GatewayMetrics().registry.collect():
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}.get(family.type, [""])
        exported |= {family.name + suffix for suffix in suffixes}
    assert used_metrics() <= exported, used_metrics() - exported
