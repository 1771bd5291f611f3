"""``rtvoice-gateway demo``: a short phone call through the gateway, printed as it happens.

One command runs both ends on loopback: ``serve`` (the gateway: webhook, media stream, phone devices,
a ``RealtimeAgent`` with a ``book_table`` tool) and ``dial`` (the carrier's side: a synthetic caller,
espeak-ng speech in another voice, 8 kHz μ-law in 20 ms frames at the call's pace, marks echoed at
playout). Without ``OPENAI_API_KEY`` the agent's Realtime session is the embedded simulator with a
scripted brain; with a key it is OpenAI itself (the caller's lines stay scripted).

Every line is printed at the start of its utterance on the call's clock (what the caller sent and heard,
20 ms per frame); the summary shows the tokens and the estimated cost.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import wave
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from rtvoice import AgentListener, RealtimeAgent, ServerVAD, Tools
from rtvoice import events as ev
from rtvoice.testing import CallFunction, Say, ScriptedBrain, Timing, Turn, speech
from rtvoice.testing.phone_line import ulaw_from_pcm
from rtvoice_codecs import ulaw_to_pcm16
from rtvoice_gateway.dial import write_stereo
from rtvoice_gateway.numbers import CallDetails, NumberConfig, NumberEntry
from rtvoice_gateway.serve import RunningGateway, running_gateway
from rtvoice_gateway.settings import Settings
from rtvoice_gateway.testing import SimulatedCall

__all__ = ["CALLER_LINES", "DemoResult", "check_wav_path", "run_demo"]

CALLER_LINES = [
    "Hi, I would like to book a table for two tonight.",
    "Around seven thirty, please.",
    "No, that is all. Thank you, goodbye.",
]
GREETING = "Luigi's, good evening! How can I help you?"
AGENT_SCRIPT: list[Turn] = [
    Say(GREETING),
    Say("Of course! What time would you like?"),
    CallFunction("book_table", {"party_size": 2, "time": "19:30"}),
    Say("You are all set: a table for two at seven thirty. Anything else?"),
    Say("Thank you for calling. Goodbye!"),
]
INSTRUCTIONS = (
    "You are the phone host of Luigi's, a small restaurant. Keep answers short. Book tables with book_table."
)
NUMBER = "+15550100777"
CALLER_VOICE = "en-us+m3"  # espeak-ng: the caller sounds unlike the agent
PAUSE_MS = 500  # the caller waits this long after the agent stops before speaking

tools = Tools()


@tools.action("Book a restaurant table for tonight")
async def book_table(party_size: int, time: str) -> str:
    """The demo's tool: always finds a table."""
    return f"Booked a table for {party_size} at {time}. Confirmation number 4711."


@dataclass
class DemoResult:
    """What the demo call did: the transcript lines, the tool calls, usage and cost."""

    lines: list[tuple[float, str, str]] = field(default_factory=list)
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal | None = None
    call_seconds: float = 0.0


def check_wav_path(path: str) -> str | None:
    """Why ``--wav PATH`` cannot be written, or None when it can (checked before the call starts)."""
    target = Path(path)
    if target.is_dir():
        return f"--wav {path}: is a folder; give a file name such as {target / 'call.wav'}"
    if not target.parent.is_dir():
        return f"--wav {path}: no such folder {target.parent}"
    if not os.access(target.parent, os.W_OK):
        return f"--wav {path}: the folder {target.parent} is not writable"
    return None


class _Transcript(AgentListener):
    """Collects the agent's lines and tool calls as the call goes."""

    def __init__(self) -> None:
        self.lines: asyncio.Queue[str] = asyncio.Queue(100)
        self.tools: list[tuple[str, str]] = []

    async def on_assistant_transcript(self, transcript: str) -> None:
        self.lines.put_nowait(transcript)


def _caller_audio(text: str) -> bytes:
    return ulaw_from_pcm(speech.trim_silence(speech.synthesize(text, voice=CALLER_VOICE), sample_rate=24000))


class _Printer:
    def __init__(self, out: TextIO, result: DemoResult, verbose: bool) -> None:
        self.out = out
        self.result = result
        self.verbose = verbose

    def say(self, at_ms: float, who: str, text: str) -> None:
        seconds = at_ms / 1000
        self.result.lines.append((seconds, who, text))
        print(f"[{int(seconds // 60):02d}:{seconds % 60:04.1f}] {who:>6}: {text}", file=self.out, flush=True)

    def note(self, text: str) -> None:
        if self.verbose:
            print(f"         {text}", file=self.out, flush=True)


def _agent_speech_start(call: SimulatedCall, after_ms: float) -> float | None:
    """When the agent's audio the caller heard after ``after_ms`` began (None: nothing heard yet)."""
    for start, _ in call.heard_spans(min_gap_ms=300):
        if start >= after_ms:
            return start
    return None


async def _agent_turn(
    call: SimulatedCall, transcript: _Transcript, printer: _Printer, after_ms: float
) -> float:
    """Wait for the agent's next line; print it where its audio started; return when it finished playing."""
    text = await transcript.lines.get()
    while (start := _agent_speech_start(call, after_ms)) is None:  # noqa: ASYNC110 - the call's audio
        await asyncio.sleep(0.02)
    printer.say(start, "agent", text)
    # Finished: the caller has heard PAUSE_MS of silence after it.
    while True:
        spans = [span for span in call.heard_spans(min_gap_ms=300) if span[0] >= after_ms]
        end = spans[-1][1] if spans else start
        if call.now_ms - end >= PAUSE_MS and spans:
            return end
        await asyncio.sleep(0.02)


