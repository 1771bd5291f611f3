"""The direct write of a text frame (``rtvoice.websocket_send.send_now``), on a real websockets connection
over loopback:
it writes when websockets' ``send`` would only write, and leaves every other case to ``send``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve

from rtvoice.websocket_send import send_now as _send_now


@pytest.fixture
async def echo_pair() -> AsyncIterator[tuple[ClientConnection, asyncio.Queue[str | bytes]]]:
    """A client connected to a loopback server that queues every message it receives."""
    received: asyncio.Queue[str | bytes] = asyncio.Queue(maxsize=100)

    async def handler(connection: ServerConnection) -> None:
        async for message in connection:
            received.put_nowait(message)

    async with serve(handler, "127.0.0.1", 0, compression=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}", compression=None) as client:
            yield client, received


async def test_an_open_connection_gets_the_frame_written_at_once(
    echo_pair: tuple[ClientConnection, asyncio.Queue[str | bytes]],
) -> None:
    client, received = echo_pair
    texts = ['{"type":"input_audio_buffer.append","audio":"AAAA"}', "é" * 5000, ""]
    for text in texts:
        assert _send_now(client, text) is True
    for text in texts:  # in order, whole, as text frames
        assert await asyncio.wait_for(received.get(), 5) == text


async def test_a_paused_transport_is_left_to_websockets_flow_control(
    echo_pair: tuple[ClientConnection, asyncio.Queue[str | bytes]],
) -> None:
    client, received = echo_pair
    client.pause_writing()  # what asyncio calls when the write buffer passes its high-water mark
    try:
        assert _send_now(client, "held") is False
    finally:
        client.resume_writing()
    assert _send_now(client, "sent") is True
    assert await asyncio.wait_for(received.get(), 5) == "sent"


async def test_a_closed_connection_is_left_to_websockets(
    echo_pair: tuple[ClientConnection, asyncio.Queue[str | bytes]],
) -> None:
    client, _ = echo_pair
    await client.close()
    assert _send_now(client, "late") is False


async def test_a_fragmented_message_under_way_is_left_to_websockets(
    echo_pair: tuple[ClientConnection, asyncio.Queue[str | bytes]],
) -> None:
    client, _ = echo_pair
    client.fragmented_send_waiter = asyncio.get_running_loop().create_future()
    try:
        assert _send_now(client, "wait") is False
    finally:
        client.fragmented_send_waiter.set_result(None)
        client.fragmented_send_waiter = None


async def test_a_failing_write_aborts_the_connection_instead_of_raising(
    echo_pair: tuple[ClientConnection, asyncio.Queue[str | bytes]],
) -> None:
    client, _ = echo_pair

    def broken() -> None:
        raise OSError("the socket went away")

    client.send_data = broken  # type: ignore[method-assign]
    assert _send_now(client, "lost") is True
    await asyncio.wait_for(client.wait_closed(), 5)  # aborted: the connection ends, as send() would end it
