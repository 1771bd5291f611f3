"""Benchmark of the Realtime protocol core: CPU per call-second of a simulated conversation.

Run it as ``.venv/bin/python scripts/bench_agent_core.py`` (options: ``--seconds S``, ``--repetitions N``).

The simulated call lasts ``--seconds`` (default 60) and is built before timing starts, as the wire text
the shell would receive. Every 20 ms the microphone sends a 20 ms PCM16 chunk (``send_audio``: 50 appends
per second) and the output device reports its position (``receive_playback``: 50 per second, as a phone
device acknowledging each 20 ms frame does). Every 10 s the user speaks for 3 s (VAD events, the item,
the transcript), and the assistant answers with 5 s of audio, generated at 5× real time in 100 ms
deltas, each with a transcript delta; every third reply the user barges in 2 s into it, while the rest
still plays (clear and truncate). A simulated device plays whatever it is given in real time. Every
client event the core returns is serialised to JSON, as the shell would send it.

The timed loop is the core's work (``receive_json`` / ``send_audio`` / ``receive_playback`` /
``encode_client_event``) plus the trivial simulated device; the garbage collector is paused while timing
and run between repetitions. The result is CPU µs per call-second (median and p99 over the repetitions),
plus the wall time per call of each entry point (median and p99 over one run).
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import platform
import statistics
import sys
import time
from dataclasses import dataclass

from rtvoice.realtime import (
    Action,
    ClearPlayback,
    PlayAudio,
    RealtimeProtocol,
    SendEvent,
    SessionConfig,
    encode_client_event,
)

__all__ = ["main"]

TICK_MS = 20
CHUNK = bytes(range(256)) * 3 + bytes(192)  # 20 ms of PCM16 at 24 kHz: 960 bytes
DELTA_MS = 100
REPLY_MS = 5000
TURN_S = 10.0


@dataclass(frozen=True, slots=True)
class Step:
    """One input to the core at time ``at`` (seconds): a server frame, a mic chunk or a device report."""

    at: float
    kind: str  # "frame", "audio" or "played"
    frame: str = ""


def _event(event_type: str, number: int, **fields: object) -> str:
    return json.dumps({"type": event_type, "event_id": f"event_{number:06d}", **fields})


def _response(response_id: str, status: str) -> dict[str, object]:
    return {"object": "realtime.response", "id": response_id, "status": status, "output": []}


def _item(item_id: str, role: str, status: str) -> dict[str, object]:
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "role": role,
        "status": status,
        "content": [],
    }


def build_call(seconds: float) -> list[Step]:
    """The frames and ticks of one simulated call, in time order."""
    frames: list[Step] = []
    number = 0

    def add(at: float, event_type: str, **fields: object) -> None:
        nonlocal number
        number += 1
        frames.append(Step(at, "frame", _event(event_type, number, **fields)))

    add(0.0, "session.created", session={"type": "realtime", "id": "sess_1", "object": "realtime.session"})
    add(0.05, "session.updated", session={"type": "realtime"})
    delta_b64 = base64.b64encode(bytes(range(256)) * (DELTA_MS * 48 // 256)).decode()
    previous: str | None = None
    turn = 0
    start = 0.5
    while start + TURN_S <= seconds:
        user, assistant, response = f"item_u{turn}", f"item_a{turn}", f"resp_{turn}"
        add(start, "input_audio_buffer.speech_started", audio_start_ms=int(start * 1000), item_id=user)
        end = start + 3.0
        add(end, "input_audio_buffer.speech_stopped", audio_end_ms=int(end * 1000), item_id=user)
        add(end + 0.01, "input_audio_buffer.committed", item_id=user, previous_item_id=previous)
        add(
            end + 0.02,
            "conversation.item.added",
            item=_item(user, "user", "completed"),
            previous_item_id=previous,
        )
        created = end + 0.3
        add(created, "response.created", response=_response(response, "in_progress"))
        add(
            created,
            "conversation.item.added",
            item=_item(assistant, "assistant", "in_progress"),
            previous_item_id=user,
        )
        barge_in = turn % 3 == 2
        deltas = REPLY_MS // DELTA_MS
        for k in range(deltas):
            at = created + 0.05 + k * DELTA_MS / 1000 / 5  # 5x real time
            where = {"response_id": response, "item_id": assistant, "output_index": 0, "content_index": 0}
            add(at, "response.output_audio_transcript.delta", delta=f"word{k} ", **where)
            add(at, "response.output_audio.delta", delta=delta_b64, **where)
        generated = created + 0.05 + deltas * DELTA_MS / 1000 / 5
        add(
            end + 0.5,
            "conversation.item.input_audio_transcription.completed",
            item_id=user,
            content_index=0,
            transcript="What is the weather like today?",
            usage={"type": "duration", "seconds": 3.0},
        )
        add(
            generated,
            "response.output_audio.done",
            response_id=response,
            item_id=assistant,
            output_index=0,
            content_index=0,
        )
        add(
            generated,
            "response.output_audio_transcript.done",
            response_id=response,
            item_id=assistant,
            output_index=0,
            content_index=0,
            transcript="".join(f"word{k} " for k in range(deltas)),
        )
        add(generated + 0.01, "response.done", response=_response(response, "completed"))
        if barge_in:
            speech = created + 0.05 + 2.0  # 2 s into playback; generation already finished
            add(
                speech,
                "input_audio_buffer.speech_started",
                audio_start_ms=int(speech * 1000),
                item_id=f"{user}b",
            )
        previous = assistant
        turn += 1
        start += TURN_S
    ticks = [
        Step(n * TICK_MS / 1000, kind)
        for n in range(int(seconds * 1000 / TICK_MS))
        for kind in ("audio", "played")
    ]
    return sorted(frames + ticks, key=lambda step: step.at)


class SimulatedDevice:
    """An output device that plays in real time whatever it was given, and can be cleared."""

    def __init__(self) -> None:
        self.queued_ms = 0.0
        self.played_ms = 0.0

    def run(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, PlayAudio):
                self.queued_ms += len(action.audio) / 48
            elif isinstance(action, ClearPlayback):
                self.queued_ms = self.played_ms
            elif isinstance(action, SendEvent):
                encode_client_event(action.event)  # the shell serialises what it sends

    def tick(self) -> float:
        self.played_ms = min(self.played_ms + TICK_MS, self.queued_ms)
        return self.played_ms


def run_call(steps: list[Step], per_call: dict[str, list[float]] | None = None) -> int:
    """Feed one call through a fresh core.

    Returns:
        The CPU time of the whole call in ns; with ``per_call``, also the wall time of every call
        (in µs), by kind.
    """
    core = RealtimeProtocol(SessionConfig())
    device = SimulatedDevice()
    begin = time.process_time_ns()
    for step in steps:
        started = time.perf_counter_ns() if per_call is not None else 0
        if step.kind == "frame":
            device.run(core.receive_json(step.frame, step.at))
        elif step.kind == "audio":
            if not core.session_ready:
                continue
            core.send_audio(CHUNK)
        else:
            device.run(core.receive_playback(device.tick(), step.at))
        if per_call is not None:
            per_call[step.kind].append((time.perf_counter_ns() - started) / 1000)
    return time.process_time_ns() - begin


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the simulated call")
    parser.add_argument("--repetitions", type=int, default=50, help="timed runs of the whole call")
    args = parser.parse_args(argv)
    steps = build_call(args.seconds)
    frames = sum(step.kind == "frame" for step in steps)
    run_call(steps)  # warm-up: pydantic builds its validators lazily
    per_second: list[float] = []
    for _ in range(args.repetitions):
        gc.collect()
        gc.disable()
        try:
            per_second.append(run_call(steps) / 1000 / args.seconds)
        finally:
            gc.enable()
    detail: dict[str, list[float]] = {"frame": [], "audio": [], "played": []}
    run_call(steps, detail)
    print(
        f"Realtime protocol core, {args.seconds:g} s call: {frames} server frames, "
        f"{int(args.seconds * 1000 / TICK_MS)} appends and device reports; "
        f"{args.repetitions} repetitions; Python {platform.python_version()} on {platform.machine()}"
    )
    print()
    print("| measure | median | p99 |")
    print("|---|---:|---:|")
    print(
        f"| CPU per call-second | {statistics.median(per_second):.0f} µs | {percentile(per_second, 0.99):.0f} µs |"
    )
    names = {
        "audio": "send_audio (20 ms chunk)",
        "frame": "receive_json (any frame)",
        "played": "receive_playback",
    }
    for kind, name in names.items():
        micros = detail[kind]
        print(
            f"| {name}, per call | {statistics.median(micros):.2f} µs | {percentile(micros, 0.99):.2f} µs |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
