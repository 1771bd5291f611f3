"""A gateway on loopback for end-to-end tests: uvicorn on port 0, the Realtime simulator, a fake carrier API."""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass

import numpy as np

from rtvoice import OpenAIProvider, RealtimeAgent, RealtimeProvider
from rtvoice.testing import RealtimeSimulator, speech
from rtvoice.testing.embedded_server import EmbeddedServer
from rtvoice.testing.phone_line import ulaw_from_pcm
from rtvoice_codecs import ulaw_to_pcm16
from rtvoice_gateway.app import Gateway, create_app
from rtvoice_gateway.numbers import CallDetails, NumberConfig, NumberEntry
from rtvoice_gateway.settings import Settings
from rtvoice_gateway.testing import FakeCarrierAPI, SimulatedCall
from support.timing import seconds

__all__ = [
    "MS_PER_CHARACTER",
    "PUBLIC",
    "TOKEN",
    "LiveGateway",
    "dominant_hz",
    "heard_through",
    "live_gateway",
    "mulaw_speech",
    "open_call",
    "quiet_spans",
    "reply_heard_ms",
    "sounding",
    "tone_voice",
    "wait_until",
]

PUBLIC = "https://voice.example.com"
TOKEN = "test-auth-token"
NUMBER = "+15550100001"


def mulaw_speech(text: str) -> bytes:
    """``text`` spoken by espeak-ng as 8 kHz μ-law (what a caller sends)."""
    pcm = speech.trim_silence(speech.synthesize(text), sample_rate=24000)
    return ulaw_from_pcm(pcm)


MS_PER_CHARACTER = 60


def tone_voice(text: str, rate: int, speed: float) -> bytes:
    """The simulator's ``synthesize``: a loud sine as long as the text would take to say.

    Its pitch is ``300 + 40 * n`` Hz for the first number ``n`` in the text (300 Hz without one), so a
    caller can tell whose agent it hears; it never drops below μ-law's silence, so the heard duration of a
    reply can be read to the millisecond on the carrier side.
    """
    found = re.search(r"\d+", text)
    hz = 300 + 40 * (int(found.group()) if found else 0)
    samples = int(len(text) * MS_PER_CHARACTER / speed * rate / 1000)
    t = np.arange(samples) / rate
    return (np.sin(2 * math.pi * hz * t + 0.5) * 12000).astype("<i2").tobytes()


def dominant_hz(mulaw: bytes) -> float:
    """The strongest frequency in 8 kHz μ-law audio."""
    pcm = np.frombuffer(ulaw_to_pcm16(mulaw), dtype="<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(pcm * np.hanning(len(pcm))))
    return float(np.fft.rfftfreq(len(pcm), 1 / 8000)[int(np.argmax(spectrum))])


SILENT = (0xFF, 0x7F)  # μ-law zero


def sounding(call: SimulatedCall, start: int = 0, end: int | None = None) -> list[int]:
    """Indexes of the heard samples in [start, end) that are not μ-law silence."""
    stop = len(call.heard) if end is None else min(end, len(call.heard))
    return [i for i in range(start, stop) if call.heard[i] not in SILENT]


def heard_through(call: SimulatedCall, start: int) -> int:
    """The last heard sample of the unbroken stretch of agent audio (a ``tone_voice`` reply) at ``start``."""
    heard = sounding(call, start)
    return next((a for a, b in zip(heard, heard[1:], strict=False) if b - a > 8), heard[-1])


def reply_heard_ms(call: SimulatedCall, start: int) -> float:
    """How much of the ``tone_voice`` reply starting at heard sample ``start`` the caller really heard: to
    its last sample, or to the point of the frame in progress where the first ``clear`` after it came."""
    end = (heard_through(call, start) + 1) / 8
    cut = [at for at in call.clears_heard_to if at > start / 8]
    return (min(end, cut[0]) if cut else end) - start / 8


async def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str = "") -> None:
    """Poll ``predicate`` every 10 ms until it holds (fails after ``timeout_s``, scaled)."""
    try:
        async with asyncio.timeout(seconds(timeout_s)):
            while not predicate():  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what or predicate}") from None


def quiet_spans(call: SimulatedCall, count: int, *, quiet_ms: float = 300) -> bool:
    """The caller has heard ``count`` stretches of agent audio, the last ended ``quiet_ms`` ago, and is not
    speaking."""
    spans = list(call.heard_spans())
    return len(spans) >= count and call.now_ms - spans[-1][1] >= quiet_ms and not call.saying


async def open_call(
    live: LiveGateway, *, speed: float = 1.0, from_number: str = "+15550100123"
) -> tuple[SimulatedCall, asyncio.Task[None]]:
    """Dial, connect and run a call (the task ends with the call)."""
    call = live.call(speed=speed, from_number=from_number)
    await call.dial()
    await call.connect()
    return call, asyncio.create_task(call.run())


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

    def call(
        self,
        *,
        to_number: str = NUMBER,
        from_number: str = "+15550100123",
        speed: float = 1.0,
        signed: bool = True,
    ) -> SimulatedCall:
        # The gateway paces its audio by the carrier's clock: a simulated carrier at 2x needs a 2x pacer.
        self.gateway.clock_speed = speed
        call = SimulatedCall(
            self.base_url,
            to_number=to_number,
            from_number=from_number,
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
    provider: RealtimeProvider | None = None,
) -> AsyncIterator[LiveGateway]:
    """A gateway answering ``NUMBER`` with ``factory``'s agents, signed with ``TOKEN`` over ``PUBLIC``
    (on ``provider``, by default an ``OpenAIProvider`` for ``sim``)."""
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
            provider or OpenAIProvider(api_key="sk-test", websocket_base_url=sim.url),
            apology_audio=apology_audio,
        )
        server = EmbeddedServer(create_app(gateway), lifespan="on", ws_max_size=64 * 1024)
        await server.start()
        api.gateway_url = f"http://127.0.0.1:{server.port}"  # where outbound calls' callbacks land
        try:
            yield LiveGateway(gateway, server, sim, api)
        finally:
            await server.aclose()
