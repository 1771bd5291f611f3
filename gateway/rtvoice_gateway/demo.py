"""``rtvoice-gateway demo``: a short scripted phone call, printed as it happens.

A synthetic caller (espeak-ng speech, 8 kHz μ-law in 20 ms frames, paced like a phone line: silence
frames keep flowing between utterances) books a table. On the other side a Realtime session answers,
calls a ``book_table`` tool and says goodbye. Without ``OPENAI_API_KEY`` that session is the embedded
simulator with a scripted brain; with a key it is OpenAI itself (the caller's lines stay scripted).

This first version talks to the Realtime API through the openai SDK directly; later versions run the
same call through the gateway's webhook, media stream and agent runtime.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import time
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from openai import AsyncOpenAI

from rtvoice.testing import CallFunction, RealtimeSimulator, Say, ScriptedBrain, Timing, Turn, speech

__all__ = ["CALLER_LINES", "DemoResult", "run_demo"]

CALLER_LINES = [
    "Hi, I would like to book a table for two tonight.",
    "Around seven thirty, please.",
    "No, that is all. Thank you, goodbye.",
]
AGENT_SCRIPT: list[Turn] = [
    Say("Of course! What time would you like?"),
    CallFunction("book_table", {"party_size": 2, "time": "19:30"}),
    Say("You are all set: a table for two at seven thirty. Anything else?"),
    Say("Thank you for calling. Goodbye!"),
]
BOOK_TABLE_TOOL = {
    "type": "function",
    "name": "book_table",
    "description": "Book a restaurant table for tonight.",
    "parameters": {
        "type": "object",
        "properties": {
            "party_size": {"type": "integer", "description": "Number of guests"},
            "time": {"type": "string", "description": "Time in HH:MM, 24-hour clock"},
        },
        "required": ["party_size", "time"],
        "additionalProperties": False,
    },
}
INSTRUCTIONS = (
    "You are the phone host of a small restaurant. Keep answers short. Book tables with book_table."
)
RATE = 8000
FRAME_MS = 20
FRAME_BYTES = RATE * FRAME_MS // 1000  # μ-law: one byte per sample


def book_table(party_size: int, time: str) -> str:
    """The demo's tool: always finds a table."""
    return f"Booked a table for {party_size} at {time}. Confirmation number 4711."


@dataclass
class DemoResult:
    """What the demo call did: the transcript lines and token usage."""

    lines: list[tuple[float, str, str]] = field(default_factory=list)
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    call_seconds: float = 0.0


class _Call:
    """The shared state of the caller and the listener: a phone line's timeline at 8 kHz."""

    def __init__(self, speed: float, verbose: bool, out: Any) -> None:
        self.speed = speed
        self.verbose = verbose
        self.out = out
        self.started = time.monotonic()
        self.frames_sent = 0
        self.agent_turns = 0
        self.agent_audio_end_ms = 0.0
        self.turn_done = asyncio.Event()
        self.timeline = bytearray()  # the call as heard: caller and agent mixed, μ-law decoded later
        self.agent_audio = bytearray()
        self.agent_audio_at: list[tuple[float, bytes]] = []
        self.result = DemoResult()

    @property
    def now_ms(self) -> float:
        """Call time: the caller's frames define it (a phone line sends a frame every 20 ms)."""
        return self.frames_sent * FRAME_MS

    def say(self, who: str, text: str) -> None:
        seconds = self.now_ms / 1000
        self.result.lines.append((seconds, who, text))
        print(f"[{int(seconds // 60):02d}:{seconds % 60:04.1f}] {who:>6}: {text}", file=self.out, flush=True)

    def note(self, text: str) -> None:
        if self.verbose:
            print(f"         {text}", file=self.out, flush=True)


async def _caller(conn: Any, call: _Call) -> None:
    """Speak each line, then keep the line open with silence until the agent has answered and finished."""
    silence = b"\xff" * FRAME_BYTES

    async def send(frame: bytes) -> None:
        await conn.input_audio_buffer.append(audio=base64.b64encode(frame).decode("ascii"))
        call.timeline.extend(frame)
        call.frames_sent += 1
        # Pace like a phone: one frame every 20 ms of call time.
        due = call.started + call.frames_sent * FRAME_MS / 1000 / call.speed
        await asyncio.sleep(max(0.0, due - time.monotonic()))

    for _ in range(15):  # 300 ms of line noise before the caller speaks
        await send(silence)
    for index, line in enumerate(CALLER_LINES):
        pcm = speech.trim_silence(speech.synthesize(line, sample_rate=RATE), sample_rate=RATE)
        ulaw = speech.pcm16_to_ulaw(pcm)
        for start in range(0, len(ulaw), FRAME_BYTES):
            await send(ulaw[start : start + FRAME_BYTES].ljust(FRAME_BYTES, b"\xff"))
        # Wait (on the line) for the agent's answer to this line to be played out, then a short pause.
        while call.agent_turns <= index or call.now_ms < call.agent_audio_end_ms + 400:
            await send(silence)
    for _ in range(10):
        await send(silence)


