"""Fault matrix, upstream (the Realtime session): each row breaks the faulty call's session only, and the
healthy call beside it completes its turn (see ``support.faults.fault_row`` for the checks every row makes:
nothing left behind, valid recordings)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtvoice.testing import Faults
from support.faults import fault_row, heard_apology, phone_agent
from support.gateway import sounding, wait_until

# Server events of the faulty session: 1 session.created, 2 session.updated, then the greeting's
# response.created, output item, content part, and 100 ms audio deltas: event 12 is inside its audio.
MID_GREETING = 12


async def test_upstream_closes_mid_response(tmp_path: Path) -> None:
    """The Realtime server closes the socket (1011) in the middle of the greeting's audio: the caller heard
    part of the greeting, then the apology, then the gateway closes the line (ended by ``upstream``)."""
    async with fault_row(tmp_path, faults=Faults(close_at_event=MID_GREETING)) as row:
        await row.healthy()
        call = await row.faulty()
        await row.ended("faulty")
        summary = row.summary("faulty")
        assert summary is not None and summary.ended_by == "upstream"
        assert call.closed_by == "gateway"
        assert heard_apology(call)
        assert len(sounding(call)) > 8 * (500 + 200)  # some greeting before the 500 ms apology


async def test_upstream_stalls_mid_response_and_the_watchdog_ends_the_call(tmp_path: Path) -> None:
    """The server stops sending in the middle of the greeting (it stalls for a minute): after the agent's
    ``upstream_timeout_seconds`` of silence (0.5 s here; 15 s by default) the session ends with
    ``upstream_timeout``, the caller hears the apology, and the line closes. Without the watchdog the
    caller would sit in silence until the upstream's TCP connection died."""
    faults = Faults(stall_at_event=MID_GREETING, stall_seconds=60)
    async with fault_row(tmp_path, faults=faults, factory=phone_agent(upstream_timeout_seconds=0.5)) as row:
        await row.healthy()
        call = await row.faulty()
        await row.ended("faulty")
        summary = row.summary("faulty")
        assert summary is not None and summary.ended_by == "upstream"
        assert summary.result is not None and summary.result.stop_reason == "upstream_timeout"
        assert heard_apology(call)


async def test_upstream_server_error_is_fatal(tmp_path: Path) -> None:
    """An ``error`` event of type ``server_error`` mid-response is fatal: the session ends with
    ``upstream_error``, the caller hears the apology, the line closes."""
    faults = Faults(error_at_event=MID_GREETING)  # the default error is a server_error
    async with fault_row(tmp_path, faults=faults) as row:
        await row.healthy()
        call = await row.faulty()
        await row.ended("faulty")
        summary = row.summary("faulty")
        assert summary is not None and summary.ended_by == "upstream"
        assert summary.result is not None and summary.result.stop_reason == "upstream_error"
        assert summary.result.error is not None and summary.result.error.type == "server_error"
        assert heard_apology(call)


async def test_upstream_rate_limit_error_is_logged_and_the_call_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An ``error`` event of type ``rate_limit_exceeded`` is not fatal: it is logged, and the call goes on
    (the faulty caller still hears its greeting and an answer, and hangs up normally)."""
    error = {
        "type": "rate_limit_exceeded",
        "code": "rate_limit_exceeded",
        "message": "Rate limit reached for requests.",
        "param": None,
        "event_id": None,
    }
    async with fault_row(tmp_path, faults=Faults(error_at_event=MID_GREETING, error=error)) as row:
        await row.healthy()
        await row.faulty()
        await row.converse("faulty")
        await row.hang_up("faulty")
        summary = row.summary("faulty")
        assert summary is not None and summary.ended_by == "caller"
        assert summary.result is not None and summary.result.error is None
    assert any("rate_limit_exceeded" in r.getMessage() for r in caplog.records)


async def test_session_cap_reached(tmp_path: Path) -> None:
    """The Realtime session hits its maximum duration (60 minutes at OpenAI; 1.5 s here): the server closes
    with 1001 and "Your session hit the maximum duration"; the gateway apologises and closes the line (a
    call cannot outlive its session; ended by ``upstream``)."""
    async with fault_row(tmp_path, faults=Faults(max_session_seconds=1.5)) as row:
        await row.healthy()
        call = await row.faulty()
        await row.ended("faulty")
        summary = row.summary("faulty")
        assert summary is not None and summary.ended_by == "upstream"
        assert summary.result is not None and summary.result.stop_reason == "upstream_closed"
        assert summary.result.error is not None and summary.result.error.code == "1001"
        assert heard_apology(call)


async def test_a_short_upstream_stall_mid_response_is_counted_as_an_upstream_underrun(tmp_path: Path) -> None:
    """The server pauses for 1 s in the middle of the greeting, less than the watchdog's timeout: the
    carrier runs out of agent audio, the greeting goes on when the server does, and the gateway counts the
    gap as the upstream's (``rtvoice_outbound_underrun_seconds{cause="upstream"}``), as long as the caller
    heard it (on the carrier's clock: the simulated carrier runs at ``SPEED``)."""
    faults = Faults(stall_at_event=MID_GREETING, stall_seconds=1.0)
    async with fault_row(tmp_path, faults=faults) as row:
        await row.healthy()
        call = await row.faulty()
        await wait_until(lambda: len(list(call.heard_spans(min_gap_ms=1000))) == 2, 15, "the greeting's rest")
        (_, gap_from), (gap_to, _) = call.heard_spans(min_gap_ms=1000)
        registry = row.live.gateway.metrics.registry

        def upstream(name: str, **labels: str) -> float:
            value = registry.get_sample_value(
                f"rtvoice_outbound_underrun_seconds_{name}", {"cause": "upstream", **labels}
            )
            return value or 0.0

        # One gap of more than 2.5 s (1 s of wall time at SPEED 4, less what the carrier held): the stall.
        assert upstream("count") - upstream("bucket", le="2.5") == 1
        heard_gap_s = (gap_to - gap_from) / 1000
        assert heard_gap_s > 2.5
        assert upstream("sum") == pytest.approx(heard_gap_s, abs=0.25)  # (plus a few tiny ones, if any)
        await row.hang_up("faulty")
