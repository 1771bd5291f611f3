"""Stamped connections note when each message came off the socket, before any handler reads it."""

from __future__ import annotations

import asyncio
import time

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from rtvoice.testing.arrivals import StampedClientConnection, StampedServerConnection, arrival_of


async def test_a_busy_server_handler_still_gets_each_messages_own_arrival_time() -> None:
    read: list[tuple[str, float, float]] = []  # (message, its arrival, when the handler read it)
    left: list[int] = []
    done = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        async for message in ws:
            read.append((str(message), arrival_of(ws), time.monotonic()))
            if len(read) == 1:
                await asyncio.sleep(0.2)  # busy with the first: the next two arrive meanwhile
            if len(read) == 3:
                left.append(len(ws.arrivals))  # type: ignore[attr-defined]
                done.set()

    async with serve(handler, "127.0.0.1", 0, create_connection=StampedServerConnection) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}") as client:
            await client.send("one")
            await asyncio.sleep(0.02)
            sent_two = time.monotonic()
            await client.send("two")
            await client.ping()  # a control frame is no message: no stamp
            await client.send(["thr", "ee"])  # fragmented: one message, one stamp
            await asyncio.wait_for(done.wait(), 5)
    assert [m for m, _, _ in read] == ["one", "two", "three"]
    assert left == [0]
    (_, one_at, _), (_, two_at, two_read), (_, three_at, _) = read
    assert one_at < two_at <= three_at
    assert sent_two <= two_at < sent_two + 0.1  # when it came, not when the busy handler got to it
    assert two_read - two_at >= 0.15


async def test_a_client_connection_is_stamped_too_and_a_plain_one_gives_now() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send("hello")
        await ws.send(b"\x00\x01")
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}", create_connection=StampedClientConnection) as client:
            assert isinstance(client, StampedClientConnection)
            await asyncio.sleep(0.15)  # both messages arrive before anyone reads
            first, second = await client.recv(), await client.recv()
            read_at = time.monotonic()
            stamps = list(client.arrivals)
            assert (first, second) == ("hello", b"\x00\x01")
            assert len(stamps) == 2
            assert read_at - arrival_of(client) >= 0.1
            assert read_at - arrival_of(client) >= 0.1
            assert not client.arrivals
        async with connect(f"ws://127.0.0.1:{port}") as plain:
            await plain.recv()
            before = time.monotonic()
            assert arrival_of(plain) >= before
