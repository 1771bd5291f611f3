"""Benchmark: from the moment a call's audio is attached to the first greeting audio, with and without pre-warm.

A phone agent greets first. Without pre-warm the session is opened when the media stream arrives:
``run()``, wait for the session, ``request_response()``. With pre-warm it was opened while the webhook
was answered (``await agent.connect()``), so at attach time only ``request_response()`` and ``run()``
remain. The time measured is attach → the speaker's first ``play_chunk`` of the greeting.

The Realtime simulator runs in another process (``rtvoice-gateway simulator``), on loopback: connecting
costs a TCP and WebSocket handshake plus one ``session.update`` round trip here, where over the internet
to OpenAI it adds TLS and network round trips (hundreds of ms). ``--connect-delay-ms`` adds that delay to
every connection (a loopback proxy that holds the first bytes), so both sides can be seen.

Usage: ``scripts/bench prewarm [--calls 20] [--connect-delay-ms 0,300]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rtvoice import NullOutputDevice, OpenAIProvider, RealtimeAgent, WavInputDevice
from rtvoice.testing import speech

GREETING = "Greet the caller and ask how you can help."


class FirstChunk(NullOutputDevice):
    """A speaker that notes when the first audio arrives."""

    def __init__(self) -> None:
        super().__init__()
        self.first: asyncio.Future[float] = asyncio.get_running_loop().create_future()

    async def play_chunk(self, chunk: bytes) -> None:
        if not self.first.done():
            self.first.set_result(time.perf_counter())
        await super().play_chunk(chunk)


async def start_simulator() -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rtvoice_gateway.cli",
        "simulator",
        "--port",
        "0",
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = (await proc.stdout.readline()).decode().strip()
    return proc, line.removeprefix("listening on ")


async def delaying_proxy(target_port: int, delay_s: float) -> asyncio.Server:
    """A loopback TCP proxy that holds each new connection's first bytes for ``delay_s`` (network + TLS)."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        await asyncio.sleep(delay_s)
        server_r, server_w = await asyncio.open_connection("127.0.0.1", target_port)
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(pipe(client_r, server_w))
            tasks.create_task(pipe(server_r, client_w))

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def one_call(url: str, wav: Path, prewarm: bool) -> float:
    speaker = FirstChunk()
    agent = RealtimeAgent(
        instructions="You answer the phone for a restaurant.",
        provider=OpenAIProvider(api_key="sk-sim", websocket_base_url=url),
        handle_sigint=False,
    )
    if prewarm:
        await agent.connect()  # during the webhook
    agent.audio_input, agent.audio_output = WavInputDevice(wav, end="silence"), speaker
    attached = time.perf_counter()
    async with asyncio.TaskGroup() as tasks:
        run = tasks.create_task(agent.run())
        if prewarm:
            await agent.request_response(GREETING)
        else:
            while not agent.connected:  # noqa: ASYNC110 - the earliest moment a greeting can be asked for
                await asyncio.sleep(0.001)
            await agent.request_response(GREETING)
        first = await asyncio.wait_for(speaker.first, 30)
        await agent.stop()
    run.result()
    return (first - attached) * 1000


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20, help="calls per row")
    parser.add_argument("--connect-delay-ms", default="0,300", help="comma-separated added connect delays")
    args = parser.parse_args()
    delays = [float(d) for d in args.connect_delay_ms.split(",")]
    wav = Path(tempfile.mkdtemp()) / "silence.wav"
    speech.write_wav(wav, speech.silence(1000), sample_rate=24000)
    proc, url = await start_simulator()
    port = int(url.split(":")[2].split("/")[0])
    print("| added connect delay | pre-warm | calls | attach → first greeting audio, median ms | p99 ms |")
    print("|---|---|---|---|---|")
    try:
        for delay in delays:
            proxy = await delaying_proxy(port, delay / 1000)
            proxy_port = proxy.sockets[0].getsockname()[1]
            target = f"ws://127.0.0.1:{proxy_port}/v1"
            try:
                for prewarm in (False, True):
                    await one_call(target, wav, prewarm)  # warm-up
                    times = [await one_call(target, wav, prewarm) for _ in range(args.calls)]
                    print(
                        f"| {delay:.0f} ms | {'yes' if prewarm else 'no'} | {args.calls} | "
                        f"{statistics.median(times):.1f} | {pct(times, 0.99):.1f} |"
                    )
            finally:
                proxy.close()
                await proxy.wait_closed()
    finally:
        proc.terminate()
        await proc.wait()
        wav.unlink(missing_ok=True)
        wav.parent.rmdir()


if __name__ == "__main__":
    asyncio.run(main())
