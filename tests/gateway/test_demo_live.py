"""The demo call against the real OpenAI Realtime API (needs OPENAI_API_KEY and network; never in CI)."""

from __future__ import annotations

import io
import os

import pytest

from rtvoice_gateway.demo import run_demo

pytestmark = pytest.mark.live


@pytest.mark.skipif(not os.environ.get("OPENAI_API_KEY"), reason="needs OPENAI_API_KEY")
async def test_demo_call_against_openai() -> None:
    out = io.StringIO()
    assert await run_demo(speed=1.0, verbose=False, out=out) == 0
    assert out.getvalue().count("agent:") >= 3
