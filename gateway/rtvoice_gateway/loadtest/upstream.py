"""The load test's Realtime API: the simulator with a stopwatch, in a process of its own.

``python -m rtvoice_gateway.loadtest.upstream --records FILE`` serves the Realtime simulator at the real
API's pace (:meth:`~rtvoice.testing.Timing.realistic`), prints ``listening on URL`` and, on SIGTERM,
writes what each session saw to ``FILE`` (JSON) and exits:

* the caller it belongs to (the agent's instructions name the caller's number, see
  :mod:`rtvoice_gateway.loadtest.agent`);
* when each ``input_audio_buffer.append`` arrived (when it came off the socket,
  :mod:`rtvoice.testing.arrivals`, not when the reader got to it after answering the message before) and,
  for μ-law sessions, the frame index the carrier wrote into its first samples;
* when each response's first audio delta went out, how much audio the response had, how it ended;
* how many function calls it made.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import re
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from rtvoice.testing import RealtimeSimulator, Timing
from rtvoice.testing.arrivals import StampedServerConnection, arrival_of
from rtvoice.testing.session import SimulatedSession
from rtvoice_gateway.heap import collector_paused
from rtvoice_gateway.loadtest.agent import OPENING_HOURS
from rtvoice_gateway.loadtest.caller import LINES
from rtvoice_gateway.loadtest.launch import run_fast
from rtvoice_gateway.loadtest.stats import read_tag

__all__ = ["CALLER", "MeasuringSimulator", "SessionLog"]

#: Bytes of one 20 ms frame: μ-law 8 kHz, and PCM16 24 kHz.
PCMU_FRAME_BYTES = 160
PCM16_FRAME_BYTES = 960

#: How the agent's instructions name the caller (the session's key in the records).
CALLER = re.compile(r"The caller's number is (\+\d+)")


@dataclass
class ResponseLog:
    """One response: its first audio delta's send time, its audio and its final status."""

    first_delta_at: float
    audio_ms: float = 0.0
    status: str = "in_progress"


@dataclass
class SessionLog:
    """What one Realtime session saw."""

    caller: str = ""
    pcmu: bool = False
    appends: list[tuple[float, int]] = field(default_factory=list)
    responses: dict[str, ResponseLog] = field(default_factory=dict)
    function_calls: int = 0


class MeasuringSimulator(RealtimeSimulator):
    """The Realtime simulator, stamping each session's appends and replies (see the module)."""

    connection_class = StampedServerConnection

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.logs: list[SessionLog] = []
        self._by_link: dict[int, SessionLog] = {}

    def _log_for(self, ws: ServerConnection) -> SessionLog:
        found = self._by_link.get(id(ws))
        if found is None:
            found = self._by_link[id(ws)] = SessionLog()
            self.logs.append(found)
        return found

    async def _read(
        self, ws: ServerConnection, session: SimulatedSession, link: Any, response_ready: asyncio.Event
    ) -> None:
        log = self._log_for(ws)
        with contextlib.suppress(ConnectionClosed):
            async for message in ws:
                arrived = arrival_of(ws)
                text = message if isinstance(message, str) else message.decode("utf-8", "replace")
                if '"input_audio_buffer.append"' in text:
                    # An append may hold several 20 ms frames (the agent batches them while nobody
                    # speaks): one entry per frame, all arrived with it.
                    log.appends.extend((arrived, tag) for tag in self._tags(text, log.pcmu))
                elif not log.caller and '"session.update"' in text:
                    found = CALLER.search(text)
                    log.caller = found.group(1) if found else ""
                    log.pcmu = '"audio/pcmu"' in text
                async with link.lock:
                    await link.send_all(session.receive_message(message))
                    if session.response is not None:
                        response_ready.set()
                if link.closed:
                    return

    @staticmethod
    def _tags(text: str, pcmu: bool) -> list[int]:
        """One entry per 20 ms frame of an append's audio: the frame index the carrier tagged it with
        (μ-law sessions), else -1 (PCM16 24 kHz: 960 bytes a frame; the tags do not survive transcoding)."""
        key = text.find('"audio":')
        start = text.find('"', key + len('"audio":')) + 1
        end = text.find('"', start)
        if key < 0 or start <= 0 or end < 0:
            return [-1]
        if not pcmu:  # only the length matters: no need to decode (base64: 4 characters per 3 bytes)
            size = (end - start) // 4 * 3 - text.count("=", max(start, end - 2), end)
            return [-1] * max(1, round(size / PCM16_FRAME_BYTES))
        try:
            audio = base64.b64decode(text[start:end])
        except ValueError:
            return [-1]
        tags = [read_tag(audio[at : at + PCMU_FRAME_BYTES]) for at in range(0, len(audio), PCMU_FRAME_BYTES)]
        return [-1 if tag is None else tag for tag in tags] or [-1]

    async def _stream_responses(
        self, session: SimulatedSession, timing: Timing, link: Any, response_ready: asyncio.Event
    ) -> None:
        log = self._log_for(link.ws)
        send_all = link.send_all

        async def stamped(events: list[dict[str, Any]]) -> None:
            now = time.monotonic()
            for event in events:
                kind = event.get("type")
                if kind == "response.output_audio.delta":
                    response = log.responses.setdefault(event["response_id"], ResponseLog(now))
                    audio = len(event["delta"]) * 3 // 4 - event["delta"][-2:].count("=")
                    response.audio_ms += audio / (8 if log.pcmu else 48)
                elif kind == "response.done":
                    found = log.responses.get(event["response"]["id"])
                    if found is not None:
                        found.status = event["response"]["status"]
                elif kind == "response.function_call_arguments.done":
                    log.function_calls += 1
            await send_all(events)

        link.send_all = stamped
        await super()._stream_responses(session, timing, link, response_ready)


def records(sim: MeasuringSimulator) -> list[dict[str, Any]]:
    """The sessions' logs as JSON-ready dicts."""
    return [
        {
            "caller": log.caller,
            "pcmu": log.pcmu,
            "appends": log.appends,
            "responses": [asdict(r) for r in log.responses.values()],
            "function_calls": log.function_calls,
        }
        for log in sim.logs
    ]


async def _serve(path: Path, port: int) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    transcripts = [line.text for line in LINES] * 2000
    sim = MeasuringSimulator(timing=Timing.realistic(), user_transcripts=transcripts, port=port)
    await sim.start()
    # Every reply's speech is synthesised before the first call: espeak-ng processes spawned mid-run
    # would compete for the CPU with the system under test.
    replies = [*transcripts[: len(LINES)], "I'm listening.", OPENING_HOURS]
    await sim.speech.prepare([(text, rate, 1.0) for text in replies for rate in (24000, 8000)])
    warm = sim.speech.syntheses
    print(f"listening on {sim.url}", flush=True)
    try:
        with collector_paused():  # an instrument: its collections must not count as the gateway's latency
            await stop.wait()
    finally:
        data = {"sessions": records(sim), "syntheses_during_run": sim.speech.syntheses - warm}
        await sim.aclose()
        await asyncio.to_thread(path.write_text, json.dumps(data))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m rtvoice_gateway.loadtest.upstream --records FILE [--port PORT]``."""
    parser = argparse.ArgumentParser(prog="rtvoice_gateway.loadtest.upstream")
    parser.add_argument("--records", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    return run_fast(_serve(args.records, args.port))


if __name__ == "__main__":
    sys.exit(main())