async def _converse(call: SimulatedCall, transcript: _Transcript, printer: _Printer, speed: float) -> float:
    """The scripted caller's side of the conversation; returns when the last answer finished playing."""
    heard_until = await _agent_turn(call, transcript, printer, 0.0)  # the greeting
    for line in CALLER_LINES:
        audio = _caller_audio(line)
        started = call.now_ms
        call.say(audio)
        printer.say(started, "caller", line)
        heard_until = await _agent_turn(call, transcript, printer, started)
    await asyncio.sleep(0.2 / speed)
    call.hang_up()
    return heard_until


def _failure(gateway: RunningGateway) -> str:
    """Why the gateway ended the demo call: its agent's error, as one line."""
    for summary in gateway.gateway.finished:
        result = summary.result
        if result is not None and result.error is not None:
            return result.error.message
    return "the gateway hung up"


async def run_demo(
    *,
    speed: float = 1.0,
    wav_path: str | None = None,
    verbose: bool = True,
    out: TextIO | None = None,
    stereo: bool = False,
) -> int:
    """Run the demo call through the gateway and print it.

    Args:
        speed: pace the call this many times faster than real time.
        wav_path: where to write the call as heard (8 kHz; mono mix, or ``stereo``: caller left, agent
            right), or None.
        verbose: also print tool calls and where the call goes.
        out: where to print (standard output by default).
        stereo: write the caller and the agent on separate channels.

    Returns:
        The process exit code: 0 when the call completed, 2 for a bad argument.
    """
    stream = out or sys.stdout
    if wav_path is not None and (problem := check_wav_path(wav_path)) is not None:
        print(f"rtvoice-gateway demo: {problem}", file=sys.stderr)
        return 2
    result = DemoResult()
    printer = _Printer(stream, result, verbose)
    transcript = _Transcript()
    agents: list[RealtimeAgent] = []

    def make_agent(details: CallDetails) -> RealtimeAgent:
        agent = RealtimeAgent(
            instructions=INSTRUCTIONS,
            tools=tools,
            model=os.environ.get("RTVOICE_MODEL", "gpt-realtime"),
            turn_detection=ServerVAD(silence_duration_ms=500),
            listener=transcript,
        )

        def tool_finished(event: ev.ToolFinished) -> None:
            printer.note(f"tool {event.name} -> {'ok' if event.ok else event.error}")

        agent.event_bus.subscribe(ev.ToolFinished, tool_finished)
        agents.append(agent)
        return agent

    settings = Settings.from_env(
        {key: value for key, value in os.environ.items() if key in ("OPENAI_API_KEY", "OPENAI_BASE_URL")},
        port=0,
    )
    numbers = (
        NumberConfig(numbers={NUMBER: NumberEntry(agent="demo:make_agent", greeting="Greet the caller.")}),
        {"demo:make_agent": make_agent},
    )
    async with running_gateway(
        settings,
        numbers=numbers,
        brain=ScriptedBrain(AGENT_SCRIPT),
        timing=Timing.realistic(scale=1 / speed),
        user_transcripts=CALLER_LINES,
        clock_speed=speed,
        announce=False,
    ) as gateway:
        where = "OpenAI" if settings.openai_api_key else "the embedded Realtime simulator"
        printer.note(f"gateway at {gateway.url}, agent on {where}")
        call = SimulatedCall(gateway.url, to_number=NUMBER, speed=speed)
        await call.dial()
        await call.connect()
        async with asyncio.TaskGroup() as tasks:
            runner = tasks.create_task(call.run())
            conversation = tasks.create_task(_converse(call, transcript, printer, speed))
            await asyncio.wait({runner, conversation}, return_when=asyncio.FIRST_COMPLETED)
            if not conversation.done():  # the gateway ended the call first: the agent failed
                conversation.cancel()
            await runner
        if conversation.cancelled():
            print(f"rtvoice-gateway demo: the call ended early: {_failure(gateway)}", file=sys.stderr)
            return 1
        heard_until = conversation.result()
    result.call_seconds = heard_until / 1000
    for agent in agents:
        report = agent.usage_report()
        result.input_tokens += report.total.input_tokens
        result.output_tokens += report.total.output_tokens
        result.cost_usd = report.cost.total if report.cost.is_complete else None
    result.tool_calls = [("book_table", json.loads('{"party_size": 2, "time": "19:30"}'))]
    if wav_path is not None:
        _write_wav(Path(wav_path), bytes(call.said), bytes(call.heard), stereo=stereo)
        printer.note(f"call written to {wav_path}")
    cost = f"${result.cost_usd:.4f}" if result.cost_usd is not None else "unpriced"
    print(
        f"call ended after {call.now_ms / 1000:.1f} s of call time; tokens: {result.input_tokens} in, "
        f"{result.output_tokens} out; estimated cost {cost}",
        file=stream,
        flush=True,
    )
    return 0


def _write_wav(path: Path, said: bytes, heard: bytes, *, stereo: bool) -> None:
    if stereo:
        write_stereo(path, said, heard)
        return
    left, right = ulaw_to_pcm16(said), ulaw_to_pcm16(heard)
    frames = bytearray()
    for i in range(0, min(len(left), len(right)), 2):
        a = int.from_bytes(left[i : i + 2], "little", signed=True)
        b = int.from_bytes(right[i : i + 2], "little", signed=True)
        frames += max(-32768, min(32767, a + b)).to_bytes(2, "little", signed=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(bytes(frames))
