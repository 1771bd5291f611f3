"""The floor: a bare carrier ↔ Realtime bridge, the least any gateway must do for a call.

Starlette with the gateway's shape (``POST /twilio/voice`` answering TwiML, ``WS /twilio/stream/x``), one
upstream WebSocket per call, μ-law forwarded untouched both ways as JSON, a greeting asked for at the
start and ``clear`` sent when the caller starts speaking (barge-in). No signatures, no agent, no tools,
no pacing, no marks, no transcoding, no recording; like ``serve``, no permessage-deflate on the carrier's
socket. (``scripts/bench_gateway_floor.py`` is its sibling.)

``python -m rtvoice_gateway.loadtest.bridge --upstream ws://127.0.0.1:PORT/v1`` prints
``listening on http://127.0.0.1:PORT`` and serves until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from html import escape

import websockets
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from rtvoice.testing.embedded_server import EmbeddedServer
from rtvoice_gateway.heap import prepare_collector_for_serving

__all__ = ["floor_app", "main"]


def _session(caller: str) -> dict[str, object]:
    return {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "instructions": f"Answer briefly. The caller's number is {caller}.",
            "audio": {
                "input": {
                    "format": {"type": "audio/pcmu"},
                    "turn_detection": {"type": "server_vad", "silence_duration_ms": 600},
                },
                "output": {"format": {"type": "audio/pcmu"}},
            },
        },
    }


def floor_app(upstream_url: str) -> Starlette:
    """The bridge to the Realtime API at ``upstream_url`` (``ws://HOST:PORT/v1``)."""

    async def voice(request: Request) -> Response:
        form = await request.form()
        caller = escape(str(form.get("From", "")), quote=True)
        return Response(
            f'<Response><Connect><Stream url="ws://{request.url.netloc}/twilio/stream/x">'
            f'<Parameter name="from" value="{caller}"/></Stream></Connect></Response>',
            media_type="application/xml",
        )

    async def stream(ws: WebSocket) -> None:
        await ws.accept()
        try:
            start = json.loads(await ws.receive_text())
            while start.get("event") != "start":
                start = json.loads(await ws.receive_text())
        except WebSocketDisconnect:
            return
        stream_sid = start["streamSid"]
        caller = start["start"].get("customParameters", {}).get("from", "")
        async with websockets.connect(
            f"{upstream_url}/realtime?model=gpt-realtime",
            additional_headers={"Authorization": "Bearer sk-floor"},
        ) as upstream:
            await upstream.send(json.dumps(_session(caller)))
            await upstream.send(json.dumps({"type": "response.create"}))

            async def down() -> None:
                async for raw in upstream:
                    event = json.loads(raw)
                    kind = event["type"]
                    if kind == "response.output_audio.delta":
                        media = {
                            "event": "media",
                            "streamSid": stream_sid,
                            "media": {"payload": event["delta"]},
                        }
                        await ws.send_text(json.dumps(media))
                    elif kind == "input_audio_buffer.speech_started":
                        await ws.send_text(json.dumps({"event": "clear", "streamSid": stream_sid}))

            reader = asyncio.create_task(down())
            try:
                while True:
                    message = json.loads(await ws.receive_text())
                    if message["event"] == "media":
                        append = {"type": "input_audio_buffer.append", "audio": message["media"]["payload"]}
                        await upstream.send(json.dumps(append))
                    elif message["event"] == "stop":
                        return
            except WebSocketDisconnect:
                return
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reader

    return Starlette(
        routes=[Route("/twilio/voice", voice, methods=["POST"]), WebSocketRoute("/twilio/stream/x", stream)]
    )


async def _serve(upstream_url: str) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server = EmbeddedServer(floor_app(upstream_url), ws_max_size=64 * 1024, ws_per_message_deflate=False)
    await server.start()
    prepare_collector_for_serving()  # as serve does: the floor runs under the same collector
    print(f"listening on http://127.0.0.1:{server.port}", flush=True)
    try:
        await stop.wait()
    finally:
        await server.aclose()
    return 0


def main(argv: list[str] | None = None) -> int:
    """``--upstream ws://HOST:PORT/v1``: serve the floor bridge until SIGTERM."""
    parser = argparse.ArgumentParser(prog="rtvoice_gateway.loadtest.bridge")
    parser.add_argument("--upstream", required=True, help="the Realtime API, ws://HOST:PORT/v1")
    args = parser.parse_args(argv)
    return asyncio.run(_serve(args.upstream))


if __name__ == "__main__":
    sys.exit(main())
