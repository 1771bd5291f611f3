"""``rtvoice-gateway serve``: the gateway from its settings, in one process.

:func:`running_gateway` builds everything a gateway needs from :class:`~rtvoice_gateway.settings.Settings`
(the number config, the shared Realtime provider, the embedded Realtime simulator when there is no
``OPENAI_API_KEY``, the pre-rendered apology) and serves it with uvicorn; the demo and the tests use it
too; the ``serve`` command runs it until SIGINT or SIGTERM, then :func:`drain_or_abort` drains it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from uvicorn.config import LOOP_FACTORIES
from uvicorn.importer import import_from_string

from rtvoice import OpenAIProvider, RealtimeProvider
from rtvoice.testing import Brain, RealtimeSimulator, Timing, speech
from rtvoice.testing.embedded_server import EmbeddedServer
from rtvoice.testing.phone_line import ulaw_from_pcm
from rtvoice_gateway.app import Gateway, create_app
from rtvoice_gateway.numbers import AgentFactory, NumberConfig, NumberEntry, load_numbers, resolve_factory
from rtvoice_gateway.settings import Settings

__all__ = [
    "APOLOGY",
    "DEFAULT_AGENT",
    "RunningGateway",
    "drain_or_abort",
    "event_loop_factory",
    "load_config",
    "render_apology",
    "running_gateway",
]

log = logging.getLogger("rtvoice_gateway.serve")

APOLOGY = "I'm sorry, we have a technical problem and have to end this call. Please call again later."
#: The agent answering every number when no config is given.
DEFAULT_AGENT = Path(__file__).resolve().parents[2] / "examples" / "receptionist.py"


def render_apology(text: str = APOLOGY) -> bytes:
    """``text`` as 8 kHz μ-law, spoken by espeak-ng (a tone where it is missing): played on upstream loss."""
    pcm = speech.trim_silence(speech.synthesize(text), sample_rate=24000)
    return ulaw_from_pcm(pcm)


def event_loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """The loop ``serve`` runs on, as uvicorn's ``loop`` option picks it: ``auto`` (uvloop where installed,
    else asyncio), ``uvloop`` or ``asyncio``.

    Raises:
        ImportError: ``uvloop`` was asked for and is not installed.
    """
    if choice == "uvloop":
        import uvloop  # noqa: F401 - a clear ImportError here rather than uvicorn's exit

    factory: Callable[..., Callable[[], asyncio.AbstractEventLoop]] = import_from_string(
        LOOP_FACTORIES[choice]
    )
    return factory(use_subprocess=False)


def load_config(path: Path | None) -> tuple[NumberConfig, dict[str, AgentFactory]]:
    """The number config at ``path``, or the example receptionist for every number.

    Raises:
        ConfigError: the file is invalid (the message names the file and the key).
    """
    if path is not None:
        return load_numbers(path)
    reference = f"{DEFAULT_AGENT}:make_agent"
    factory = resolve_factory(reference, base=DEFAULT_AGENT.parent)
    return NumberConfig(default=NumberEntry(agent=reference)), {reference: factory}


@dataclass
class RunningGateway:
    """A gateway being served: where, and its parts."""

    gateway: Gateway
    server: EmbeddedServer
    simulator: RealtimeSimulator | None

    @property
    def url(self) -> str:
        """``http://HOST:PORT``."""
        return f"http://{self.server.config.host}:{self.server.port}"


@contextlib.asynccontextmanager
async def running_gateway(
    settings: Settings,
    *,
    numbers: tuple[NumberConfig, Mapping[str, AgentFactory]] | None = None,
    brain: Brain | None = None,
    timing: Timing | None = None,
    user_transcripts: list[str] | None = None,
    clock_speed: float = 1.0,
    announce: bool = True,
    before_listening: Callable[[], object] | None = None,
) -> AsyncIterator[RunningGateway]:
    """Serve a gateway until the block ends.

    Args:
        settings: the settings.
        numbers: the number config and factories (default: ``settings.config`` or the receptionist).
        brain: the embedded simulator's brain (no ``OPENAI_API_KEY`` only).
        timing: the embedded simulator's pace (default: the real API's).
        user_transcripts: what the embedded simulator hears the caller say, in order.
        clock_speed: how much faster than real time the (simulated) carrier plays.
        announce: log the local-only and simulator warnings (the demo keeps quiet).
        before_listening: called once everything is built, just before the port opens (``serve`` freezes
            its start-up objects there, so no request waits for that collection).

    Signal handlers are left alone (the ``serve`` command installs its own).

    Raises:
        ConfigError: a bad number config. OSError: the port cannot be bound.
    """
    config, factories = numbers if numbers is not None else load_config(settings.config)
    simulator: RealtimeSimulator | None = None
    provider: RealtimeProvider
    async with contextlib.AsyncExitStack() as stack:
        if settings.openai_api_key is None:
            simulator = RealtimeSimulator(
                brain=brain, timing=timing or Timing.realistic(), user_transcripts=user_transcripts or ()
            )
            await simulator.start()
            stack.push_async_callback(simulator.aclose)
            provider = OpenAIProvider(api_key="sk-simulator", websocket_base_url=simulator.url)
            if announce:
                log.warning(
                    "no OPENAI_API_KEY: every call runs on the embedded Realtime simulator at %s",
                    simulator.url,
                )
        else:
            provider = OpenAIProvider(
                api_key=settings.openai_api_key.get_secret_value(), base_url=settings.openai_base_url
            )
        if settings.local_only and announce:
            log.warning(
                "no TWILIO_AUTH_TOKEN: signatures are NOT checked; serving on %s for local use only",
                settings.host,
            )
        apology = await asyncio.to_thread(render_apology)
        goodbye = await asyncio.to_thread(render_apology, settings.drain_goodbye)
        gateway = Gateway(
            settings,
            config,
            factories,
            provider,
            apology_audio=apology,
            goodbye_audio=goodbye,
            clock_speed=clock_speed,
        )
        server = EmbeddedServer(
            create_app(gateway),
            host=settings.host,
            port=settings.port,
            lifespan="on",
            ws_max_size=settings.max_message_bytes,
            # No permessage-deflate on the media stream, even when the carrier offers it: base64 audio
            # hardly compresses (about a quarter) and deflating every 20 ms frame both ways cost about 4%
            # of the gateway's CPU at 50 calls (py-spy, loadtest --pin).
            ws_per_message_deflate=False,
            log_level="warning",
            loop=settings.event_loop,  # the loop itself is made by the host (see event_loop_factory)
        )
        if before_listening is not None:
            before_listening()
        await server.start()
        stack.push_async_callback(server.aclose)
        log.info("serving on the %s event loop", type(asyncio.get_running_loop()).__module__.split(".")[0])
        yield RunningGateway(gateway, server, simulator)


async def drain_or_abort(gateway: Gateway, grace_s: float, abort: asyncio.Event) -> bool:
    """Drain ``gateway`` (:meth:`Gateway.drain`) unless ``abort`` is set first (a second signal).

    Returns:
        True when the drain finished; False when it was cut short (the calls left are then closed with
        the server, without a goodbye).
    """
    draining = asyncio.create_task(gateway.drain(grace_s), name="gateway-drain")
    aborted = asyncio.create_task(abort.wait(), name="gateway-drain-abort")
    try:
        await asyncio.wait([draining, aborted], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (draining, aborted):
            task.cancel()
        for task in (draining, aborted):
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if draining.cancelled():
        log.warning("second signal: ending at once; %d calls are cut", gateway.calls_active)
        return False
    return True
