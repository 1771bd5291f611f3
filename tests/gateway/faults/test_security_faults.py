"""Fault matrix, security: replayed stream tokens and bad signatures are refused before anything upstream is
used (or the pre-warmed session is closed at once); the other call goes on. Checks of every row:
``support.faults.fault_row``."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest
from websockets.exceptions import InvalidStatus

from rtvoice_gateway.testing import SimulatedCall
from support.faults import fault_row
from support.gateway import PUBLIC, wait_until


async def test_replayed_stream_token_is_refused_and_the_first_stream_goes_on(tmp_path: Path) -> None:
    """A second upgrade with a stream token already used (a replay) gets HTTP 403 and opens nothing; the
    call that used it first goes on (answered, hangs up normally)."""
    async with fault_row(tmp_path) as row:
        await row.healthy()
        call = await row.faulty()
        replay = row.live.call()
        assert call.twiml is not None and call.twiml.stream_url
        with pytest.raises(InvalidStatus) as refused:
            await replay.connect(stream_url=call.twiml.stream_url)
        assert refused.value.response.status_code == 403
        assert row.live.gateway.refused == {"stream token used twice": 1}
        await row.converse("faulty")
        await row.hang_up("faulty")
        summary = row.summary("faulty")
        assert summary is not None and summary.ended_by == "caller"
    assert len(row.sim.sessions) == 2


async def test_bad_webhook_signature_is_refused_before_any_session(tmp_path: Path) -> None:
    """A webhook with a bad ``X-Twilio-Signature`` gets HTTP 403: no agent is built, no session opened."""
    async with fault_row(tmp_path, recordings=1) as row:
        await row.healthy()
        forged = SimulatedCall(row.live.base_url, auth_token="not-the-token", public_url=PUBLIC)
        with pytest.raises(httpx2.HTTPStatusError) as refused:
            await forged.dial()
        assert refused.value.response.status_code == 403
        assert row.live.gateway.refused == {"bad webhook signature": 1}
        assert len(row.sim.sessions) == 1  # the healthy call's only
        assert forged.call_sid not in row.live.gateway.pending


async def test_bad_upgrade_signature_is_refused_and_the_prewarm_closed(tmp_path: Path) -> None:
    """A WebSocket upgrade with a bad signature gets HTTP 403; the session pre-warmed for that call is
    closed at once (not at the token's expiry) and its token is spent."""
    async with fault_row(tmp_path, recordings=1) as row:
        await row.healthy()
        call = await row.faulty(connect=False)
        with pytest.raises(InvalidStatus) as refused:
            await call.connect(signature="bm90IGEgc2lnbmF0dXJl")
        assert refused.value.response.status_code == 403
        await wait_until(lambda: len(row.sim.close_times) == 1, 5, "the pre-warmed session's close")
        assert row.live.gateway.refused == {"bad upgrade signature": 1}
        assert call.call_sid not in row.live.gateway.pending
