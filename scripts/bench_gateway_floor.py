"""The floor for ``scripts/bench gateway``: a bare carrier ↔ Realtime bridge, the least any gateway must do.

Starlette with the gateway's shape (``POST /twilio/voice`` answering TwiML, ``WS /twilio/stream/{x}``),
one upstream WebSocket per call (``websockets``), μ-law forwarded untouched both ways as JSON, server
events parsed with ``json.loads``. No signatures, no agent, no pacing, no marks, no transcoding.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import websockets
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from rtvoice.testing.embedded_server import EmbeddedServer

SESSION = {
    "type": "session.update",
    "session": {
        "type": "realtime",
        "instructions": "Answer briefly.",
        "audio": {
            "input": {"format": {"type": "audio/pcmu"}, "turn_detection": {"type": "server_vad"}},
            "output": {"format": {"type": "audio/pcmu"}},
        },
    },
}


def floor_app(sim_url: str) -> Starlette:
    async def voice(request: Request) -> Response:
        host = request.url.netloc
        return Response(
            f'<Response><Connect><Stream url="ws://{host}/twilio/stream/x"/></Connect></Response>',
            media_type="application/xml",
        )

    async def stream(ws: WebSocket) -> None:
        await ws.accept()
        stream_sid = ""
        async with websockets.connect(
            f"{sim_url}/realtime?model=gpt-realtime", additional_headers={"Authorization": "Bearer sk-sim"}
        ) as upstream:
            await upstream.send(json.dumps(SESSION))

            async def down() -> None:
                async for raw in upstream:
                    event = json.loads(raw)
                    if event["type"] == "response.output_audio.delta" and stream_sid:
                        await ws.send_text(
                            json.dumps(
                                {
                                    "event": "media",
                                    "streamSid": stream_sid,
                                    "media": {"payload": event["delta"]},
                                }
                            )
                        )

            reader = asyncio.create_task(down())
            try:
                while True:
                    message = json.loads(await ws.receive_text())
                    if message["event"] == "start":
                        stream_sid = message["streamSid"]
                    elif message["event"] == "media":
                        payload = message["media"]["payload"]
                        await upstream.send(
                            json.dumps({"type": "input_audio_buffer.append", "audio": payload})
                        )
                    elif message["event"] == "stop":
                        return
            except WebSocketDisconnect:
                return
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader

    return Starlette(
        routes=[Route("/twilio/voice", voice, methods=["POST"]), WebSocketRoute("/twilio/stream/{x}", stream)]
    )


async def serve_floor(sim_url: str) -> None:
    """Serve until terminated; prints ``listening on http://127.0.0.1:PORT`` first."""
    server = EmbeddedServer(floor_app(sim_url), ws_per_message_deflate=False)  # as serve
    await server.start()
    print(f"listening on http://127.0.0.1:{server.port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.aclose()
