"""The gateway does a first call's one-time work at start-up, so no call blocks the loop with it."""

from __future__ import annotations

import asyncio
import logging

import pytest
from openai import AsyncOpenAI

from rtvoice import ConfigurationError, OpenAIProvider, RealtimeAgent, ServerVAD
from rtvoice.testing import RealtimeSimulator, Say, ScriptedBrain
from rtvoice_gateway.numbers import CallDetails
from support.gateway import live_gateway, open_call, wait_until
from support.timing import seconds


def factory(details: CallDetails) -> RealtimeAgent:
    return RealtimeAgent(instructions="You answer the phone.", turn_detection=ServerVAD())


class CountingProvider(OpenAIProvider):
    """Counts the SDK clients it makes; with ``fail``, cannot make one."""

    def __init__(self, *, fail: bool = False, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.fail = fail
        self.created = 0

    def create_client(self) -> AsyncOpenAI:
        self.created += 1
        if self.fail:
            raise ConfigurationError("no client today")
        return super().create_client()


async def test_the_provider_client_exists_before_the_first_call_and_serves_every_call() -> None:
    async with RealtimeSimulator(brain=ScriptedBrain([Say("Hello.")] * 4)) as sim:
        provider = CountingProvider(api_key="sk-test", websocket_base_url=sim.url)
        async with live_gateway(factory, sim=sim, entry={"greeting": "Greet."}, provider=provider) as live:
            assert provider.created == 1  # at start-up, before any webhook
            for _ in range(2):
                call, runner = await open_call(live, speed=2)
                await wait_until(lambda c=call: c.first_audio_at is not None, 20, "the greeting")  # type: ignore[misc]
                call.hang_up()
                async with asyncio.timeout(seconds(10)):
                    await runner
            assert provider.created == 1


async def test_a_provider_that_cannot_warm_up_is_logged_and_the_gateway_starts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="rtvoice_gateway")
    async with RealtimeSimulator() as sim:
        provider = CountingProvider(fail=True, api_key="sk-test", websocket_base_url=sim.url)
        async with live_gateway(factory, sim=sim, provider=provider) as live:
            assert live.server.port > 0
            assert provider.created == 1
    assert any(
        "could not warm up the Realtime provider (no client today)" in r.message for r in caplog.records
    )
