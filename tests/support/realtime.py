"""A thin test client over the openai SDK's realtime connection, with strict checks of server events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from openai import AsyncOpenAI
from openai.resources.realtime.realtime import AsyncRealtimeConnection
from openai.types.realtime import RealtimeServerEvent
from pydantic import TypeAdapter

from rtvoice.testing import RealtimeSimulator
from support.timing import seconds

__all__ = ["SERVER_EVENTS", "SimClient", "connect"]

SERVER_EVENTS: TypeAdapter[RealtimeServerEvent] = TypeAdapter(RealtimeServerEvent)


class SimClient:
    """Receives raw server events, validates each against the SDK's models, and keeps them all."""

    def __init__(self, conn: AsyncRealtimeConnection) -> None:
        self.conn = conn
        self.events: list[dict[str, Any]] = []

    async def send(self, event: dict[str, Any]) -> None:
        """Send a client event as raw JSON (exactly what is given, valid or not)."""
        await self.conn.send_raw(json.dumps(event))

    async def send_text(self, text: str) -> None:
        """Send a raw text frame."""
        await self.conn.send_raw(text)

    async def next(self, limit: float = 5.0) -> dict[str, Any]:
        """The next server event, validated strictly by the SDK's server event union."""
        raw = await asyncio.wait_for(self.conn.recv_bytes(), seconds(limit))
        event: dict[str, Any] = json.loads(raw)
        SERVER_EVENTS.validate_python(event)
        self.events.append(event)
        return event

    async def until(self, event_type: str | Iterable[str], limit: float = 10.0) -> list[dict[str, Any]]:
        """Receive events up to and including the first of ``event_type``; return them all."""
        wanted = {event_type} if isinstance(event_type, str) else set(event_type)
        got: list[dict[str, Any]] = []
        async with asyncio.timeout(seconds(limit)):
            while True:
                event = await self.next(limit)
                got.append(event)
                if event["type"] in wanted:
                    return got

    async def error(self, limit: float = 5.0) -> dict[str, Any]:
        """Receive up to the next ``error`` event and return its ``error`` object."""
        events = await self.until("error", limit)
        error: dict[str, Any] = events[-1]["error"]
        return error


@asynccontextmanager
async def connect(
    sim: RealtimeSimulator, *, model: str = "gpt-realtime", api_key: str = "sk-test"
) -> AsyncIterator[SimClient]:
    """Connect the unmodified openai SDK to ``sim`` and consume ``session.created``."""
    client = AsyncOpenAI(api_key=api_key, websocket_base_url=sim.url)
    async with client.realtime.connect(model=model) as conn:
        sim_client = SimClient(conn)
        created = await sim_client.next()
        assert created["type"] == "session.created"
        yield sim_client
    await client.close()
