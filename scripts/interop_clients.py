"""Third-party Realtime clients driven through one call against ``rtvoice-gateway simulator``.

Run by ``scripts/interop`` inside each client's own venv (``.interop/agents``, ``.interop/pipecat``); it
imports nothing from this project. Usage::

    python scripts/interop_clients.py agents|pipecat ws://127.0.0.1:PORT/v1
    python scripts/interop_clients.py transcripts   # the simulator's --transcript lines, one a line

The call, the same for every client (the simulator must run with the three ``--transcript`` lines of
``TRANSCRIPTS``, in order, and its default echo brain):

1. the caller speaks; the simulator hears "Please call get_weather {...}", so its brain calls the
   client's ``get_weather`` tool; the client runs it and the reply reads back the tool's output;
2. the caller asks for something long; while the reply is streaming, the caller speaks again (barge-in):
   the server cancels the reply (``turn_detected``) and the client truncates what it has not played;
3. the reply to the interruption.

It prints one JSON summary line (``tool_calls``, ``cancelled``, ``truncated``, ``errors``, ...) and exits 0
when the call went as planned.
"""

from __future__ import annotations

import array
import asyncio
import importlib
import json
import math
import os
import sys
import time
from typing import Any

TRANSCRIPTS = [
    'Please call get_weather {"city": "Paris"}',
    "Tell me everything about the sea, its tides, its storms, its ships, its fish and the people who "
    "sail on it, from the first boats to the great liners of today.",
    "Stop, thank you, that is enough.",
]
RATE = 24000
FRAME_MS = 20
TRACE = bool(os.environ.get("INTEROP_TRACE"))


def tone(ms: int, level: float = 8000.0) -> bytes:
    """PCM16 24 kHz: a voiced-like tone (the simulator's VAD detects speech by level)."""
    n = RATE * ms // 1000
    samples = array.array("h", (int(level * math.sin(2 * math.pi * 180 * i / RATE)) for i in range(n)))
    return samples.tobytes()


