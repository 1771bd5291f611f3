"""The simulator's conformance suite: sequences recorded from the real API, replayed against it.

Every ``conformance/*.json`` fixture is a sequence the real API's documentation or a public issue shows
(its ``sources`` say where), written as steps:

* ``{"send": event}``: send a client event as raw JSON;
* ``{"expect": [pattern, ...], "counts": {"type": n}}``: receive server events until every pattern has
  matched, in order (other events may come between them); ``counts`` then checks how many events of a
  type arrived in that window;
* ``{"wait_audio_ms": n}``: receive until ``n`` ms of response audio (PCM16 24 kHz) arrived.

A pattern matches an event when every key it names matches: dicts recursively, lists element by element
(same length), ``"re:..."`` as a regular expression, ``"$set:name"`` matches anything and remembers it,
``"$get:name"`` must equal what was remembered (and is substituted in later ``send`` steps). Every server
event is also validated strictly against the openai SDK's models.

A fixture's ``simulator`` configures the server: ``brain`` (``{"say": text}`` or ``{"call": name,
"arguments": {...}}`` turns), ``timing`` (``Timing`` fields), ``generation_speed`` and ``synthesize:
"tone"`` (100 ms of audio per word, for exact lengths).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect as ws_connect

from rtvoice.testing import CallFunction, RealtimeSimulator, Say, ScriptedBrain, Step
from rtvoice.testing.timing import Timing
from support.realtime import SERVER_EVENTS
from support.timing import seconds

FIXTURES = {
    path.stem: json.loads(path.read_text())
    for path in sorted((Path(__file__).parent / "conformance").glob("*.json"))
}

pytestmark = pytest.mark.sends_invalid_events


def tone(text: str, rate: int, speed: float) -> bytes:
    """100 ms of audio per word."""
    return b"\x01\x00" * (rate // 10 * len(text.split()))


def matches(pattern: Any, value: Any, saved: dict[str, Any]) -> bool:
    """Whether ``value`` matches ``pattern`` (see the module docstring); ``$set`` captures go to ``saved``."""
    if isinstance(pattern, str) and pattern.startswith("$set:"):
        saved[pattern[5:]] = value
        return True
    if isinstance(pattern, str) and pattern.startswith("$get:"):
        return bool(value == saved.get(pattern[5:]))
    if isinstance(pattern, str) and pattern.startswith("re:"):
        return isinstance(value, str) and re.search(pattern[3:], value) is not None
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            key in value and matches(sub, value[key], saved) for key, sub in pattern.items()
        )
    if isinstance(pattern, list):
        return (
            isinstance(value, list)
            and len(value) == len(pattern)
            and all(matches(p, v, saved) for p, v in zip(pattern, value, strict=True))
        )
    return bool(pattern == value)


def substitute(value: Any, saved: dict[str, Any]) -> Any:
    """``value`` with every ``"$get:name"`` replaced by what was remembered."""
    if isinstance(value, str) and value.startswith("$get:"):
        return saved[value[5:]]
    if isinstance(value, dict):
        return {key: substitute(sub, saved) for key, sub in value.items()}
    if isinstance(value, list):
        return [substitute(sub, saved) for sub in value]
    return value


def build_simulator(config: dict[str, Any]) -> RealtimeSimulator:
    kwargs: dict[str, Any] = {}
    if "brain" in config:
        turns: list[Step] = [
            Say(turn["say"]) if "say" in turn else CallFunction(turn["call"], turn.get("arguments", {}))
            for turn in config["brain"]
        ]
        kwargs["brain_factory"] = lambda: ScriptedBrain(turns)
    if "timing" in config:
        kwargs["timing"] = Timing(**config["timing"])
    if "generation_speed" in config:
        kwargs["generation_speed"] = config["generation_speed"]
    if config.get("synthesize") == "tone":
        kwargs["synthesize"] = tone
    return RealtimeSimulator(**kwargs)


@pytest.mark.parametrize("name", sorted(FIXTURES))
async def test_recorded_sequence(name: str) -> None:
    fixture = FIXTURES[name]
    assert fixture["sources"], "every sequence says where it was recorded"
    saved: dict[str, Any] = {}
    async with (
        build_simulator(fixture.get("simulator", {})) as sim,
        ws_connect(f"{sim.url}/realtime?model=gpt-realtime") as ws,
    ):

        async def receive() -> dict[str, Any]:
            event: dict[str, Any] = json.loads(await ws.recv())
            SERVER_EVENTS.validate_python(event)
            return event

        assert (await receive())["type"] == "session.created"
        for number, step in enumerate(fixture["steps"]):
            if "send" in step:
                await ws.send(json.dumps(substitute(step["send"], saved)))
            elif "wait_audio_ms" in step:
                audio_ms = 0.0
                async with asyncio.timeout(seconds(10)):
                    while audio_ms < step["wait_audio_ms"]:
                        event = await receive()
                        if event["type"] == "response.output_audio.delta":
                            audio_ms += len(base64.b64decode(event["delta"])) / 48
            else:
                window: list[dict[str, Any]] = []
                patterns = list(step["expect"])
                async with asyncio.timeout(seconds(10)):
                    while patterns:
                        event = await receive()
                        window.append(event)
                        if matches(patterns[0], event, saved):
                            patterns.pop(0)
                kinds = [event["type"] for event in window]
                for kind, count in step.get("counts", {}).items():
                    assert kinds.count(kind) == count, (
                        f"step {number}: {kind} x{kinds.count(kind)} in {kinds}"
                    )


def test_a_pattern_can_fail() -> None:
    saved: dict[str, Any] = {}
    assert matches({"a": {"b": "re:^x"}}, {"a": {"b": "xy"}, "c": 1}, saved)
    assert not matches({"a": {"b": "re:^x"}}, {"a": {"b": "yx"}}, saved)
    assert not matches({"a": [1]}, {"a": [1, 2]}, saved)
    assert matches({"id": "$set:r"}, {"id": "resp_1"}, saved) and saved == {"r": "resp_1"}
    assert not matches({"id": "$get:r"}, {"id": "resp_2"}, saved)
    assert substitute({"x": ["$get:r"]}, saved) == {"x": ["resp_1"]}
