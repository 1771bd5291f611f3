"""A gateway on loopback for end-to-end tests: uvicorn on port 0, the Realtime simulator, a fake carrier API."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass

from rtvoice import OpenAIProvider, RealtimeAgent
from rtvoice.testing import RealtimeSimulator, speech
from rtvoice.testing.embedded_server import EmbeddedServer
from rtvoice_codecs import StreamResampler, pcm16_to_ulaw
from rtvoice_gateway.app import Gateway, create_app
from rtvoice_gateway.numbers import CallDetails, NumberConfig, NumberEntry
from rtvoice_gateway.settings import Settings
from rtvoice_gateway.testing import FakeCarrierAPI, SimulatedCall

__all__ = ["PUBLIC", "TOKEN", "LiveGateway", "live_gateway", "mulaw_speech"]

PUBLIC = "https://voice.example.com"
TOKEN = "test-auth-token"
NUMBER = "+15550100001"


def mulaw_speech(text: str) -> bytes:
    """``text`` spoken by espeak-ng as 8 kHz μ-law (what a caller sends)."""
    pcm = speech.trim_silence(speech.synthesize(text), sample_rate=24000)
    return pcm16_to_ulaw(StreamResampler(24000, 8000).process(pcm))


@dataclass
class LiveGateway:
    """What :func:`live_gateway` started."""

    gateway: Gateway
    server: EmbeddedServer
    sim: RealtimeSimulator
    api: FakeCarrierAPI

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def call(self, *, to_number: str = NUMBER, speed: float = 1.0, signed: bool = True) -> SimulatedCall:
        call = SimulatedCall(
            self.base_url,
            to_number=to_number,
            auth_token=TOKEN if signed else None,
            public_url=PUBLIC,
            account_sid=self.api.account_sid,
            speed=speed,
        )
        self.api.register(call)
        return call


@contextlib.asynccontextmanager
async def live_gateway(
    factory: Callable[[CallDetails], RealtimeAgent],
    *,
    sim: RealtimeSimulator,
    entry: Mapping[str, object] | None = None,
    settings: Mapping[str, object] | None = None,
    apology_audio: bytes = b"",
) -> AsyncIterator[LiveGateway]:
    """A gateway answering ``NUMBER`` with ``factory``'s agents, signed with ``TOKEN`` over ``PUBLIC``."""
    async with FakeCarrierAPI(auth_token=TOKEN) as api:
        config = NumberConfig(numbers={NUMBER: NumberEntry(agent="tests:factory", **(entry or {}))})
        values: dict[str, object] = {
            "twilio_auth_token": TOKEN,
            "twilio_account_sid": api.account_sid,
            "public_url": PUBLIC,
            "twilio_api_base": api.base_url,
            **(settings or {}),
        }
        gateway = Gateway(
            Settings.model_validate(values),
            config,
            {"tests:factory": factory},
            OpenAIProvider(api_key="sk-test", websocket_base_url=sim.url),
            apology_audio=apology_audio,
        )
        server = EmbeddedServer(create_app(gateway), lifespan="on", ws_max_size=64 * 1024)
        await server.start()
        try:
            yield LiveGateway(gateway, server, sim, api)
        finally:
            await server.aclose()