def silence(ms: int) -> bytes:
    return bytes(2 * (RATE * ms // 1000))


async def stream(send: Any, pcm: bytes) -> None:
    """Send PCM in 20 ms frames, in real time (as a phone line would)."""
    step = 2 * RATE * FRAME_MS // 1000
    for start in range(0, len(pcm), step):
        await send(pcm[start : start + step])
        await asyncio.sleep(FRAME_MS / 1000)


def get_weather_result(city: str) -> str:
    return f"It is sunny in {city}, twenty degrees."


# -- the openai-agents SDK ------------------------------------------------------------------------------


async def run_agents(base: str) -> dict[str, Any]:
    (function_tool,) = _load("agents", "function_tool")
    RealtimeAgent, RealtimeRunner = _load("agents.realtime", "RealtimeAgent", "RealtimeRunner")

    tool_calls: list[str] = []

    def get_weather(city: str) -> str:
        """The weather in a city."""
        tool_calls.append(city)
        return get_weather_result(city)

    agent = RealtimeAgent(
        name="Assistant", instructions="You answer the phone.", tools=[function_tool(get_weather)]
    )
    runner = RealtimeRunner(agent)
    summary: dict[str, Any] = {
        "client": "openai-agents",
        "tool_calls": tool_calls,
        "replies": [],
        "cancelled": 0,
        "truncated": [],
        "audio_interrupted": 0,
        "errors": [],
    }
    session = await runner.run(
        model_config={"url": f"{base}/realtime?model=gpt-realtime", "api_key": "sk-simulator"}
    )
    first_audio = asyncio.Event()
    replies_done = asyncio.Event()
    done_count = 0

    async def listen() -> None:
        nonlocal done_count
        async for event in session:
            if event.type == "error":
                summary["errors"].append(str(event.error))
            elif event.type == "audio_interrupted":
                summary["audio_interrupted"] += 1
            elif event.type == "audio":
                first_audio.set()
            elif event.type == "raw_model_event" and event.data.type == "raw_server_event":
                raw = event.data.data
                kind = raw.get("type")
                if kind == "error":
                    summary["errors"].append(raw.get("error", {}).get("message"))
                elif kind == "conversation.item.truncated":
                    summary["truncated"].append(raw["audio_end_ms"])
                elif kind == "response.done":
                    response = raw["response"]
                    if response["status"] == "cancelled":
                        summary["cancelled"] += 1
                    for item in response.get("output", []):
                        for part in item.get("content") or []:
                            if part.get("transcript"):
                                summary["replies"].append(part["transcript"])
                    done_count += 1
                    replies_done.set()

    async with session:
        listener = asyncio.create_task(listen())
        await asyncio.sleep(0.5)  # session.update and its answer

        async def send(pcm: bytes) -> None:
            await session.send_audio(pcm)

        async def wait_done(count: int) -> None:
            async with asyncio.timeout(30):
                while done_count < count:
                    replies_done.clear()
                    await replies_done.wait()

        # 1: a tool call and its read-back (two responses).
        await stream(send, tone(900) + silence(900))
        await wait_done(2)
        # 2: a long reply, interrupted as soon as its audio starts.
        first_audio.clear()
        await stream(send, tone(900) + silence(900))
        async with asyncio.timeout(30):
            await first_audio.wait()
        await asyncio.sleep(0.3)
        await stream(send, tone(900) + silence(900))
        await wait_done(4)
        await asyncio.sleep(0.5)
        listener.cancel()
    return summary


# -- pipecat ----------------------------------------------------------------------------------------------


async def run_pipecat(base: str) -> dict[str, Any]:
    (FunctionSchema,) = _load("pipecat.adapters.llm.schemas.function_schema", "FunctionSchema")
    (ToolsSchema,) = _load("pipecat.adapters.llm.schemas.tools_schema", "ToolsSchema")
    EndFrame, InputAudioRawFrame, LLMRunFrame, TTSAudioRawFrame = _load(
        "pipecat.frames.frames", "EndFrame", "InputAudioRawFrame", "LLMRunFrame", "TTSAudioRawFrame"
    )
    (Pipeline,) = _load("pipecat.pipeline.pipeline", "Pipeline")
    (PipelineRunner,) = _load("pipecat.pipeline.runner", "PipelineRunner")
    PipelineParams, PipelineTask = _load("pipecat.pipeline.task", "PipelineParams", "PipelineTask")
    (LLMContext,) = _load("pipecat.processors.aggregators.llm_context", "LLMContext")
    (LLMContextAggregatorPair,) = _load(
        "pipecat.processors.aggregators.llm_response_universal", "LLMContextAggregatorPair"
    )
    (FrameProcessor,) = _load("pipecat.processors.frame_processor", "FrameProcessor")
    (OpenAIRealtimeLLMService,) = _load("pipecat.services.openai.realtime.llm", "OpenAIRealtimeLLMService")

    summary: dict[str, Any] = {
        "client": "pipecat",
        "tool_calls": [],
        "replies": [],
        "cancelled": 0,
        "truncated": [],
        "errors": [],
    }
    first_audio = asyncio.Event()
    responses_done = 0
    done_changed = asyncio.Event()

    llm = OpenAIRealtimeLLMService(api_key="sk-simulator", base_url=f"{base}/realtime")

    async def get_weather(params: Any) -> None:
        city = str(params.arguments.get("city"))
        summary["tool_calls"].append(city)
        await params.result_callback(get_weather_result(city))

    llm.register_function("get_weather", get_weather)
    tools = ToolsSchema(
        standard_tools=[
            FunctionSchema(
                name="get_weather",
                description="The weather in a city.",
                properties={"city": {"type": "string"}},
                required=["city"],
            )
        ]
    )
    context = LLMContext([{"role": "system", "content": "You answer the phone."}], tools=tools)
    aggregators = LLMContextAggregatorPair(context)

    class Sink(FrameProcessor):  # type: ignore[misc,valid-type]
        async def process_frame(self, frame: Any, direction: Any) -> None:
            await super().process_frame(frame, direction)
            if isinstance(frame, TTSAudioRawFrame):
                first_audio.set()
            await self.push_frame(frame, direction)

    pipeline = Pipeline([aggregators.user(), llm, Sink(), aggregators.assistant()])
    task = PipelineTask(
        pipeline,
        params=PipelineParams(audio_in_sample_rate=RATE, audio_out_sample_rate=RATE),
        enable_rtvi=False,
    )

    async def on_raw(raw: dict[str, Any]) -> None:
        nonlocal responses_done
        kind = raw.get("type")
        if TRACE:
            print("server:", kind, json.dumps(raw)[:300] if "delta" not in str(kind) else "", file=sys.stderr)
        if kind == "error":
            summary["errors"].append(raw.get("error", {}).get("message"))
        elif kind == "conversation.item.truncated":
            summary["truncated"].append(raw["audio_end_ms"])
        elif kind == "response.done":
            response = raw["response"]
            if response["status"] == "cancelled":
                summary["cancelled"] += 1
            for item in response.get("output", []):
                for part in item.get("content") or []:
                    if part.get("transcript"):
                        summary["replies"].append(part["transcript"])
            responses_done += 1
            done_changed.set()

    _tap_websocket(llm, on_raw)

    async def send(pcm: bytes) -> None:
        await task.queue_frame(InputAudioRawFrame(audio=pcm, sample_rate=RATE, num_channels=1))

    async def wait_done(count: int) -> None:
        async with asyncio.timeout(30):
            while responses_done < count:
                done_changed.clear()
                await done_changed.wait()

    async def drive() -> None:
        # The context (instructions, tools) reaches the service with the first run: a greeting.
        await task.queue_frames([LLMRunFrame()])
        await wait_done(1)
        await stream(send, tone(900) + silence(900))
        await wait_done(3)
        first_audio.clear()
        await stream(send, tone(900) + silence(900))
        async with asyncio.timeout(30):
            await first_audio.wait()
        await asyncio.sleep(0.3)
        await stream(send, tone(900) + silence(900))
        await wait_done(5)
        await asyncio.sleep(0.5)
        await task.queue_frame(EndFrame())

    runner = PipelineRunner(handle_sigint=False)
    await asyncio.gather(runner.run(task), drive())
    return summary


def _tap_websocket(llm: Any, on_raw: Any) -> None:
    """Call ``on_raw`` with every server event the service receives (a proxy around its websocket)."""
    original_connect = llm._connect

    class Tap:
        def __init__(self, ws: Any) -> None:
            self._ws = ws

        def __getattr__(self, name: str) -> Any:
            return getattr(self._ws, name)

        async def __aiter__(self) -> Any:
            async for message in self._ws:
                await on_raw(json.loads(message))
                yield message

    async def connect() -> None:
        await original_connect()
        if llm._websocket is not None and not isinstance(llm._websocket, Tap):
            llm._websocket = Tap(llm._websocket)

    llm._connect = connect


def _load(module: str, *names: str) -> tuple[Any, ...]:
    """Names from a client's module (imported at run time: the clients live in their own venvs)."""
    loaded = importlib.import_module(module)
    return tuple(getattr(loaded, name) for name in names)


def main() -> int:
    if sys.argv[1:] == ["transcripts"]:
        print("\n".join(TRANSCRIPTS))
        return 0
    client, base = sys.argv[1], sys.argv[2]
    started = time.monotonic()
    summary = asyncio.run(run_agents(base) if client == "agents" else run_pipecat(base))
    summary["seconds"] = round(time.monotonic() - started, 1)
    ok = (
        bool(summary["tool_calls"])
        and summary["cancelled"] >= 1
        and bool(summary["truncated"])
        and not summary["errors"]
        and any("sunny" in reply for reply in summary["replies"])
    )
    summary["ok"] = ok
    print(json.dumps(summary))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