async def _listener(conn: Any, call: _Call) -> None:
    """Print what happens, run the tool, play agent audio onto the call timeline."""
    pending_outputs: list[tuple[str, str]] = []
    async for event in conn:
        kind = event.type
        if kind == "conversation.item.input_audio_transcription.completed":
            call.say("caller", event.transcript)
        elif kind == "input_audio_buffer.speech_started":
            call.note(f"(speech started at {event.audio_start_ms} ms of caller audio)")
        elif kind == "response.output_audio.delta":
            audio = base64.b64decode(event.delta)
            start = max(call.now_ms, call.agent_audio_end_ms)
            call.agent_audio_at.append((start, audio))
            call.agent_audio_end_ms = start + len(audio) / (RATE / 1000)
        elif kind == "response.output_audio_transcript.done":
            call.say("agent", event.transcript)
        elif kind == "response.function_call_arguments.done":
            arguments = json.loads(event.arguments or "{}")
            call.result.tool_calls.append((event.name, arguments))
            output = book_table(**arguments) if event.name == "book_table" else f"unknown tool {event.name}"
            call.note(f"tool {event.name}({event.arguments}) -> {output}")
            pending_outputs.append((event.call_id, output))
        elif kind == "response.done":
            usage = event.response.usage
            if usage is not None:
                call.result.input_tokens += usage.input_tokens or 0
                call.result.output_tokens += usage.output_tokens or 0
            if pending_outputs:
                # Tool outputs go in after response.done, then one response.create (reference §4).
                for call_id, output in pending_outputs:
                    await conn.conversation.item.create(
                        item={"type": "function_call_output", "call_id": call_id, "output": output}
                    )
                pending_outputs.clear()
                await conn.response.create()
            else:
                call.agent_turns += 1
                if call.agent_turns >= len(CALLER_LINES):
                    call.turn_done.set()
        elif kind == "error":
            print(f"upstream error: {event.error.code}: {event.error.message}", file=sys.stderr)


@asynccontextmanager
async def _realtime_client(call: _Call) -> AsyncIterator[AsyncOpenAI]:
    if os.environ.get("OPENAI_API_KEY"):
        call.note("Realtime: OpenAI (OPENAI_API_KEY is set)")
        client = AsyncOpenAI()
        try:
            yield client
        finally:
            await client.close()
        return
    sim = RealtimeSimulator(
        brain_factory=lambda: ScriptedBrain(AGENT_SCRIPT),
        user_transcripts=CALLER_LINES,
        timing=Timing.realistic(scale=1 / call.speed),
    )
    async with sim:
        call.note(f"Realtime: embedded simulator at {sim.url} (no OPENAI_API_KEY)")
        client = AsyncOpenAI(api_key="sk-simulator", websocket_base_url=sim.url)
        try:
            yield client
        finally:
            await client.close()


def _write_wav(call: _Call, path: str) -> None:
    caller = speech.ulaw_to_pcm16(bytes(call.timeline))
    mix = bytearray(caller)
    for start_ms, audio in call.agent_audio_at:
        pcm = speech.ulaw_to_pcm16(audio)
        offset = int(start_ms * RATE / 1000) * 2
        if offset + len(pcm) > len(mix):
            mix.extend(b"\x00" * (offset + len(pcm) - len(mix)))
        for i in range(0, len(pcm), 2):
            a = int.from_bytes(mix[offset + i : offset + i + 2], "little", signed=True)
            b = int.from_bytes(pcm[i : i + 2], "little", signed=True)
            mix[offset + i : offset + i + 2] = max(-32768, min(32767, a + b)).to_bytes(
                2, "little", signed=True
            )
    with wave.open(path, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(bytes(mix))


async def run_demo(
    *, speed: float = 1.0, wav_path: str | None = None, verbose: bool = True, out: Any = None
) -> int:
    """Run the demo call and print it.

    Args:
        speed: pace the call this many times faster than real time.
        wav_path: where to write the call as heard (mono, 8 kHz), or None.
        verbose: also print VAD and tool details.
        out: where to print (standard output by default).

    Returns:
        The process exit code: 0 when the call completed.
    """
    if speed <= 0:
        print("rtvoice-gateway demo: --speed must be positive", file=sys.stderr)
        return 2
    call = _Call(speed, verbose, out or sys.stdout)
    model = os.environ.get("RTVOICE_MODEL", "gpt-realtime")
    async with _realtime_client(call) as client, client.realtime.connect(model=model) as conn:
        await conn.session.update(
            session={
                "type": "realtime",
                "instructions": INSTRUCTIONS,
                "tools": [BOOK_TABLE_TOOL],  # type: ignore[list-item]
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcmu"},
                        "transcription": {"model": "whisper-1"},
                        "turn_detection": {"type": "server_vad", "silence_duration_ms": 500},
                    },
                    "output": {"format": {"type": "audio/pcmu"}, "voice": "marin"},
                },
            }
        )
        async with asyncio.TaskGroup() as tasks:
            listener = tasks.create_task(_listener(conn, call))
            await _caller(conn, call)
            listener.cancel()
    call.result.call_seconds = call.now_ms / 1000
    if wav_path:
        _write_wav(call, wav_path)
        call.note(f"call written to {wav_path}")
    print(
        f"call ended after {call.result.call_seconds:.1f} s of call time; "
        f"tokens: {call.result.input_tokens} in, {call.result.output_tokens} out",
        file=call.out,
        flush=True,
    )
    return 0
